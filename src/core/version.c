#include <omp.h>

#include "arrakis/core.h"

#ifndef ARK_VERSION_STRING
#define ARK_VERSION_STRING "0.0.0"
#endif

const char *ark_version(void) { return ARK_VERSION_STRING; }

static int ark_threads;

/* OpenBLAS (OpenMP build) and our loops share libgomp's pool, so one
 * setting governs both. */
void ark_set_threads(int n)
{
    ark_threads = n > 0 ? n : 0;
    omp_set_num_threads(n > 0 ? n : omp_get_num_procs());
}

int ark_get_threads(void) { return ark_threads > 0 ? ark_threads : omp_get_max_threads(); }
