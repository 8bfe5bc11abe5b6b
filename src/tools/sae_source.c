/* Sources of SAE training rows (include/arrakis/tool_superposition.h): a
 * matrix visited in shuffled epochs, or a hook point streamed over a dataset
 * through a shuffle buffer. */
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_superposition.h"
#include "core/error.h"
#include "core/rng.h"

struct ark_act_source {
    int d;
    ark_rng rng;
    int64_t served;
    int epochs;
    /* matrix */
    const float *x;
    int64_t n, *perm, cursor;
    /* model */
    ark_model *m;
    const ark_dataset *ds;
    char *hook;
    ark_stream_opts so;
    int next_prompt;
    float *buf;            /* (cap + margin, d) */
    int64_t cap, margin, filled, *order, pos;
};

static void shuffle(ark_rng *r, int64_t *a, int64_t n)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(ark_rng_u64(r) % (uint64_t)(i + 1));
        int64_t t = a[i]; a[i] = a[j]; a[j] = t;
    }
}

ark_status ark_act_source_matrix(const float *x, int64_t n, int d, uint64_t seed, ark_act_source **out)
{
    *out = NULL;
    if (!x || n < 1 || d < 1) return ark_fail(ARK_ERR_ARG, "activation source: an empty matrix (%lld x %d)", (long long)n, d);
    ark_act_source *s = calloc(1, sizeof *s);
    if (!s) return ark_fail(ARK_ERR_NOMEM, "activation source: out of memory");
    s->x = x;
    s->n = n;
    s->d = d;
    s->perm = malloc(sizeof(int64_t) * (size_t)n);
    if (!s->perm) { free(s); return ark_fail(ARK_ERR_NOMEM, "activation source: out of memory for %lld rows", (long long)n); }
    for (int64_t i = 0; i < n; i++) s->perm[i] = i;
    ark_rng_seed(&s->rng, seed);
    shuffle(&s->rng, s->perm, n);
    *out = s;
    return ARK_OK;
}

ark_status ark_act_source_model(ark_model *m, const ark_dataset *ds, const char *hook, const ark_stream_opts *so,
                                int buffer_rows, uint64_t seed, ark_act_source **out)
{
    *out = NULL;
    int d;
    ARK_TRY(ark_hook_width(m, hook, &d));
    if (!ds) return ark_fail(ARK_ERR_ARG, "activation source: no dataset");
    if (buffer_rows < 0) return ark_fail(ARK_ERR_ARG, "activation source: buffer of %d rows", buffer_rows);
    ark_act_source *s = calloc(1, sizeof *s);
    if (!s) return ark_fail(ARK_ERR_NOMEM, "activation source: out of memory");
    s->m = m;
    s->ds = ds;
    s->d = d;
    s->hook = strdup(hook);
    s->so = so ? *so : (ark_stream_opts)ARK_STREAM_OPTS_INIT;
    if (s->so.batch < 1) s->so.batch = 8;
    int max_len = s->so.max_len > 0 ? s->so.max_len : ark_model_config(m)->n_ctx;
    s->next_prompt = s->so.first;
    s->cap = buffer_rows ? buffer_rows : 16 * 4096;
    s->margin = (int64_t)s->so.batch * max_len;
    s->buf = malloc(sizeof(float) * (size_t)(s->cap + s->margin) * d);
    s->order = malloc(sizeof(int64_t) * (size_t)(s->cap + s->margin));
    if (!s->buf || !s->order || !s->hook) {
        ark_act_source_free(s);
        return ark_fail(ARK_ERR_NOMEM, "activation source: out of memory for a buffer of %lld x %d", (long long)(s->cap + s->margin), d);
    }
    ark_rng_seed(&s->rng, seed);
    *out = s;
    return ARK_OK;
}

int ark_act_source_width(const ark_act_source *s) { return s->d; }
int64_t ark_act_source_served(const ark_act_source *s) { return s->served; }
int ark_act_source_epochs(const ark_act_source *s) { return s->epochs; }

void ark_act_source_free(ark_act_source *s)
{
    if (!s) return;
    free(s->perm);
    free(s->hook);
    free(s->buf);
    free(s->order);
    free(s);
}

static ark_status append_rows(const ark_act_rows *r, void *ctx)
{
    ark_act_source *s = ctx;
    int64_t room = s->cap + s->margin - s->filled, n = r->n < room ? r->n : room;
    memcpy(s->buf + (size_t)s->filled * s->d, r->act, sizeof(float) * (size_t)n * s->d);
    s->filled += n;
    return ARK_OK;
}

/* Fill the buffer from the next prompts (cycling), then shuffle it. */
static ark_status refill(ark_act_source *s)
{
    int end = s->so.count ? s->so.first + s->so.count : ark_dataset_count(s->ds);
    if (end > ark_dataset_count(s->ds)) end = ark_dataset_count(s->ds);
    s->filled = 0;
    while (s->filled < s->cap) {
        ark_stream_opts one = s->so;
        one.first = s->next_prompt;
        one.count = end - s->next_prompt < s->so.batch ? end - s->next_prompt : s->so.batch;
        ARK_TRY(ark_stream_acts(s->m, s->ds, s->hook, &one, append_rows, s));
        s->next_prompt += one.count;
        if (s->next_prompt >= end) { s->next_prompt = s->so.first; s->epochs++; }
    }
    for (int64_t i = 0; i < s->filled; i++) s->order[i] = i;
    shuffle(&s->rng, s->order, s->filled);
    s->pos = 0;
    return ARK_OK;
}

ark_status ark_act_source_next(ark_act_source *s, float *dst, int n)
{
    size_t row = sizeof(float) * s->d;
    for (int i = 0; i < n; i++) {
        if (s->x) {
            if (s->cursor == s->n) { shuffle(&s->rng, s->perm, s->n); s->cursor = 0; s->epochs++; }
            memcpy(dst + (size_t)i * s->d, s->x + (size_t)s->perm[s->cursor++] * s->d, row);
        } else {
            if (s->pos == s->filled) ARK_TRY(refill(s));
            memcpy(dst + (size_t)i * s->d, s->buf + (size_t)s->order[s->pos++] * s->d, row);
        }
    }
    s->served += n;
    return ARK_OK;
}
