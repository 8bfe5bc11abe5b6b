/* Packing token rows into a padded batch. */
#include <stdlib.h>
#include <string.h>

#include "arrakis/run.h"
#include "core/error.h"

ark_status ark_batch_pack(const ark_model *m, const int32_t *const *rows, const int *lens, int B, ark_batch *out)
{
    memset(out, 0, sizeof *out);
    const ark_config *c = ark_model_config(m);
    if (B <= 0) return ark_fail(ARK_ERR_ARG, "no input rows");
    int T = 0;
    bool ragged = false;
    for (int b = 0; b < B; b++) {
        if (lens[b] <= 0) return ark_fail(ARK_ERR_ARG, "input row %d is empty", b);
        for (int t = 0; t < lens[b]; t++)
            if (rows[b][t] < 0 || rows[b][t] >= c->d_vocab)
                return ark_fail(ARK_ERR_ARG, "token id %d at row %d, position %d is out of range (vocab size %d)",
                                rows[b][t], b, t, c->d_vocab);
        T = lens[b] > T ? lens[b] : T;
        ragged |= lens[b] != lens[0];
    }
    int32_t pad = c->pad_id >= 0 && c->pad_id < c->d_vocab ? c->pad_id : 0;
    out->B = B;
    out->T = T;
    out->tokens = malloc(sizeof *out->tokens * (size_t)B * T);
    out->mask = ragged ? calloc((size_t)B * T, 1) : NULL;
    out->len = malloc(sizeof *out->len * B);
    if (!out->tokens || !out->len || (ragged && !out->mask)) {
        ark_batch_free(out);
        return ark_fail(ARK_ERR_NOMEM, "out of memory for a %d x %d batch", B, T);
    }
    for (int b = 0; b < B; b++) {
        out->len[b] = lens[b];
        for (int t = 0; t < T; t++) {
            bool real = t < lens[b];
            out->tokens[(size_t)b * T + t] = real ? rows[b][t] : pad;
            if (out->mask) out->mask[(size_t)b * T + t] = real;
        }
    }
    return ARK_OK;
}

void ark_batch_free(ark_batch *b)
{
    if (!b) return;
    free(b->tokens);
    free(b->mask);
    free(b->len);
    memset(b, 0, sizeof *b);
}
