/* Shared helpers for the C tests (cmocka). */
#ifndef ARK_TESTUTIL_H
#define ARK_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

/* Path under the shared fixtures folder ($ARK_FIXTURES); static buffer. */
const char *fixture_path(const char *fmt, ...);
/* A fresh scratch directory under $ARK_TMP (created), unique per call. */
const char *scratch_dir(const char *name);
/* Read a whole file; NULL if absent. Caller frees. */
char *read_file(const char *path, size_t *len);
/* Largest violation of |a-b| <= atol + rtol*|b| over n elements: returns the
 * worst excess ratio (<= 1 means within tolerance) and its index. */
double tol_ratio(const float *a, const float *b, size_t n, double atol, double rtol, size_t *worst);

/* Every model folder (one with a config.json) under fixtures/<group>, as
 * paths in dirs[]; fails the test when there is none.  Returns the count. */
int fixture_folders(const char *group, char dirs[][512], int cap);

#endif
