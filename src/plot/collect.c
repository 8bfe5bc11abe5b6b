/* Plot data from a model run: the input, option getters, and the
 * attention-side collectors (patterns, scores, per-head scores,
 * composition).  ark_plot_collect dispatches by type. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "plot/collect.h"
#include "plot/plot_internal.h"

ark_status pl_input_of(const ark_tool_env *env, const cJSON *spec, pl_input *in)
{
    memset(in, 0, sizeof *in);
    ARK_TRY(tool_batch_from_json(env, spec, &in->batch));
    in->ids = in->batch.tokens;
    in->n = in->batch.len[0];
    in->tokens = tool_str_tokens(env, in->ids, in->n);
    return ARK_OK;
}

void pl_input_free(pl_input *in)
{
    tool_batch_free(&in->batch);
    cJSON_Delete(in->tokens);
    memset(in, 0, sizeof *in);
}

ark_status pl_run_row0(const ark_tool_env *env, const pl_input *in, const ark_plan *plan, int stop, ark_cache **out)
{
    ark_run_opts o = ARK_RUN_OPTS_INIT;
    o.stop_at_layer = stop;
    return ark_run_ex(env->model, in->ids, 1, in->n, &o, plan, out);
}

ark_status pl_get_layer(const ark_tool_env *env, const cJSON *spec, const char *key, int dflt, int *out)
{
    int L = ark_model_config(env->model)->n_layers, l;
    ARK_TRY(tool_get_int(spec, key, dflt, &l));
    if (l < 0) l += L;
    if (l < 0 || l >= L) return ark_fail(ARK_ERR_ARG, "\"%s\": %d is out of range (the model has %d layers)", key, l, L);
    *out = l;
    return ARK_OK;
}

ark_status pl_get_head(const ark_tool_env *env, const cJSON *spec, int *out)
{
    int H = ark_model_config(env->model)->n_heads, h;
    ARK_TRY(tool_get_int(spec, "head", 0, &h));
    if (h < 0) h += H;
    if (h < 0 || h >= H) return ark_fail(ARK_ERR_ARG, "\"head\": %d is out of range (the model has %d heads)", h, H);
    *out = h;
    return ARK_OK;
}

ark_status pl_get_pos(const cJSON *spec, int n, int *out)
{
    int p;
    ARK_TRY(tool_get_int(spec, "pos", -1, &p));
    if (p < 0) p += n;
    if (p < 0 || p >= n) return ark_fail(ARK_ERR_ARG, "\"pos\": out of range (the input has %d tokens)", n);
    *out = p;
    return ARK_OK;
}

ark_status pl_get_token(const ark_tool_env *env, const cJSON *spec, const char *key, int32_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
    *out = -1;
    if (!v || cJSON_IsNull(v)) return ARK_OK;
    return tool_token(env, v, key, out);
}

int32_t pl_argmax(const float *logits, int vocab)
{
    int best = 0;
    for (int i = 1; i < vocab; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}

cJSON *pl_token_json(const ark_tool_env *env, int32_t id)
{
    char *s = tool_token_str(env, id);
    cJSON *j = cJSON_CreateString(s);
    free(s);
    return j;
}

cJSON *pl_head_labels(int L, int H)
{
    cJSON *a = cJSON_CreateArray();
    char buf[32];
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++) {
            snprintf(buf, sizeof buf, "L%dH%d", l, h);
            cJSON_AddItemToArray(a, cJSON_CreateString(buf));
        }
    return a;
}

void pl_add_matrix(cJSON *o, const char *key, const float *v, int rows, int cols)
{
    cJSON *m = cJSON_CreateArray();
    for (int r = 0; r < rows; r++) {
        cJSON *row = cJSON_CreateArray();
        for (int c = 0; c < cols; c++) {
            float x = v[(size_t)r * cols + c];
            cJSON_AddItemToArray(row, isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull());
        }
        cJSON_AddItemToArray(m, row);
    }
    cJSON_AddItemToObject(o, key, m);
}

static void add_str(cJSON *o, const char *key, const char *fmt, int a, int b)
{
    char buf[128];
    snprintf(buf, sizeof buf, fmt, a, b);
    cJSON_AddStringToObject(o, key, buf);
}

/* blocks.L.attn.HOOK of row 0: (H, n, n), stopping after block L. */
static ark_status head_maps(const ark_tool_env *env, const pl_input *in, int layer, const char *hook, float **out)
{
    const ark_config *c = ark_model_config(env->model);
    char name[96];
    snprintf(name, sizeof name, "blocks.%d.attn.%s", layer, hook);
    ark_plan *p = ark_plan_new(env->model);
    ark_status s = ark_plan_keep(p, name);
    ark_cache *cache = NULL;
    if (s == ARK_OK) s = pl_run_row0(env, in, p, layer + 1 < c->n_layers ? layer + 1 : -1, &cache);
    ark_plan_free(p);
    if (s != ARK_OK) return s;
    const ark_tensor *t = ark_cache_get(cache, name);
    size_t sz = (size_t)c->n_heads * in->n * in->n;
    *out = malloc(sizeof **out * sz);
    memcpy(*out, t->data, sizeof **out * sz); /* [1, h, n, n] */
    ark_cache_free(cache);
    return ARK_OK;
}

ark_status pl_collect_attention(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out)
{
    int l, h, n = in->n;
    ARK_TRY(pl_get_layer(env, spec, "layer", 0, &l));
    ARK_TRY(pl_get_head(env, spec, &h));
    float *maps;
    ARK_TRY(head_maps(env, in, l, "hook_pattern", &maps));
    pl_add_matrix(out, "matrix", maps + (size_t)h * n * n, n, n);
    free(maps);
    cJSON_AddItemToObject(out, "row_labels", cJSON_Duplicate(in->tokens, 1));
    cJSON_AddItemToObject(out, "col_labels", cJSON_Duplicate(in->tokens, 1));
    add_str(out, "title", "attention pattern L%dH%d", l, h);
    return ARK_OK;
}

ark_status pl_collect_attention_grid(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out)
{
    int l, n = in->n, H = ark_model_config(env->model)->n_heads;
    ARK_TRY(pl_get_layer(env, spec, "layer", 0, &l));
    float *maps;
    ARK_TRY(head_maps(env, in, l, "hook_pattern", &maps));
    cJSON *ms = cJSON_AddArrayToObject(out, "matrices"), *titles = cJSON_AddArrayToObject(out, "titles");
    for (int h = 0; h < H; h++) {
        cJSON *tmp = cJSON_CreateObject();
        pl_add_matrix(tmp, "m", maps + (size_t)h * n * n, n, n);
        cJSON_AddItemToArray(ms, cJSON_DetachItemFromObject(tmp, "m"));
        cJSON_Delete(tmp);
        char buf[32];
        snprintf(buf, sizeof buf, "L%dH%d", l, h);
        cJSON_AddItemToArray(titles, cJSON_CreateString(buf));
    }
    free(maps);
    cJSON_AddItemToObject(out, "row_labels", cJSON_Duplicate(in->tokens, 1));
    cJSON_AddItemToObject(out, "col_labels", cJSON_Duplicate(in->tokens, 1));
    add_str(out, "title", "attention patterns of layer %d (%d heads)", l, H);
    return ARK_OK;
}

ark_status pl_collect_qk(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out)
{
    int l, h, n = in->n;
    ARK_TRY(pl_get_layer(env, spec, "layer", 0, &l));
    ARK_TRY(pl_get_head(env, spec, &h));
    float *maps;
    ARK_TRY(head_maps(env, in, l, "hook_attn_scores", &maps)); /* masked entries -inf → null */
    pl_add_matrix(out, "matrix", maps + (size_t)h * n * n, n, n);
    free(maps);
    cJSON_AddItemToObject(out, "row_labels", cJSON_Duplicate(in->tokens, 1));
    cJSON_AddItemToObject(out, "col_labels", cJSON_Duplicate(in->tokens, 1));
    add_str(out, "title", "scaled q.k scores L%dH%d (masked: grey)", l, h);
    return ARK_OK;
}

/* The smallest prefix s, then period p, with ids[i] == ids[i - p] for
 * i in [s + p, n) and n - s >= 2p (the attention tool's definition). */
static bool repeat_structure(const int32_t *ids, int n, int *prefix, int *period)
{
    for (int s = 0; s < n; s++)
        for (int p = 1; 2 * p <= n - s; p++) {
            bool ok = true;
            for (int i = s + p; i < n && ok; i++) ok = ids[i] == ids[i - p];
            if (ok) {
                *prefix = s, *period = p;
                return true;
            }
        }
    return false;
}

/* Mean attention to key i - offset over the chosen queries of every row. */
static ark_status offset_scores(const ark_tool_env *env, const pl_input *in, const char *kind, float *scores)
{
    const ark_config *c = ark_model_config(env->model);
    int L = c->n_layers, H = c->n_heads, B = in->batch.B, T = in->batch.T;
    ark_plan *p = ark_plan_new(env->model);
    ark_status s = ark_plan_keep(p, "blocks.*.attn.hook_pattern");
    ark_cache *cache = NULL;
    ark_run_opts o = ARK_RUN_OPTS_INIT;
    o.mask = in->batch.mask;
    if (s == ARK_OK) s = ark_run_ex(env->model, in->batch.tokens, B, T, &o, p, &cache);
    ark_plan_free(p);
    if (s != ARK_OK) return s;
    double *sum = calloc((size_t)L * H, sizeof *sum);
    long count = 0;
    char name[96];
    for (int b = 0; b < B; b++) {
        const int32_t *ids = in->batch.tokens + (size_t)b * T;
        int n = in->batch.len[b], pre = 0, per = 1, q0 = 1, off = 1;
        if (strcmp(kind, "previous")) {
            if (!repeat_structure(ids, n, &pre, &per)) continue;
            q0 = pre + per, off = !strcmp(kind, "induction") ? per - 1 : per;
        }
        for (int q = q0; q < n; q++, count++)
            for (int l = 0; l < L; l++) {
                snprintf(name, sizeof name, "blocks.%d.attn.hook_pattern", l);
                const float *A = ark_cache_get(cache, name)->data; /* [B, H, T, T] */
                for (int h = 0; h < H; h++) sum[l * H + h] += A[(((size_t)b * H + h) * T + q) * T + (q - off)];
            }
    }
    ark_cache_free(cache);
    for (int i = 0; i < L * H; i++) scores[i] = count ? (float)(sum[i] / count) : NAN;
    free(sum);
    if (!count)
        return ark_fail(ARK_ERR_ARG, "\"score\": %s scores need a repeated sequence in some row (e.g. tokens 5,6,7,8,5,6,7,8)", kind);
    return ARK_OK;
}

/* Direct logit attribution of every head at `pos` of row 0. */
static ark_status head_dla(const ark_tool_env *env, const cJSON *spec, const pl_input *in, float *scores, cJSON *out)
{
    int pos;
    int32_t target, against;
    ARK_TRY(pl_get_pos(spec, in->n, &pos));
    ARK_TRY(pl_get_token(env, spec, "target", &target));
    ARK_TRY(pl_get_token(env, spec, "against", &against));
    ark_resid_opts ro = ARK_RESID_OPTS_INIT;
    ro.pos = pos;
    char **names;
    ARK_TRY(ark_analysis_hooks(env->model, ARK_ANALYSIS_STACK_HEADS, &ro, &names));
    ark_plan *p = ark_plan_new(env->model);
    ark_status s = ARK_OK;
    for (char **nm = names; *nm && s == ARK_OK; nm++) s = ark_plan_keep(p, *nm);
    free(names);
    if (s == ARK_OK) s = ark_plan_keep(p, "ln_final.hook_scale");
    ark_cache *cache = NULL;
    if (s == ARK_OK) s = pl_run_row0(env, in, p, -1, &cache);
    ark_plan_free(p);
    ark_stack *st = NULL;
    if (s == ARK_OK) s = ark_stack_head_results(env->model, cache, &ro, &st);
    if (s == ARK_OK && target < 0) {
        const ark_tensor *lg = ark_cache_logits(cache);
        target = pl_argmax(lg->data + (size_t)pos * lg->shape[2], (int)lg->shape[2]);
    }
    ark_tensor at = {0};
    if (s == ARK_OK) s = ark_logit_attrs(env->model, cache, st, &target, against >= 0 ? &against : NULL, &at);
    if (s == ARK_OK) memcpy(scores, at.data, sizeof *scores * st->n);
    if (s == ARK_OK) {
        char *t = tool_token_str(env, target), buf[256];
        snprintf(buf, sizeof buf, "direct logit attribution per head to \"%s\" at position %d", t, pos);
        cJSON_AddStringToObject(out, "title", buf);
        free(t);
    }
    free(at.data);
    ark_stack_free(st);
    ark_cache_free(cache);
    return s;
}

ark_status pl_collect_head_scores(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out)
{
    const ark_config *c = ark_model_config(env->model);
    int L = c->n_layers, H = c->n_heads;
    const char *kind;
    ARK_TRY(tool_get_str(spec, "score", "previous", &kind));
    float *scores = malloc(sizeof *scores * L * H);
    ark_status s;
    if (!strcmp(kind, "previous") || !strcmp(kind, "induction") || !strcmp(kind, "duplicate")) {
        s = offset_scores(env, in, kind, scores);
        char buf[96];
        snprintf(buf, sizeof buf, "%s-token head scores (mean attention)", kind);
        if (s == ARK_OK) cJSON_AddStringToObject(out, "title", !strcmp(kind, "previous") ? "previous-token head scores" : buf);
    } else if (!strcmp(kind, "dla")) {
        s = head_dla(env, spec, in, scores, out);
    } else {
        s = ark_fail(ARK_ERR_ARG, "\"score\": \"%s\" (expected previous, induction, duplicate or dla; ablation effects "
                     "come from the attention tool: --from)", kind);
    }
    if (s == ARK_OK) {
        pl_add_matrix(out, "matrix", scores, L, H);
        cJSON *rl = cJSON_AddArrayToObject(out, "row_labels"), *cl = cJSON_AddArrayToObject(out, "col_labels");
        char buf[16];
        for (int l = 0; l < L; l++) snprintf(buf, sizeof buf, "%d", l), cJSON_AddItemToArray(rl, cJSON_CreateString(buf));
        for (int h = 0; h < H; h++) snprintf(buf, sizeof buf, "%d", h), cJSON_AddItemToArray(cl, cJSON_CreateString(buf));
        cJSON_AddStringToObject(out, "value_label", kind);
    }
    free(scores);
    return s;
}

/* ||A R|| / (||A|| ||R||) with Frobenius norms (Elhage et al. 2021). */
static ark_status comp_score(const ark_factored *A, const ark_factored *R, float *out)
{
    ark_factored *AR;
    ARK_TRY(ark_factored_mul(A, R, &AR));
    double den = ark_factored_frobenius(A) * ark_factored_frobenius(R);
    *out = den > 0 ? (float)(ark_factored_frobenius(AR) / den) : 0;
    ark_factored_free(AR);
    return ARK_OK;
}

ark_status pl_collect_composition(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out)
{
    (void)in;
    const ark_config *c = ark_model_config(env->model);
    int L = c->n_layers, H = c->n_heads, N = L * H;
    const char *mode;
    ARK_TRY(tool_get_str(spec, "mode", "q", &mode));
    if (strcmp(mode, "q") && strcmp(mode, "k") && strcmp(mode, "v"))
        return ark_fail(ARK_ERR_ARG, "\"mode\": \"%s\" (expected q, k or v)", mode);
    ark_factored **ov = calloc(N, sizeof *ov), **rd = calloc(N, sizeof *rd);
    ark_status s = ARK_OK;
    for (int i = 0; i < N && s == ARK_OK; i++) {
        s = ark_ov_circuit(env->model, i / H, i % H, &ov[i]);
        if (s != ARK_OK) break;
        if (*mode == 'v') continue;
        ark_factored *qk;
        s = ark_qk_circuit(env->model, i / H, i % H, &qk);
        if (s == ARK_OK && *mode == 'k') {
            s = ark_factored_transpose(qk, &rd[i]);
            ark_factored_free(qk);
        } else if (s == ARK_OK) {
            rd[i] = qk;
        }
    }
    float *m = malloc(sizeof *m * N * N);
    for (int a = 0; a < N && s == ARK_OK; a++)
        for (int b = 0; b < N && s == ARK_OK; b++) {
            m[a * N + b] = NAN; /* the reader must sit in a later layer */
            if (b / H > a / H) s = comp_score(ov[a], *mode == 'v' ? ov[b] : rd[b], &m[a * N + b]);
        }
    if (s == ARK_OK) {
        pl_add_matrix(out, "matrix", m, N, N);
        cJSON_AddItemToObject(out, "row_labels", pl_head_labels(L, H));
        cJSON_AddItemToObject(out, "col_labels", pl_head_labels(L, H));
        char buf[96];
        snprintf(buf, sizeof buf, "%c-composition scores (raw weights)", mode[0] - 32);
        cJSON_AddStringToObject(out, "title", buf);
    }
    for (int i = 0; i < N; i++) ark_factored_free(ov[i]), ark_factored_free(rd[i]);
    free(ov);
    free(rd);
    free(m);
    return s;
}

static const struct {
    const char *type;
    pl_collect_fn fn;
    bool needs_input;
} collectors[] = {
    {"attention", pl_collect_attention, true},
    {"attention_grid", pl_collect_attention_grid, true},
    {"qk_dot_product", pl_collect_qk, true},
    {"head_scores", pl_collect_head_scores, true},
    {"composition", pl_collect_composition, false},
    {"patching", pl_collect_patching, true},
    {"causal_trace", pl_collect_causal_trace, true},
    {"logit_lens", pl_collect_logit_lens, true},
    {"attribution", pl_collect_attribution, true},
    {"residual_stream", pl_collect_residual, true},
    {"layer_norms", pl_collect_layer_norms, true},
    {"neuron_activation", pl_collect_neuron_activation, true},
    {"neuron_trajectories", pl_collect_neuron_trajectories, true},
    {"feature_density", pl_collect_feature_density, true},
};

ark_status ark_plot_collect(const ark_tool_env *env, const char *spec_json, char **data_json)
{
    *data_json = NULL;
    if (!env || !env->model) return ark_fail(ARK_ERR_ARG, "collect: no model");
    cJSON *spec = spec_json ? cJSON_Parse(spec_json) : NULL;
    if (!cJSON_IsObject(spec)) {
        cJSON_Delete(spec);
        return ark_fail(ARK_ERR_FORMAT, "spec: not a JSON object");
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(spec, "type");
    ark_status s = ark_fail(ARK_ERR_ARG, "spec \"type\": unknown plot type \"%s\"", cJSON_IsString(t) ? t->valuestring : "");
    for (size_t i = 0; cJSON_IsString(t) && i < sizeof collectors / sizeof collectors[0]; i++) {
        if (strcmp(collectors[i].type, t->valuestring)) continue;
        pl_input in = {0};
        bool has_in = cJSON_GetObjectItemCaseSensitive(spec, "text") || cJSON_GetObjectItemCaseSensitive(spec, "tokens");
        s = ARK_OK;
        if (collectors[i].needs_input || has_in) s = pl_input_of(env, spec, &in);
        cJSON *out = cJSON_CreateObject();
        if (s == ARK_OK) s = collectors[i].fn(env, spec, &in, out);
        if (s == ARK_OK) *data_json = cJSON_PrintUnformatted(out);
        cJSON_Delete(out);
        pl_input_free(&in);
        break;
    }
    cJSON_Delete(spec);
    return s;
}
