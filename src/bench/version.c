/* Versions: SHA-256 hashes (OpenSSL's libcrypto), the model's identity, and
 * the two diffs between versions — a unified line diff of their sources and
 * the JSON paths where their results differ. */
#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_internal.h"
#include "core/error.h"
#include "io/fileio.h"

static void to_hex(const unsigned char *md, unsigned n, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[2 * n] = '\0';
}

void ark_sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    to_hex(md, n, hex);
}

ark_status ark_sha256_file(const char *path, char hex[65])
{
    FILE *f = fopen(path, "rb");
    if (!f) return ark_fail(ARK_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) EVP_DigestUpdate(ctx, buf, n);
    int bad = ferror(f);
    fclose(f);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    if (bad) return ark_fail(ARK_ERR_IO, "%s: read failed", path);
    to_hex(md, len, hex);
    return ARK_OK;
}

/* ---- model identity ---- */

/* Feed "NAME\0", the 8-byte length and the JSON header of a safetensors
 * file into ctx. */
static ark_status hash_st_header(EVP_MD_CTX *ctx, const char *dir, const char *name)
{
    char *path = ark_path_join(dir, name);
    FILE *f = fopen(path, "rb");
    ark_status st = ARK_OK;
    unsigned char len8[8];
    if (!f) st = ark_fail(ARK_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    else if (fread(len8, 1, 8, f) != 8) st = ark_fail(ARK_ERR_FORMAT, "%s: shorter than a safetensors header", path);
    if (st == ARK_OK) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--) n = n << 8 | len8[i];
        if (n > (100u << 20)) st = ark_fail(ARK_ERR_FORMAT, "%s: header length %llu is implausible", path, (unsigned long long)n);
        char *hdr = st == ARK_OK ? malloc(n ? n : 1) : NULL;
        if (hdr && fread(hdr, 1, n, f) != n) st = ark_fail(ARK_ERR_FORMAT, "%s: truncated header", path);
        if (st == ARK_OK) {
            EVP_DigestUpdate(ctx, name, strlen(name) + 1);
            EVP_DigestUpdate(ctx, len8, 8);
            EVP_DigestUpdate(ctx, hdr, n);
        }
        free(hdr);
    }
    if (f) fclose(f);
    free(path);
    return st;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The weight files of a model folder in name order (as the loader finds
 * them: model.safetensors, else the index's shards). */
static ark_status weight_files(const char *dir, char ***names, int *n)
{
    *names = NULL;
    *n = 0;
    char *single = ark_path_join(dir, "model.safetensors");
    char *index = ark_path_join(dir, "model.safetensors.index.json");
    ark_status st = ARK_OK;
    if (ark_file_exists(single)) {
        *names = malloc(sizeof **names);
        (*names)[(*n)++] = strdup("model.safetensors");
    } else if (ark_file_exists(index)) {
        char *text = NULL;
        st = ark_read_text(index, &text, NULL);
        cJSON *js = st == ARK_OK ? cJSON_Parse(text) : NULL;
        const cJSON *map = cJSON_GetObjectItemCaseSensitive(js, "weight_map"), *it;
        if (st == ARK_OK && !cJSON_IsObject(map)) st = ark_fail(ARK_ERR_FORMAT, "%s: no \"weight_map\" object", index);
        int cap = 0;
        cJSON_ArrayForEach(it, map) {
            if (!cJSON_IsString(it)) continue;
            bool seen = false;
            for (int i = 0; i < *n && !seen; i++) seen = !strcmp((*names)[i], it->valuestring);
            if (seen) continue;
            if (*n == cap) *names = realloc(*names, sizeof **names * (cap = cap ? 2 * cap : 8));
            (*names)[(*n)++] = strdup(it->valuestring);
        }
        cJSON_Delete(js);
        free(text);
        if (*n > 1) qsort(*names, (size_t)*n, sizeof **names, cmp_str);
    } else {
        st = ark_fail(ARK_ERR_MISSING, "%s: no model.safetensors or model.safetensors.index.json", dir);
    }
    free(single);
    free(index);
    return st;
}

ark_status ark_model_identity_of(const char *dir, ark_model_identity *out)
{
    memset(out, 0, sizeof *out);
    if (!dir) return ark_fail(ARK_ERR_ARG, "model identity: no model folder");
    char *config = ark_path_join(dir, "config.json");
    ark_status st = ark_sha256_file(config, out->config_sha256);
    free(config);
    if (st != ARK_OK) return st;
    char **names;
    int n;
    ARK_TRY(weight_files(dir, &names, &n));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (int i = 0; i < n && st == ARK_OK; i++) st = hash_st_header(ctx, dir, names[i]);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    if (st != ARK_OK) { memset(out, 0, sizeof *out); return st; }
    to_hex(md, len, out->weights_sha256);
    char both[140];
    snprintf(both, sizeof both, "%s:%s", out->config_sha256, out->weights_sha256);
    ark_sha256_hex(both, strlen(both), out->sha256);
    return ARK_OK;
}

/* ---- line diff ---- */

typedef struct line {
    const char *s;
    size_t len;     /* without the newline */
    bool newline;   /* ends with '\n' */
} line;

static line *split_lines(const char *t, int *n)
{
    int cap = 16;
    line *v = malloc(sizeof *v * cap);
    *n = 0;
    while (t && *t) {
        const char *e = strchr(t, '\n');
        if (*n == cap) v = realloc(v, sizeof *v * (cap *= 2));
        v[*n] = (line){t, e ? (size_t)(e - t) : strlen(t), e != NULL};
        (*n)++;
        t = e ? e + 1 : t + strlen(t);
    }
    return v;
}

static bool line_eq(const line *a, const line *b)
{
    return a->len == b->len && a->newline == b->newline && !memcmp(a->s, b->s, a->len);
}

/* The edit script: ops[k] = ' ' (both), '-' (a only) or '+' (b only), in
 * order.  Longest common subsequence by dynamic programming between the
 * common prefix and suffix; a middle too large for it (over 2e7 cells) is
 * replaced whole.  LCS lengths fit 16 bits: they are at most
 * min(n, m) <= sqrt(2e7). */
static char *edit_script(const line *a, int n, const line *b, int m, int *n_ops)
{
    char *ops = malloc((size_t)(n + m) + 1);
    int k = 0, pre = 0, suf = 0;
    while (pre < n && pre < m && line_eq(&a[pre], &b[pre])) pre++;
    while (suf < n - pre && suf < m - pre && line_eq(&a[n - 1 - suf], &b[m - 1 - suf])) suf++;
    for (int i = 0; i < pre; i++) ops[k++] = ' ';
    int na = n - pre - suf, nb = m - pre - suf;
    const line *A = a + pre, *B = b + pre;
    if ((double)na * nb > 2e7) {
        for (int i = 0; i < na; i++) ops[k++] = '-';
        for (int j = 0; j < nb; j++) ops[k++] = '+';
    } else if (na || nb) {
        /* L[i][j] = LCS of A[i..] and B[j..]. */
        size_t w = (size_t)nb + 1;
        uint16_t *L = calloc(((size_t)na + 1) * w, sizeof *L);
        for (int i = na - 1; i >= 0; i--)
            for (int j = nb - 1; j >= 0; j--)
                L[i * w + j] = line_eq(&A[i], &B[j]) ? L[(i + 1) * w + j + 1] + 1
                               : L[(i + 1) * w + j] >= L[i * w + j + 1] ? L[(i + 1) * w + j] : L[i * w + j + 1];
        int i = 0, j = 0;
        while (i < na || j < nb) {
            if (i < na && j < nb && line_eq(&A[i], &B[j])) { ops[k++] = ' '; i++; j++; }
            else if (i < na && (j == nb || L[(i + 1) * w + j] >= L[i * w + j + 1])) { ops[k++] = '-'; i++; }
            else { ops[k++] = '+'; j++; }
        }
        free(L);
    }
    for (int i = 0; i < suf; i++) ops[k++] = ' ';
    *n_ops = k;
    return ops;
}

typedef struct sbuf {
    char *s;
    size_t n, cap;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t len)
{
    if (b->n + len + 1 > b->cap) {
        b->cap = 2 * (b->n + len + 1);
        b->s = realloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, s, len);
    b->n += len;
    b->s[b->n] = '\0';
}

static void sb_printf(sbuf *b, const char *fmt, ...) ARK_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    sb_put(b, tmp, n < (int)sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void sb_line(sbuf *b, char tag, const line *l)
{
    sb_put(b, &tag, 1);
    sb_put(b, l->s, l->len);
    sb_put(b, "\n", 1);
    if (!l->newline) sb_put(b, "\\ No newline at end of file\n", 28);
}

char *ark_text_diff(const char *ta, const char *tb, const char *label_a, const char *label_b)
{
    int n, m, n_ops;
    line *a = split_lines(ta, &n), *b = split_lines(tb, &m);
    char *ops = edit_script(a, n, b, m, &n_ops);
    sbuf out = {calloc(1, 1), 0, 1};
    const int ctx = 3;
    int k = 0, ia = 0, ib = 0; /* line indices at ops[k] */
    while (k < n_ops) {
        /* Next change. */
        int c = k, ca = ia, cb = ib;
        while (c < n_ops && ops[c] == ' ') { c++; ca++; cb++; }
        if (c == n_ops) break;
        if (!out.n) sb_printf(&out, "--- %s\n+++ %s\n", label_a, label_b);
        /* Hunk: from ctx lines before the change to ctx lines after the
         * last change that is within 2*ctx of the next. */
        int back = ca - ia < ctx ? ca - ia : ctx;
        int hs = c - back, hsa = ca - back, hsb = cb - back;
        int e = c, quiet = 0;
        while (e < n_ops) {
            if (ops[e] == ' ') { if (++quiet > 2 * ctx) break; }
            else quiet = 0;
            e++;
        }
        /* Trim trailing context to ctx lines. */
        int trail = 0;
        while (e > c && ops[e - 1] == ' ' && trail < quiet) { e--; trail++; }
        int keep = trail < ctx ? trail : ctx;
        e += keep;
        int la = 0, lb = 0;
        for (int t = hs; t < e; t++) { la += ops[t] != '+'; lb += ops[t] != '-'; }
        sb_printf(&out, "@@ -%d,%d +%d,%d @@\n", la ? hsa + 1 : hsa, la, lb ? hsb + 1 : hsb, lb);
        int pa = hsa, pb = hsb;
        for (int t = hs; t < e; t++) {
            if (ops[t] == ' ') { sb_line(&out, ' ', &a[pa]); pa++; pb++; }
            else if (ops[t] == '-') sb_line(&out, '-', &a[pa++]);
            else sb_line(&out, '+', &b[pb++]);
        }
        k = e;
        ia = pa;
        ib = pb;
    }
    free(ops);
    free(a);
    free(b);
    return out.s;
}

/* ---- JSON diff ---- */

static void diff_add(cJSON *out, const char *path, const cJSON *a, const cJSON *b)
{
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "path", path);
    if (a) cJSON_AddItemToObject(d, "old", cJSON_Duplicate(a, true));
    if (b) cJSON_AddItemToObject(d, "new", cJSON_Duplicate(b, true));
    cJSON_AddItemToArray(out, d);
}

static int json_kind(const cJSON *v)
{
    if (cJSON_IsBool(v)) return cJSON_True; /* true and false are one kind */
    return v->type & 0xFF;
}

static void diff_rec(cJSON *out, sbuf *path, const cJSON *a, const cJSON *b)
{
    size_t mark = path->n;
    if (json_kind(a) != json_kind(b)) { diff_add(out, path->s, a, b); return; }
    if (cJSON_IsObject(a)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, a) {
            const cJSON *other = cJSON_GetObjectItemCaseSensitive(b, it->string);
            sb_printf(path, "%s%s", mark ? "." : "", it->string);
            if (!other) diff_add(out, path->s, it, NULL);
            else diff_rec(out, path, it, other);
            path->n = mark;
            path->s[mark] = '\0';
        }
        cJSON_ArrayForEach(it, b) {
            if (cJSON_GetObjectItemCaseSensitive(a, it->string)) continue;
            sb_printf(path, "%s%s", mark ? "." : "", it->string);
            diff_add(out, path->s, NULL, it);
            path->n = mark;
            path->s[mark] = '\0';
        }
    } else if (cJSON_IsArray(a)) {
        int na = cJSON_GetArraySize(a), nb = cJSON_GetArraySize(b);
        const cJSON *x = a->child, *y = b->child;
        for (int i = 0; i < (na > nb ? na : nb); i++) {
            sb_printf(path, "[%d]", i);
            if (x && y) diff_rec(out, path, x, y);
            else diff_add(out, path->s, x, y);
            path->n = mark;
            path->s[mark] = '\0';
            if (x) x = x->next;
            if (y) y = y->next;
        }
    } else if (cJSON_IsNumber(a)) {
        if (a->valuedouble != b->valuedouble) diff_add(out, path->s, a, b);
    } else if (cJSON_IsString(a)) {
        if (strcmp(a->valuestring, b->valuestring)) diff_add(out, path->s, a, b);
    } else if (cJSON_IsBool(a)) {
        if (cJSON_IsTrue(a) != cJSON_IsTrue(b)) diff_add(out, path->s, a, b);
    }
}

cJSON *ark_json_diff(const cJSON *a, const cJSON *b)
{
    cJSON *out = cJSON_CreateArray();
    sbuf path = {calloc(1, 1), 0, 1};
    diff_rec(out, &path, a, b);
    free(path.s);
    return out;
}
