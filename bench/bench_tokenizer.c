/* bench_tokenizer: tokens per second encoding a large text (the tokenizer
 * fixtures' strings concatenated to several MB) with gpt2, llama3 and
 * gemma3, and, in the same run, Hugging Face's own `tokenizers` (the npm
 * package's native binding, through bench/tokenizer_hf.js) on the same text.
 *
 * usage: bench_tokenizer [--fixtures DIR] [--mb N] [--runs R] [--hf SCRIPT|none]
 *                        [--node NODE] [NAME...]
 * Run it from the source tree so that bench/tokenizer_hf.js is found (or pass
 * --hf).  Both sides encode the whole text in one call on one thread; the
 * figure is the median over R runs.  The ids of both sides are compared
 * (count and checksum).  A second figure encodes the same text line by line
 * (HF: one encodeBatch call with RAYON_NUM_THREADS=1), the short-prompt
 * workload. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "arrakis/tokenizer.h"
#include "tokenizer/tok_internal.h"
#include "bench_util.h"

/* The cases' texts joined by newlines, repeated to at least `bytes`. */
static char *build_text(const char *cases_path, size_t bytes, size_t *len)
{
    FILE *f = fopen(cases_path, "rb");
    if (!f) return NULL;
    tk_buf one = {0}, all = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) > 0) {
        char *text;
        size_t n;
        if (ark_tok_json_string_field(line, (size_t)got, "text", &text, &n) != ARK_OK) continue;
        ark_tok_buf_put(&one, text, n);
        ark_tok_buf_put(&one, "\n", 1);
        free(text);
    }
    free(line);
    fclose(f);
    while (one.len && all.len < bytes) ark_tok_buf_put(&all, one.p, one.len);
    free(one.p);
    *len = all.len;
    return all.p;
}

static double checksum(const int32_t *ids, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)ids[i] * (double)(i % 7919 + 1);
    return s;
}

/* Encode every line of the text as its own input; returns the token count
 * and the median time per run, or -1 on error. */
static long encode_lines(const ark_tokenizer *t, const char *text, size_t len, int runs, double *med)
{
    double times[256];
    long total = 0;
    for (int r = 0; r < runs; r++) {
        double s = now();
        total = 0;
        for (size_t a = 0; a < len;) {
            const char *nl = memchr(text + a, '\n', len - a);
            size_t b = nl ? (size_t)(nl - text) : len;
            ark_encoding *e;
            if (ark_tokenizer_encode(t, text + a, b - a, false, &e) != ARK_OK) return -1;
            total += ark_encoding_count(e);
            ark_encoding_free(e);
            a = b + 1;
        }
        times[r] = now() - s;
    }
    *med = median(times, runs);
    return total;
}

typedef struct hf_result {
    bool ok;
    double load_s, median_s, checksum, line_median_s;
    long tokens, line_tokens;
    char version[32], why[256];
} hf_result;

static hf_result run_hf(const char *node, const char *script, const char *json, const char *text, size_t len, int runs)
{
    hf_result r = {0};
    char tmpl[] = "/tmp/bench_tokenizer_XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len) {
        snprintf(r.why, sizeof r.why, "cannot write a temporary file");
        if (fd >= 0) close(fd), unlink(tmpl);
        return r;
    }
    close(fd);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false '%s' '%s' '%s' '%s' %d 2>&1", node, script,
             json, tmpl, runs);
    FILE *p = popen(cmd, "r");
    tk_buf out = {0};
    char chunk[4096];
    size_t got;
    while (p && (got = fread(chunk, 1, sizeof chunk, p)) > 0) ark_tok_buf_put(&out, chunk, got);
    int rc = p ? pclose(p) : -1;
    unlink(tmpl);
    cJSON *j = rc == 0 && out.p ? cJSON_Parse(out.p) : NULL;
    const cJSON *times = cJSON_GetObjectItem(j, "times");
    if (!j || !cJSON_IsArray(times) || cJSON_GetArraySize(times) == 0) {
        snprintf(r.why, sizeof r.why, "%s", out.p ? out.p : "node did not run");
        char *nl = strchr(r.why, '\n');
        if (nl) *nl = '\0';
        free(out.p);
        cJSON_Delete(j);
        return r;
    }
    double v[256];
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, times) if (n < 256) v[n++] = it->valuedouble;
    r.ok = true;
    r.median_s = median(v, n);
    n = 0;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(j, "line_times")) if (n < 256) v[n++] = it->valuedouble;
    r.line_median_s = n ? median(v, n) : 0;
    r.line_tokens = (long)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "line_tokens"));
    r.load_s = cJSON_GetObjectItem(j, "load_s")->valuedouble;
    r.tokens = (long)cJSON_GetObjectItem(j, "tokens")->valuedouble;
    r.checksum = cJSON_GetObjectItem(j, "checksum")->valuedouble;
    snprintf(r.version, sizeof r.version, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(j, "version")));
    cJSON_Delete(j);
    free(out.p);
    return r;
}

static int bench_one(const char *fixtures, const char *name, double mb, int runs, const char *node, const char *script)
{
    char path[4096], cases[4200], json[4200];
    snprintf(path, sizeof path, "%s/tokenizers/%s", fixtures, name);
    snprintf(cases, sizeof cases, "%s/cases.jsonl", path);
    snprintf(json, sizeof json, "%s/tokenizer.json", path);
    size_t len;
    char *text = build_text(cases, (size_t)(mb * 1e6), &len);
    if (!text) return fprintf(stderr, "bench_tokenizer: cannot read %s\n", cases), 1;
    double t0 = now();
    ark_tokenizer *t;
    if (ark_tokenizer_open(path, &t) != ARK_OK) return fprintf(stderr, "bench_tokenizer: %s\n", ark_errmsg()), 1;
    double load = now() - t0, times[256];
    int ntok = 0;
    double sum = 0;
    if (runs > 256) runs = 256;
    for (int r = 0; r < runs; r++) {
        ark_encoding *e;
        double s = now();
        if (ark_tokenizer_encode(t, text, len, false, &e) != ARK_OK)
            return fprintf(stderr, "bench_tokenizer: %s\n", ark_errmsg()), 1;
        times[r] = now() - s;
        ntok = ark_encoding_count(e);
        sum = checksum(ark_encoding_ids(e), ntok);
        ark_encoding_free(e);
    }
    double med = median(times, runs), line_med;
    long line_tok = encode_lines(t, text, len, runs, &line_med);
    if (line_tok < 0) return fprintf(stderr, "bench_tokenizer: %s\n", ark_errmsg()), 1;
    printf("%s: %.2f MB, %d tokens; load %.3f s\n", name, (double)len / 1e6, ntok, load);
    printf("  whole text  arrakis %10.0f tok/s (%.3f s)", ntok / med, med);
    hf_result h = {0};
    if (script) h = run_hf(node, script, json, text, len, runs);
    if (h.ok)
        printf("  HF tokenizers %s %10.0f tok/s (%.3f s)  arrakis/HF %5.2fx  ids %s\n", h.version, h.tokens / h.median_s,
               h.median_s, h.median_s / med, h.tokens == ntok && h.checksum == sum ? "identical" : "DIFFER");
    else
        printf("%s%s%s\n", script ? "  HF tokenizers: not run (" : "", script ? h.why : "", script ? ")" : "");
    printf("  line by line arrakis %9.0f tok/s (%.3f s)", line_tok / line_med, line_med);
    if (h.ok && h.line_median_s > 0)
        printf("  HF encodeBatch %10.0f tok/s (%.3f s)  arrakis/HF %5.2fx  tokens %s\n", h.line_tokens / h.line_median_s,
               h.line_median_s, h.line_median_s / line_med, h.line_tokens == line_tok ? "identical" : "DIFFER");
    else
        printf("\n");
    if (h.ok) printf("  load: HF tokenizers %.3f s\n", h.load_s);
    fflush(stdout);
    ark_tokenizer_free(t);
    free(text);
    return 0;
}

int main(int argc, char **argv)
{
    const char *fixtures = getenv("ARK_FIXTURES"), *script = "bench/tokenizer_hf.js", *node = "node";
    double mb = 4;
    int runs = 5, rc = 0;
    const char *names[16];
    int n = 0;
    if (!fixtures) fixtures = "../shared/fixtures";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--fixtures") && i + 1 < argc) fixtures = argv[++i];
        else if (!strcmp(argv[i], "--mb") && i + 1 < argc) mb = atof(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--hf") && i + 1 < argc) script = argv[++i];
        else if (!strcmp(argv[i], "--node") && i + 1 < argc) node = argv[++i];
        else if (argv[i][0] != '-' && n < 16) names[n++] = argv[i];
        else {
            fprintf(stderr, "usage: bench_tokenizer [--fixtures DIR] [--mb N] [--runs R] [--hf SCRIPT|none] [--node NODE] "
                            "[NAME...]\n");
            return 2;
        }
    }
    if (runs < 1) runs = 1;
    if (!strcmp(script, "none")) script = NULL;
    else if (access(script, R_OK) != 0) {
        printf("(HF comparison skipped: %s not found; run from the source tree or pass --hf)\n", script);
        script = NULL;
    }
    if (n == 0) names[n++] = "gpt2", names[n++] = "llama3", names[n++] = "gemma3";
    printf("encoding one %.1f MB text per tokenizer, median of %d runs, one thread\n", mb, runs);
    for (int i = 0; i < n; i++) rc |= bench_one(fixtures, names[i], mb, runs, node, script);
    return rc;
}
