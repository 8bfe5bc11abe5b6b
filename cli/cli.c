#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/core.h"
#include "cli_input.h"
#include "cli_process.h"

int cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "arrakis %s: error: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

/* The subcommand being run, for messages printed by helpers that are not
 * given it (cli_opt).  Set once by main. */
static const char *current_cmd = NULL;

void cli_set_command(const char *name) { current_cmd = name; }

const char *cli_command(void) { return current_cmd ? current_cmd : ""; }

int cli_arg_error(const char *cmd, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* A message that already points somewhere (arrakis plot --list, a
     * usage line) is left alone. */
    if (strstr(msg, "arrakis ") || strstr(msg, "--help"))
        fprintf(stderr, "arrakis %s: error: %s\n", cmd, msg);
    else
        fprintf(stderr, "arrakis %s: error: %s (see arrakis %s --help)\n", cmd, msg, cmd);
    return 1;
}

int cli_lib_error(const char *cmd, const char *what)
{
    const char *msg = ark_errmsg();
    if (what && *what)
        fprintf(stderr, "arrakis %s: error: %s: %s\n", cmd, what, msg);
    else
        fprintf(stderr, "arrakis %s: error: %s\n", cmd, msg);
    return 1;
}

bool cli_opt(int argc, char **argv, int *i, const char *name, const char **value)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return false;
    if (a[n] == '=') { *value = a + n + 1; return true; }
    if (a[n] != '\0') return false;
    if (*i + 1 >= argc) {
        if (current_cmd)
            fprintf(stderr, "arrakis %s: error: %s needs a value (see arrakis %s --help)\n", current_cmd, name, current_cmd);
        else
            fprintf(stderr, "arrakis: error: %s needs a value (see arrakis --help)\n", name);
        *value = NULL;
        return true;
    }
    *value = argv[++*i];
    return true;
}

bool cli_flag(char **argv, int i, const char *name) { return strcmp(argv[i], name) == 0; }

bool cli_parse_int(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0') return false;
    *out = v;
    return true;
}

/* Store the value v of option o; 0, or 1 after reporting a bad value. */
static int store_value(const char *cmd, const cli_option *o, const char *v)
{
    if (o->kind == CLI_STR) {
        *(const char **)o->dst = v;
        return 0;
    }
    if (o->kind == CLI_INT) {
        long n;
        if (!cli_parse_int(v, &n) || (o->has_min && n < o->min)) {
            if (o->expect) return cli_arg_error(cmd, "%s %s: expected %s", o->name, v, o->expect);
            if (o->has_min) return cli_arg_error(cmd, "%s %s: expected an integer >= %ld", o->name, v, o->min);
            return cli_arg_error(cmd, "%s %s: expected an integer", o->name, v);
        }
        *(long *)o->dst = n;
        return 0;
    }
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || (o->finite && !isfinite(x)))
        return cli_arg_error(cmd, "%s %s: expected %s", o->name, v, o->expect ? o->expect : "a number");
    *(double *)o->dst = x;
    return 0;
}

/* argv[*i] against the table: 1 used, 0 not an option of it, or
 * -(exit code) after an error. */
static int table_arg(const cli_spec *s, int argc, char **argv, int *i)
{
    for (const cli_option *o = s->opts; o && o->name; o++) {
        const char *v;
        if (o->kind == CLI_FLAG) {
            if (!cli_flag(argv, *i, o->name)) continue;
            *(bool *)o->dst = true;
        } else {
            if (!cli_opt(argc, argv, i, o->name, &v)) continue;
            if (!v) return -2;
            if (store_value(s->cmd, o, v)) return -1;
        }
        if (o->seen) *o->seen = true;
        return 1;
    }
    return 0;
}

int cli_parse(const cli_spec *s, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            s->usage();
            return -1;
        }
        int used = s->inputs ? cli_inputs_arg(s->inputs, argc, argv, &i) : 0;
        if (!used && s->process) used = cli_process_arg(argc, argv, &i, s->process);
        if (used < 0) return 2;
        if (!used && s->arg) used = s->arg(s->arg_ctx, argc, argv, &i);
        if (!used) used = table_arg(s, argc, argv, &i);
        if (used < 0) return -used;
        if (used) continue;
        if (argv[i][0] == '-') return cli_arg_error(s->cmd, "unknown option %s", argv[i]);
        if (s->dir && !*s->dir) *s->dir = argv[i];
        else return cli_arg_error(s->cmd, "unexpected argument %s", argv[i]);
    }
    if (s->dir && !*s->dir)
        return cli_arg_error(s->cmd, "%s", s->dir_missing ? s->dir_missing : "missing MODEL_DIR");
    return 0;
}

int cli_parse_ids(const char *cmd, const char *s, int32_t **ids)
{
    int cap = 16, n = 0;
    int32_t *out = malloc(sizeof *out * cap);
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < INT32_MIN || v > INT32_MAX) {
            free(out);
            cli_error(cmd, "cannot read token ids from \"%s\" (expected comma-separated integers such as 12,7,99)", s);
            return -1;
        }
        if (n == cap) out = realloc(out, sizeof *out * (cap *= 2));
        out[n++] = (int32_t)v;
        p = end;
        while (*p == ' ') p++;
        if (*p == ',') p++;
        else if (*p) {
            free(out);
            cli_error(cmd, "unexpected '%c' in token ids \"%s\" (expected comma-separated integers such as 12,7,99)", *p, s);
            return -1;
        }
    }
    if (n == 0) {
        free(out);
        cli_error(cmd, "no token ids in \"%s\" (expected comma-separated integers such as 12,7,99)", s);
        return -1;
    }
    *ids = out;
    return n;
}

void cli_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20) fprintf(f, "\\u%04x", *p);
            else fputc(*p, f);
        }
    }
    fputc('"', f);
}

/* Levenshtein distance of two short words (for suggestions). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > 63 || m > 63) return (size_t)-1;
    size_t prev[64], cur[64];
    for (size_t j = 0; j <= m; j++) prev[j] = j;
    for (size_t i = 1; i <= n; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(size_t) * (m + 1));
    }
    return prev[m];
}

const char *cli_closest(const char *word, const char *const *names, size_t n)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1, len = strlen(word);
    size_t limit = len <= 4 ? 1 : 2;
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(word, names[i]);
        /* A prefix of a name (lens for lens, attr for attribute) counts too. */
        if (len >= 3 && strncmp(word, names[i], len) == 0) d = 1;
        if (d < best_d) { best_d = d; best = names[i]; }
    }
    return best_d <= limit ? best : NULL;
}
