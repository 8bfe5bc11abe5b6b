/* The superposition tool's SAE operations: sae_train, sae_eval,
 * sae_features (see sae_tool.c for the entry point). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_feature_viz.h"
#include "arrakis/tool_superposition.h"
#include "core/error.h"
#include "tools/sae_tool.h"
#include "tools/sparsity_json.h"
#include "tools/tool_util.h"

/* ---- options ---- */

static ark_status train_opts_json(const cJSON *p, ark_sae_train_opts *o, int *buffer_rows)
{
    *o = (ark_sae_train_opts)ARK_SAE_TRAIN_OPTS_INIT;
    double lr, b1, b2, eps, l1, decay, dense, dw;
    int seed;
    ARK_TRY(tool_get_int(p, "steps", o->steps, &o->steps));
    ARK_TRY(tool_get_int(p, "batch", o->batch, &o->batch));
    ARK_TRY(tool_get_num(p, "lr", o->lr, &lr));
    ARK_TRY(tool_get_num(p, "beta1", o->beta1, &b1));
    ARK_TRY(tool_get_num(p, "beta2", o->beta2, &b2));
    ARK_TRY(tool_get_num(p, "eps", o->eps, &eps));
    ARK_TRY(tool_get_num(p, "l1", o->l1, &l1));
    ARK_TRY(tool_get_num(p, "lr_decay", o->lr_decay, &decay));
    ARK_TRY(tool_get_num(p, "dense_threshold", o->dense_threshold, &dense));
    ARK_TRY(tool_get_num(p, "dead_window", 0, &dw));
    ARK_TRY(tool_get_bool(p, "normalize", true, &o->normalize));
    ARK_TRY(tool_get_int(p, "log_every", -1, &o->log_every));
    ARK_TRY(tool_get_int(p, "seed", 0, &seed));
    ARK_TRY(tool_get_int(p, "buffer_rows", 0, buffer_rows));
    o->lr = (float)lr;
    o->beta1 = (float)b1;
    o->beta2 = (float)b2;
    o->eps = (float)eps;
    o->l1 = (float)l1;
    o->lr_decay = (float)decay;
    o->dense_threshold = (float)dense;
    o->dead_window = (int64_t)dw;
    o->seed = (uint64_t)(uint32_t)seed;
    return ARK_OK;
}

/* TopK when "k" is given (or "architecture": "topk"), ReLU + L1 when "l1"
 * is given (or "standard"); neither: TopK with k = min(32, d_sae). */
static ark_status arch_json(const cJSON *p, int d_sae, ark_sae_arch *arch, int *k)
{
    const char *a;
    ARK_TRY(tool_get_str(p, "architecture", NULL, &a));
    bool has_k = cJSON_GetObjectItemCaseSensitive(p, "k") != NULL, has_l1 = cJSON_GetObjectItemCaseSensitive(p, "l1") != NULL;
    ARK_TRY(tool_get_int(p, "k", d_sae < 32 ? d_sae : 32, k));
    if (has_k && has_l1) return ark_fail(ARK_ERR_ARG, "give \"k\" (TopK) or \"l1\" (ReLU + L1), not both");
    if (a && strcmp(a, "topk") && strcmp(a, "standard"))
        return ark_fail(ARK_ERR_ARG, "\"architecture\": \"%s\", expected \"topk\" or \"standard\"", a);
    if ((a && !strcmp(a, "standard") && has_k) || (a && !strcmp(a, "topk") && has_l1))
        return ark_fail(ARK_ERR_ARG, "\"architecture\": \"%s\" contradicts the %s given", a, has_k ? "k" : "l1");
    *arch = has_l1 || (a && !strcmp(a, "standard")) ? ARK_SAE_STANDARD : ARK_SAE_TOPK;
    if (*arch == ARK_SAE_TOPK && (*k < 1 || *k > d_sae)) return ark_fail(ARK_ERR_ARG, "\"k\": %d, expected 1..d_sae (%d)", *k, d_sae);
    return ARK_OK;
}

/* ---- JSON pieces ---- */

static cJSON *report_json(const ark_sae_train_report *r, const ark_sae_train_opts *o, int epochs)
{
    cJSON *t = cJSON_CreateObject();
    cJSON_AddNumberToObject(t, "steps", r->steps);
    cJSON_AddNumberToObject(t, "batch", o->batch);
    cJSON_AddNumberToObject(t, "tokens", (double)r->tokens);
    cJSON_AddNumberToObject(t, "epochs_completed", epochs);
    cJSON_AddNumberToObject(t, "seconds", r->seconds);
    cJSON_AddItemToObject(t, "tokens_per_second", sp_num(r->seconds > 0 ? r->tokens / r->seconds : NAN));
    cJSON_AddNumberToObject(t, "lr", o->lr);
    cJSON_AddNumberToObject(t, "lr_decay", o->lr_decay);
    cJSON_AddNumberToObject(t, "seed", (double)o->seed);
    cJSON_AddBoolToObject(t, "normalize", o->normalize);
    cJSON_AddNumberToObject(t, "scale", r->scale);
    cJSON_AddItemToObject(t, "last_batch_mse", sp_num(r->mse));
    cJSON_AddItemToObject(t, "last_batch_fve", sp_num(r->fve));
    cJSON_AddItemToObject(t, "last_batch_l0", sp_num(r->l0));
    cJSON_AddNumberToObject(t, "n_dead", r->n_dead);
    cJSON_AddItemToObject(t, "dead", cJSON_CreateIntArray(r->dead, r->n_dead));
    cJSON *log = cJSON_AddArrayToObject(t, "log");
    for (int i = 0; i < r->n_log; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "step", r->log[i].step);
        cJSON_AddItemToObject(e, "mse", sp_num(r->log[i].mse));
        cJSON_AddItemToObject(e, "fve", sp_num(r->log[i].fve));
        cJSON_AddItemToObject(e, "l0", sp_num(r->log[i].l0));
        cJSON_AddItemToObject(e, "loss", sp_num(r->log[i].loss));
        cJSON_AddItemToArray(log, e);
    }
    return t;
}

static cJSON *sae_desc_json(const ark_sae *s, float l1)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "architecture", s->arch == ARK_SAE_TOPK ? "topk" : "standard");
    cJSON_AddNumberToObject(o, "d_in", s->d_in);
    cJSON_AddNumberToObject(o, "d_sae", s->d_sae);
    if (s->arch == ARK_SAE_TOPK) cJSON_AddNumberToObject(o, "k", s->k);
    else cJSON_AddNumberToObject(o, "l1", l1);
    cJSON_AddStringToObject(o, "hook_name", s->hook_name);
    cJSON_AddNumberToObject(o, "hook_layer", s->hook_layer);
    return o;
}

static ark_status recovery_json(const cJSON *p, const ark_sae *s, cJSON *o)
{
    const char *path, *key;
    ARK_TRY(tool_get_str(p, "true_features", NULL, &path));
    ARK_TRY(tool_get_str(p, "true_key", NULL, &key));
    if (!path) return ARK_OK;
    sup_matrix m;
    ARK_TRY(sup_matrix_open(path, key, &m));
    ark_status st = m.d == s->d_in ? ARK_OK
                  : ark_fail(ARK_ERR_SHAPE, "\"true_features\": %s has %d dims, the SAE's d_in is %d", m.key, m.d, s->d_in);
    int n = (int)m.n, *best = malloc(sizeof(int) * n);
    float *cos = malloc(sizeof(float) * n);
    if (st == ARK_OK && (!best || !cos)) st = ark_fail(ARK_ERR_NOMEM, "recovery: out of memory");
    if (st == ARK_OK) st = ark_sae_match(s, m.x, n, cos, best);
    if (st == ARK_OK) {
        cJSON *r = cJSON_AddObjectToObject(o, "recovery");
        int rec = 0;
        double mean = 0;
        for (int i = 0; i < n; i++) { rec += cos[i] > 0.9f; mean += cos[i]; }
        cJSON_AddNumberToObject(r, "n_true", n);
        cJSON_AddNumberToObject(r, "threshold", 0.9);
        cJSON_AddNumberToObject(r, "n_recovered", rec);
        cJSON_AddNumberToObject(r, "fraction_recovered", (double)rec / n);
        cJSON_AddNumberToObject(r, "mean_best_cos", mean / n);
        cJSON_AddItemToObject(r, "best_cos", sp_floats(cos, n));
        cJSON_AddItemToObject(r, "best_feature", cJSON_CreateIntArray(best, n));
    }
    free(best);
    free(cos);
    sup_matrix_close(&m);
    return st;
}

static cJSON *definitions_json(void)
{
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "mse", "mean over tokens of sum_d (x_hat - x)^2");
    cJSON_AddStringToObject(d, "variance", "mean over tokens of sum_d (x - mean(x))^2");
    cJSON_AddStringToObject(d, "fve", "1 - mse / variance (fraction of variance explained)");
    cJSON_AddStringToObject(d, "l0", "mean number of features > 0 per token");
    cJSON_AddStringToObject(d, "dead", "metrics: features that are 0 on every evaluated token; training: no activation in "
                            "the last dead_window training tokens");
    cJSON_AddStringToObject(d, "dense", "features with density (fraction of tokens > 0) above dense_threshold");
    cJSON_AddStringToObject(d, "ce_recovered", "(ce_ablated - ce_sae) / (ce_ablated - ce_clean); ablated = the hook point "
                            "zeroed, sae = the hook point replaced by the reconstruction (no error term)");
    cJSON_AddStringToObject(d, "recovery", "for each true direction, the largest cosine with a decoder row (W_dec[i]); "
                            "recovered when > 0.9");
    return d;
}

/* ---- sae_train ---- */

typedef struct train_in {
    sup_matrix mat;
    ark_dataset *ds;
    ark_act_source *src;
    const char *hook;
    int d_in;
} train_in;

static ark_status train_input(const ark_tool_env *env, const cJSON *p, const ark_stream_opts *so, uint64_t seed,
                              int buffer_rows, train_in *in)
{
    const char *acts, *key;
    ARK_TRY(tool_get_str(p, "activations", NULL, &acts));
    ARK_TRY(tool_get_str(p, "key", NULL, &key));
    ARK_TRY(tool_get_str(p, "hook", NULL, &in->hook));
    if (acts) {
        ARK_TRY(sup_matrix_open(acts, key, &in->mat));
        in->d_in = in->mat.d;
        return ark_act_source_matrix(in->mat.x, in->mat.n, in->mat.d, seed, &in->src);
    }
    ARK_TRY(sp_need_model(env, "superposition", "sae_train without \"activations\""));
    if (!in->hook) return ark_fail(ARK_ERR_ARG, "\"hook\": give the hook point to train on (or \"activations\")");
    ARK_TRY(ark_hook_width(env->model, in->hook, &in->d_in));
    ARK_TRY(sp_dataset_json(env, p, &in->ds));
    return ark_act_source_model(env->model, in->ds, in->hook, so, buffer_rows, seed, &in->src);
}

static void train_input_free(train_in *in)
{
    ark_act_source_free(in->src);
    ark_dataset_free(in->ds);
    if (in->mat.file) sup_matrix_close(&in->mat);
}

static ark_status evaluate(const ark_tool_env *env, const cJSON *p, const ark_sae *s, const train_in *in,
                           const ark_stream_opts *so, float dense, ark_sae_metrics *mt)
{
    bool ce;
    ARK_TRY(tool_get_bool(p, "ce", true, &ce));
    if (in->mat.file) return ark_sae_eval_matrix(s, in->mat.x, in->mat.n, dense, mt);
    return ark_sae_eval_model(s, env->model, in->ds, so, dense, ce, mt);
}

ark_status sup_op_sae_train(const ark_tool_env *env, const cJSON *p, char **result)
{
    ark_sae_train_opts o;
    ark_stream_opts so;
    int buffer_rows, d_sae, k;
    bool eval;
    const char *out, *model_name;
    ARK_TRY(train_opts_json(p, &o, &buffer_rows));
    ARK_TRY(sp_stream_json(p, "batch_prompts", &so));
    ARK_TRY(tool_get_int(p, "d_sae", 0, &d_sae));
    ARK_TRY(tool_get_bool(p, "eval", true, &eval));
    ARK_TRY(tool_get_str(p, "out", NULL, &out));
    ARK_TRY(tool_get_str(p, "model_name", NULL, &model_name));
    if (d_sae < 1) return ark_fail(ARK_ERR_ARG, "\"d_sae\": give the number of SAE features (>= 1)");
    ark_sae_arch arch;
    ARK_TRY(arch_json(p, d_sae, &arch, &k));
    train_in in = {0};
    ark_sae s = {0};
    ark_sae_train_report rep = {0};
    ark_sae_metrics mt = {0};
    ark_status st = train_input(env, p, &so, o.seed, buffer_rows, &in);
    if (st == ARK_OK) st = ark_sae_init(&s, arch, in.d_in, d_sae, k, o.seed);
    if (st == ARK_OK) {
        snprintf(s.hook_name, sizeof s.hook_name, "%s", in.hook ? in.hook : "");
        if (sscanf(s.hook_name, "blocks.%d.", &s.hook_layer) != 1) s.hook_layer = -1;
        const char *mn = model_name ? model_name : env && env->model && ark_model_dir(env->model) ? ark_model_dir(env->model) : "";
        snprintf(s.model_name, sizeof s.model_name, "%s", mn);
        st = ark_sae_train(&s, in.src, &o, &rep);
    }
    if (st == ARK_OK && out) st = ark_sae_save(&s, out);
    if (st == ARK_OK && eval) st = evaluate(env, p, &s, &in, &so, o.dense_threshold, &mt);
    cJSON *res = NULL;
    if (st == ARK_OK) {
        res = sae_desc_json(&s, o.l1);
        if (in.mat.file) cJSON_AddStringToObject(res, "activations_key", in.mat.key);
        if (out) {
            cJSON_AddStringToObject(res, "out", out);
            char *w = malloc(strlen(out) + 32);
            sprintf(w, "%s/sae_weights.safetensors", out);
            cJSON_AddStringToObject(res, "weights", w);
            free(w);
        }
        cJSON_AddItemToObject(res, "training", report_json(&rep, &o, ark_act_source_epochs(in.src)));
        if (eval) cJSON_AddItemToObject(res, "metrics", sup_metrics_json(&mt, true));
        st = recovery_json(p, &s, res);
        cJSON_AddItemToObject(res, "definitions", definitions_json());
    }
    if (st == ARK_OK) st = tool_result(res, result);
    else cJSON_Delete(res);
    ark_sae_metrics_free(&mt);
    ark_sae_train_report_free(&rep);
    ark_sae_free(&s);
    train_input_free(&in);
    return st;
}

/* ---- sae_eval ---- */

ark_status sup_op_sae_eval(const ark_tool_env *env, const cJSON *p, char **result)
{
    const char *dir, *acts, *key;
    double dense;
    bool ce;
    ark_stream_opts so;
    ARK_TRY(tool_get_str(p, "sae", NULL, &dir));
    ARK_TRY(tool_get_str(p, "activations", NULL, &acts));
    ARK_TRY(tool_get_str(p, "key", NULL, &key));
    ARK_TRY(tool_get_num(p, "dense_threshold", 0.1, &dense));
    ARK_TRY(tool_get_bool(p, "ce", true, &ce));
    ARK_TRY(sp_stream_json(p, "batch_prompts", &so));
    if (!dir) return ark_fail(ARK_ERR_ARG, "\"sae\": give the SAE folder (cfg.json + sae_weights.safetensors)");
    ark_sae s;
    ARK_TRY(ark_sae_load(dir, &s));
    ark_sae_metrics mt = {0};
    ark_status st;
    if (acts) {
        sup_matrix m;
        st = sup_matrix_open(acts, key, &m);
        if (st == ARK_OK && m.d != s.d_in) st = ark_fail(ARK_ERR_SHAPE, "%s: %s has %d dims, the SAE's d_in is %d", acts, m.key, m.d, s.d_in);
        if (st == ARK_OK) st = ark_sae_eval_matrix(&s, m.x, m.n, (float)dense, &mt);
        if (m.file) sup_matrix_close(&m);
    } else {
        ark_dataset *d = NULL;
        st = sp_need_model(env, "superposition", "sae_eval without \"activations\"");
        if (st == ARK_OK) st = sp_dataset_json(env, p, &d);
        if (st == ARK_OK) st = ark_sae_eval_model(&s, env->model, d, &so, (float)dense, ce, &mt);
        ark_dataset_free(d);
    }
    if (st == ARK_OK) {
        cJSON *o = sae_desc_json(&s, NAN);
        cJSON_AddStringToObject(o, "sae", dir);
        cJSON_AddItemToObject(o, "metrics", sup_metrics_json(&mt, true));
        cJSON_AddItemToObject(o, "definitions", definitions_json());
        st = tool_result(o, result);
    }
    ark_sae_metrics_free(&mt);
    ark_sae_free(&s);
    return st;
}

/* ---- sae_features ---- */

static cJSON *viz_json(const ark_tool_env *env, const ark_viz_result *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n_tokens", (double)r->n_tokens);
    cJSON_AddItemToObject(o, "density", sp_num(r->density));
    cJSON_AddItemToObject(o, "mean", sp_num(r->mean));
    cJSON_AddItemToObject(o, "max_act", sp_num(r->max_act));
    cJSON *ex = cJSON_AddArrayToObject(o, "examples");
    for (int i = 0; i < r->n; i++) {
        const ark_viz_example *e = &r->ex[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddItemToObject(x, "act", sp_num(e->act));
        cJSON_AddNumberToObject(x, "prompt", e->prompt);
        cJSON_AddNumberToObject(x, "pos", e->pos);
        cJSON_AddNumberToObject(x, "start", e->start);
        cJSON_AddItemToObject(x, "tokens", cJSON_CreateIntArray(e->tokens, e->n));
        cJSON_AddItemToObject(x, "str_tokens", tool_str_tokens(env, e->tokens, e->n));
        cJSON_AddItemToObject(x, "acts", sp_floats(e->acts, e->n));
        cJSON_AddItemToArray(ex, x);
    }
    return o;
}

cJSON *sup_viz_json(const ark_tool_env *env, const ark_viz_result *r) { return viz_json(env, r); }

typedef struct feat_ctx {
    const ark_sae *s;
    ark_sparsity_acc *acc;
    float *f;
    int cap;
} feat_ctx;

static ark_status feat_consume(const ark_act_rows *r, void *ctx)
{
    feat_ctx *c = ctx;
    if (r->n > c->cap) {
        free(c->f);
        c->f = malloc(sizeof(float) * (size_t)r->n * c->s->d_sae);
        c->cap = c->f ? r->n : 0;
        if (!c->f) return ark_fail(ARK_ERR_NOMEM, "sae_features: out of memory");
    }
    ARK_TRY(ark_sae_encode(c->s, r->act, r->n, c->f));
    ark_act_rows fr = *r;
    fr.act = c->f;
    fr.width = c->s->d_sae;
    return ark_sparsity_acc_add(c->acc, &fr);
}

/* Every feature's density, and the `top` densest with their best tokens. */
static ark_status features_summary(const ark_tool_env *env, const ark_sae *s, const ark_dataset *d, const ark_stream_opts *so,
                                   int top, cJSON *o)
{
    ark_sparsity_opts so2 = ARK_SPARSITY_OPTS_INIT;
    so2.top_k = 5;
    feat_ctx c = {.s = s};
    ARK_TRY(ark_sparsity_acc_new(s->d_sae, &so2, &c.acc));
    ark_status st = ark_stream_acts(env->model, d, s->hook_name, so, feat_consume, &c);
    ark_sparsity r = {0};
    if (st == ARK_OK) st = ark_sparsity_acc_result(c.acc, &r);
    if (st == ARK_OK) {
        cJSON_AddNumberToObject(o, "n_tokens", (double)r.n_tokens);
        cJSON_AddNumberToObject(o, "l0", r.l0_mean);
        cJSON_AddNumberToObject(o, "n_dead", r.n_dead);
        cJSON_AddItemToObject(o, "dead", cJSON_CreateIntArray(r.dead, r.n_dead));
        cJSON_AddItemToObject(o, "density", sp_doubles(r.density, r.width));
        cJSON_AddItemToObject(o, "max_act", sp_floats(r.max_act, r.width));
        int *order = malloc(sizeof(int) * r.width);
        for (int i = 0; i < r.width; i++) order[i] = i;
        for (int i = 0; i < top && i < r.width; i++) /* partial selection by density */
            for (int j = i + 1; j < r.width; j++)
                if (r.density[order[j]] > r.density[order[i]]) { int t = order[i]; order[i] = order[j]; order[j] = t; }
        cJSON *fs = cJSON_AddArrayToObject(o, "densest");
        for (int i = 0; i < top && i < r.width; i++) {
            int f = order[i];
            cJSON *x = cJSON_CreateObject();
            cJSON_AddNumberToObject(x, "feature", f);
            cJSON_AddNumberToObject(x, "density", r.density[f]);
            cJSON_AddItemToObject(x, "max_act", sp_num(r.max_act[f]));
            cJSON *ex = cJSON_AddArrayToObject(x, "top_examples");
            for (int e = 0; e < r.n_top[f]; e++) cJSON_AddItemToArray(ex, sp_example_json(env, &r.top[(size_t)f * r.top_k + e]));
            cJSON_AddItemToArray(fs, x);
        }
        free(order);
    }
    ark_sparsity_free(&r);
    ark_sparsity_acc_free(c.acc);
    free(c.f);
    return st;
}

ark_status sup_op_sae_features(const ark_tool_env *env, const cJSON *p, char **result)
{
    const char *dir;
    int feature, k, before, after, top;
    ark_stream_opts so;
    ARK_TRY(sp_need_model(env, "superposition", "sae_features"));
    ARK_TRY(tool_get_str(p, "sae", NULL, &dir));
    ARK_TRY(tool_get_int(p, "feature", -1, &feature));
    ARK_TRY(tool_get_int(p, "k", 10, &k));
    ARK_TRY(tool_get_int(p, "before", 8, &before));
    ARK_TRY(tool_get_int(p, "after", 2, &after));
    ARK_TRY(tool_get_int(p, "top", 20, &top));
    ARK_TRY(sp_stream_json(p, "batch_prompts", &so));
    if (!dir) return ark_fail(ARK_ERR_ARG, "\"sae\": give the SAE folder (cfg.json + sae_weights.safetensors)");
    if (top < 0) return ark_fail(ARK_ERR_ARG, "\"top\": %d, expected >= 0", top);
    ark_sae s;
    ARK_TRY(ark_sae_load(dir, &s));
    ark_dataset *d = NULL;
    ark_status st = sp_dataset_json(env, p, &d);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "sae", dir);
    cJSON_AddStringToObject(o, "hook_name", s.hook_name);
    if (st == ARK_OK && feature >= 0) {
        ark_viz_unit u = {.kind = ARK_VIZ_SAE_FEATURE, .index = feature, .sae = &s};
        ark_viz_result r;
        st = ark_viz_top_examples(env->model, d, &u, &so, k, before, after, &r);
        if (st == ARK_OK) {
            cJSON_AddNumberToObject(o, "feature", feature);
            cJSON_AddItemToObject(o, "result", viz_json(env, &r));
        }
        ark_viz_result_free(&r);
    } else if (st == ARK_OK) {
        st = features_summary(env, &s, d, &so, top, o);
    }
    if (st == ARK_OK) st = tool_result(o, result);
    else cJSON_Delete(o);
    ark_dataset_free(d);
    ark_sae_free(&s);
    return st;
}
