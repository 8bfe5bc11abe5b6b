/* The attention tool: input rows, attention patterns, top attended keys,
 * repeated random sequences (include/arrakis/tool_attention.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/interventions.h"
#include "core/error.h"
#include "core/rng.h"
#include "tools/attention_internal.h"

ark_status attn_check_input(const ark_model *m, const ark_attn_input *in)
{
    const ark_config *c = ark_model_config(m);
    if (!in || !in->tokens) return ark_fail(ARK_ERR_ARG, "tokens: no input");
    if (in->B < 1 || in->T < 1) return ark_fail(ARK_ERR_ARG, "tokens: empty batch (%d rows of %d)", in->B, in->T);
    for (int b = 0; b < in->B; b++) {
        int real = 0;
        for (int t = 0; t < in->T; t++) {
            int32_t id = in->tokens[(size_t)b * in->T + t];
            if (id < 0 || id >= c->d_vocab)
                return ark_fail(ARK_ERR_ARG, "tokens[%d][%d] = %d is out of range (vocab size %d)", b, t, id, c->d_vocab);
            real += !in->mask || in->mask[(size_t)b * in->T + t];
        }
        if (!real) return ark_fail(ARK_ERR_ARG, "tokens: row %d has no real token", b);
    }
    return ARK_OK;
}

int attn_row_index(const ark_attn_input *in, int b, int *idx)
{
    int n = 0;
    for (int t = 0; t < in->T; t++)
        if (!in->mask || in->mask[(size_t)b * in->T + t]) idx[n++] = t;
    return n;
}

int attn_row_ids(const ark_attn_input *in, int b, const int *idx, int n, int32_t *ids)
{
    for (int i = 0; i < n; i++) ids[i] = in->tokens[(size_t)b * in->T + idx[i]];
    return n;
}

void attn_row_pattern(const float *pat, int T, const int *idx, int n, float *out)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) out[(size_t)i * n + j] = pat[(size_t)idx[i] * T + idx[j]];
}

/* A list of indices below `size` (negative: from the end), or all of them. */
static ark_status resolve_list(const char *what, const int *in, int n, int size, int **out, int *n_out)
{
    if (!in) n = size;
    if (n < 1) return ark_fail(ARK_ERR_ARG, "%s: empty list", what);
    *out = malloc(sizeof(int) * n);
    for (int i = 0; i < n; i++) {
        int x = in ? in[i] : i;
        if (x < -size || x >= size) {
            free(*out);
            return ark_fail(ARK_ERR_ARG, "%s: %d is out of range (the model has %d, 0..%d)", what, x, size, size - 1);
        }
        (*out)[i] = x < 0 ? x + size : x;
    }
    *n_out = n;
    return ARK_OK;
}

/* Copy the kept patterns into out (B, nl, nh, T, T), padding zeroed. */
static void gather_patterns(const ark_cache *cache, const ark_attn_input *in, const int *ls, int nl, const int *hs,
                            int nh, int H, float *out)
{
    int T = in->T;
    size_t TT = (size_t)T * T;
    for (int li = 0; li < nl; li++) {
        char name[64];
        snprintf(name, sizeof name, "blocks.%d.attn.hook_pattern", ls[li]);
        const float *pat = ark_cache_get(cache, name)->data; // (B, H, T, T)
        for (int b = 0; b < in->B; b++)
            for (int hi = 0; hi < nh; hi++) {
                const float *src = pat + ((size_t)b * H + hs[hi]) * TT;
                float *dst = out + (((size_t)b * nl + li) * nh + hi) * TT;
                for (int q = 0; q < T; q++)
                    for (int k = 0; k < T; k++) {
                        bool real = !in->mask || (in->mask[(size_t)b * T + q] && in->mask[(size_t)b * T + k]);
                        dst[(size_t)q * T + k] = real ? src[(size_t)q * T + k] : 0.0f;
                    }
            }
    }
}

ark_status ark_attn_patterns(ark_model *m, const ark_attn_input *in, const int *layers, int n_layers,
                             const int *heads, int n_heads, ark_tensor *out)
{
    const ark_config *c = ark_model_config(m);
    memset(out, 0, sizeof *out);
    ARK_TRY(attn_check_input(m, in));
    int *ls = NULL, *hs = NULL, nl = 0, nh = 0;
    ARK_TRY(resolve_list("layers", layers, n_layers, c->n_layers, &ls, &nl));
    ark_status s = resolve_list("heads", heads, n_heads, c->n_heads, &hs, &nh);
    if (s != ARK_OK) { free(ls); return s; }
    ark_plan *plan = ark_plan_new(m);
    int stop = 0;
    for (int i = 0; i < nl && s == ARK_OK; i++) {
        char name[64];
        snprintf(name, sizeof name, "blocks.%d.attn.hook_pattern", ls[i]);
        s = ark_plan_keep(plan, name);
        stop = ls[i] + 1 > stop ? ls[i] + 1 : stop;
    }
    ark_cache *cache = NULL;
    ark_run_opts o = ARK_RUN_OPTS_INIT;
    o.mask = in->mask;
    o.stop_at_layer = stop;
    if (s == ARK_OK) s = ark_run_ex(m, in->tokens, in->B, in->T, &o, plan, &cache);
    if (s == ARK_OK) {
        size_t numel = (size_t)in->B * nl * nh * in->T * in->T;
        out->data = malloc(sizeof(float) * (numel ? numel : 1));
        if (!out->data) s = ark_fail(ARK_ERR_NOMEM, "patterns: out of memory for %zu values", numel);
    }
    if (s == ARK_OK) {
        gather_patterns(cache, in, ls, nl, hs, nh, c->n_heads, out->data);
        out->ndim = 5;
        int64_t shape[5] = {in->B, nl, nh, in->T, in->T};
        memcpy(out->shape, shape, sizeof shape);
    }
    ark_cache_free(cache);
    ark_plan_free(plan);
    free(ls);
    free(hs);
    return s;
}

int ark_attn_top_keys(const float *row, int n_keys, int k, int *keys, float *weights)
{
    if (k > n_keys) k = n_keys;
    if (k <= 0) return 0;
    int n = 0;
    for (int j = 0; j < n_keys; j++) {
        if (n == k && !(row[j] > weights[k - 1])) continue;
        int i = n < k ? n++ : k - 1;
        while (i > 0 && row[j] > weights[i - 1]) { keys[i] = keys[i - 1]; weights[i] = weights[i - 1]; i--; }
        keys[i] = j;
        weights[i] = row[j];
    }
    return k;
}

ark_status ark_repeat_random_tokens(const ark_model *m, const ark_repeat_spec *spec, int32_t *out)
{
    int V = ark_model_config(m)->d_vocab;
    int lo = spec->low, hi = spec->high <= 0 ? V : spec->high;
    if (spec->length < 1) return ark_fail(ARK_ERR_ARG, "repeat_random.length: %d, expected >= 1", spec->length);
    if (spec->batch < 1) return ark_fail(ARK_ERR_ARG, "repeat_random.batch: %d, expected >= 1", spec->batch);
    if (lo < 0 || hi > V || lo >= hi)
        return ark_fail(ARK_ERR_ARG, "repeat_random id range [%d, %d): expected 0 <= low < high <= %d (the vocabulary)",
                        lo, hi, V);
    if (spec->bos < -1 || spec->bos >= V)
        return ark_fail(ARK_ERR_ARG, "repeat_random.bos: %d is out of range (vocab size %d)", spec->bos, V);
    ark_rng rng;
    ark_rng_seed(&rng, spec->seed);
    int pre = spec->bos >= 0, p = spec->length, n = pre + 2 * p;
    for (int b = 0; b < spec->batch; b++) {
        int32_t *row = out + (size_t)b * n;
        if (pre) row[0] = spec->bos;
        for (int i = 0; i < p; i++) {
            int id = lo + (int)(ark_rng_uniform(&rng) * (hi - lo));
            row[pre + i] = row[pre + p + i] = id < hi ? id : hi - 1;
        }
    }
    return ARK_OK;
}

bool ark_repeat_structure(const int32_t *ids, int n, int *prefix, int *period)
{
    for (int s = 0; s + 2 <= n; s++)
        for (int p = 1; s + 2 * p <= n; p++) {
            int i = s + p;
            while (i < n && ids[i] == ids[i - p]) i++;
            if (i == n) { *prefix = s; *period = p; return true; }
        }
    return false;
}
