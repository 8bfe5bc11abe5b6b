/* Prompts as tokens and the causal-trace peak of each triple
 * (include/arrakis/tool_kg.h, through include/arrakis/tool_causal.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_causal.h"
#include "core/error.h"
#include "tools/kg_internal.h"

ark_status kg_encode(const ark_model *m, const ark_tokenizer *tok, const char *text, int extra, int32_t **ids, int *len)
{
    ark_encoding *e;
    ARK_TRY(ark_tokenizer_encode(tok, text, strlen(text), true, &e));
    int n = ark_encoding_count(e), V = ark_model_config(m)->d_vocab;
    ark_status s = n ? ARK_OK : ark_fail(ARK_ERR_ARG, "prompt \"%s\": encodes to no token", text);
    const int32_t *src = ark_encoding_ids(e);
    for (int i = 0; s == ARK_OK && i < n; i++)
        if (src[i] < 0 || src[i] >= V) s = ark_fail(ARK_ERR_ARG, "prompt \"%s\": token %d is outside the model's vocabulary (%d)", text, src[i], V);
    *ids = s == ARK_OK ? malloc(sizeof(int32_t) * (n + extra)) : NULL;
    if (*ids) memcpy(*ids, src, sizeof(int32_t) * n);
    *len = n;
    ark_encoding_free(e);
    return s;
}

/* The (row, position) of the largest indirect effect. */
static void peak(ark_model *m, const ark_trace_opts *to, const ark_trace_result *r, const ark_trace_prompt *tp, ark_kg_trace *k)
{
    int best = 0, sb = -1;
    for (int i = 1; i < r->n_rows * r->T; i++)
        if (r->p_restored[i] > r->p_restored[best]) best = i;
    for (int row = to->kind == ARK_TRACE_RESID ? 1 : 0; row < r->n_rows; row++)
        for (int t = tp->subj_begin; t < tp->subj_end; t++) {
            int i = row * r->T + t;
            if (sb < 0 || r->p_restored[i] > r->p_restored[sb]) sb = i;
        }
    k->subj_row = sb < 0 ? -1 : sb / r->T;
    k->subj_pos = sb < 0 ? -1 : sb % r->T;
    k->subj_ie = sb < 0 ? NAN : r->p_restored[sb] - r->p_corrupted;
    if (sb >= 0) ark_trace_row_name(m, to, k->subj_row, k->subj_row_name, sizeof k->subj_row_name);
    k->done = true;
    k->row = best / r->T;
    k->pos = best % r->T;
    k->ie = r->p_restored[best] - r->p_corrupted;
    k->p_clean = r->p_clean;
    k->p_corrupted = r->p_corrupted;
    k->total_effect = r->p_clean - r->p_corrupted;
    k->subj_begin = tp->subj_begin;
    k->subj_end = tp->subj_end;
    ark_trace_row_name(m, to, k->row, k->row_name, sizeof k->row_name);
}

ark_status kg_trace_all(ark_model *m, const ark_tokenizer *tok, const char *const *subjects, const ark_kg_opts *o, ark_kg *g)
{
    ark_trace_prompt *tp = calloc(g->n, sizeof *tp);
    if (!tp) return ark_fail(ARK_ERR_NOMEM, "out of memory");
    ark_status s = ARK_OK;
    for (int i = 0; i < g->n && s == ARK_OK; i++) {
        const ark_kg_triple *t = &g->triples[i];
        s = ark_trace_prompt_encode(tok, m, t->prompts[0].text, subjects[t->subject], NULL, &tp[i]);
        if (s == ARK_OK) tp[i].answer = t->object[0];
        else s = ark_fail_prefix(s, "causal trace of triple %d", i);
    }
    ark_trace_opts to = ark_trace_opts_default();
    to.kind = (ark_trace_kind)o->trace_kind;
    to.window = o->trace_window;
    to.samples = o->trace_samples;
    to.seed = o->seed;
    if (s == ARK_OK) s = ark_trace_subject_sigma(m, tp, g->n, &g->sigma);
    to.noise = g->noise = o->trace_noise > 0 ? o->trace_noise : 3.0 * g->sigma;
    for (int i = 0; i < g->n && s == ARK_OK; i++) {
        ark_trace_result r;
        s = ark_trace(m, &tp[i], &to, (uint64_t)i, &r);
        if (s != ARK_OK) break;
        peak(m, &to, &r, &tp[i], &g->triples[i].trace);
        ark_trace_result_free(&r);
    }
    for (int i = 0; i < g->n; i++) ark_trace_prompt_free(&tp[i]);
    free(tp);
    return s;
}
