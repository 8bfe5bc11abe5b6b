/* The surgery session's state, shared by surgery.c (session, layers, heads,
 * neurons) and surgery_prune.c (magnitude pruning). */
#ifndef ARK_MODEL_SURGERY_INTERNAL_H
#define ARK_MODEL_SURGERY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "arrakis/tool_surgery.h"
#include "model/weights_internal.h"

struct ark_surgery {
    ark_model *m;
    /* the snapshot that ark_surgery_restore puts back */
    ark_config cfg0;
    ark_layer_weights *layers0;
    const float *embed0, *pos0;
    ark_linear unembed0;
    /* buffers the session owns (copies of the weights it changed) */
    void **bufs;
    int n_bufs, cap_bufs;
    char **edits;
    int n_edits;
};

/* A fresh session buffer of n floats (uninitialised); NULL when out of memory. */
float *surg_alloc(ark_surgery *s, size_t n);
/* Is p the start of one of the session's buffers? */
bool surg_owns(const ark_surgery *s, const void *p);
/* Make *v (n floats, may be NULL) a session buffer, copying it if needed. */
ark_status surg_own_vec(ark_surgery *s, const float **v, size_t n);
/* Make L's matrix (and its bias, when it has one) compact session buffers. */
ark_status surg_own_linear(ark_surgery *s, ark_linear *L);
/* Append a line to the session's edit log. */
void surg_log(ark_surgery *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
