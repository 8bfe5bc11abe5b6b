/* The `patching` tool's generic entry point: JSON parameters -> an
 * activation patching sweep (include/arrakis/tool_patching.h) -> JSON. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arrakis/tool_patching.h"
#include "core/error.h"
#include "tools/builtin.h"
#include "tools/tool_util.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- progress bar (stderr, only on a terminal, only once a sweep takes a while) ---- */

typedef struct bar_ctx {
    double t0;
    bool drawn;
} bar_ctx;

static void draw_bar(int done, int total, void *ctx)
{
    bar_ctx *b = ctx;
    double dt = now_s() - b->t0;
    if (!b->drawn && (dt < 0.5 || done == total)) return;
    int w = 30, fill = total ? (int)((long)w * done / total) : w;
    char bar[32];
    for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
    bar[w] = 0;
    double eta = done ? dt * (total - done) / done : 0;
    fprintf(stderr, "\rpatching [%s] %d/%d cells, %.1fs, ~%.1fs left ", bar, done, total, dt, eta);
    if (done == total) fputc('\n', stderr);
    fflush(stderr);
    b->drawn = true;
}

/* ---- parameters ---- */

static ark_status encode_prompt(const ark_tool_env *env, const cJSON *p, const char *field, int32_t **ids, int *n)
{
    char tok_field[64];
    snprintf(tok_field, sizeof tok_field, "%s_tokens", field);
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(p, field), *toks = cJSON_GetObjectItemCaseSensitive(p, tok_field);
    if (!text && !toks) return ark_fail(ARK_ERR_ARG, "\"%s\" (a text) or \"%s\" (ids) is required", field, tok_field);
    if (text && !cJSON_IsString(text)) return ark_fail(ARK_ERR_ARG, "\"%s\": expected a string", field);
    if (toks && (!cJSON_IsArray(toks) || cJSON_IsArray(toks->child)))
        return ark_fail(ARK_ERR_ARG, "\"%s\": expected a list of token ids", tok_field);
    cJSON *q = cJSON_CreateObject();
    cJSON_AddItemReferenceToObject(q, text ? "text" : "tokens", (cJSON *)(text ? text : toks));
    tool_batch b;
    ark_status st = tool_batch_from_json(env, q, &b);
    cJSON_Delete(q);
    if (st != ARK_OK) return ark_fail_prefix(st, "\"%s\"", text ? field : tok_field);
    *n = b.len[0];
    *ids = malloc(sizeof **ids * b.T);
    memcpy(*ids, b.tokens, sizeof **ids * b.T);
    tool_batch_free(&b);
    return ARK_OK;
}

static ark_status metric_token(const ark_tool_env *env, const char *s, size_t len, int32_t *id)
{
    char *piece = strndup(s, len);
    cJSON *v = cJSON_CreateString(piece);
    ark_status st = tool_token(env, v, "metric", id);
    cJSON_Delete(v);
    free(piece);
    return st;
}

/* "logit-diff:A,B" | "prob:A" | "logit:A" | "loss", or
 * {"kind": ..., "token": A, "other": B, "pos": P}. */
static ark_status parse_metric(const ark_tool_env *env, const cJSON *p, ark_patch_metric *mt)
{
    ark_patch_metric d = ARK_PATCH_METRIC_INIT;
    *mt = d;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, "metric");
    if (!v) return ark_fail(ARK_ERR_ARG, "\"metric\" is required (logit-diff:TOKEN,TOKEN, prob:TOKEN, logit:TOKEN or loss)");
    const char *spec = cJSON_IsString(v) ? v->valuestring : NULL;
    const cJSON *kind = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "kind") : NULL;
    if (!spec && cJSON_IsString(kind)) spec = kind->valuestring;
    if (!spec) return ark_fail(ARK_ERR_ARG, "\"metric\": expected a string such as \"logit-diff:12,7\" or an object with \"kind\"");
    const char *colon = strchr(spec, ':');
    size_t klen = colon ? (size_t)(colon - spec) : strlen(spec);
    char k[16] = {0};
    for (size_t i = 0; i < klen && i < sizeof k - 1; i++) k[i] = spec[i] == '-' ? '_' : spec[i];
    if (!strcmp(k, "logit_diff") || !strcmp(k, "logitdiff")) mt->kind = ARK_METRIC_LOGIT_DIFF;
    else if (!strcmp(k, "logit")) mt->kind = ARK_METRIC_LOGIT;
    else if (!strcmp(k, "prob") || !strcmp(k, "probability")) mt->kind = ARK_METRIC_PROB;
    else if (!strcmp(k, "loss")) mt->kind = ARK_METRIC_LOSS;
    else return ark_fail(ARK_ERR_ARG, "\"metric\": unknown kind \"%.*s\" (logit-diff, logit, prob, loss)", (int)klen, spec);
    int need = mt->kind == ARK_METRIC_LOGIT_DIFF ? 2 : mt->kind == ARK_METRIC_LOSS ? 0 : 1;
    if (kind) { /* object form */
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(v, "token"), *b = cJSON_GetObjectItemCaseSensitive(v, "other");
        if (need >= 1 && (!a || tool_token(env, a, "metric.token", &mt->token) != ARK_OK))
            return a ? ARK_ERR_ARG : ark_fail(ARK_ERR_ARG, "\"metric.token\" is required for %s", k);
        if (need == 2 && (!b || tool_token(env, b, "metric.other", &mt->other) != ARK_OK))
            return b ? ARK_ERR_ARG : ark_fail(ARK_ERR_ARG, "\"metric.other\" is required for logit_diff");
        return tool_get_int(v, "pos", -1, &mt->pos);
    }
    const char *args = colon ? colon + 1 : NULL;
    if (need == 0) {
        if (args && *args) return ark_fail(ARK_ERR_ARG, "\"metric\": loss takes no tokens (got \"%s\")", args);
        return ARK_OK;
    }
    if (!args || !*args) return ark_fail(ARK_ERR_ARG, "\"metric\": %s needs %s (e.g. \"%s:12%s\")", k, need == 2 ? "two tokens" : "a token",
                                         need == 2 ? "logit-diff" : k, need == 2 ? ",7" : "");
    const char *comma = need == 2 ? strchr(args, ',') : NULL;
    if (need == 2 && !comma) return ark_fail(ARK_ERR_ARG, "\"metric\": logit-diff needs two tokens separated by a comma (got \"%s\")", args);
    ARK_TRY(metric_token(env, args, comma ? (size_t)(comma - args) : strlen(args), &mt->token));
    if (need == 2) ARK_TRY(metric_token(env, comma + 1, strlen(comma + 1), &mt->other));
    return tool_get_int(p, "pos", -1, &mt->pos);
}

typedef struct patch_params {
    int32_t *clean, *corrupted;
    int T;
    ark_patch_metric metric;
    ark_patch_opts opts;
    bool progress;
} patch_params;

static ark_status parse_params(const ark_tool_env *env, const cJSON *p, patch_params *pp)
{
    int n_clean = 0, n_corr = 0;
    ARK_TRY(encode_prompt(env, p, "clean", &pp->clean, &n_clean));
    ARK_TRY(encode_prompt(env, p, "corrupted", &pp->corrupted, &n_corr));
    if (n_clean != n_corr)
        return ark_fail(ARK_ERR_ARG, "the clean prompt has %d tokens and the corrupted prompt %d: they must have the same number of tokens",
                        n_clean, n_corr);
    pp->T = n_clean;
    ARK_TRY(parse_metric(env, p, &pp->metric));
    const char *what;
    ARK_TRY(tool_get_str(p, "what", "resid_pre", &what));
    ark_patch_point pt;
    ARK_TRY(ark_patch_point_parse(what, &pt));
    pp->opts = ark_patch_opts_default(pt);
    ARK_TRY(tool_get_bool(p, "by_pos", pp->opts.by_pos, &pp->opts.by_pos));
    ARK_TRY(tool_get_bool(p, "noising", false, &pp->opts.noising));
    ARK_TRY(tool_get_int(p, "max_rows", 0, &pp->opts.max_rows));
    if (pp->opts.max_rows < 0) return ark_fail(ARK_ERR_ARG, "\"max_rows\": expected 0 (automatic) or a positive count");
    return tool_get_bool(p, "progress", true, &pp->progress);
}

/* ---- result ---- */

static cJSON *number_or_null(double x) { return isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull(); }

/* (L, H, P) values as nested lists, dropping a unit head or position axis. */
static cJSON *grid(const double *v, const ark_patch_result *r, bool heads)
{
    cJSON *a = cJSON_CreateArray();
    for (int l = 0; l < r->n_layers; l++) {
        cJSON *row = cJSON_CreateArray();
        for (int h = 0; h < r->n_heads; h++) {
            const double *x = v + ((size_t)l * r->n_heads + h) * r->n_pos;
            cJSON *dst = row;
            if (heads && r->by_pos) { dst = cJSON_CreateArray(); cJSON_AddItemToArray(row, dst); }
            for (int p = 0; p < r->n_pos; p++) cJSON_AddItemToArray(dst, number_or_null(x[p]));
        }
        cJSON_AddItemToArray(a, row);
    }
    return a;
}

static cJSON *metric_json(const ark_tool_env *env, const ark_patch_metric *mt, int T)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", ark_metric_name(mt->kind));
    if (mt->kind == ARK_METRIC_LOSS) {
        cJSON_AddStringToObject(o, "targets", "clean tokens");
        return o;
    }
    char *s = tool_token_str(env, mt->token);
    cJSON_AddNumberToObject(o, "token", mt->token);
    cJSON_AddStringToObject(o, "token_str", s);
    free(s);
    if (mt->kind == ARK_METRIC_LOGIT_DIFF) {
        s = tool_token_str(env, mt->other);
        cJSON_AddNumberToObject(o, "other", mt->other);
        cJSON_AddStringToObject(o, "other_str", s);
        free(s);
    }
    cJSON_AddNumberToObject(o, "pos", mt->pos < 0 ? mt->pos + T : mt->pos);
    return o;
}

static cJSON *ids_json(const int32_t *ids, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
    return a;
}

static cJSON *result_json(const ark_tool_env *env, const patch_params *pp, const ark_patch_result *r, double secs)
{
    cJSON *o = cJSON_CreateObject();
    bool heads = ark_patch_point_per_head(r->point);
    char hook[64];
    ark_patch_point_hook(r->point, 0, hook, sizeof hook);
    cJSON_AddStringToObject(o, "what", ark_patch_point_name(r->point));
    cJSON_AddStringToObject(o, "hook", strchr(hook + 7, '.') + 1);
    cJSON_AddStringToObject(o, "direction", r->noising ? "noising" : "denoising");
    cJSON_AddItemToObject(o, "metric", metric_json(env, &pp->metric, pp->T));
    cJSON_AddItemToObject(o, "clean_metric", number_or_null(r->clean));
    cJSON_AddItemToObject(o, "corrupted_metric", number_or_null(r->corrupted));
    cJSON_AddNumberToObject(o, "n_layers", r->n_layers);
    if (heads) cJSON_AddNumberToObject(o, "n_heads", r->n_heads);
    cJSON_AddBoolToObject(o, "by_pos", r->by_pos);
    cJSON *shape = cJSON_CreateArray();
    cJSON_AddItemToArray(shape, cJSON_CreateNumber(r->n_layers));
    if (heads) cJSON_AddItemToArray(shape, cJSON_CreateNumber(r->n_heads));
    if (r->by_pos || !heads) cJSON_AddItemToArray(shape, cJSON_CreateNumber(r->n_pos));
    cJSON_AddItemToObject(o, "shape", shape);
    cJSON *axes = cJSON_CreateArray();
    cJSON_AddItemToArray(axes, cJSON_CreateString("layer"));
    if (heads) cJSON_AddItemToArray(axes, cJSON_CreateString(r->point == ARK_PATCH_HEAD_K || r->point == ARK_PATCH_HEAD_V ? "kv_head" : "head"));
    if (r->by_pos || !heads) cJSON_AddItemToArray(axes, cJSON_CreateString(r->by_pos ? "position" : "all_positions"));
    cJSON_AddItemToObject(o, "axes", axes);
    cJSON_AddItemToObject(o, "clean_ids", ids_json(pp->clean, pp->T));
    cJSON_AddItemToObject(o, "corrupted_ids", ids_json(pp->corrupted, pp->T));
    cJSON_AddItemToObject(o, "clean_tokens", tool_str_tokens(env, pp->clean, pp->T));
    cJSON_AddItemToObject(o, "corrupted_tokens", tool_str_tokens(env, pp->corrupted, pp->T));
    cJSON_AddItemToObject(o, "normalised", grid(r->normalised, r, heads));
    cJSON_AddItemToObject(o, "raw", grid(r->raw, r, heads));
    cJSON_AddNumberToObject(o, "cells", (double)r->n_layers * r->n_heads * r->n_pos);
    cJSON_AddNumberToObject(o, "runs", r->n_runs);
    cJSON_AddNumberToObject(o, "seconds", secs);
    return o;
}

/* ---- the tool ---- */

static ark_status patching_create(const ark_tool_env *env, void **state)
{
    ark_tool_env *copy = malloc(sizeof *copy);
    if (!copy) return ark_fail(ARK_ERR_NOMEM, "out of memory");
    *copy = *env;
    *state = copy;
    return ARK_OK;
}

static void patching_destroy(void *state) { free(state); }

static ark_status op_sweep(const ark_tool_env *env, const cJSON *p, char **result)
{
    patch_params pp = {0};
    ark_status st = parse_params(env, p, &pp);
    bar_ctx bar = {now_s(), false};
    if (st == ARK_OK && pp.progress && isatty(STDERR_FILENO)) {
        pp.opts.progress = draw_bar;
        pp.opts.progress_ctx = &bar;
    }
    ark_patch_result r = {0};
    if (st == ARK_OK) st = ark_patch_sweep(env->model, pp.clean, pp.corrupted, pp.T, &pp.metric, &pp.opts, &r);
    if (st == ARK_OK) st = tool_result(result_json(env, &pp, &r, now_s() - bar.t0), result);
    ark_patch_result_free(&r);
    free(pp.clean);
    free(pp.corrupted);
    return st;
}

static ark_status patching_run(void *state, const char *op, const char *params, char **result)
{
    const ark_tool_env *env = state;
    cJSON *p;
    *result = NULL;
    ARK_TRY(tool_parse_params("patching", params, &p));
    ark_status st;
    if (!op || !*op || !strcmp(op, "sweep")) st = op_sweep(env, p, result);
    else st = ark_fail(ARK_ERR_ARG, "patching: unknown operation \"%s\" (sweep)", op);
    cJSON_Delete(p);
    return st;
}

static const char *const patching_ops[] = {
    "sweep: clean|clean_tokens, corrupted|corrupted_tokens, metric (\"logit-diff:A,B\" | \"prob:A\" | \"logit:A\" | \"loss\"), "
    "what (resid_pre|resid_mid|resid_post|attn_out|mlp_out|heads|head_z|head_q|head_k|head_v|head_pattern), by_pos, noising, "
    "pos, max_rows, progress",
    NULL};

const ark_tool_def ark_tool_patching = {"patching", "activation patching sweeps (layer x position / head) with a normalised metric",
                                        patching_create, patching_run, patching_destroy, patching_ops};
