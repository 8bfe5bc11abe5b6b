/* safetensors files: reading (memory-mapped, validated) and writing.
 *
 * Format (https://huggingface.co/docs/safetensors): 8-byte little-endian
 * header length N, then N bytes of JSON mapping each tensor name to
 * {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the
 * byte after the header), plus an optional "__metadata__" object of strings.
 *
 * ark_st_open validates the whole header before returning: header length
 * within the file, JSON well-formed, every dtype known, every shape's byte
 * size equal to its offsets' span, offsets inside the data area and not
 * overlapping.  Failures name the file and the tensor at fault. */
#ifndef ARRAKIS_SAFETENSORS_H
#define ARRAKIS_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arrakis/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ARK_MAX_DIMS 8

typedef enum ark_dtype {
    ARK_F32, ARK_F16, ARK_BF16, ARK_F64,
    ARK_I64, ARK_I32, ARK_I16, ARK_I8, ARK_U8, ARK_BOOL
} ark_dtype;

/* "F32", "F16", ... as safetensors spells them. */
const char *ark_dtype_name(ark_dtype d);
/* Bytes per element. */
size_t ark_dtype_size(ark_dtype d);

/* One tensor inside an open file.  `data` points into the mapping and is
 * valid until ark_st_close(); it is not necessarily aligned. */
typedef struct ark_st_tensor {
    const char *name;
    ark_dtype dtype;
    int ndim;
    int64_t shape[ARK_MAX_DIMS];
    int64_t numel;
    const void *data;
    size_t nbytes;
} ark_st_tensor;

typedef struct ark_st_file ark_st_file;

/* Map and validate `path`.  *out is owned by the caller (ark_st_close). */
ark_status ark_st_open(const char *path, ark_st_file **out);
void ark_st_close(ark_st_file *f);

const char *ark_st_path(const ark_st_file *f);
int ark_st_count(const ark_st_file *f);
/* Tensors in file order of their data offsets (0 <= i < count). */
const ark_st_tensor *ark_st_at(const ark_st_file *f, int i);
/* NULL when the file has no tensor of that name. */
const ark_st_tensor *ark_st_find(const ark_st_file *f, const char *name);
/* A "__metadata__" value, or NULL. */
const char *ark_st_metadata(const ark_st_file *f, const char *key);

/* The tensor as float32.  F32 data that is 4-byte aligned is returned in
 * place (*owned = false, valid while the file is open); F16, BF16, F64 and
 * unaligned F32 are converted into a fresh buffer (*owned = true, free()).
 * Integer dtypes are refused (ARK_ERR_SHAPE, naming the tensor). */
ark_status ark_st_to_f32(const ark_st_file *f, const ark_st_tensor *t, float **out, bool *owned);

/* Conversions used by readers and writers (round to nearest even). */
float ark_f16_to_f32(uint16_t h);
float ark_bf16_to_f32(uint16_t h);
uint16_t ark_f32_to_f16(float f);
uint16_t ark_f32_to_bf16(float f);

/* Writing: collect tensors, then write them in one go.  Tensors are stored
 * in the order added; data is copied (or converted) at ark_st_writer_save
 * time, so the pointers given must stay valid until then. */
typedef struct ark_st_writer ark_st_writer;

ark_st_writer *ark_st_writer_new(void);
void ark_st_writer_free(ark_st_writer *w);
/* Add a tensor given as float32, to be stored as `dtype` (F32, F16 or BF16). */
ark_status ark_st_writer_add_f32(ark_st_writer *w, const char *name, ark_dtype dtype,
                                 const float *data, int ndim, const int64_t *shape);
/* Add a tensor of raw bytes already in `dtype`. */
ark_status ark_st_writer_add_raw(ark_st_writer *w, const char *name, ark_dtype dtype,
                                 const void *data, int ndim, const int64_t *shape);
ark_status ark_st_writer_set_metadata(ark_st_writer *w, const char *key, const char *value);
/* Write to `path` (through a temporary file renamed into place, so a
 * failure never leaves a half-written file under that name). */
ark_status ark_st_writer_save(ark_st_writer *w, const char *path);

#ifdef __cplusplus
}
#endif
#endif
