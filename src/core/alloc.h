/* Large allocations (activation caches, logits): 2 MiB aligned and advised
 * as transparent huge pages, so filling a fresh cache costs a few page
 * faults instead of one per 4 KiB.  Free with free(). */
#ifndef ARK_CORE_ALLOC_H
#define ARK_CORE_ALLOC_H

#include <stddef.h>

void *ark_alloc_large(size_t bytes);

#endif
