/* The attention tool's detect and ablation operations (JSON in and out);
 * definitions in include/arrakis/tool_attention.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tools/attention_json.h"

static const struct {
    const char *name;
    ark_head_kind kind;
} detector_names[] = {
    {"previous", ARK_HEAD_PREVIOUS},   {"previous_token", ARK_HEAD_PREVIOUS},   {"previous_token_head", ARK_HEAD_PREVIOUS},
    {"duplicate", ARK_HEAD_DUPLICATE}, {"duplicate_token", ARK_HEAD_DUPLICATE}, {"duplicate_token_head", ARK_HEAD_DUPLICATE},
    {"induction", ARK_HEAD_INDUCTION}, {"induction_head", ARK_HEAD_INDUCTION},  {"custom", ARK_HEAD_CUSTOM},
};
static const char *const kind_names[] = {"previous", "duplicate", "induction", "custom"};

static ark_status add_detector(const char *name, size_t len, ark_head_kind *kinds, int *n)
{
    for (size_t i = 0; i < sizeof detector_names / sizeof detector_names[0]; i++) {
        if (strlen(detector_names[i].name) != len || strncmp(detector_names[i].name, name, len)) continue;
        for (int k = 0; k < *n; k++)
            if (kinds[k] == detector_names[i].kind) return ARK_OK;
        kinds[(*n)++] = detector_names[i].kind;
        return ARK_OK;
    }
    return ark_fail(ARK_ERR_ARG, "\"detectors\": unknown detector \"%.*s\" (previous, duplicate, induction, custom)", (int)len,
                    name);
}

/* "detectors": a list of names or one comma-separated string. */
static ark_status detectors_json(const cJSON *p, bool have_custom, ark_head_kind *kinds, int *n)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(p, "detectors"), *x;
    *n = 0;
    if (!d || cJSON_IsNull(d)) {
        for (int k = 0; k < 3; k++) kinds[(*n)++] = (ark_head_kind)k;
        if (have_custom) kinds[(*n)++] = ARK_HEAD_CUSTOM;
        return ARK_OK;
    }
    if (cJSON_IsString(d)) {
        for (const char *s = d->valuestring; *s;) {
            size_t len = strcspn(s, ",");
            if (len) ARK_TRY(add_detector(s, len, kinds, n));
            s += len + (s[len] == ',');
        }
    } else if (cJSON_IsArray(d)) {
        cJSON_ArrayForEach(x, d) {
            if (!cJSON_IsString(x)) return ark_fail(ARK_ERR_ARG, "\"detectors\": expected names");
            ARK_TRY(add_detector(x->valuestring, strlen(x->valuestring), kinds, n));
        }
    } else {
        return ark_fail(ARK_ERR_ARG, "\"detectors\": expected a list of names");
    }
    return *n ? ARK_OK : ark_fail(ARK_ERR_ARG, "\"detectors\": empty list");
}

/* "custom": a (P, P) list of lists of numbers into a fresh array. */
static ark_status custom_json(const cJSON *p, float **mask, int *n)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(p, "custom"), *r, *x;
    *mask = NULL;
    *n = 0;
    if (!c || cJSON_IsNull(c)) return ARK_OK;
    int P = cJSON_GetArraySize(c), i = 0;
    if (!cJSON_IsArray(c) || P < 1) return ark_fail(ARK_ERR_ARG, "\"custom\": expected a (P, P) list of lists");
    *mask = malloc(sizeof(float) * P * P);
    cJSON_ArrayForEach(r, c) {
        if (!cJSON_IsArray(r) || cJSON_GetArraySize(r) != P) {
            free(*mask);
            *mask = NULL;
            return ark_fail(ARK_ERR_ARG, "\"custom\": row %d is not a list of %d numbers", i, P);
        }
        int j = 0;
        cJSON_ArrayForEach(x, r) {
            if (!cJSON_IsNumber(x)) {
                free(*mask);
                *mask = NULL;
                return ark_fail(ARK_ERR_ARG, "\"custom\"[%d][%d]: expected a number", i, j);
            }
            (*mask)[(size_t)i * P + j++] = (float)x->valuedouble;
        }
        i++;
    }
    *n = P;
    return ARK_OK;
}

static ark_status detect_opts_json(const cJSON *p, const attn_input *in, ark_detect_opts *o)
{
    const char *method, *measure;
    *o = (ark_detect_opts)ARK_DETECT_OPTS_INIT;
    ARK_TRY(tool_get_str(p, "method", "mean", &method));
    ARK_TRY(tool_get_str(p, "error_measure", NULL, &measure));
    ARK_TRY(tool_get_bool(p, "exclude_bos", false, &o->exclude_bos));
    ARK_TRY(tool_get_bool(p, "exclude_current", false, &o->exclude_current));
    if (!strcmp(method, "tl")) o->method = ARK_DETECT_TL;
    else if (strcmp(method, "mean")) return ark_fail(ARK_ERR_ARG, "\"method\": \"%s\" is not \"mean\" or \"tl\"", method);
    if (measure && !strcmp(measure, "abs")) o->measure = ARK_MEASURE_ABS;
    else if (measure && strcmp(measure, "mul"))
        return ark_fail(ARK_ERR_ARG, "\"error_measure\": \"%s\" is not \"mul\" or \"abs\"", measure);
    if (o->method == ARK_DETECT_MEAN && (o->exclude_bos || o->exclude_current || measure))
        return ark_fail(ARK_ERR_ARG, "\"%s\" applies to method \"tl\" (TransformerLens' detect_head) only",
                        o->exclude_bos ? "exclude_bos" : o->exclude_current ? "exclude_current" : "error_measure");
    return attn_structure_json(p, in, &o->prefix, &o->period);
}

/* What a detector's score averages, in words. */
static void definition(ark_head_kind k, const ark_detect_opts *o, char *buf, size_t cap)
{
    static const char *const tl[] = {"previous_token_head", "duplicate_token_head", "induction_head", "custom"};
    if (o->method == ARK_DETECT_TL) {
        snprintf(buf, cap, "TransformerLens detect_head(%s, error_measure=%s, exclude_bos=%s, exclude_current_token=%s), "
                 "mean over rows", tl[k], o->measure == ARK_MEASURE_MUL ? "mul" : "abs", o->exclude_bos ? "True" : "False",
                 o->exclude_current ? "True" : "False");
        return;
    }
    char first[48], key[48];
    if (o->period > 0) {
        snprintf(first, sizeof first, "%d", o->prefix + o->period);
        snprintf(key, sizeof key, "i-%d", k == ARK_HEAD_DUPLICATE ? o->period : o->period - 1);
    } else {
        snprintf(first, sizeof first, "s+p");
        snprintf(key, sizeof key, "%s", k == ARK_HEAD_DUPLICATE ? "i-p" : "i-p+1");
    }
    const char *per = o->period > 0 ? "" : " (prefix s, period p of each row's repeat structure)";
    if (k == ARK_HEAD_PREVIOUS) snprintf(buf, cap, "mean attention from query i to key i-1 for i in [1, n)");
    else if (k == ARK_HEAD_CUSTOM) snprintf(buf, cap, "mean over queries with a nonzero mask row of sum_j mask[i][j] A[i][j]");
    else snprintf(buf, cap, "mean attention from query i to key %s for i in [%s, n)%s", key, first, per);
}

/* Heads scoring >= threshold, strongest first: [[layer, head], ...]. */
static cJSON *above_json(const float *s, int L, int H, double threshold)
{
    cJSON *a = cJSON_CreateArray();
    int n = L * H;
    bool *used = calloc((size_t)n, 1);
    for (;;) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if (!used[i] && isfinite(s[i]) && s[i] >= threshold && (best < 0 || s[i] > s[best])) best = i;
        if (best < 0) break;
        used[best] = true;
        int lh[2] = {best / H, best % H};
        cJSON_AddItemToArray(a, cJSON_CreateIntArray(lh, 2));
    }
    free(used);
    return a;
}

static cJSON *detect_result(const ark_tool_env *env, const attn_input *in, const ark_head_kind *kinds, int n_kinds,
                            const ark_detect_opts *o, const float *scores, const int *counts, double threshold)
{
    const ark_config *c = ark_model_config(env->model);
    int L = c->n_layers, H = c->n_heads;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "method", o->method == ARK_DETECT_TL ? "tl" : "mean");
    cJSON_AddNumberToObject(r, "layers", L);
    cJSON_AddNumberToObject(r, "heads", H);
    cJSON_AddNumberToObject(r, "rows", in->batch.B);
    cJSON_AddNumberToObject(r, "threshold", threshold);
    if (o->method == ARK_DETECT_MEAN && o->period > 0) {
        cJSON *rep = cJSON_AddObjectToObject(r, "repeat");
        cJSON_AddNumberToObject(rep, "prefix", o->prefix);
        cJSON_AddNumberToObject(rep, "period", o->period);
    }
    cJSON *det = cJSON_AddObjectToObject(r, "detectors"), *cnt = cJSON_AddObjectToObject(r, "counts");
    cJSON *above = cJSON_AddObjectToObject(r, "above_threshold"), *defs = cJSON_AddObjectToObject(r, "definitions");
    for (int k = 0; k < n_kinds; k++) {
        const char *name = kind_names[kinds[k]];
        char buf[256];
        cJSON_AddItemToObject(det, name, tool_matrix(scores + (size_t)k * L * H, L, H));
        cJSON_AddNumberToObject(cnt, name, counts[k]);
        cJSON_AddItemToObject(above, name, above_json(scores + (size_t)k * L * H, L, H, threshold));
        definition(kinds[k], o, buf, sizeof buf);
        cJSON_AddStringToObject(defs, name, buf);
    }
    if (in->repeat) {
        cJSON *rr = cJSON_AddObjectToObject(r, "repeat_random");
        cJSON_AddNumberToObject(rr, "length", in->spec.length);
        cJSON_AddNumberToObject(rr, "batch", in->spec.batch);
        cJSON_AddNumberToObject(rr, "seed", (double)in->spec.seed);
        cJSON_AddNumberToObject(rr, "low", in->spec.low);
        cJSON_AddNumberToObject(rr, "high", in->spec.high);
        cJSON_AddNumberToObject(rr, "bos", in->spec.bos);
        cJSON_AddItemToObject(r, "tokens", attn_rows_json(env, in));
    }
    return r;
}

ark_status attn_op_detect(const ark_tool_env *env, const cJSON *p, char **result)
{
    const ark_config *c = ark_model_config(env->model);
    ark_head_kind kinds[4];
    int n_kinds = 0, custom_n = 0;
    float *custom = NULL;
    double threshold;
    ARK_TRY(tool_get_num(p, "threshold", 0.4, &threshold));
    ARK_TRY(custom_json(p, &custom, &custom_n));
    attn_input in = {0};
    ark_detect_opts o;
    ark_status s = detectors_json(p, custom != NULL, kinds, &n_kinds);
    if (s == ARK_OK) s = attn_input_json(env, p, &in);
    if (s == ARK_OK) s = detect_opts_json(p, &in, &o);
    o.custom = custom;
    o.custom_n = custom_n;
    float *scores = malloc(sizeof(float) * 4 * c->n_layers * c->n_heads);
    int counts[4] = {0};
    if (s == ARK_OK) s = ark_detect_heads(env->model, &in.in, kinds, n_kinds, &o, scores, counts);
    if (s == ARK_OK) s = tool_result(detect_result(env, &in, kinds, n_kinds, &o, scores, counts, threshold), result);
    free(scores);
    free(custom);
    attn_input_free(&in);
    return s;
}

/* ---- ablation ---- */

static ark_status metric_json(const ark_tool_env *env, const cJSON *p, const attn_input *in, ark_head_metric *mt,
                              int **positions)
{
    const char *kind, *mode;
    *mt = (ark_head_metric)ARK_HEAD_METRIC_INIT;
    ARK_TRY(tool_get_str(p, "metric", "loss", &kind));
    ARK_TRY(tool_get_str(p, "mode", "zero", &mode));
    ARK_TRY(tool_get_int(p, "pos", -1, &mt->pos));
    if (!strcmp(kind, "logit")) mt->kind = ARK_HEAD_METRIC_LOGIT;
    else if (!strcmp(kind, "logit_diff") || !strcmp(kind, "logit-diff")) mt->kind = ARK_HEAD_METRIC_LOGIT_DIFF;
    else if (strcmp(kind, "loss"))
        return ark_fail(ARK_ERR_ARG, "\"metric\": \"%s\" is not loss, logit or logit_diff", kind);
    if (mt->kind != ARK_HEAD_METRIC_LOSS) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "token"), *o = cJSON_GetObjectItemCaseSensitive(p, "other");
        if (!t) return ark_fail(ARK_ERR_ARG, "\"token\": metric %s needs a token", kind);
        ARK_TRY(tool_token(env, t, "token", &mt->token));
        if (mt->kind == ARK_HEAD_METRIC_LOGIT_DIFF && !o) return ark_fail(ARK_ERR_ARG, "\"other\": metric logit_diff needs a second token");
        if (mt->kind == ARK_HEAD_METRIC_LOGIT_DIFF) ARK_TRY(tool_token(env, o, "other", &mt->other));
        return ARK_OK;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "targets");
    if (cJSON_IsString(t) && !strcmp(t->valuestring, "repeated")) mt->targets = ARK_TARGETS_REPEATED;
    else if (cJSON_IsArray(t)) {
        mt->targets = ARK_TARGETS_LIST;
        ARK_TRY(tool_get_ints(p, "targets", positions, &mt->n_positions));
        mt->positions = *positions;
    } else if (t && !cJSON_IsNull(t) && !(cJSON_IsString(t) && !strcmp(t->valuestring, "all")))
        return ark_fail(ARK_ERR_ARG, "\"targets\": expected \"all\", \"repeated\" or a list of positions");
    return attn_structure_json(p, in, &mt->prefix, &mt->period);
}

/* Each row's metric, clean and ablated (ark_ablate_heads_rows). */
typedef struct ablation_rows {
    double *clean;   /* (B) */
    double *ablated; /* (L, H, B) */
    int *counts;     /* (B) */
} ablation_rows;

/* A list of numbers (NaN: null). */
static cJSON *numbers_json(const double *x, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, isfinite(x[i]) ? cJSON_CreateNumber(x[i]) : cJSON_CreateNull());
    return a;
}

/* "per_row": {"clean": [B], "ablated": [L][H][B], "counts": [B]}. */
static cJSON *per_row_json(const ablation_rows *rows, int L, int H, int B)
{
    cJSON *o = cJSON_CreateObject(), *abl;
    cJSON_AddItemToObject(o, "clean", numbers_json(rows->clean, B));
    abl = cJSON_AddArrayToObject(o, "ablated");
    for (int l = 0; l < L; l++) {
        cJSON *layer = cJSON_CreateArray();
        for (int h = 0; h < H; h++) cJSON_AddItemToArray(layer, numbers_json(rows->ablated + ((size_t)l * H + h) * B, B));
        cJSON_AddItemToArray(abl, layer);
    }
    cJSON_AddItemToObject(o, "counts", cJSON_CreateIntArray(rows->counts, B));
    return o;
}

static cJSON *ablation_result(const ark_tool_env *env, const attn_input *in, const ark_head_metric *mt, bool mean,
                              double clean, const float *effects, const ablation_rows *rows)
{
    static const char *const metric_names[] = {"loss", "logit", "logit_diff"};
    static const char *const target_names[] = {"all", "list", "repeated"};
    const ark_config *c = ark_model_config(env->model);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "mode", mean ? "mean" : "zero");
    cJSON_AddStringToObject(r, "metric", metric_names[mt->kind]);
    if (mt->kind == ARK_HEAD_METRIC_LOSS && mt->targets == ARK_TARGETS_LIST)
        cJSON_AddItemToObject(r, "targets", cJSON_CreateIntArray(mt->positions, mt->n_positions));
    else if (mt->kind == ARK_HEAD_METRIC_LOSS) cJSON_AddStringToObject(r, "targets", target_names[mt->targets]);
    if (mt->kind != ARK_HEAD_METRIC_LOSS) {
        char *s = tool_token_str(env, mt->token);
        cJSON_AddNumberToObject(r, "token", mt->token);
        cJSON_AddStringToObject(r, "token_str", s);
        free(s);
        if (mt->kind == ARK_HEAD_METRIC_LOGIT_DIFF) {
            s = tool_token_str(env, mt->other);
            cJSON_AddNumberToObject(r, "other", mt->other);
            cJSON_AddStringToObject(r, "other_str", s);
            free(s);
        }
        cJSON_AddNumberToObject(r, "pos", mt->pos);
    }
    cJSON_AddNumberToObject(r, "layers", c->n_layers);
    cJSON_AddNumberToObject(r, "heads", c->n_heads);
    cJSON_AddNumberToObject(r, "rows", in->batch.B);
    cJSON_AddNumberToObject(r, "clean", clean);
    cJSON_AddItemToObject(r, "effects", tool_matrix(effects, c->n_layers, c->n_heads));
    cJSON_AddNumberToObject(r, "forwards", 1 + c->n_layers * c->n_heads);
    if (rows->clean) cJSON_AddItemToObject(r, "per_row", per_row_json(rows, c->n_layers, c->n_heads, in->batch.B));
    if (in->repeat) cJSON_AddItemToObject(r, "tokens", attn_rows_json(env, in));
    return r;
}

ark_status attn_op_ablation(const ark_tool_env *env, const cJSON *p, char **result)
{
    const ark_config *c = ark_model_config(env->model);
    const char *mode;
    bool per_row;
    ARK_TRY(tool_get_str(p, "mode", "zero", &mode));
    ARK_TRY(tool_get_bool(p, "per_row", false, &per_row));
    if (strcmp(mode, "zero") && strcmp(mode, "mean")) return ark_fail(ARK_ERR_ARG, "\"mode\": \"%s\" is not zero or mean", mode);
    attn_input in;
    ARK_TRY(attn_input_json(env, p, &in));
    ark_head_metric mt;
    int *positions = NULL, B = in.in.B;
    double clean = 0;
    float *effects = malloc(sizeof(float) * c->n_layers * c->n_heads);
    ablation_rows rows = {0};
    if (per_row) {
        rows.clean = malloc(sizeof(double) * B);
        rows.ablated = malloc(sizeof(double) * B * c->n_layers * c->n_heads);
        rows.counts = malloc(sizeof(int) * B);
    }
    bool mean = !strcmp(mode, "mean");
    ark_status s = metric_json(env, p, &in, &mt, &positions);
    if (s == ARK_OK)
        s = ark_ablate_heads_rows(env->model, &in.in, mean ? ARK_ABLATE_MEAN : ARK_ABLATE_ZERO, &mt, &clean, effects,
                                  rows.clean, rows.ablated, rows.counts);
    if (s == ARK_OK) s = tool_result(ablation_result(env, &in, &mt, mean, clean, effects, &rows), result);
    free(rows.clean);
    free(rows.ablated);
    free(rows.counts);
    free(effects);
    free(positions);
    attn_input_free(&in);
    return s;
}
