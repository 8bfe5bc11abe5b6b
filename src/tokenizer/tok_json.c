/* Small helpers over cJSON for reading tokenizer.json fields with messages
 * that name the field, and a U+0000-safe reader for one string field of a
 * JSON line (cJSON's strings are NUL-terminated and would cut the text). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/tok_internal.h"

char *ark_tok_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

ark_status ark_tok_json_bool(const cJSON *obj, const char *key, const char *where, bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return ARK_OK;
    if (!cJSON_IsBool(v)) return ark_fail(ARK_ERR_FORMAT, "%s.%s: expected true or false", where, key);
    *out = cJSON_IsTrue(v);
    return ARK_OK;
}

ark_status ark_tok_json_int(const cJSON *obj, const char *key, const char *where, long *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return ARK_OK;
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(long)v->valuedouble)
        return ark_fail(ARK_ERR_FORMAT, "%s.%s: expected an integer", where, key);
    *out = (long)v->valuedouble;
    return ARK_OK;
}

ark_status ark_tok_json_str(const cJSON *obj, const char *key, const char *where, const char **out)
{
    *out = NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return ARK_OK;
    if (!cJSON_IsString(v)) return ark_fail(ARK_ERR_FORMAT, "%s.%s: expected a string", where, key);
    *out = v->valuestring;
    return ARK_OK;
}

ark_status ark_tok_json_type(const cJSON *obj, const char *where, const char **out)
{
    if (!cJSON_IsObject(obj)) return ark_fail(ARK_ERR_FORMAT, "%s: expected an object", where);
    ARK_TRY(ark_tok_json_str(obj, "type", where, out));
    if (!*out) return ark_fail(ARK_ERR_FORMAT, "%s.type: missing", where);
    return ARK_OK;
}

/* ---- reading files ---------------------------------------------------- */

size_t ark_tok_unmask(const char *s, char *dst)
{
    size_t n = 0;
    for (; s[n]; n++) dst[n] = (unsigned char)s[n] == 0xFF ? '\0' : s[n];
    dst[n] = '\0';
    return n;
}

/* Replace "\u0000" escapes inside strings by 0xFF, in place. */
static bool mask_nul_escapes(char *p, size_t *len)
{
    size_t n = *len, w = 0;
    bool in_str = false, any = false;
    for (size_t i = 0; i < n;) {
        char c = p[i];
        if (!in_str) {
            in_str = c == '"';
            p[w++] = p[i++];
        } else if (c == '"') {
            in_str = false;
            p[w++] = p[i++];
        } else if (c == '\\' && i + 1 < n) {
            if (p[i + 1] == 'u' && i + 6 <= n && !memcmp(p + i + 2, "0000", 4)) {
                p[w++] = (char)0xFF;
                i += 6;
                any = true;
            } else {
                p[w++] = p[i++];
                p[w++] = p[i++];
            }
        } else
            p[w++] = p[i++];
    }
    *len = w;
    return any;
}

ark_status ark_tok_read_json(const char *path, cJSON **out, bool *had_nul)
{
    *out = NULL;
    *had_nul = false;
    FILE *f = fopen(path, "rb");
    if (!f) return ark_fail(errno == ENOENT ? ARK_ERR_MISSING : ARK_ERR_IO, "%s: %s", path, strerror(errno));
    tk_buf b = {0};
    char chunk[1 << 16];
    size_t got;
    bool err = !ark_tok_buf_put(&b, "", 0);
    while (!err && (got = fread(chunk, 1, sizeof chunk, f)) > 0) err = !ark_tok_buf_put(&b, chunk, got);
    err = err || ferror(f);
    fclose(f);
    if (err) {
        free(b.p);
        return ark_fail(ARK_ERR_IO, "%s: read error", path);
    }
    size_t bad = ark_tok_utf8_check(b.p, b.len);
    if (bad < b.len) {
        free(b.p);
        return ark_fail(ARK_ERR_FORMAT, "%s: not UTF-8 (byte %zu)", path, bad);
    }
    if (memmem(b.p, b.len, "\\u0000", 6)) *had_nul = mask_nul_escapes(b.p, &b.len);
    cJSON *j = cJSON_ParseWithLength(b.p, b.len);
    if (!j) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = (at && at >= b.p && at <= b.p + b.len) ? (size_t)(at - b.p) : 0;
        free(b.p);
        return ark_fail(ARK_ERR_FORMAT, "%s: invalid JSON near byte %zu", path, off);
    }
    free(b.p);
    *out = j;
    return ARK_OK;
}

/* ---- one string field of a JSON line, U+0000 kept ---------------------- */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

static int hex4(const char *p, const char *end)
{
    if (end - p < 4) return -1;
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
        else return -1;
    }
    return v;
}

/* Decode the string literal at *pp (at its opening quote) into out (NULL:
 * just skip it); *pp ends after the closing quote. */
static bool json_string(const char **pp, const char *end, tk_buf *out)
{
    const char *p = *pp + 1;
    while (p < end && *p != '"') {
        if ((unsigned char)*p < 0x20) return false;
        if (*p != '\\') {
            const char *q = p;
            while (q < end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20) q++;
            if (out && !ark_tok_buf_put(out, p, (size_t)(q - p))) return false;
            p = q;
            continue;
        }
        if (++p >= end) return false;
        char c = *p++, one;
        switch (c) {
        case '"': one = '"'; break;
        case '\\': one = '\\'; break;
        case '/': one = '/'; break;
        case 'b': one = '\b'; break;
        case 'f': one = '\f'; break;
        case 'n': one = '\n'; break;
        case 'r': one = '\r'; break;
        case 't': one = '\t'; break;
        case 'u': {
            int u = hex4(p, end);
            if (u < 0) return false;
            p += 4;
            uint32_t cp = (uint32_t)u;
            if (u >= 0xD800 && u <= 0xDBFF) { /* a surrogate pair */
                int lo = (end - p >= 6 && p[0] == '\\' && p[1] == 'u') ? hex4(p + 2, end) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF) return false;
                cp = 0x10000 + (((uint32_t)u - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
                p += 6;
            } else if (u >= 0xDC00 && u <= 0xDFFF)
                return false;
            char b[4];
            if (out && !ark_tok_buf_put(out, b, (size_t)ark_tok_utf8_enc(cp, b))) return false;
            continue;
        }
        default: return false;
        }
        if (out && !ark_tok_buf_put(out, &one, 1)) return false;
    }
    if (p >= end) return false;
    *pp = p + 1;
    return true;
}

/* Skip one JSON value (the line was validated by cJSON first). */
static bool skip_value(const char **pp, const char *end)
{
    const char *p = skip_ws(*pp, end);
    int depth = 0;
    for (;;) {
        if (p >= end) return false;
        char c = *p;
        if (c == '"') {
            if (!json_string(&p, end, NULL)) return false;
        } else if (c == '{' || c == '[') {
            depth++;
            p++;
        } else if (c == '}' || c == ']') {
            if (depth == 0) break; /* the end of the enclosing object */
            depth--;
            p++;
        } else if (c == ',' && depth == 0)
            break;
        else
            p++; /* scalar characters, ':' and blanks */
        if (depth == 0 && (c == '"' || c == '}' || c == ']')) break;
    }
    *pp = skip_ws(p, end);
    return true;
}

ark_status ark_tok_json_string_field(const char *line, size_t n, const char *key, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    const char *p = line, *end = line + n;
    p = skip_ws(p, end);
    if (p >= end || *p != '{') return ark_fail(ARK_ERR_FORMAT, "expected a JSON object");
    p = skip_ws(p + 1, end);
    tk_buf k = {0}, v = {0};
    while (p < end && *p == '"') {
        k.len = 0;
        if (!json_string(&p, end, &k)) break;
        p = skip_ws(p, end);
        if (p >= end || *p != ':') break;
        p = skip_ws(p + 1, end);
        bool match = k.p && k.len == strlen(key) && memcmp(k.p, key, k.len) == 0;
        if (match && p < end && *p == '"') {
            if (!ark_tok_buf_put(&v, "", 0) || !json_string(&p, end, &v)) break;
            free(k.p);
            *out = v.p;
            *len = v.len;
            return ARK_OK;
        }
        if (match) {
            free(k.p);
            return ark_fail(ARK_ERR_MISSING, "\"%s\" is not a string", key);
        }
        if (!skip_value(&p, end)) break;
        if (p < end && *p == ',') p = skip_ws(p + 1, end);
    }
    free(k.p);
    free(v.p);
    return ark_fail(ARK_ERR_MISSING, "no string field \"%s\"", key);
}
