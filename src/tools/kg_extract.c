/* Knowledge-graph triples (include/arrakis/tool_kg.h): filled templates run
 * in left-padded batches (so every prompt's last token is the batch's last
 * position), greedy objects, majority objects, object ranks, logit-lens
 * layers and, optionally, causal-trace peaks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/run.h"
#include "arrakis/tool_causal.h"
#include "arrakis/tool_kg.h"
#include "arrakis/tool_logit_lens.h"
#include "core/error.h"
#include "tools/kg_internal.h"

ark_kg_opts ark_kg_opts_default(void)
{
    ark_kg_opts o = {1, -1, 5, true, false, 0, 10, 10, 0.0, 0, 64};
    return o;
}

ark_status ark_kg_fill(const char *tmpl, const char *subject, char **out)
{
    *out = NULL;
    if (!tmpl || !strstr(tmpl, "{s}")) return ark_fail(ARK_ERR_ARG, "template \"%s\": no \"{s}\" for the subject", tmpl ? tmpl : "");
    size_t n = 0, ls = strlen(subject);
    for (const char *p = tmpl; (p = strstr(p, "{s}")); p += 3) n++;
    char *s = malloc(strlen(tmpl) + n * ls + 1), *w = s;
    if (!s) return ark_fail(ARK_ERR_NOMEM, "out of memory");
    for (const char *p = tmpl; *p;) {
        if (!strncmp(p, "{s}", 3)) memcpy(w, subject, ls), w += ls, p += 3;
        else *w++ = *p++;
    }
    *w = '\0';
    *out = s;
    return ARK_OK;
}

static void prompt_free(ark_kg_prompt *p)
{
    free(p->text), free(p->pred), free(p->top_ids), free(p->top_probs);
}

void ark_kg_free(ark_kg *g)
{
    if (!g) return;
    for (int i = 0; i < g->n; i++) {
        ark_kg_triple *t = &g->triples[i];
        for (int j = 0; j < t->n_prompts; j++) prompt_free(&t->prompts[j]);
        free(t->prompts), free(t->object), free(t->object_text);
    }
    free(g->triples);
    memset(g, 0, sizeof *g);
}

/* ---- batched runs ---- */

ark_status kg_run_left(ark_model *m, int32_t *const *rows, const int *lens, int B, const ark_plan *plan, ark_cache **out)
{
    int T = 0;
    for (int b = 0; b < B; b++) T = lens[b] > T ? lens[b] : T;
    const ark_config *c = ark_model_config(m);
    int32_t *tok = malloc(sizeof(int32_t) * B * T);
    uint8_t *mask = calloc((size_t)B * T, 1);
    if (!tok || !mask) { free(tok), free(mask); return ark_fail(ARK_ERR_NOMEM, "out of memory (%d x %d tokens)", B, T); }
    bool padded = false;
    for (int b = 0; b < B; b++) {
        int off = T - lens[b];
        padded |= off > 0;
        for (int t = 0; t < T; t++) {
            tok[(size_t)b * T + t] = t < off ? (c->pad_id >= 0 ? c->pad_id : 0) : rows[b][t - off];
            mask[(size_t)b * T + t] = t >= off;
        }
    }
    ark_status s = ark_run(m, tok, B, T, padded ? mask : NULL, plan, out);
    free(tok), free(mask);
    return s;
}

/* The lens' top-1 per layer at the last position: top (B, L). */
static ark_status lens_tops(const ark_model *m, const ark_cache *c, int B, int L, int32_t *top)
{
    ark_lens_opts lo = ARK_LENS_OPTS_INIT;
    lo.pos = -1;
    ark_lens *l;
    ARK_TRY(ark_logit_lens(m, c, &lo, &l));
    // points: "0_pre" .. "{L-1}_pre", "final_post": layer l's resid_post is point l + 1
    ark_status s = l->n == L + 1 ? ARK_OK : ark_fail(ARK_ERR_SHAPE, "logit lens: %d points, expected %d", l->n, L + 1);
    for (int b = 0; s == ARK_OK && b < B; b++)
        for (int layer = 0; layer < L; layer++) ark_lens_topk(ark_lens_at(l, layer + 1, b, 0), l->vocab, 1, &top[(size_t)b * L + layer], NULL);
    ark_lens_free(l);
    return s;
}

/* ---- one chunk of prompts ---- */

typedef struct chunk {
    int B;
    ark_kg_prompt **p;   /* (B) */
    int32_t **ids;       /* (B) prompt + greedy tokens */
    int *len;            /* (B) */
    float *logits;       /* (B, vocab) first step */
    int32_t *lens_top;   /* (B, L) */
} chunk;

static bool is_stop(const ark_tokenizer *tok, const ark_kg_opts *o, int32_t id)
{
    return id == o->stop_token || (tok && id == ark_tokenizer_eos_id(tok));
}

/* The first step: top-k, first token, the lens. */
static ark_status first_step(ark_model *m, const ark_kg_opts *o, chunk *ch)
{
    int V = ark_model_config(m)->d_vocab, L = ark_model_config(m)->n_layers;
    ark_plan *plan = NULL;
    ark_status s = ARK_OK;
    if (o->lens) {
        char **names;
        ark_lens_opts lo = ARK_LENS_OPTS_INIT;
        plan = ark_plan_new(m);
        s = ark_logit_lens_hooks(m, &lo, &names);
        for (char **n = s == ARK_OK ? names : NULL; n && *n && s == ARK_OK; n++) s = ark_plan_keep(plan, *n);
        if (s == ARK_OK) free(names);
    }
    ark_cache *c = NULL;
    if (s == ARK_OK) s = kg_run_left(m, ch->ids, ch->len, ch->B, plan, &c);
    if (s == ARK_OK) {
        const ark_tensor *lg = ark_cache_logits(c);
        int T = (int)lg->shape[1];
        for (int b = 0; b < ch->B; b++) {
            float *row = ch->logits + (size_t)b * V;
            memcpy(row, lg->data + ((size_t)b * T + T - 1) * V, sizeof(float) * V);
            ark_kg_prompt *p = ch->p[b];
            p->top_ids = malloc(sizeof(int32_t) * (o->top_k + 1));
            p->top_probs = malloc(sizeof(float) * (o->top_k + 1));
            p->k = ark_lens_topk(row, V, o->top_k + 1, p->top_ids, p->top_probs) - 1;
            p->pred = malloc(sizeof(int32_t) * o->max_tokens);
            p->pred[0] = p->top_ids[0];
            p->n_pred = 1;
            p->first_prob = p->sequence_prob = p->top_probs[0];
        }
        if (o->lens) s = lens_tops(m, c, ch->B, L, ch->lens_top);
    }
    ark_cache_free(c);
    ark_plan_free(plan);
    return s;
}

/* Greedy steps 2..max_tokens for the rows not yet stopped. */
static ark_status greedy_steps(ark_model *m, const ark_tokenizer *tok, const ark_kg_opts *o, chunk *ch)
{
    int V = ark_model_config(m)->d_vocab;
    int *act = malloc(sizeof(int) * ch->B);
    int32_t **rows = malloc(sizeof(int32_t *) * ch->B);
    int *lens = malloc(sizeof(int) * ch->B);
    bool *done = calloc(ch->B, sizeof(bool));
    ark_status s = ARK_OK;
    for (int step = 1; step < o->max_tokens && s == ARK_OK; step++) {
        int na = 0;
        for (int b = 0; b < ch->B; b++) {
            ark_kg_prompt *p = ch->p[b];
            if (done[b] || p->n_pred < step) continue;
            ch->ids[b][ch->len[b]++] = p->pred[step - 1]; // room: T + max_tokens
            act[na] = b, rows[na] = ch->ids[b], lens[na++] = ch->len[b];
        }
        if (!na) break;
        ark_cache *c = NULL;
        s = kg_run_left(m, rows, lens, na, NULL, &c);
        if (s != ARK_OK) break;
        const ark_tensor *lg = ark_cache_logits(c);
        int T = (int)lg->shape[1];
        for (int i = 0; i < na; i++) {
            ark_kg_prompt *p = ch->p[act[i]];
            int32_t id;
            float prob;
            ark_lens_topk(lg->data + ((size_t)i * T + T - 1) * V, V, 1, &id, &prob);
            if (is_stop(tok, o, id)) { done[act[i]] = true; continue; }
            p->pred[p->n_pred++] = id;
            p->sequence_prob *= prob;
        }
        ark_cache_free(c);
    }
    free(act), free(rows), free(lens), free(done);
    return s;
}

/* ---- triples ---- */

static bool same_seq(const ark_kg_prompt *a, const ark_kg_prompt *b)
{
    return a->n_pred == b->n_pred && !memcmp(a->pred, b->pred, sizeof(int32_t) * a->n_pred);
}

/* The majority object of a triple's prompts (definition in tool_kg.h). */
static void majority(ark_kg_triple *t)
{
    int best = 0, best_votes = 0;
    double best_mass = -1;
    for (int j = 0; j < t->n_prompts; j++) {
        int votes = 0;
        double mass = 0;
        for (int i = 0; i < t->n_prompts; i++)
            if (same_seq(&t->prompts[i], &t->prompts[j])) votes++, mass += t->prompts[i].first_prob;
        if (votes > best_votes || (votes == best_votes && mass > best_mass + 1e-12)) best = j, best_votes = votes, best_mass = mass;
    }
    const ark_kg_prompt *p = &t->prompts[best];
    t->n_object = p->n_pred;
    t->object = malloc(sizeof(int32_t) * p->n_pred);
    memcpy(t->object, p->pred, sizeof(int32_t) * p->n_pred);
    t->votes = best_votes;
    t->agreement = (double)best_votes / t->n_prompts;
    t->stable = best_votes == t->n_prompts;
    t->majority = 2 * best_votes > t->n_prompts;
}

/* The object's text: decoded, white space trimmed. */
static char *object_text(const ark_tokenizer *tok, const int32_t *ids, int n)
{
    char *s = NULL;
    if (!tok || ark_tokenizer_decode(tok, ids, n, false, &s) != ARK_OK) {
        s = malloc(16 * (size_t)n + 1), s[0] = '\0';
        for (int i = 0; i < n; i++) sprintf(s + strlen(s), "%s%d", i ? " " : "", ids[i]);
        return s;
    }
    char *a = s, *e = s + strlen(s);
    while (*a == ' ' || *a == '\t' || *a == '\n') a++;
    while (e > a && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n')) e--;
    memmove(s, a, (size_t)(e - a));
    s[e - a] = '\0';
    return s;
}

/* Object probability, rank and lens layers of each prompt of a triple;
 * row0 = the chunk row of its first prompt. */
static void score_triple(const ark_tokenizer *tok, int V, int L, const ark_kg_opts *o, const chunk *ch, int row0, ark_kg_triple *t)
{
    majority(t);
    t->object_text = object_text(tok, t->object, t->n_object);
    int32_t obj = t->object[0];
    for (int j = 0; j < t->n_prompts; j++) {
        ark_kg_prompt *p = &t->prompts[j];
        float prob;
        ark_lens_token(ch->logits + (size_t)(row0 + j) * V, V, obj, NULL, &prob, &p->object_rank);
        p->object_prob = prob;
        p->lens_layer = p->lens_stable_layer = -1;
        if (!o->lens) continue;
        const int32_t *top = ch->lens_top + (size_t)(row0 + j) * L;
        for (int l = 0; l < L && p->lens_layer < 0; l++)
            if (top[l] == obj) p->lens_layer = l;
        for (int l = L - 1; l >= 0 && top[l] == obj; l--) p->lens_stable_layer = l;
    }
    t->prob = t->prompts[0].object_prob;
    t->rank = t->prompts[0].object_rank;
    t->lens_layer = t->prompts[0].lens_layer;
}

/* Triples [t0, t1): encode, run, score. */
static ark_status run_chunk(ark_model *m, const ark_tokenizer *tok, const ark_kg_opts *o, ark_kg *g, int t0, int t1)
{
    int B = 0, V = ark_model_config(m)->d_vocab, L = ark_model_config(m)->n_layers;
    for (int i = t0; i < t1; i++) B += g->triples[i].n_prompts;
    chunk ch = {B, calloc(B, sizeof(ark_kg_prompt *)), calloc(B, sizeof(int32_t *)), calloc(B, sizeof(int)),
                malloc(sizeof(float) * (size_t)B * V), malloc(sizeof(int32_t) * (size_t)B * L)};
    ark_status s = ch.p && ch.ids && ch.len && ch.logits && ch.lens_top ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "out of memory");
    for (int i = t0, b = 0; i < t1 && s == ARK_OK; i++)
        for (int j = 0; j < g->triples[i].n_prompts && s == ARK_OK; j++, b++) {
            ark_kg_prompt *p = &g->triples[i].prompts[j];
            ch.p[b] = p;
            s = kg_encode(m, tok, p->text, o->max_tokens, &ch.ids[b], &ch.len[b]);
            p->T = ch.len[b];
        }
    if (s == ARK_OK) s = first_step(m, o, &ch);
    if (s == ARK_OK && o->max_tokens > 1) s = greedy_steps(m, tok, o, &ch);
    for (int i = t0, b = 0; i < t1 && s == ARK_OK; b += g->triples[i].n_prompts, i++)
        score_triple(tok, V, L, o, &ch, b, &g->triples[i]);
    for (int b = 0; ch.ids && b < B; b++) free(ch.ids[b]);
    free(ch.p), free(ch.ids), free(ch.len), free(ch.logits), free(ch.lens_top);
    return s;
}

static ark_status check_inputs(const ark_tokenizer *tok, const char *const *subjects, int ns,
                               const ark_kg_relation *rels, int nr, const ark_kg_opts *o)
{
    if (!tok) return ark_fail(ARK_ERR_ARG, "the knowledge graph needs a tokenizer (templates are text), and the model folder has none");
    if (ns < 1) return ark_fail(ARK_ERR_ARG, "\"subjects\": none given");
    if (nr < 1) return ark_fail(ARK_ERR_ARG, "\"relations\": none given");
    if (o->max_tokens < 1) return ark_fail(ARK_ERR_ARG, "\"max_tokens\": %d, expected >= 1", o->max_tokens);
    if (o->top_k < 0) return ark_fail(ARK_ERR_ARG, "\"top_k\": %d, expected >= 0", o->top_k);
    for (int i = 0; i < ns; i++)
        if (!subjects[i] || !*subjects[i]) return ark_fail(ARK_ERR_ARG, "subject %d: empty", i + 1);
    for (int r = 0; r < nr; r++) {
        if (rels[r].n_templates < 1) return ark_fail(ARK_ERR_ARG, "relation \"%s\": no templates", rels[r].name);
        for (int j = 0; j < rels[r].n_templates; j++)
            if (!strstr(rels[r].templates[j], "{s}"))
                return ark_fail(ARK_ERR_ARG, "relation \"%s\", template \"%s\": no \"{s}\" for the subject", rels[r].name,
                                rels[r].templates[j]);
    }
    return ARK_OK;
}

ark_status ark_kg_extract(ark_model *m, const ark_tokenizer *tok, const char *const *subjects, int n_subjects,
                          const ark_kg_relation *relations, int n_relations, const ark_kg_opts *o, ark_kg *out)
{
    memset(out, 0, sizeof *out);
    ark_kg_opts dflt = ark_kg_opts_default();
    if (!o) o = &dflt;
    ARK_TRY(check_inputs(tok, subjects, n_subjects, relations, n_relations, o));
    out->n_layers = ark_model_config(m)->n_layers;
    out->n = n_subjects * n_relations;
    out->triples = calloc(out->n, sizeof *out->triples);
    ark_status s = out->triples ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "out of memory");
    for (int i = 0; i < out->n && s == ARK_OK; i++) {
        ark_kg_triple *t = &out->triples[i];
        t->subject = i / n_relations, t->relation = i % n_relations;
        const ark_kg_relation *r = &relations[t->relation];
        t->prompts = calloc(r->n_templates, sizeof *t->prompts);
        t->n_prompts = r->n_templates;
        for (int j = 0; j < r->n_templates && s == ARK_OK; j++) s = ark_kg_fill(r->templates[j], subjects[t->subject], &t->prompts[j].text);
    }
    int batch = o->batch > 0 ? o->batch : 64;
    size_t V = (size_t)ark_model_config(m)->d_vocab, lens_bytes = (size_t)(out->n_layers + 1) * V * sizeof(float);
    if (o->lens && lens_bytes * batch > ((size_t)128 << 20)) batch = (int)(((size_t)128 << 20) / lens_bytes) + 1;
    for (int t0 = 0, t1; t0 < out->n && s == ARK_OK; t0 = t1) {
        int rows = 0;
        for (t1 = t0; t1 < out->n && (t1 == t0 || rows + out->triples[t1].n_prompts <= batch); t1++) rows += out->triples[t1].n_prompts;
        s = run_chunk(m, tok, o, out, t0, t1);
    }
    if (s == ARK_OK && o->causal) s = kg_trace_all(m, tok, subjects, o, out);
    if (s != ARK_OK) ark_kg_free(out);
    return s;
}
