/* The kg_extractor tool's results as JSON: triples, summary, the heads'
 * view. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_causal.h"
#include "core/error.h"
#include "tools/kg_internal.h"

static cJSON *token_json(const ark_tool_env *env, int32_t id, const char *key, double v)
{
    cJSON *o = cJSON_CreateObject();
    char *s = tool_token_str(env, id);
    cJSON_AddNumberToObject(o, "id", id);
    cJSON_AddStringToObject(o, "token", s);
    if (key) cJSON_AddNumberToObject(o, key, v);
    free(s);
    return o;
}

static cJSON *prompt_json(const ark_tool_env *env, const char *tmpl, const ark_kg_prompt *p, bool lens)
{
    cJSON *o = cJSON_CreateObject(), *pr = cJSON_CreateObject(), *top = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "template", tmpl);
    cJSON_AddStringToObject(o, "prompt", p->text);
    cJSON_AddNumberToObject(o, "n_tokens", p->T);
    char *text = NULL;
    if (!env->tokenizer || ark_tokenizer_decode(env->tokenizer, p->pred, p->n_pred, false, &text) != ARK_OK) text = NULL;
    cJSON_AddItemToObject(pr, "ids", cJSON_CreateIntArray(p->pred, p->n_pred));
    cJSON_AddItemToObject(pr, "tokens", tool_str_tokens(env, p->pred, p->n_pred));
    cJSON_AddStringToObject(pr, "text", text ? text : "");
    cJSON_AddNumberToObject(pr, "prob", p->first_prob);
    cJSON_AddNumberToObject(pr, "sequence_prob", p->sequence_prob);
    free(text);
    cJSON_AddItemToObject(o, "prediction", pr);
    cJSON_AddNumberToObject(o, "object_prob", p->object_prob);
    cJSON_AddNumberToObject(o, "object_rank", p->object_rank);
    if (lens) {
        cJSON_AddNumberToObject(o, "lens_layer", p->lens_layer);
        cJSON_AddNumberToObject(o, "lens_stable_layer", p->lens_stable_layer);
    }
    for (int i = 0; i < p->k; i++) cJSON_AddItemToArray(top, token_json(env, p->top_ids[i], "prob", p->top_probs[i]));
    cJSON_AddItemToObject(o, "top_k", top);
    return o;
}

static cJSON *trace_json(const ark_tool_env *env, const ark_kg_triple *t)
{
    const ark_kg_trace *k = &t->trace;
    cJSON *o = cJSON_CreateObject(), *kinds = cJSON_CreateArray();
    cJSON_AddNumberToObject(o, "row", k->row);
    cJSON_AddStringToObject(o, "row_name", k->row_name);
    cJSON_AddNumberToObject(o, "pos", k->pos);
    int32_t *ids;
    int T;
    if (kg_encode(env->model, env->tokenizer, t->prompts[0].text, 0, &ids, &T) == ARK_OK) {
        if (k->pos < T) cJSON_AddItemToObject(o, "token", token_json(env, ids[k->pos], NULL, 0));
        for (int kind = 0; kind < ARK_TPOS_N; kind++)
            if (ark_trace_pos_is((ark_trace_pos)kind, k->pos, T, k->subj_begin, k->subj_end))
                cJSON_AddItemToArray(kinds, cJSON_CreateString(ark_trace_pos_name((ark_trace_pos)kind)));
        free(ids);
    }
    cJSON_AddItemToObject(o, "position_kinds", kinds);
    if (k->subj_row >= 0) {
        cJSON *sp = cJSON_AddObjectToObject(o, "subject_peak");
        cJSON_AddNumberToObject(sp, "row", k->subj_row);
        cJSON_AddStringToObject(sp, "row_name", k->subj_row_name);
        cJSON_AddNumberToObject(sp, "pos", k->subj_pos);
        cJSON_AddNumberToObject(sp, "indirect_effect", k->subj_ie);
    }
    cJSON_AddItemToObject(o, "subject_tokens", cJSON_CreateIntArray((int[]){k->subj_begin, k->subj_end}, 2));
    cJSON_AddNumberToObject(o, "indirect_effect", k->ie);
    cJSON_AddNumberToObject(o, "total_effect", k->total_effect);
    cJSON_AddNumberToObject(o, "p_clean", k->p_clean);
    cJSON_AddNumberToObject(o, "p_corrupted", k->p_corrupted);
    return o;
}

static cJSON *triple_json(const ark_tool_env *env, const ark_kg_triple *t, const char *const *subjects,
                          const ark_kg_relation *rels, bool lens)
{
    cJSON *o = cJSON_CreateObject(), *tp = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "subject", subjects[t->subject]);
    cJSON_AddStringToObject(o, "relation", rels[t->relation].name);
    cJSON_AddStringToObject(o, "object", t->object_text);
    cJSON_AddItemToObject(o, "object_ids", cJSON_CreateIntArray(t->object, t->n_object));
    cJSON_AddItemToObject(o, "object_tokens", tool_str_tokens(env, t->object, t->n_object));
    cJSON_AddNumberToObject(o, "prob", t->prob);
    cJSON_AddNumberToObject(o, "rank", t->rank);
    cJSON_AddNumberToObject(o, "votes", t->votes);
    cJSON_AddNumberToObject(o, "agreement", t->agreement);
    cJSON_AddBoolToObject(o, "stable", t->stable);
    cJSON_AddBoolToObject(o, "majority", t->majority);
    if (lens) cJSON_AddNumberToObject(o, "lens_layer", t->lens_layer);
    for (int j = 0; j < t->n_prompts; j++) cJSON_AddItemToArray(tp, prompt_json(env, rels[t->relation].templates[j], &t->prompts[j], lens));
    cJSON_AddItemToObject(o, "templates", tp);
    if (t->trace.done) cJSON_AddItemToObject(o, "causal_trace", trace_json(env, t));
    return o;
}

static cJSON *summary_json(const ark_kg *g, int n_layers, bool lens)
{
    cJSON *o = cJSON_CreateObject();
    int stable = 0, maj = 0, nl = 0;
    double agree = 0, prob = 0;
    int *hist = calloc(n_layers + 1, sizeof(int));
    for (int i = 0; i < g->n; i++) {
        stable += g->triples[i].stable, maj += g->triples[i].majority;
        agree += g->triples[i].agreement, prob += g->triples[i].prob;
        for (int j = 0; j < g->triples[i].n_prompts; j++) {
            int l = g->triples[i].prompts[j].lens_layer;
            hist[l >= 0 && l < n_layers ? l : n_layers]++;
            nl++;
        }
    }
    cJSON_AddNumberToObject(o, "n_triples", g->n);
    cJSON_AddNumberToObject(o, "stable", stable);
    cJSON_AddNumberToObject(o, "majority", maj);
    cJSON_AddNumberToObject(o, "mean_agreement", g->n ? agree / g->n : 0);
    cJSON_AddNumberToObject(o, "mean_prob", g->n ? prob / g->n : 0);
    if (lens) {
        cJSON_AddItemToObject(o, "lens_layer_counts", cJSON_CreateIntArray(hist, n_layers));
        cJSON_AddNumberToObject(o, "lens_never", hist[n_layers]);
    }
    (void)nl;
    free(hist);
    return o;
}

cJSON *kg_result_json(const ark_tool_env *env, const ark_kg *g, const char *const *subjects, int n_subjects,
                      const ark_kg_relation *rels, int n_relations, const ark_kg_opts *o)
{
    cJSON *out = cJSON_CreateObject(), *rn = cJSON_CreateArray(), *tr = cJSON_CreateArray();
    for (int r = 0; r < n_relations; r++) cJSON_AddItemToArray(rn, cJSON_CreateString(rels[r].name));
    cJSON_AddNumberToObject(out, "n_subjects", n_subjects);
    cJSON_AddItemToObject(out, "relations", rn);
    cJSON_AddNumberToObject(out, "n_layers", g->n_layers);
    cJSON_AddNumberToObject(out, "max_tokens", o->max_tokens);
    if (o->stop_token >= 0) cJSON_AddItemToObject(out, "stop", token_json(env, o->stop_token, NULL, 0));
    for (int i = 0; i < g->n; i++) cJSON_AddItemToArray(tr, triple_json(env, &g->triples[i], subjects, rels, o->lens));
    cJSON_AddItemToObject(out, "triples", tr);
    cJSON_AddItemToObject(out, "summary", summary_json(g, g->n_layers, o->lens));
    if (o->causal) {
        cJSON *c = cJSON_AddObjectToObject(out, "causal");
        cJSON_AddStringToObject(c, "kind", ark_trace_kind_name((ark_trace_kind)o->trace_kind));
        cJSON_AddNumberToObject(c, "samples", o->trace_samples);
        cJSON_AddNumberToObject(c, "sigma", g->sigma);
        cJSON_AddNumberToObject(c, "noise", g->noise);
        cJSON_AddNumberToObject(c, "seed", (double)o->seed);
        if (o->trace_kind != ARK_TRACE_RESID) cJSON_AddNumberToObject(c, "window", o->trace_window);
    }
    return out;
}

/* ---- the heads' view ---- */

static cJSON *side_json(const ark_tool_env *env, const ark_kg_side *s, int k)
{
    cJSON *o = cJSON_CreateObject(), *top = cJSON_AddArrayToObject(o, "top"), *bot = cJSON_AddArrayToObject(o, "bottom");
    for (int i = 0; i < k; i++) {
        cJSON_AddItemToArray(top, token_json(env, s->top[i], "value", s->top_val[i]));
        cJSON_AddItemToArray(bot, token_json(env, s->bottom[i], "value", s->bottom_val[i]));
    }
    return o;
}

static cJSON *circuit_json(const ark_tool_env *env, const ark_kg_head *h, bool ov)
{
    cJSON *o = cJSON_CreateObject(), *dirs = cJSON_CreateArray();
    const float *S = ov ? h->ov_s : h->qk_s;
    cJSON_AddItemToObject(o, "singular_values", cJSON_CreateFloatArray(S, h->r));
    for (int i = 0; i < h->n; i++) {
        const ark_kg_direction *d = ov ? &h->ov[i] : &h->qk[i];
        cJSON *dj = cJSON_CreateObject();
        cJSON_AddNumberToObject(dj, "index", i);
        cJSON_AddNumberToObject(dj, "value", d->s);
        cJSON_AddItemToObject(dj, ov ? "input" : "query", side_json(env, &d->a, h->k));
        cJSON_AddItemToObject(dj, ov ? "output" : "key", side_json(env, &d->b, h->k));
        cJSON_AddItemToArray(dirs, dj);
    }
    cJSON_AddItemToObject(o, "directions", dirs);
    return o;
}

cJSON *kg_heads_json(const ark_tool_env *env, const ark_kg_head *h, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "layer", h[i].layer);
        cJSON_AddNumberToObject(o, "head", h[i].head);
        cJSON_AddItemToObject(o, "ov", circuit_json(env, &h[i], true));
        cJSON_AddItemToObject(o, "qk", circuit_json(env, &h[i], false));
        cJSON_AddItemToArray(a, o);
    }
    return a;
}
