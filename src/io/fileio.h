/* Small file helpers shared by the loaders. */
#ifndef ARK_IO_FILEIO_H
#define ARK_IO_FILEIO_H

#include <stdbool.h>
#include <stddef.h>

#include "arrakis/core.h"

/* Read a whole file as a NUL-terminated string (*out malloc'd). Errors name
 * the path. */
ark_status ark_read_text(const char *path, char **out, size_t *len);
/* "dir/name" into a fresh string. */
char *ark_path_join(const char *dir, const char *name);
bool ark_file_exists(const char *path);
bool ark_is_dir(const char *path);
/* Create a directory and its parents (like mkdir -p). */
ark_status ark_mkdirs(const char *path);
/* Write `len` bytes to path through a temporary file renamed into place. */
ark_status ark_write_file_atomic(const char *path, const void *data, size_t len);

#endif
