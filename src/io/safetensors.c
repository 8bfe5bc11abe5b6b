/* safetensors reading: map the file, validate the whole header once, index
 * the tensors by name.  The data area is never read here: a tensor's bytes
 * are touched only when the caller reads them (or converts them with
 * ark_st_to_f32), so opening a large file costs a header parse. */
#include "arrakis/safetensors.h"
#include "core/error.h"
#include "io/st_index.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader maps it without swapping"
#endif

struct ark_st_file {
    char *path;
    void *map;             /* the whole file, read-only */
    size_t map_size;
    int count;
    ark_st_tensor *tensors; /* sorted by data offset; names owned */
    st_index index;
    int nmeta;
    char **meta_keys, **meta_values;
};

/* ---- dtypes ---- */

static const struct { const char *name; size_t size; } dtype_info[] = {
    [ARK_F32] = {"F32", 4}, [ARK_F16] = {"F16", 2}, [ARK_BF16] = {"BF16", 2},
    [ARK_F64] = {"F64", 8}, [ARK_I64] = {"I64", 8}, [ARK_I32] = {"I32", 4},
    [ARK_I16] = {"I16", 2}, [ARK_I8] = {"I8", 1},   [ARK_U8] = {"U8", 1},
    [ARK_BOOL] = {"BOOL", 1},
};
#define N_DTYPES ((int)(sizeof dtype_info / sizeof dtype_info[0]))
#define KNOWN_DTYPES "F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL"

/* Valid in the safetensors spec, but without an ark_dtype. */
static const char *const spec_only_dtypes[] = {
    "U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64",
};

const char *ark_dtype_name(ark_dtype d)
{
    return (int)d >= 0 && (int)d < N_DTYPES ? dtype_info[d].name : "?";
}

size_t ark_dtype_size(ark_dtype d)
{
    return (int)d >= 0 && (int)d < N_DTYPES ? dtype_info[d].size : 0;
}

/* ---- float conversions ---- */

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float ark_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
    if (exp == 0) { /* zero or subnormal: mant * 2^-24, exact in float */
        float v = ldexpf((float)mant, -24);
        return sign ? -v : v;
    }
    if (exp == 31) /* inf, or NaN with its payload kept */
        return bits_f32(sign | 0x7F800000u | (mant << 13));
    return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

float ark_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t ark_f32_to_f16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7FFFFFFFu;
    if (ax > 0x7F800000u) { /* NaN: keep the top payload bits, stay a NaN */
        uint16_t m = (uint16_t)((ax >> 13) & 0x3FF);
        return sign | 0x7C00 | (m ? m : 0x200);
    }
    if (ax >= 0x477FF000u) /* >= 65520 (halfway past 65504, odd): inf */
        return sign | 0x7C00;
    if (ax >= 0x38800000u) { /* normal in f16: >= 2^-14 */
        uint32_t h = ((ax >> 23) - 112) << 10 | ((ax >> 13) & 0x3FF);
        uint32_t rem = ax & 0x1FFF;
        if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++; /* carry may bump exp */
        return sign | (uint16_t)h;
    }
    if (ax <= 0x33000000u) /* <= 2^-25: rounds to zero (the tie goes to even 0) */
        return sign;
    /* subnormal in f16: value / 2^-24 = m * 2^(e - 126), shift in [14, 24] */
    uint32_t m = (ax & 0x7FFFFF) | 0x800000, shift = 126 - (ax >> 23);
    uint32_t h = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) h++; /* 0x400 is the smallest normal */
    return sign | (uint16_t)h;
}

uint16_t ark_f32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) /* NaN: truncate, keep it quiet */
        return (uint16_t)((x >> 16) | 0x0040);
    x += 0x7FFFu + ((x >> 16) & 1); /* ties to even; overflow carries into inf */
    return (uint16_t)(x >> 16);
}

/* ---- header parsing ---- */

static const char *json_kind(const cJSON *v)
{
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    return "an invalid value";
}

/* A non-negative integral JSON number no larger than `max` (<= 2^53). */
static int json_uint(const cJSON *v, uint64_t max, uint64_t *out)
{
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0) || d != floor(d) || d > (double)max) return 0;
    *out = (uint64_t)d;
    return 1;
}

static void format_shape(char *buf, size_t n, const int64_t *shape, int ndim)
{
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

/* One parsed entry before sorting. */
typedef struct st_entry {
    ark_st_tensor t;
    uint64_t begin, end;
    int order; /* position in the header, to break ties deterministically */
} st_entry;

static ark_status parse_dtype(const char *path, const char *name, const cJSON *v, ark_dtype *out)
{
    if (!v) return ark_fail(ARK_ERR_FORMAT, "%s: tensor '%s': missing \"dtype\"", path, name);
    if (!cJSON_IsString(v))
        return ark_fail(ARK_ERR_FORMAT, "%s: tensor '%s': \"dtype\" is %s, expected a string",
                        path, name, json_kind(v));
    for (int d = 0; d < N_DTYPES; d++)
        if (strcmp(v->valuestring, dtype_info[d].name) == 0) { *out = (ark_dtype)d; return ARK_OK; }
    for (size_t i = 0; i < sizeof spec_only_dtypes / sizeof *spec_only_dtypes; i++)
        if (strcmp(v->valuestring, spec_only_dtypes[i]) == 0)
            return ark_fail(ARK_ERR_UNSUPPORTED,
                            "%s: tensor '%s': dtype \"%s\" is not supported (known: " KNOWN_DTYPES ")",
                            path, name, v->valuestring);
    return ark_fail(ARK_ERR_FORMAT, "%s: tensor '%s': unknown dtype \"%s\" (known: " KNOWN_DTYPES ")",
                    path, name, v->valuestring);
}

static ark_status parse_shape(const char *path, const char *name, const cJSON *v, ark_st_tensor *t)
{
    if (!v) return ark_fail(ARK_ERR_FORMAT, "%s: tensor '%s': missing \"shape\"", path, name);
    if (!cJSON_IsArray(v))
        return ark_fail(ARK_ERR_FORMAT, "%s: tensor '%s': \"shape\" is %s, expected an array of integers",
                        path, name, json_kind(v));
    int ndim = cJSON_GetArraySize(v);
    if (ndim > ARK_MAX_DIMS)
        return ark_fail(ARK_ERR_UNSUPPORTED, "%s: tensor '%s': shape has %d dims, at most %d are supported",
                        path, name, ndim, ARK_MAX_DIMS);
    t->ndim = ndim;
    int i = 0;
    for (const cJSON *d = v->child; d; d = d->next, i++) {
        uint64_t u;
        if (!json_uint(d, (uint64_t)1 << 53, &u)) {
            char *s = cJSON_PrintUnformatted(d);
            ark_status st = ark_fail(ARK_ERR_FORMAT,
                                     "%s: tensor '%s': shape[%d] is %s, expected a non-negative integer",
                                     path, name, i, s ? s : "?");
            free(s);
            return st;
        }
        t->shape[i] = (int64_t)u;
    }
    return ARK_OK;
}

static ark_status parse_offsets(const char *path, const char *name, const cJSON *v,
                                uint64_t data_size, st_entry *e)
{
    if (!v) return ark_fail(ARK_ERR_FORMAT, "%s: tensor '%s': missing \"data_offsets\"", path, name);
    uint64_t off[2];
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 ||
        !json_uint(v->child, (uint64_t)1 << 53, &off[0]) ||
        !json_uint(v->child->next, (uint64_t)1 << 53, &off[1])) {
        char *s = cJSON_PrintUnformatted(v);
        ark_status st = ark_fail(ARK_ERR_FORMAT,
                                 "%s: tensor '%s': \"data_offsets\" is %.64s, expected [begin, end] "
                                 "(two non-negative integers)", path, name, s ? s : "?");
        free(s);
        return st;
    }
    if (off[0] > off[1])
        return ark_fail(ARK_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] has begin > end",
                        path, name, (unsigned long long)off[0], (unsigned long long)off[1]);
    if (off[1] > data_size)
        return ark_fail(ARK_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets [%llu, %llu] end past the data area of %llu bytes",
                        path, name, (unsigned long long)off[0], (unsigned long long)off[1],
                        (unsigned long long)data_size);
    e->begin = off[0];
    e->end = off[1];
    return ARK_OK;
}

/* The element count and byte size of the shape must match the offsets. */
static ark_status check_size(const char *path, st_entry *e)
{
    ark_st_tensor *t = &e->t;
    uint64_t numel = 1, nbytes;
    int overflow = 0;
    for (int i = 0; i < t->ndim; i++)
        overflow |= __builtin_mul_overflow(numel, (uint64_t)t->shape[i], &numel);
    overflow |= __builtin_mul_overflow(numel, (uint64_t)ark_dtype_size(t->dtype), &nbytes);
    char shape[256];
    format_shape(shape, sizeof shape, t->shape, t->ndim);
    if (overflow || nbytes != e->end - e->begin) {
        char need[64];
        if (overflow) snprintf(need, sizeof need, "more than 2^64 bytes");
        else snprintf(need, sizeof need, "%llu bytes", (unsigned long long)nbytes);
        return ark_fail(ARK_ERR_FORMAT,
                        "%s: tensor '%s': dtype %s shape %s needs %s, but data_offsets [%llu, %llu] span %llu",
                        path, t->name, ark_dtype_name(t->dtype), shape, need,
                        (unsigned long long)e->begin, (unsigned long long)e->end,
                        (unsigned long long)(e->end - e->begin));
    }
    t->numel = (int64_t)numel;
    t->nbytes = (size_t)nbytes;
    return ARK_OK;
}

static ark_status parse_tensor(const char *path, const cJSON *item, uint64_t data_size, st_entry *e)
{
    const char *name = item->string;
    if (!cJSON_IsObject(item))
        return ark_fail(ARK_ERR_FORMAT,
                        "%s: tensor '%s': entry is %s, expected an object with dtype, shape, data_offsets",
                        path, name, json_kind(item));
    ARK_TRY(parse_dtype(path, name, cJSON_GetObjectItemCaseSensitive(item, "dtype"), &e->t.dtype));
    ARK_TRY(parse_shape(path, name, cJSON_GetObjectItemCaseSensitive(item, "shape"), &e->t));
    ARK_TRY(parse_offsets(path, name, cJSON_GetObjectItemCaseSensitive(item, "data_offsets"),
                          data_size, e));
    e->t.name = name; /* borrowed from the JSON tree until the names are copied */
    return check_size(path, e);
}

static ark_status parse_metadata(ark_st_file *f, const cJSON *meta)
{
    if (cJSON_IsNull(meta)) return ARK_OK;
    if (!cJSON_IsObject(meta))
        return ark_fail(ARK_ERR_FORMAT, "%s: \"__metadata__\" is %s, expected an object of strings",
                        f->path, json_kind(meta));
    int n = cJSON_GetArraySize(meta);
    f->meta_keys = calloc((size_t)n + 1, sizeof *f->meta_keys);
    f->meta_values = calloc((size_t)n + 1, sizeof *f->meta_values);
    if (!f->meta_keys || !f->meta_values) return ark_fail(ARK_ERR_NOMEM, "%s: out of memory", f->path);
    for (const cJSON *m = meta->child; m; m = m->next) {
        if (!cJSON_IsString(m))
            return ark_fail(ARK_ERR_FORMAT, "%s: \"__metadata__\" value for key \"%s\" is %s, expected a string",
                            f->path, m->string, json_kind(m));
        f->meta_keys[f->nmeta] = strdup(m->string);
        f->meta_values[f->nmeta] = strdup(m->valuestring);
        f->nmeta++;
        if (!f->meta_keys[f->nmeta - 1] || !f->meta_values[f->nmeta - 1])
            return ark_fail(ARK_ERR_NOMEM, "%s: out of memory", f->path);
    }
    return ARK_OK;
}

static int entry_cmp(const void *pa, const void *pb)
{
    const st_entry *a = pa, *b = pb;
    if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end) return a->end < b->end ? -1 : 1;
    return a->order - b->order;
}

/* Entries sorted by offset: a non-empty range may not start before the end
 * of an earlier non-empty one.  Empty (zero-size) ranges share no byte. */
static ark_status check_overlaps(const char *path, const st_entry *e, int n)
{
    int last = -1; /* the non-empty entry reaching furthest so far */
    for (int i = 0; i < n; i++) {
        if (e[i].begin == e[i].end) continue;
        if (last >= 0 && e[i].begin < e[last].end)
            return ark_fail(ARK_ERR_FORMAT, "%s: tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] overlap",
                            path, e[last].t.name, (unsigned long long)e[last].begin,
                            (unsigned long long)e[last].end, e[i].t.name,
                            (unsigned long long)e[i].begin, (unsigned long long)e[i].end);
        if (last < 0 || e[i].end > e[last].end) last = i;
    }
    return ARK_OK;
}

static const char *tensor_name_of(const void *ctx, int i)
{
    return ((const ark_st_tensor *)ctx)[i].name;
}

/* Copy the sorted entries into f->tensors, owning their names, and index them. */
static ark_status build_tensors(ark_st_file *f, const st_entry *e, int n, const uint8_t *data)
{
    f->tensors = calloc((size_t)n + 1, sizeof *f->tensors);
    if (!f->tensors || st_index_init(&f->index, (size_t)n) != 0)
        return ark_fail(ARK_ERR_NOMEM, "%s: out of memory for %d tensors", f->path, n);
    for (int i = 0; i < n; i++) {
        ark_st_tensor *t = &f->tensors[i];
        *t = e[i].t;
        t->data = data + e[i].begin;
        t->name = strdup(e[i].t.name);
        f->count = i + 1;
        if (!t->name) return ark_fail(ARK_ERR_NOMEM, "%s: out of memory", f->path);
        int prev = st_index_put(&f->index, i, tensor_name_of, f->tensors);
        if (prev >= 0)
            return ark_fail(ARK_ERR_FORMAT, "%s: tensor '%s' appears twice in the header", f->path, t->name);
    }
    return ARK_OK;
}

/* Validate every entry of the header object and fill f. */
static ark_status load_header(ark_st_file *f, const cJSON *root, const uint8_t *data, uint64_t data_size)
{
    int n = 0;
    const cJSON *meta = NULL;
    for (const cJSON *it = root->child; it; it = it->next) {
        if (strcmp(it->string, "__metadata__") != 0) { n++; continue; }
        if (meta) return ark_fail(ARK_ERR_FORMAT, "%s: \"__metadata__\" appears twice", f->path);
        meta = it;
    }
    if (meta) ARK_TRY(parse_metadata(f, meta));
    st_entry *e = calloc((size_t)n + 1, sizeof *e);
    if (!e) return ark_fail(ARK_ERR_NOMEM, "%s: out of memory for %d tensors", f->path, n);
    ark_status st = ARK_OK;
    int k = 0;
    for (const cJSON *it = root->child; it && st == ARK_OK; it = it->next) {
        if (it == meta) continue;
        e[k].order = k;
        st = parse_tensor(f->path, it, data_size, &e[k]);
        k++;
    }
    if (st == ARK_OK) {
        qsort(e, (size_t)n, sizeof *e, entry_cmp);
        st = check_overlaps(f->path, e, n);
    }
    if (st == ARK_OK) st = build_tensors(f, e, n, data);
    free(e);
    return st;
}

/* ---- open / close ---- */

static ark_status map_file(ark_st_file *f)
{
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ark_fail(ARK_ERR_IO, "%s: cannot open: %s", f->path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int err = errno;
        close(fd);
        return ark_fail(ARK_ERR_IO, "%s: cannot stat: %s", f->path, strerror(err));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return ark_fail(ARK_ERR_IO, "%s: not a regular file", f->path);
    }
    if (sb.st_size < 8) {
        close(fd);
        return ark_fail(ARK_ERR_FORMAT, "%s: file is %lld bytes, shorter than the 8-byte header length",
                        f->path, (long long)sb.st_size);
    }
    f->map_size = (size_t)sb.st_size;
    void *map = mmap(NULL, f->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    if (map == MAP_FAILED) return ark_fail(ARK_ERR_IO, "%s: cannot map: %s", f->path, strerror(err));
    f->map = map;
    return ARK_OK;
}

/* Parse the JSON header; *root is the caller's to cJSON_Delete. */
static ark_status parse_json(ark_st_file *f, uint64_t hlen, cJSON **root)
{
    /* A NUL-terminated copy: cJSON then cannot read past the header. */
    char *text = malloc((size_t)hlen + 1);
    if (!text) return ark_fail(ARK_ERR_NOMEM, "%s: out of memory for a %llu-byte header",
                               f->path, (unsigned long long)hlen);
    memcpy(text, (const uint8_t *)f->map + 8, (size_t)hlen);
    text[hlen] = '\0';
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, (size_t)hlen + 1, &end, 0);
    ark_status st = ARK_OK;
    if (!j) {
        const char *at = cJSON_GetErrorPtr();
        size_t pos = at && at >= text && at <= text + hlen ? (size_t)(at - text) : 0;
        st = ark_fail(ARK_ERR_FORMAT, "%s: header is not valid JSON (error at byte %zu of %llu: \"%.24s\")",
                      f->path, pos, (unsigned long long)hlen, text + pos);
    } else if (!cJSON_IsObject(j)) {
        st = ark_fail(ARK_ERR_FORMAT, "%s: header is %s, expected a JSON object", f->path, json_kind(j));
    } else {
        end += strspn(end, " \t\r\n");
        if (end != text + hlen) /* only padding may follow the object */
            st = ark_fail(ARK_ERR_FORMAT,
                          "%s: header is not valid JSON (unexpected bytes after the object at byte %zu of %llu)",
                          f->path, (size_t)(end - text), (unsigned long long)hlen);
    }
    free(text);
    if (st != ARK_OK) { cJSON_Delete(j); return st; }
    *root = j;
    return ARK_OK;
}

static ark_status open_file(ark_st_file *f)
{
    ARK_TRY(map_file(f));
    const uint8_t *p = f->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | p[i];
    uint64_t avail = (uint64_t)f->map_size - 8;
    if (hlen > avail)
        return ark_fail(ARK_ERR_FORMAT,
                        "%s: header length %llu exceeds the file size %zu (only %llu bytes follow the "
                        "8-byte length)", f->path, (unsigned long long)hlen, f->map_size,
                        (unsigned long long)avail);
    cJSON *root = NULL;
    ARK_TRY(parse_json(f, hlen, &root));
    ark_status st = load_header(f, root, p + 8 + hlen, avail - hlen);
    cJSON_Delete(root);
    return st;
}

ark_status ark_st_open(const char *path, ark_st_file **out)
{
    if (!out) return ark_fail(ARK_ERR_ARG, "ark_st_open: out is NULL");
    *out = NULL;
    if (!path) return ark_fail(ARK_ERR_ARG, "ark_st_open: path is NULL");
    ark_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return ark_fail(ARK_ERR_NOMEM, "%s: out of memory", path);
    }
    ark_status st = open_file(f);
    if (st != ARK_OK) {
        ark_st_close(f);
        return st;
    }
    *out = f;
    return ARK_OK;
}

void ark_st_close(ark_st_file *f)
{
    if (!f) return;
    for (int i = 0; i < f->count; i++) free((char *)f->tensors[i].name);
    free(f->tensors);
    st_index_free(&f->index);
    for (int i = 0; i < f->nmeta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->meta_keys);
    free(f->meta_values);
    if (f->map) munmap(f->map, f->map_size);
    free(f->path);
    free(f);
}

/* ---- queries ---- */

const char *ark_st_path(const ark_st_file *f) { return f ? f->path : NULL; }

int ark_st_count(const ark_st_file *f) { return f ? f->count : 0; }

const ark_st_tensor *ark_st_at(const ark_st_file *f, int i)
{
    return f && i >= 0 && i < f->count ? &f->tensors[i] : NULL;
}

const ark_st_tensor *ark_st_find(const ark_st_file *f, const char *name)
{
    if (!f || !name) return NULL;
    int i = st_index_find(&f->index, name, tensor_name_of, f->tensors);
    return i >= 0 ? &f->tensors[i] : NULL;
}

const char *ark_st_metadata(const ark_st_file *f, const char *key)
{
    if (!f || !key) return NULL;
    for (int i = 0; i < f->nmeta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

/* ---- conversion to float32 ---- */

ark_status ark_st_to_f32(const ark_st_file *f, const ark_st_tensor *t, float **out, bool *owned)
{
    const char *path = f ? f->path : "(no file)";
    if (!t || !out || !owned) return ark_fail(ARK_ERR_ARG, "%s: ark_st_to_f32: NULL argument", path);
    *out = NULL;
    *owned = false;
    size_t n = (size_t)t->numel;
    const uint8_t *src = t->data;
    if (t->dtype == ARK_F32 && (uintptr_t)src % _Alignof(float) == 0) {
        *out = (float *)(uintptr_t)src; /* in place: the mapping is read-only */
        return ARK_OK;
    }
    if (t->dtype != ARK_F32 && t->dtype != ARK_F16 && t->dtype != ARK_BF16 && t->dtype != ARK_F64)
        return ark_fail(ARK_ERR_SHAPE, "%s: tensor '%s': dtype %s cannot be read as float32 "
                        "(F32, F16, BF16 or F64 expected)", path, t->name, ark_dtype_name(t->dtype));
    float *dst = malloc(n ? n * sizeof *dst : 1);
    if (!dst) return ark_fail(ARK_ERR_NOMEM, "%s: tensor '%s': out of memory for %zu floats", path, t->name, n);
    if (t->dtype == ARK_F32) {
        memcpy(dst, src, n * sizeof *dst);
    } else if (t->dtype == ARK_F64) {
        for (size_t i = 0; i < n; i++) { double d; memcpy(&d, src + 8 * i, 8); dst[i] = (float)d; }
    } else {
        int bf = t->dtype == ARK_BF16;
        for (size_t i = 0; i < n; i++) {
            uint16_t h = (uint16_t)(src[2 * i] | src[2 * i + 1] << 8);
            dst[i] = bf ? ark_bf16_to_f32(h) : ark_f16_to_f32(h);
        }
    }
    *out = dst;
    *owned = true;
    return ARK_OK;
}
