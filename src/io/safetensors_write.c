/* safetensors writing: collect tensors (names, shapes, data pointers), then
 * write header and data in one go through a temporary file renamed into
 * place.  The header is padded with spaces to a multiple of 8 bytes, as the
 * reference implementation does, so that data offsets that are multiples of
 * 4 stay 4-byte aligned when the file is mapped. */
#include "arrakis/safetensors.h"
#include "core/error.h"
#include "io/st_index.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct wr_entry {
    char *name;
    ark_dtype dtype;  /* as stored in the file */
    bool from_f32;    /* data is float32, converted to dtype at save time */
    const void *data;
    int ndim;
    int64_t shape[ARK_MAX_DIMS];
    size_t nbytes;    /* in the file */
} wr_entry;

struct ark_st_writer {
    wr_entry *entries;
    int count, cap;
    st_index index;
    int nmeta, meta_cap;
    char **meta_keys, **meta_values;
};

static const char *entry_name_of(const void *ctx, int i)
{
    return ((const wr_entry *)ctx)[i].name;
}

ark_st_writer *ark_st_writer_new(void)
{
    ark_st_writer *w = calloc(1, sizeof *w);
    if (!w || st_index_init(&w->index, 8) != 0) {
        free(w);
        ark_fail(ARK_ERR_NOMEM, "ark_st_writer_new: out of memory");
        return NULL;
    }
    return w;
}

void ark_st_writer_free(ark_st_writer *w)
{
    if (!w) return;
    for (int i = 0; i < w->count; i++) free(w->entries[i].name);
    free(w->entries);
    st_index_free(&w->index);
    for (int i = 0; i < w->nmeta; i++) {
        free(w->meta_keys[i]);
        free(w->meta_values[i]);
    }
    free(w->meta_keys);
    free(w->meta_values);
    free(w);
}

/* Room for one more entry, the index kept at load <= 1/2. */
static ark_status grow(ark_st_writer *w)
{
    if (w->count == w->cap) {
        int cap = w->cap ? 2 * w->cap : 16;
        wr_entry *e = realloc(w->entries, (size_t)cap * sizeof *e);
        if (!e) return ark_fail(ARK_ERR_NOMEM, "safetensors writer: out of memory");
        w->entries = e;
        w->cap = cap;
    }
    if (2 * ((size_t)w->count + 1) > w->index.mask + 1) {
        st_index bigger;
        if (st_index_init(&bigger, 2 * ((size_t)w->count + 1)) != 0)
            return ark_fail(ARK_ERR_NOMEM, "safetensors writer: out of memory");
        for (int i = 0; i < w->count; i++) st_index_put(&bigger, i, entry_name_of, w->entries);
        st_index_free(&w->index);
        w->index = bigger;
    }
    return ARK_OK;
}

static ark_status add_entry(ark_st_writer *w, const char *name, ark_dtype dtype, bool from_f32,
                            const void *data, int ndim, const int64_t *shape)
{
    if (!w || !name) return ark_fail(ARK_ERR_ARG, "safetensors writer: NULL writer or name");
    if (!*name || strcmp(name, "__metadata__") == 0)
        return ark_fail(ARK_ERR_ARG, "safetensors writer: tensor name '%s' is reserved or empty", name);
    if (ark_dtype_size(dtype) == 0)
        return ark_fail(ARK_ERR_ARG, "safetensors writer: tensor '%s': invalid dtype %d", name, (int)dtype);
    if (ndim < 0 || ndim > ARK_MAX_DIMS || (ndim > 0 && !shape))
        return ark_fail(ARK_ERR_ARG, "safetensors writer: tensor '%s': ndim %d (expected 0..%d with a shape)",
                        name, ndim, ARK_MAX_DIMS);
    uint64_t nbytes = ark_dtype_size(dtype);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return ark_fail(ARK_ERR_ARG, "safetensors writer: tensor '%s': shape[%d] is %lld, expected >= 0",
                            name, i, (long long)shape[i]);
        if (__builtin_mul_overflow(nbytes, (uint64_t)shape[i], &nbytes) || nbytes > (uint64_t)1 << 53)
            return ark_fail(ARK_ERR_ARG, "safetensors writer: tensor '%s': byte size overflows", name);
    }
    if (!data && nbytes > 0)
        return ark_fail(ARK_ERR_ARG, "safetensors writer: tensor '%s': data is NULL", name);
    if (st_index_find(&w->index, name, entry_name_of, w->entries) >= 0)
        return ark_fail(ARK_ERR_ARG, "safetensors writer: tensor '%s' was already added", name);
    ARK_TRY(grow(w));
    wr_entry *e = &w->entries[w->count];
    memset(e, 0, sizeof *e);
    if (!(e->name = strdup(name))) return ark_fail(ARK_ERR_NOMEM, "safetensors writer: out of memory");
    e->dtype = dtype;
    e->from_f32 = from_f32;
    e->data = data;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++) e->shape[i] = shape[i];
    e->nbytes = (size_t)nbytes;
    st_index_put(&w->index, w->count, entry_name_of, w->entries);
    w->count++;
    return ARK_OK;
}

ark_status ark_st_writer_add_f32(ark_st_writer *w, const char *name, ark_dtype dtype,
                                 const float *data, int ndim, const int64_t *shape)
{
    if (dtype != ARK_F32 && dtype != ARK_F16 && dtype != ARK_BF16)
        return ark_fail(ARK_ERR_ARG, "safetensors writer: tensor '%s': float32 data can be stored as "
                        "F32, F16 or BF16, not %s", name ? name : "(null)", ark_dtype_name(dtype));
    return add_entry(w, name, dtype, true, data, ndim, shape);
}

ark_status ark_st_writer_add_raw(ark_st_writer *w, const char *name, ark_dtype dtype,
                                 const void *data, int ndim, const int64_t *shape)
{
    return add_entry(w, name, dtype, false, data, ndim, shape);
}

ark_status ark_st_writer_set_metadata(ark_st_writer *w, const char *key, const char *value)
{
    if (!w || !key || !value) return ark_fail(ARK_ERR_ARG, "safetensors writer: NULL metadata key or value");
    char *v = strdup(value);
    if (!v) return ark_fail(ARK_ERR_NOMEM, "safetensors writer: out of memory");
    for (int i = 0; i < w->nmeta; i++)
        if (strcmp(w->meta_keys[i], key) == 0) {
            free(w->meta_values[i]);
            w->meta_values[i] = v;
            return ARK_OK;
        }
    if (w->nmeta == w->meta_cap) {
        int cap = w->meta_cap ? 2 * w->meta_cap : 8;
        char **k = realloc(w->meta_keys, (size_t)cap * sizeof *k);
        if (k) w->meta_keys = k;
        char **vs = k ? realloc(w->meta_values, (size_t)cap * sizeof *vs) : NULL;
        if (vs) w->meta_values = vs;
        if (!k || !vs) { free(v); return ark_fail(ARK_ERR_NOMEM, "safetensors writer: out of memory"); }
        w->meta_cap = cap;
    }
    if (!(w->meta_keys[w->nmeta] = strdup(key))) {
        free(v);
        return ark_fail(ARK_ERR_NOMEM, "safetensors writer: out of memory");
    }
    w->meta_values[w->nmeta++] = v;
    return ARK_OK;
}

/* ---- saving ---- */

/* An integer as a raw JSON number: exact for any 64-bit value. */
static cJSON *json_int(uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    return cJSON_CreateRaw(buf);
}

/* The header JSON; the caller frees it with cJSON_free. */
static char *header_json(const ark_st_writer *w)
{
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && w->nmeta > 0) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        ok = meta != NULL;
        for (int i = 0; ok && i < w->nmeta; i++)
            ok = cJSON_AddStringToObject(meta, w->meta_keys[i], w->meta_values[i]) != NULL;
    }
    uint64_t offset = 0;
    for (int i = 0; ok && i < w->count; i++) {
        const wr_entry *e = &w->entries[i];
        cJSON *t = cJSON_AddObjectToObject(root, e->name);
        cJSON *shape = t ? cJSON_CreateArray() : NULL;
        cJSON *offs = shape ? cJSON_CreateArray() : NULL;
        ok = offs && cJSON_AddStringToObject(t, "dtype", ark_dtype_name(e->dtype));
        if (shape) cJSON_AddItemToObject(t, "shape", shape);
        if (offs) cJSON_AddItemToObject(t, "data_offsets", offs);
        for (int d = 0; ok && d < e->ndim; d++) ok = cJSON_AddItemToArray(shape, json_int((uint64_t)e->shape[d]));
        ok = ok && cJSON_AddItemToArray(offs, json_int(offset));
        offset += e->nbytes;
        ok = ok && cJSON_AddItemToArray(offs, json_int(offset));
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

/* Write one tensor's data, converting float32 to F16/BF16 in chunks. */
static int write_data(FILE *fp, const wr_entry *e)
{
    if (!e->from_f32 || e->dtype == ARK_F32)
        return e->nbytes == 0 || fwrite(e->data, 1, e->nbytes, fp) == e->nbytes;
    const float *src = e->data;
    size_t n = e->nbytes / 2;
    uint8_t buf[8192];
    for (size_t i = 0; i < n;) {
        size_t k = 0;
        for (; k < sizeof buf / 2 && i < n; k++, i++) {
            uint16_t h = e->dtype == ARK_F16 ? ark_f32_to_f16(src[i]) : ark_f32_to_bf16(src[i]);
            buf[2 * k] = (uint8_t)h;
            buf[2 * k + 1] = (uint8_t)(h >> 8);
        }
        if (fwrite(buf, 2, k, fp) != k) return 0;
    }
    return 1;
}

/* Length, padded header, data; then flush to disk.  Returns 0 with errno set. */
static int write_file(FILE *fp, const ark_st_writer *w, const char *json)
{
    size_t len = strlen(json), padded = (len + 7) & ~(size_t)7;
    uint8_t hdr[8];
    for (int i = 0; i < 8; i++) hdr[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    if (fwrite(hdr, 1, 8, fp) != 8 || fwrite(json, 1, len, fp) != len) return 0;
    for (size_t i = len; i < padded; i++)
        if (fputc(' ', fp) == EOF) return 0;
    for (int i = 0; i < w->count; i++)
        if (!write_data(fp, &w->entries[i])) return 0;
    return fflush(fp) == 0 && fsync(fileno(fp)) == 0;
}

ark_status ark_st_writer_save(ark_st_writer *w, const char *path)
{
    if (!w || !path) return ark_fail(ARK_ERR_ARG, "ark_st_writer_save: NULL writer or path");
    char *json = header_json(w);
    size_t tlen = strlen(path) + 32;
    char *tmp = malloc(tlen);
    if (!json || !tmp) {
        cJSON_free(json);
        free(tmp);
        return ark_fail(ARK_ERR_NOMEM, "%s: out of memory building the header", path);
    }
    snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
    ark_status st = ARK_OK;
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        st = ark_fail(ARK_ERR_IO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
    } else {
        errno = 0;
        int ok = write_file(fp, w, json);
        int err = errno ? errno : EIO;
        if (fclose(fp) != 0 && ok) { ok = 0; err = errno; }
        if (ok && rename(tmp, path) != 0) { ok = 0; err = errno; }
        if (!ok) {
            unlink(tmp);
            st = ark_fail(ARK_ERR_IO, "%s: cannot write: %s", path, strerror(err));
        }
    }
    cJSON_free(json);
    free(tmp);
    return st;
}
