/* Shared by test_lens.c and test_lens_known.c. */
#ifndef ARK_LENS_TESTUTIL_H
#define ARK_LENS_TESTUTIL_H

#include <stdlib.h>

#include "arrakis/arrakis.h"
#include "testutil.h"

/* A plan keeping every name of a block from a *_hooks function. */
static inline ark_plan *plan_of(ark_model *m, char **names)
{
    ark_plan *p = ark_plan_new(m);
    for (char **n = names; *n; n++) assert_int_equal(ark_plan_keep(p, *n), ARK_OK);
    free(names);
    return p;
}

#endif
