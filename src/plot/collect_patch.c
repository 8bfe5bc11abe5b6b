/* Plot data from model runs with interventions: activation patching
 * (clean → corrupted, "denoising") and ROME's causal trace.
 *
 * Patching (Meng et al. 2022; Heimersheim & Nanda 2024, "How to use and
 * interpret activation patching"): with metric m = logit(answer) -
 * logit(wrong) at the last position (logit(answer) alone without a wrong
 * token), each cell patches one activation of the clean run into the
 * corrupted run and reports (m_patched - m_corrupted) / (m_clean -
 * m_corrupted): 1 = the clean behaviour restored, 0 = no effect.
 *   patch "resid": blocks.L.hook_resid_pre at one position (layers x positions)
 *   patch "heads": blocks.L.attn.hook_z of one head at every position
 *                  (layers x heads)
 *
 * Causal trace (Meng et al. 2022, "Locating and Editing Factual
 * Associations in GPT", fig. 1): the subject tokens' embeddings
 * (hook_embed) get Gaussian noise of std noise x sigma, sigma the standard
 * deviation of the prompt's embedding entries (ROME: 3 x the std over a
 * corpus of subjects); then each (layer, token) hidden state
 * (blocks.L.hook_resid_post) is restored from the clean run, and the cell is
 * p(answer) at the last position, averaged over `samples` noise draws. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "plot/collect.h"
#include "plot/plot_internal.h"

typedef struct metric {
    int32_t answer, wrong;
    int pos;
} metric;

static double metric_of(const ark_cache *c, const metric *mt)
{
    const ark_tensor *lg = ark_cache_logits(c);
    const float *x = lg->data + (size_t)mt->pos * lg->shape[2];
    return x[mt->answer] - (mt->wrong >= 0 ? x[mt->wrong] : 0);
}

static double prob_of(const ark_cache *c, int pos, int32_t id)
{
    const ark_tensor *lg = ark_cache_logits(c);
    int V = (int)lg->shape[2];
    const float *x = lg->data + (size_t)pos * V;
    double mx = x[0], z = 0;
    for (int v = 1; v < V; v++) mx = fmax(mx, x[v]);
    for (int v = 0; v < V; v++) z += exp(x[v] - mx);
    return exp(x[id] - mx) / z;
}

static ark_status run_ids(const ark_tool_env *env, const int32_t *ids, int n, const ark_plan *p, ark_cache **out)
{
    return ark_run(env->model, ids, 1, n, NULL, p, out);
}

/* The corrupted prompt: "corrupted" as text or as ids, as long as row 0. */
static ark_status corrupted_ids(const ark_tool_env *env, const cJSON *spec, const pl_input *in, tool_batch *cb)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(spec, "corrupted");
    if (!c) return ark_fail(ARK_ERR_MISSING, "\"corrupted\": missing (the corrupted prompt, text or ids, as long as the clean one)");
    cJSON *p = cJSON_CreateObject();
    cJSON_AddItemToObject(p, cJSON_IsString(c) ? "text" : "tokens", cJSON_Duplicate(c, 1));
    ark_status s = tool_batch_from_json(env, p, cb);
    cJSON_Delete(p);
    if (s == ARK_OK && cb->len[0] != in->n) {
        s = ark_fail(ARK_ERR_ARG, "\"corrupted\": %d tokens, but the clean prompt has %d (they must line up)", cb->len[0], in->n);
        tool_batch_free(cb);
    }
    return s;
}

static ark_status patch_cell(const ark_tool_env *env, const int32_t *corr, int n, const ark_cache *clean,
                             const char *hook, const ark_select *sel, const metric *mt, double *out)
{
    ark_plan *p = ark_plan_new(env->model);
    ark_status s = ark_plan_patch(p, hook, clean, sel);
    ark_cache *c = NULL;
    if (s == ARK_OK) s = run_ids(env, corr, n, p, &c);
    if (s == ARK_OK) *out = metric_of(c, mt);
    ark_cache_free(c);
    ark_plan_free(p);
    return s;
}

ark_status pl_collect_patching(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out)
{
    const ark_config *cfg = ark_model_config(env->model);
    int L = cfg->n_layers, n = in->n;
    const char *what;
    ARK_TRY(tool_get_str(spec, "patch", "resid", &what));
    bool heads = !strcmp(what, "heads");
    if (!heads && strcmp(what, "resid")) return ark_fail(ARK_ERR_ARG, "\"patch\": \"%s\" (expected resid or heads)", what);
    tool_batch cb;
    ARK_TRY(corrupted_ids(env, spec, in, &cb));
    metric mt = {-1, -1, n - 1};
    ark_status s = pl_get_token(env, spec, "answer", &mt.answer);
    if (s == ARK_OK) s = pl_get_token(env, spec, "wrong", &mt.wrong);
    ark_plan *kp = ark_plan_new(env->model);
    if (s == ARK_OK) s = ark_plan_keep(kp, heads ? "blocks.*.attn.hook_z" : "blocks.*.hook_resid_pre");
    ark_cache *clean = NULL, *corr = NULL;
    if (s == ARK_OK) s = run_ids(env, in->ids, n, kp, &clean);
    if (s == ARK_OK) s = run_ids(env, cb.tokens, n, NULL, &corr);
    ark_plan_free(kp);
    if (s == ARK_OK && mt.answer < 0) {
        const ark_tensor *lg = ark_cache_logits(clean);
        mt.answer = pl_argmax(lg->data + (size_t)(n - 1) * lg->shape[2], (int)lg->shape[2]);
    }
    int C = heads ? cfg->n_heads : n;
    float *m = malloc(sizeof *m * L * C);
    double m_clean = 0, m_corr = 0;
    if (s == ARK_OK) m_clean = metric_of(clean, &mt), m_corr = metric_of(corr, &mt);
    double den = m_clean - m_corr;
    bool norm = fabs(den) > 1e-6;
    char hook[64];
    for (int l = 0; l < L && s == ARK_OK; l++)
        for (int c = 0; c < C && s == ARK_OK; c++) {
            ark_select sel = {0};
            if (heads) sel.heads = &c, sel.n_heads = 1;
            else sel.positions = &c, sel.n_positions = 1;
            snprintf(hook, sizeof hook, heads ? "blocks.%d.attn.hook_z" : "blocks.%d.hook_resid_pre", l);
            double v = 0;
            s = patch_cell(env, cb.tokens, n, clean, hook, &sel, &mt, &v);
            m[l * C + c] = (float)(norm ? (v - m_corr) / den : v - m_corr);
        }
    if (s == ARK_OK) {
        pl_add_matrix(out, "matrix", m, L, C);
        cJSON *rl = cJSON_AddArrayToObject(out, "row_labels");
        char buf[256];
        for (int l = 0; l < L; l++) snprintf(buf, sizeof buf, "%d", l), cJSON_AddItemToArray(rl, cJSON_CreateString(buf));
        if (heads) {
            cJSON *cl = cJSON_AddArrayToObject(out, "col_labels");
            for (int h = 0; h < C; h++) snprintf(buf, sizeof buf, "%d", h), cJSON_AddItemToArray(cl, cJSON_CreateString(buf));
            cJSON_AddStringToObject(out, "x_label", "head");
        } else {
            cJSON_AddItemToObject(out, "col_labels", cJSON_Duplicate(in->tokens, 1));
        }
        char *a = tool_token_str(env, mt.answer), *w = mt.wrong >= 0 ? tool_token_str(env, mt.wrong) : NULL;
        snprintf(buf, sizeof buf, "patching %s (clean -> corrupted): %s(\"%s\")%s%s%s", heads ? "hook_z per head" : "resid_pre",
                 w ? "logit diff " : "logit ", a, w ? " - (\"" : "", w ? w : "", w ? "\")" : "");
        cJSON_AddStringToObject(out, "title", buf);
        cJSON_AddStringToObject(out, "value_label", norm ? "restored fraction of the metric" : "metric change");
        cJSON_AddNumberToObject(out, "clean_metric", m_clean);
        cJSON_AddNumberToObject(out, "corrupted_metric", m_corr);
        free(a);
        free(w);
    }
    free(m);
    ark_cache_free(clean);
    ark_cache_free(corr);
    tool_batch_free(&cb);
    return s;
}

/* ---- causal trace ---- */

typedef struct noise_ctx {
    const float *noise; /* (ns, d) */
    const int *pos;
    int ns, d;
} noise_ctx;

static ark_status add_noise(ark_tensor *act, const ark_hook_call *call, void *ctx)
{
    const noise_ctx *nc = ctx;
    for (int j = 0; j < nc->ns; j++) {
        if (nc->pos[j] >= call->T) continue;
        float *x = act->data + (size_t)nc->pos[j] * nc->d; /* [1, T, d] */
        for (int i = 0; i < nc->d; i++) x[i] += nc->noise[(size_t)j * nc->d + i];
    }
    return ARK_OK;
}

/* Subject positions: "subject" as a list of positions, or as a substring of
 * "text" (the tokens whose byte spans overlap it). */
static ark_status subject_positions(const ark_tool_env *env, const cJSON *spec, const pl_input *in, int **pos, int *ns)
{
    const cJSON *sj = cJSON_GetObjectItemCaseSensitive(spec, "subject");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(spec, "text");
    *pos = NULL, *ns = 0;
    if (cJSON_IsArray(sj)) {
        ARK_TRY(tool_get_ints(spec, "subject", pos, ns));
        for (int i = 0; i < *ns; i++)
            if ((*pos)[i] < 0 || (*pos)[i] >= in->n) return ark_fail(ARK_ERR_ARG, "\"subject\": position %d out of range", (*pos)[i]);
        return *ns ? ARK_OK : ark_fail(ARK_ERR_ARG, "\"subject\": empty");
    }
    if (!cJSON_IsString(sj)) return ark_fail(ARK_ERR_MISSING, "\"subject\": missing (a substring of the text, or token positions)");
    if (!cJSON_IsString(text) || !env->tokenizer)
        return ark_fail(ARK_ERR_ARG, "\"subject\" as text needs \"text\" and a tokenizer (else give positions)");
    const char *hit = strstr(text->valuestring, sj->valuestring);
    if (!hit || !*sj->valuestring) return ark_fail(ARK_ERR_ARG, "\"subject\": \"%s\" is not in the text", sj->valuestring);
    size_t a = hit - text->valuestring, b = a + strlen(sj->valuestring);
    ark_encoding *e;
    ARK_TRY(ark_tokenizer_encode(env->tokenizer, text->valuestring, strlen(text->valuestring), true, &e));
    const ark_token_span *sp = ark_encoding_spans(e);
    *pos = malloc(sizeof **pos * in->n);
    for (int i = 0; i < ark_encoding_count(e) && i < in->n; i++)
        if (sp[i].end > sp[i].start && sp[i].start < b && sp[i].end > a) (*pos)[(*ns)++] = i;
    ark_encoding_free(e);
    return *ns ? ARK_OK : ark_fail(ARK_ERR_ARG, "\"subject\": no token covers \"%s\"", sj->valuestring);
}

/* p(answer) with the noise on and hidden state (l, t) restored (l < 0: none). */
static ark_status trace_cell(const ark_tool_env *env, const pl_input *in, noise_ctx *nc, const ark_cache *clean,
                             int l, int t, int32_t answer, double *out)
{
    ark_plan *p = ark_plan_new(env->model);
    ark_status s = ark_plan_add_hook(p, "hook_embed", ARK_HOOK_MODIFY, add_noise, nc);
    if (s == ARK_OK && l >= 0) {
        char hook[64];
        snprintf(hook, sizeof hook, "blocks.%d.hook_resid_post", l);
        ark_select sel = {0};
        sel.positions = &t, sel.n_positions = 1;
        s = ark_plan_patch(p, hook, clean, &sel);
    }
    ark_cache *c = NULL;
    if (s == ARK_OK) s = run_ids(env, in->ids, in->n, p, &c);
    if (s == ARK_OK) *out = prob_of(c, in->n - 1, answer);
    ark_cache_free(c);
    ark_plan_free(p);
    return s;
}

ark_status pl_collect_causal_trace(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out)
{
    const ark_config *cfg = ark_model_config(env->model);
    int L = cfg->n_layers, n = in->n, d = cfg->d_model, samples, *pos = NULL, ns = 0, seed;
    double noise;
    int32_t answer;
    ARK_TRY(tool_get_int(spec, "samples", 5, &samples));
    ARK_TRY(tool_get_num(spec, "noise", 3.0, &noise));
    ARK_TRY(tool_get_int(spec, "seed", 0, &seed));
    if (samples < 1 || samples > 1000) return ark_fail(ARK_ERR_ARG, "\"samples\": expected 1..1000");
    ARK_TRY(pl_get_token(env, spec, "answer", &answer));
    ARK_TRY(subject_positions(env, spec, in, &pos, &ns));
    ark_plan *kp = ark_plan_new(env->model);
    ark_status s = ark_plan_keep(kp, "blocks.*.hook_resid_post");
    if (s == ARK_OK) s = ark_plan_keep(kp, "hook_embed");
    ark_cache *clean = NULL;
    if (s == ARK_OK) s = run_ids(env, in->ids, n, kp, &clean);
    ark_plan_free(kp);
    double sigma = 0, mean = 0, p_clean = 0, p_corr = 0;
    if (s == ARK_OK) {
        const float *e = ark_cache_get(clean, "hook_embed")->data;
        long N = (long)n * d;
        for (long i = 0; i < N; i++) mean += e[i] / N;
        for (long i = 0; i < N; i++) sigma += (e[i] - mean) * (e[i] - mean) / N;
        sigma = sqrt(sigma);
        if (answer < 0) {
            const ark_tensor *lg = ark_cache_logits(clean);
            answer = pl_argmax(lg->data + (size_t)(n - 1) * lg->shape[2], (int)lg->shape[2]);
        }
        p_clean = prob_of(clean, n - 1, answer);
    }
    float *noise_buf = malloc(sizeof *noise_buf * (size_t)ns * d);
    double *acc = calloc((size_t)L * n, sizeof *acc);
    ark_rng rng;
    ark_rng_seed(&rng, (uint64_t)seed);
    noise_ctx nc = {noise_buf, pos, ns, d};
    for (int k = 0; k < samples && s == ARK_OK; k++) {
        for (long i = 0; i < (long)ns * d; i++) noise_buf[i] = (float)(noise * sigma * ark_rng_normal(&rng));
        double v = 0;
        s = trace_cell(env, in, &nc, clean, -1, 0, answer, &v);
        p_corr += v / samples;
        for (int l = 0; l < L && s == ARK_OK; l++)
            for (int t = 0; t < n && s == ARK_OK; t++) {
                s = trace_cell(env, in, &nc, clean, l, t, answer, &v);
                acc[l * n + t] += v / samples;
            }
    }
    if (s == ARK_OK) {
        float *m = malloc(sizeof *m * L * n);
        for (int i = 0; i < L * n; i++) m[i] = (float)acc[i];
        pl_add_matrix(out, "matrix", m, L, n);
        free(m);
        cJSON *rl = cJSON_AddArrayToObject(out, "row_labels");
        char buf[256];
        for (int l = 0; l < L; l++) snprintf(buf, sizeof buf, "%d", l), cJSON_AddItemToArray(rl, cJSON_CreateString(buf));
        cJSON_AddItemToObject(out, "col_labels", cJSON_Duplicate(in->tokens, 1));
        cJSON_AddItemToObject(out, "marks", cJSON_CreateIntArray(pos, ns));
        char *a = tool_token_str(env, answer);
        snprintf(buf, sizeof buf, "causal trace: p(\"%s\") restoring one state (clean %.3f, corrupted %.3f)", a, p_clean, p_corr);
        free(a);
        cJSON_AddStringToObject(out, "title", buf);
        cJSON_AddNumberToObject(out, "clean_prob", p_clean);
        cJSON_AddNumberToObject(out, "corrupted_prob", p_corr);
    }
    free(noise_buf);
    free(acc);
    free(pos);
    ark_cache_free(clean);
    return s;
}
