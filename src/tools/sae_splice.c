/* SAEs inside runs: splicing an SAE at its hook point (a MODIFY hook
 * function) and evaluating it over a dataset, CE loss recovered included
 * (include/arrakis/tool_superposition.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/interventions.h"
#include "arrakis/tool_superposition.h"
#include "core/error.h"
#include "tools/sae_internal.h"

struct ark_sae_splice {
    const ark_sae *sae;
    bool use_error_term, cache;
    int *ablate;
    int n_ablate;
    ark_tensor features;  /* (B, T, d_sae) of the last run */
    size_t cap;
};

static void splice_free(void *p)
{
    ark_sae_splice *sp = p;
    free(sp->ablate);
    free(sp->features.data);
    free(sp);
}

static ark_status splice_hook(ark_tensor *act, const ark_hook_call *call, void *ctx)
{
    ark_sae_splice *sp = ctx;
    const ark_sae *s = sp->sae;
    int n = call->B * call->T, d = s->d_in, D = s->d_sae;
    if (ark_tensor_numel(act) != (int64_t)n * d)
        return ark_fail(ARK_ERR_SHAPE, "SAE splice at %s: the activation has %lld values per position, the SAE's d_in is %d",
                        call->name, (long long)(ark_tensor_numel(act) / (n ? n : 1)), d);
    float *f = malloc(sizeof(float) * (size_t)n * D), *xh = malloc(sizeof(float) * (size_t)n * d);
    ark_status st = f && xh ? ark_sae_encode(s, act->data, n, f) : ark_fail(ARK_ERR_NOMEM, "SAE splice: out of memory");
    if (st == ARK_OK && sp->cache) {
        size_t need = (size_t)n * D;
        if (need > sp->cap) {
            float *g = realloc(sp->features.data, sizeof(float) * need);
            if (!g) st = ark_fail(ARK_ERR_NOMEM, "SAE splice: out of memory caching features");
            else { sp->features.data = g; sp->cap = need; }
        }
        if (st == ARK_OK) {
            memcpy(sp->features.data, f, sizeof(float) * need);
            sp->features.ndim = 3;
            sp->features.shape[0] = call->B;
            sp->features.shape[1] = call->T;
            sp->features.shape[2] = D;
        }
    }
    bool edits = sp->n_ablate > 0;
    if (st == ARK_OK && (!sp->use_error_term || edits)) {
        if (sp->use_error_term) { /* error of the unedited reconstruction, kept */
            st = ark_sae_decode(s, f, n, xh);
            for (size_t i = 0; st == ARK_OK && i < (size_t)n * d; i++) act->data[i] -= xh[i];
        }
        for (int r = 0; st == ARK_OK && r < n; r++)
            for (int a = 0; a < sp->n_ablate; a++) f[(size_t)r * D + sp->ablate[a]] = 0.0f;
        if (st == ARK_OK) st = ark_sae_decode(s, f, n, xh);
        for (size_t i = 0; st == ARK_OK && i < (size_t)n * d; i++)
            act->data[i] = sp->use_error_term ? act->data[i] + xh[i] : xh[i];
    }
    free(f);
    free(xh);
    return st;
}

ark_status ark_plan_add_sae(ark_plan *p, const ark_sae *sae, const ark_sae_splice_opts *o, ark_sae_splice **out)
{
    if (out) *out = NULL;
    if (!sae->hook_name[0]) return ark_fail(ARK_ERR_ARG, "SAE splice: the SAE names no hook point (cfg.json hook_name)");
    ark_sae_splice_opts dflt = {0};
    if (!o) o = &dflt;
    ark_sae_splice *sp = calloc(1, sizeof *sp);
    if (!sp) return ark_fail(ARK_ERR_NOMEM, "SAE splice: out of memory");
    sp->sae = sae;
    sp->use_error_term = o->use_error_term;
    sp->cache = o->cache_features;
    if (o->n_ablate > 0) {
        sp->ablate = malloc(sizeof(int) * o->n_ablate);
        if (!sp->ablate) { free(sp); return ark_fail(ARK_ERR_NOMEM, "SAE splice: out of memory"); }
        for (int i = 0; i < o->n_ablate; i++) {
            if (o->ablate[i] < 0 || o->ablate[i] >= sae->d_sae) {
                splice_free(sp);
                return ark_fail(ARK_ERR_ARG, "SAE splice: feature %d to ablate is out of range (0..%d)", o->ablate[i], sae->d_sae - 1);
            }
            sp->ablate[i] = o->ablate[i];
        }
        sp->n_ablate = o->n_ablate;
    }
    ark_status s = ark_plan_add_hook_owned(p, sae->hook_name, ARK_HOOK_MODIFY, splice_hook, sp, splice_free);
    if (s != ARK_OK) { splice_free(sp); return s; }
    if (out) *out = sp;
    return ARK_OK;
}

const ark_tensor *ark_sae_splice_features(const ark_sae_splice *sp)
{
    return sp && sp->features.data ? &sp->features : NULL;
}

/* ---- evaluation over a dataset ---- */

typedef struct eval_ctx {
    sae_acc acc;
    const ark_sae *s;
} eval_ctx;

static ark_status eval_consume(const ark_act_rows *r, void *ctx)
{
    eval_ctx *e = ctx;
    return sae_acc_add(&e->acc, e->s, r->act, r->n);
}

static ark_status eval_ce(const ark_sae *s, ark_model *m, const ark_dataset *ds, const ark_stream_opts *so,
                          ark_sae_metrics *out)
{
    ARK_TRY(ark_dataset_ce(m, ds, so, NULL, &out->ce_clean, NULL));
    ark_plan *p = ark_plan_new(m);
    ark_status st = ark_plan_add_sae(p, s, NULL, NULL);
    if (st == ARK_OK) st = ark_dataset_ce(m, ds, so, p, &out->ce_sae, NULL);
    ark_plan_free(p);
    p = ark_plan_new(m);
    if (st == ARK_OK) st = ark_plan_zero_ablate(p, s->hook_name, NULL);
    if (st == ARK_OK) st = ark_dataset_ce(m, ds, so, p, &out->ce_ablated, NULL);
    ark_plan_free(p);
    if (st != ARK_OK) return st;
    double gap = out->ce_ablated - out->ce_clean;
    out->ce_recovered = gap != 0 ? (out->ce_ablated - out->ce_sae) / gap : NAN;
    out->has_ce = true;
    return ARK_OK;
}

ark_status ark_sae_eval_model(const ark_sae *s, ark_model *m, const ark_dataset *ds, const ark_stream_opts *so,
                              float dense_threshold, bool with_ce, ark_sae_metrics *out)
{
    memset(out, 0, sizeof *out);
    int w;
    ARK_TRY(ark_hook_width(m, s->hook_name, &w));
    if (w != s->d_in)
        return ark_fail(ARK_ERR_SHAPE, "SAE: %s has %d values per position in this model, the SAE's d_in is %d", s->hook_name, w, s->d_in);
    eval_ctx e = {.s = s};
    ARK_TRY(sae_acc_init(&e.acc, s));
    ark_status st = ark_stream_acts(m, ds, s->hook_name, so, eval_consume, &e);
    if (st == ARK_OK) st = sae_acc_finish(&e.acc, dense_threshold, out);
    sae_acc_free(&e.acc);
    if (st == ARK_OK && with_ce) st = eval_ce(s, m, ds, so, out);
    if (st != ARK_OK) ark_sae_metrics_free(out);
    return st;
}
