/* Direct logit attribution (include/arrakis/tool_logit.h).  The tool's JSON
 * entry point is in logit_attr_tool.c. */
#include "arrakis/tool_logit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/model_internal.h"
#include "tools/logit_lens_common.h"

static ark_resid_opts dla_resid_opts(const ark_dla_opts *o)
{
    ark_resid_opts r = ARK_RESID_OPTS_INIT;
    r.layer = -1;
    r.heads = o->by == ARK_DLA_BY_HEAD;
    r.neurons = o->by == ARK_DLA_BY_NEURON;
    r.pos = o->pos;
    return r;
}

ark_status ark_dla_hooks(const ark_model *m, const ark_dla_opts *o, char ***names)
{
    ark_dla_opts dflt = ARK_DLA_OPTS_INIT;
    if (!o) o = &dflt;
    ark_resid_opts r = dla_resid_opts(o);
    r.pos = ARK_ALL_POS;
    lc_names l = {0};
    ark_status s = lc_names_add_analysis(&l, m, ARK_ANALYSIS_DECOMPOSE_RESID, &r);
    if (s == ARK_OK) s = lc_names_add_analysis(&l, m, ARK_ANALYSIS_LOGIT_ATTRS, &r);
    if (s != ARK_OK) { lc_names_free(&l); return s; }
    return lc_names_pack(&l, names);
}

void ark_dla_free(ark_dla *d)
{
    if (!d) return;
    for (int i = 0; d->labels && i < d->n; i++) free(d->labels[i]);
    free(d->labels);
    free(d->attr);
    free(d->norm_bias);
    free(d->unembed_bias);
    free(d->logit);
    free(d);
}

char ark_dla_part(const char *label, int *layer, int *unit)
{
    int l, u, k = 0;
    *layer = -1;
    *unit = -1;
    if (!strcmp(label, "embed") || !strcmp(label, "pos_embed")) return 'e';
    if (sscanf(label, "L%dH%d%n", &l, &u, &k) == 2 && !label[k]) { *layer = l; *unit = u; return 'a'; }
    if (sscanf(label, "L%dN%d%n", &l, &u, &k) == 2 && !label[k]) { *layer = l; *unit = u; return 'm'; }
    char rest[16];
    if (sscanf(label, "%d_%15s", &l, rest) == 2) {
        *layer = l;
        if (!strcmp(rest, "attn_out") || !strcmp(rest, "attn_bias")) return 'a';
        if (!strcmp(rest, "mlp_out") || !strcmp(rest, "mlp_bias")) return 'm';
    }
    *layer = -1;
    return 0;
}

/* Attributions of the parts at one block of positions (ro->pos: all, or one):
 * the decomposition through the final norm's linear part, dotted with the
 * direction (ark_logit_attrs), minus the vocabulary-mean direction when
 * mean_u is given.  *s and *at are the caller's to free. */
static ark_status attrs_block(const ark_model *m, const ark_cache *c, const ark_resid_opts *ro, const int32_t *tokens,
                              const int32_t *against, const double *mean_u, ark_stack **s, ark_tensor *at)
{
    ARK_TRY(ark_decompose_resid(m, c, ro, s));
    ARK_TRY(ark_stack_apply_ln(m, c, *s, -1, false));
    ARK_TRY(ark_logit_attrs(m, c, *s, tokens, against, at));
    if (!mean_u) return ARK_OK;
    size_t each = (size_t)(*s)->B * (*s)->P;
    int d = (*s)->d;
    for (int i = 0; i < (*s)->n; i++)
        for (size_t bp = 0; bp < each; bp++) {
            const float *v = (*s)->data + ((size_t)i * each + bp) * d;
            double dot = 0;
            for (int j = 0; j < d; j++) dot += v[j] * mean_u[j];
            at->data[(size_t)i * each + bp] -= (float)dot;
        }
    return ARK_OK;
}

/* The bias terms and the model's logit (difference) at row b, position t. */
static void dla_constants(const ark_model *m, const ark_cache *c, int b, int t, int32_t tok, int32_t ag,
                          const double *mean_u, float *u, float *tmp, ark_dla *d, size_t bp)
{
    int D = m->cfg.d_model, V = m->cfg.d_vocab;
    const ark_tensor *lg = ark_cache_logits(c);
    const float *row = lg->data + ((size_t)b * lg->shape[1] + t) * V;
    lc_unembed_col(m, tok, u);
    double logit = row[tok], ub = lc_unembed_bias(m, tok);
    if (ag >= 0) {
        lc_unembed_col(m, ag, tmp);
        for (int j = 0; j < D; j++) u[j] -= tmp[j];
        logit -= row[ag];
        ub -= lc_unembed_bias(m, ag);
    } else if (mean_u) {
        double mean = 0;
        for (int v = 0; v < V; v++) mean += row[v];
        for (int j = 0; j < D; j++) u[j] = (float)(u[j] - mean_u[j]);
        logit -= mean / V;
        ub -= lc_unembed_bias_mean(m);
    }
    double nb = 0;
    for (int j = 0; m->lnf_b && j < D; j++) nb += (double)m->lnf_b[j] * u[j];
    d->norm_bias[bp] = (float)nb;
    d->unembed_bias[bp] = (float)ub;
    d->logit[bp] = (float)logit;
}

static ark_status dla_alloc(ark_dla *d, const ark_stack *s, int P, int pos)
{
    *d = (ark_dla){.n = s->n, .B = s->B, .P = P, .T = s->T, .pos = pos};
    size_t bp = (size_t)d->B * P + 1;
    d->labels = calloc((size_t)s->n + 1, sizeof(char *));
    d->attr = malloc(sizeof(float) * s->n * bp);
    d->norm_bias = malloc(sizeof(float) * bp);
    d->unembed_bias = malloc(sizeof(float) * bp);
    d->logit = malloc(sizeof(float) * bp);
    if (!d->labels || !d->attr || !d->norm_bias || !d->unembed_bias || !d->logit)
        return ark_fail(ARK_ERR_NOMEM, "out of memory for %d x %zu attributions", s->n, bp);
    for (int i = 0; i < s->n; i++)
        if (!(d->labels[i] = strdup(s->labels[i]))) return ark_fail(ARK_ERR_NOMEM, "out of memory");
    return ARK_OK;
}

/* Check the request and resolve positions: P kept positions, p0 the first. */
static ark_status dla_check(const ark_model *m, const ark_cache *c, const ark_dla_opts *o, const int32_t *against,
                            int *B, int *T, int *P, int *pos)
{
    const ark_tensor *lg = ark_cache_logits(c);
    if (!lg) return ark_fail(ARK_ERR_ARG, "the cache holds no logits (a run that stopped early): attribution needs them");
    if (o->against_mean && against)
        return ark_fail(ARK_ERR_ARG, "against_mean and an against token exclude each other");
    if (o->by != ARK_DLA_BY_LAYER && o->by != ARK_DLA_BY_HEAD && o->by != ARK_DLA_BY_NEURON)
        return ark_fail(ARK_ERR_ARG, "by %d: expected ARK_DLA_BY_LAYER, _HEAD or _NEURON", (int)o->by);
    *B = (int)lg->shape[0];
    *T = (int)lg->shape[1];
    *pos = -1;
    *P = *T;
    if (o->pos != ARK_ALL_POS) {
        ARK_TRY(lc_resolve_pos(o->pos, *T, "pos", pos));
        *P = 1;
    }
    (void)m;
    return ARK_OK;
}

ark_status ark_logit_attribution(const ark_model *m, const ark_cache *c, const ark_dla_opts *o,
                                 const int32_t *tokens, const int32_t *against, ark_dla **out)
{
    *out = NULL;
    ark_dla_opts dflt = ARK_DLA_OPTS_INIT;
    if (!o) o = &dflt;
    int B = 0, T = 0, P = 0, pos = -1;
    ARK_TRY(dla_check(m, c, o, against, &B, &T, &P, &pos));
    int D = m->cfg.d_model;
    /* Neurons make n_layers * d_mlp parts of d values each: one position at a time. */
    int blocks = o->by == ARK_DLA_BY_NEURON ? P : 1, per = P / blocks;
    double *mean_u = o->against_mean ? malloc(sizeof(double) * D) : NULL;
    int32_t *tk = malloc(sizeof(int32_t) * B * per), *ag = against ? malloc(sizeof(int32_t) * B * per) : NULL;
    float *u = malloc(sizeof(float) * D), *tmp = malloc(sizeof(float) * D);
    ark_dla *d = calloc(1, sizeof *d);
    ark_status st = tk && u && tmp && d && (!o->against_mean || mean_u) && (!against || ag)
                        ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "out of memory");
    if (st == ARK_OK && mean_u) lc_unembed_mean(m, mean_u);
    for (int k = 0; st == ARK_OK && k < blocks; k++) {
        ark_resid_opts ro = dla_resid_opts(o);
        ro.pos = pos >= 0 ? pos : blocks > 1 ? k : ARK_ALL_POS;
        for (int b = 0; b < B; b++)
            for (int q = 0; q < per; q++) {
                tk[b * per + q] = tokens[b * P + k * per + q];
                if (ag) ag[b * per + q] = against[b * P + k * per + q];
            }
        ark_stack *s = NULL;
        ark_tensor at = {0};
        st = attrs_block(m, c, &ro, tk, ag, mean_u, &s, &at);
        if (st == ARK_OK && k == 0) st = dla_alloc(d, s, P, pos);
        for (int i = 0; st == ARK_OK && i < s->n; i++)
            for (int b = 0; b < B; b++)
                for (int q = 0; q < per; q++)
                    d->attr[((size_t)i * B + b) * P + k * per + q] = at.data[((size_t)i * B + b) * per + q];
        free(at.data);
        ark_stack_free(s);
    }
    for (int b = 0; st == ARK_OK && b < B; b++)
        for (int p = 0; p < P; p++) {
            size_t bp = (size_t)b * P + p;
            dla_constants(m, c, b, pos >= 0 ? pos : p, tokens[bp], against ? against[bp] : -1, mean_u, u, tmp, d, bp);
        }
    free(mean_u);
    free(tk);
    free(ag);
    free(u);
    free(tmp);
    if (st != ARK_OK) { ark_dla_free(d); return st; }
    *out = d;
    return ARK_OK;
}
