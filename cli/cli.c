#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/core.h"

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
        fprintf(stderr, "arrakis: error: %s needs a value\n", name);
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
            cli_error(cmd, "unexpected '%c' in token ids \"%s\"", *p, s);
            return -1;
        }
    }
    if (n == 0) {
        free(out);
        cli_error(cmd, "no token ids in \"%s\"", s);
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
