/* Causal tracing around the traces (include/arrakis/tool_causal.h): facts
 * as tokens (subject span, answer token), the noise scale, position kinds,
 * the average indirect effect and the neuron intervention. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/interventions.h"
#include "arrakis/tool_causal.h"
#include "core/error.h"
#include "tools/patching_internal.h"

/* ---- facts as tokens ---- */

void ark_trace_prompt_free(ark_trace_prompt *p)
{
    if (!p) return;
    free(p->ids);
    memset(p, 0, sizeof *p);
}

ark_status ark_trace_answer_token(const ark_tokenizer *tok, const char *prompt, const int32_t *ids, int T,
                                  const char *answer, int32_t *out)
{
    if (!answer || !*answer) return ark_fail(ARK_ERR_ARG, "answer: empty");
    size_t lp = strlen(prompt), la = strlen(answer);
    char *text = malloc(lp + la + 2);
    bool space = answer[0] != ' ' && lp && prompt[lp - 1] != ' ';
    sprintf(text, "%s%s%s", prompt, space ? " " : "", answer);
    ark_encoding *e;
    ark_status st = ark_tokenizer_encode(tok, text, strlen(text), true, &e);
    free(text);
    ARK_TRY(st);
    int n = ark_encoding_count(e);
    const int32_t *full = ark_encoding_ids(e);
    bool prefix = n > T;
    for (int i = 0; prefix && i < T; i++) prefix = full[i] == ids[i];
    if (prefix) *out = full[T];
    ark_encoding_free(e);
    if (prefix) return ARK_OK;
    int32_t id = ark_tokenizer_token_to_id(tok, answer);
    if (id >= 0) { *out = id; return ARK_OK; }
    ARK_TRY(ark_tokenizer_encode(tok, answer, la, false, &e));
    n = ark_encoding_count(e);
    if (n == 1) *out = ark_encoding_ids(e)[0];
    ark_encoding_free(e);
    if (n == 1) return ARK_OK;
    return ark_fail(ARK_ERR_ARG, "answer \"%s\": it does not continue the prompt's tokens and is not one token (%d tokens)", answer, n);
}

/* The tokens whose byte spans overlap the subject's first occurrence. */
static ark_status subject_span(const ark_encoding *e, const char *prompt, const char *subject, int *sb, int *se)
{
    const char *at = *subject ? strstr(prompt, subject) : NULL;
    if (!at) return ark_fail(ARK_ERR_ARG, "subject \"%s\" does not occur in the prompt \"%s\"", subject, prompt);
    size_t a = (size_t)(at - prompt), b = a + strlen(subject);
    const ark_token_span *sp = ark_encoding_spans(e);
    *sb = -1;
    *se = -1;
    for (int i = 0; i < ark_encoding_count(e); i++) {
        if (sp[i].start >= sp[i].end || sp[i].start >= b || sp[i].end <= a) continue;
        if (*sb < 0) *sb = i;
        *se = i + 1;
    }
    if (*sb < 0) return ark_fail(ARK_ERR_ARG, "subject \"%s\": no token of the prompt covers it", subject);
    return ARK_OK;
}

ark_status ark_trace_prompt_encode(const ark_tokenizer *tok, const ark_model *m, const char *prompt,
                                   const char *subject, const char *answer, ark_trace_prompt *out)
{
    memset(out, 0, sizeof *out);
    if (!tok) return ark_fail(ARK_ERR_ARG, "a prompt given as text needs a tokenizer, and the model folder has none");
    if (!prompt || !*prompt) return ark_fail(ARK_ERR_ARG, "prompt: empty");
    ark_encoding *e;
    ARK_TRY(ark_tokenizer_encode(tok, prompt, strlen(prompt), true, &e));
    out->T = ark_encoding_count(e);
    out->ids = malloc(sizeof(int32_t) * (out->T ? out->T : 1));
    memcpy(out->ids, ark_encoding_ids(e), sizeof(int32_t) * out->T);
    ark_status st = subject ? subject_span(e, prompt, subject, &out->subj_begin, &out->subj_end) : ARK_OK;
    ark_encoding_free(e);
    int V = ark_model_config(m)->d_vocab;
    for (int t = 0; st == ARK_OK && t < out->T; t++)
        if (out->ids[t] >= V) st = ark_fail(ARK_ERR_ARG, "prompt token %d is outside the model's vocabulary (%d)", out->ids[t], V);
    if (st == ARK_OK && answer) st = ark_trace_answer_token(tok, prompt, out->ids, out->T, answer, &out->answer);
    if (st == ARK_OK && answer && out->answer >= V)
        st = ark_fail(ARK_ERR_ARG, "answer \"%s\" is token %d, outside the model's vocabulary (%d)", answer, out->answer, V);
    if (st != ARK_OK) ark_trace_prompt_free(out);
    return st;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

ark_status ark_trace_subject_sigma(ark_model *m, const ark_trace_prompt *p, int n, double *sigma)
{
    size_t total = 0, k = 0;
    for (int i = 0; i < n; i++) total += (size_t)(p[i].subj_end - p[i].subj_begin);
    if (!total) return ark_fail(ARK_ERR_ARG, "no subject tokens to measure the embeddings' spread on");
    int32_t *ids = malloc(sizeof *ids * total);
    if (!ids) return ark_fail(ARK_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++)
        for (int t = p[i].subj_begin; t < p[i].subj_end; t++) ids[k++] = p[i].ids[t];
    qsort(ids, total, sizeof *ids, cmp_i32);
    size_t u = 0;
    for (size_t i = 0; i < total; i++)
        if (!u || ids[i] != ids[u - 1]) ids[u++] = ids[i];
    /* hook_embed of each distinct token: rows of one token, stopped before block 0 */
    ark_plan *plan = ark_plan_new(m);
    ark_run_opts o = ARK_RUN_OPTS_INIT;
    o.stop_at_layer = 0;
    ark_cache *c = NULL;
    ark_status st = ark_plan_keep(plan, "hook_embed");
    if (st == ARK_OK) st = ark_run_ex(m, ids, (int)u, 1, &o, plan, &c);
    if (st == ARK_OK) {
        const ark_tensor *e = ark_cache_get(c, "hook_embed");
        size_t N = (size_t)ark_tensor_numel(e);
        double mean = 0, ss = 0;
        for (size_t i = 0; i < N; i++) mean += e->data[i];
        mean /= N;
        for (size_t i = 0; i < N; i++) ss += (e->data[i] - mean) * (e->data[i] - mean);
        *sigma = N > 1 ? sqrt(ss / (N - 1)) : 0;
    }
    ark_cache_free(c);
    ark_plan_free(plan);
    free(ids);
    return st;
}

/* ---- position kinds and the average indirect effect ---- */

static const char *const pos_names[ARK_TPOS_N] = {"before_subject", "subject_first", "subject_middle", "subject_last",
                                                  "first_subsequent", "further_tokens", "last_token"};

const char *ark_trace_pos_name(ark_trace_pos k) { return k >= 0 && k < ARK_TPOS_N ? pos_names[k] : NULL; }

bool ark_trace_pos_is(ark_trace_pos k, int t, int T, int sb, int se)
{
    switch (k) {
    case ARK_TPOS_BEFORE_SUBJECT: return t < sb;
    case ARK_TPOS_SUBJECT_FIRST: return t == sb;
    case ARK_TPOS_SUBJECT_MIDDLE: return t > sb && t < se - 1;
    case ARK_TPOS_SUBJECT_LAST: return t == se - 1;
    case ARK_TPOS_FIRST_SUBSEQUENT: return t == se && t != T - 1;
    case ARK_TPOS_FURTHER_TOKENS: return t > se && t != T - 1;
    case ARK_TPOS_LAST_TOKEN: return t == T - 1;
    default: return false;
    }
}

void ark_trace_aie_free(ark_trace_aie *a)
{
    if (!a) return;
    free(a->table);
    memset(a, 0, sizeof *a);
}

ark_status ark_trace_aie_compute(const ark_trace_prompt *p, const ark_trace_result *r, int n, ark_trace_aie *out)
{
    memset(out, 0, sizeof *out);
    if (n < 1) return ark_fail(ARK_ERR_ARG, "no traced facts to average");
    int R = r[0].n_rows;
    for (int f = 1; f < n; f++)
        if (r[f].n_rows != R) return ark_fail(ARK_ERR_ARG, "fact %d has %d rows, fact 0 has %d", f, r[f].n_rows, R);
    out->n_rows = R;
    out->table = calloc((size_t)R * ARK_TPOS_N, sizeof(double));
    if (!out->table) return ark_fail(ARK_ERR_NOMEM, "out of memory");
    for (int f = 0; f < n; f++) {
        out->mean_p_clean += r[f].p_clean / n;
        out->mean_p_corrupted += r[f].p_corrupted / n;
        for (int k = 0; k < ARK_TPOS_N; k++) {
            int cnt = 0;
            for (int t = 0; t < p[f].T; t++) cnt += ark_trace_pos_is(k, t, p[f].T, p[f].subj_begin, p[f].subj_end);
            if (!cnt) continue;
            out->facts_per_kind[k]++;
            for (int row = 0; row < R; row++) {
                double s = 0;
                for (int t = 0; t < p[f].T; t++)
                    if (ark_trace_pos_is(k, t, p[f].T, p[f].subj_begin, p[f].subj_end))
                        s += r[f].p_restored[(size_t)row * r[f].T + t] - r[f].p_corrupted;
                out->table[(size_t)row * ARK_TPOS_N + k] += s / cnt;
            }
        }
    }
    out->mean_total_effect = out->mean_p_clean - out->mean_p_corrupted;
    for (int k = 0; k < ARK_TPOS_N; k++)
        for (int row = 0; row < R; row++) {
            double *x = &out->table[(size_t)row * ARK_TPOS_N + k];
            *x = out->facts_per_kind[k] ? *x / out->facts_per_kind[k] : NAN;
        }
    return ARK_OK;
}

/* ---- the neuron intervention ---- */

static double answer_prob(const float *x, int V, int k)
{
    double mx = -INFINITY, s = 0;
    for (int i = 0; i < V; i++) mx = x[i] > mx ? x[i] : mx;
    for (int i = 0; i < V; i++) s += exp((double)x[i] - mx);
    return exp((double)x[k] - mx) / s;
}

ark_status ark_trace_neuron(ark_model *m, const int32_t *ids, int T, int32_t answer, int layer, int neuron,
                            float factor, const int *positions, int n_positions, double *p_before, double *p_after)
{
    const ark_config *c = ark_model_config(m);
    if (layer < 0 || layer >= c->n_layers) return ark_fail(ARK_ERR_ARG, "neuron layer %d: the model has layers 0..%d", layer, c->n_layers - 1);
    if (neuron < 0 || neuron >= c->d_mlp) return ark_fail(ARK_ERR_ARG, "neuron %d: layer %d has neurons 0..%d", neuron, layer, c->d_mlp - 1);
    if (answer < 0 || answer >= c->d_vocab) return ark_fail(ARK_ERR_ARG, "answer token %d is out of range (vocab %d)", answer, c->d_vocab);
    for (int i = 0; positions && i < n_positions; i++)
        if (positions[i] < -T || positions[i] >= T) return ark_fail(ARK_ERR_ARG, "position %d: the prompt has positions 0..%d", positions[i], T - 1);
    char start[64], post[64];
    snprintf(start, sizeof start, "blocks.%d.hook_resid_pre", layer);
    snprintf(post, sizeof post, "blocks.%d.mlp.hook_post", layer);
    ark_plan *keep = ark_plan_new(m);
    ark_cache *clean = NULL;
    ark_status st = ark_plan_keep(keep, start);
    if (st == ARK_OK) st = ark_run(m, ids, 1, T, NULL, keep, &clean);
    ark_plan_free(keep);
    if (st != ARK_OK) return st;
    *p_before = answer_prob(ark_cache_logits(clean)->data + (size_t)(T - 1) * c->d_vocab, c->d_vocab, answer);
    rows_start rs = {.B = 1, .T = T, .layer = layer, .tokens = ids, .resid = ark_cache_get(clean, start)->data};
    ark_select sel = {.positions = positions, .n_positions = positions ? n_positions : 0, .neurons = &neuron, .n_neurons = 1};
    ark_plan *plan = NULL;
    float *logits = NULL;
    st = rows_plan_new(m, &rs, &plan);
    if (st == ARK_OK) st = ark_plan_scale(plan, post, factor, &sel);
    if (st == ARK_OK) st = rows_run(m, &rs, plan, T - 1, &logits);
    if (st == ARK_OK) *p_after = answer_prob(logits, c->d_vocab, answer);
    free(logits);
    ark_plan_free(plan);
    ark_cache_free(clean);
    return st;
}
