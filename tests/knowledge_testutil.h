/* Shared by test_knowledge.c and test_knowledge_tools.c: the seeded
 * generator both draw their data from (one copy per test executable). */
#ifndef ARK_KNOWLEDGE_TESTUTIL_H
#define ARK_KNOWLEDGE_TESTUTIL_H

#include <stdint.h>

static uint64_t lcg_state;
static inline double urand(void)
{
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg_state >> 11) / 9007199254740992.0;
}

#endif
