/* Arrakis core: status codes, error messages, version.
 *
 * Every fallible library function returns an ark_status (ARK_OK = 0) and, on
 * failure, leaves a message for the calling thread that names the file,
 * tensor, field or hook at fault and what was expected.  Read it with
 * ark_errmsg() before the next library call on the same thread. */
#ifndef ARRAKIS_CORE_H
#define ARRAKIS_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ark_status {
    ARK_OK = 0,
    ARK_ERR_IO,          /* a file could not be opened, read or written */
    ARK_ERR_FORMAT,      /* a file is malformed (JSON, safetensors, ...) */
    ARK_ERR_SHAPE,       /* a tensor has the wrong shape or dtype */
    ARK_ERR_MISSING,     /* a required file, tensor, field or name is absent */
    ARK_ERR_UNSUPPORTED, /* a valid setting this version does not implement */
    ARK_ERR_ARG,         /* a caller-supplied argument is out of range */
    ARK_ERR_NOMEM        /* an allocation failed */
} ark_status;

/* The message of the last failure on this thread ("" if none). */
const char *ark_errmsg(void);

/* A short fixed name for a status ("io", "format", ...). */
const char *ark_status_name(ark_status s);

/* The library version, "MAJOR.MINOR.PATCH". */
const char *ark_version(void);

/* Number of threads the library uses for its own loops and for BLAS
 * (default: all online cores).  n <= 0 restores the default. */
void ark_set_threads(int n);
int ark_get_threads(void);

#ifdef __cplusplus
}
#endif
#endif
