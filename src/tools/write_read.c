/* The write_read tool's generic entry point: JSON parameters -> the typed
 * functions of include/arrakis/tool_write_read.h (and tool_composer.h for
 * two-hop pairs) -> JSON.  docs/tools/write_read.md describes it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arrakis/run.h"
#include "arrakis/tool_composer.h"
#include "arrakis/tool_write_read.h"
#include "core/error.h"
#include "tools/builtin.h"
#include "tools/composer_internal.h"
#include "tools/tool_util.h"

typedef struct write_read {
    ark_tool_env env;
} write_read;

/* What an operation includes. */
enum { SEC_WRITERS = 1, SEC_READERS = 2, SEC_TWO_HOP = 4, SEC_FLOW = 8, SEC_CACHE = 16 };

static ark_status wr_create(const ark_tool_env *env, void **state)
{
    write_read *t = calloc(1, sizeof *t);
    if (!t) return ark_fail(ARK_ERR_NOMEM, "write_read: out of memory");
    t->env = *env;
    *state = t;
    return ARK_OK;
}

static void wr_destroy(void *state) { free(state); }

/* ---- the direction ---- */

static ark_status direction_token(const ark_tool_env *env, const char *spec, ark_subspace *s, cJSON *info)
{
    char *end;
    long id_num = strtol(spec, &end, 10);
    bool digits = *spec && !*end && *spec != '-' && *spec != '+' && *spec != ' ';
    cJSON *v = digits ? cJSON_CreateNumber((double)id_num) : cJSON_CreateString(spec);
    int32_t id = 0;
    ark_status st = tool_token(env, v, "direction", &id);
    cJSON_Delete(v);
    ARK_TRY(st);
    ARK_TRY(ark_subspace_token(env->model, id, s));
    cJSON_AddStringToObject(info, "kind", "token");
    cJSON_AddNumberToObject(info, "token", id);
    char *str = tool_token_str(env, id);
    cJSON_AddStringToObject(info, "token_str", str);
    free(str);
    return ARK_OK;
}

static ark_status direction_file(const ark_tool_env *env, const char *spec, ark_subspace *s, cJSON *info)
{
    char *path = strdup(spec), *key = NULL;
    if (!path) return ark_fail(ARK_ERR_NOMEM, "write_read: out of memory");
    char *colon = strrchr(path, ':');
    if (access(path, R_OK) != 0 && colon) { *colon = 0; key = colon + 1; }
    ark_status st = ark_subspace_file(path, key, ark_model_config(env->model)->d_model, s);
    if (st == ARK_OK) {
        cJSON_AddStringToObject(info, "kind", "file");
        cJSON_AddStringToObject(info, "file", path);
        if (key) cJSON_AddStringToObject(info, "key", key);
    }
    free(path);
    return st;
}

/* "direction": token:ID|STRING, head:L.H, file:PATH[:KEY]. */
static ark_status parse_direction(const ark_tool_env *env, const cJSON *params, ark_subspace *s, cJSON *info)
{
    const ark_config *c = ark_model_config(env->model);
    const char *spec;
    ARK_TRY(tool_get_str(params, "direction", NULL, &spec));
    if (!spec) return ark_fail(ARK_ERR_ARG, "\"direction\": missing (token:ID, token:STRING, head:L.H or file:PATH[:KEY])");
    cJSON_AddStringToObject(info, "spec", spec);
    ark_status st;
    if (!strncmp(spec, "token:", 6)) {
        st = direction_token(env, spec + 6, s, info);
    } else if (!strncmp(spec, "file:", 5)) {
        st = direction_file(env, spec + 5, s, info);
    } else if (!strncmp(spec, "head:", 5)) {
        int l, h;
        if (!composer_parse_head_str(spec + 5, &l, &h))
            return ark_fail(ARK_ERR_ARG, "\"direction\": \"%s\": expected head:L.H (e.g. head:1.0)", spec);
        if (l < 0) l += c->n_layers;
        if (l < 0 || l >= c->n_layers || h < 0 || h >= c->n_heads)
            return ark_fail(ARK_ERR_ARG, "\"direction\": \"%s\": the model has layers 0..%d and heads 0..%d", spec,
                            c->n_layers - 1, c->n_heads - 1);
        st = ark_subspace_head(env->model, l, h, s);
        cJSON_AddStringToObject(info, "kind", "head");
        int lh[2] = {l, h};
        cJSON_AddItemToObject(info, "head", cJSON_CreateIntArray(lh, 2));
    } else {
        return ark_fail(ARK_ERR_ARG, "\"direction\": \"%s\": expected token:ID, token:STRING, head:L.H or file:PATH[:KEY]",
                        spec);
    }
    if (st != ARK_OK) return !strncmp(spec, "file:", 5) ? ark_fail_prefix(st, "\"direction\"") : st;
    cJSON_AddNumberToObject(info, "d", s->d);
    cJSON_AddNumberToObject(info, "k", s->k);
    cJSON_AddNumberToObject(info, "chance", sqrt((double)s->k / s->d));
    return ARK_OK;
}

/* ---- tables ---- */

static const float *sort_key;
static int by_key_desc(const void *x, const void *y)
{
    int a = *(const int *)x, b = *(const int *)y;
    float ka = sort_key[a], kb = sort_key[b];
    if (ka != kb) return ka < kb || isnan(ka) ? 1 : -1;
    return a - b;
}

/* Indices 0..n-1 by key descending, the first `top` (0 = all); *count set. */
static int *ranked(const float *key, int n, int top, int *count)
{
    int *idx = malloc(sizeof(int) * (n ? n : 1));
    if (!idx) return NULL;
    for (int i = 0; i < n; i++) idx[i] = i;
    sort_key = key;
    qsort(idx, (size_t)n, sizeof *idx, by_key_desc);
    *count = top > 0 && top < n ? top : n;
    return idx;
}

static cJSON *head_entry(int i, int H)
{
    cJSON *o = cJSON_CreateObject();
    char label[32];
    int lh[2] = {i / H, i % H};
    snprintf(label, sizeof label, "L%dH%d", lh[0], lh[1]);
    cJSON_AddItemToObject(o, "head", cJSON_CreateIntArray(lh, 2));
    cJSON_AddStringToObject(o, "label", label);
    return o;
}

static void add_num(cJSON *o, const char *name, float v)
{
    cJSON_AddItemToObject(o, name, isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull());
}

/* A labelled table: full (L, H) matrices under `names`, and "top": the
 * heads ranked by `key`, each with every column. */
static cJSON *table_json(int L, int H, int top, const char *const *names, float *const *cols, int ncols, const float *key)
{
    cJSON *o = cJSON_CreateObject();
    for (int j = 0; j < ncols; j++)
        if (cols[j]) cJSON_AddItemToObject(o, names[j], tool_matrix(cols[j], L, H));
    int n = 0, *idx = ranked(key, L * H, top, &n);
    cJSON *t = cJSON_AddArrayToObject(o, "top");
    for (int r = 0; idx && r < n; r++) {
        cJSON *e = head_entry(idx[r], H);
        for (int j = 0; j < ncols; j++)
            if (cols[j]) add_num(e, names[j], cols[j][idx[r]]);
        cJSON_AddItemToArray(t, e);
    }
    free(idx);
    return o;
}

/* ---- sections ---- */

static ark_status sec_writers(write_read *t, const ark_subspace *s, const ark_cache *cache, const tool_batch *b, int top,
                              cJSON *out)
{
    const ark_config *c = ark_model_config(t->env.model);
    int n = c->n_layers * c->n_heads;
    float *buf = malloc(sizeof(float) * 6 * n);
    if (!buf) return ark_fail(ARK_ERR_NOMEM, "write_read: out of memory");
    float *wo = buf, *ov = buf + n, *proj = NULL, *norm = NULL, *frac = NULL, *dot = NULL;
    ark_status st = ark_writers_from_weights(t->env.model, s, wo, ov);
    if (st == ARK_OK && cache) {
        proj = buf + 2 * n, norm = buf + 3 * n, frac = buf + 4 * n, dot = s->k == 1 ? buf + 5 * n : NULL;
        st = ark_writers_from_cache(t->env.model, cache, b->mask, s, proj, norm, dot);
        for (int i = 0; st == ARK_OK && i < n; i++) frac[i] = norm[i] > 0 ? proj[i] / norm[i] : 0.0f;
    }
    if (st == ARK_OK) {
        const char *names[6] = {"weights_wo", "weights_ov", "cache_proj", "cache_norm", "cache_frac", "cache_dot"};
        float *cols[6] = {wo, ov, proj, norm, frac, dot};
        cJSON *w = table_json(c->n_layers, c->n_heads, top, names, cols, 6, cache ? proj : ov);
        cJSON_AddStringToObject(w, "ranked_by", cache ? "cache_proj" : "weights_ov");
        cJSON_AddItemToObject(out, "writers", w);
    }
    free(buf);
    return st;
}

static ark_status sec_readers(write_read *t, const ark_subspace *s, int top, cJSON *out)
{
    const ark_config *c = ark_model_config(t->env.model);
    int n = c->n_layers * c->n_heads;
    float *buf = malloc(sizeof(float) * 4 * n);
    if (!buf) return ark_fail(ARK_ERR_NOMEM, "write_read: out of memory");
    float *q = buf, *k = buf + n, *v = buf + 2 * n, *mx = buf + 3 * n;
    ark_status st = ark_readers_from_weights(t->env.model, s, q, k, v);
    if (st == ARK_OK) {
        for (int i = 0; i < n; i++) mx[i] = fmaxf(q[i], fmaxf(k[i], v[i]));
        const char *names[4] = {"q", "k", "v", "max"};
        float *cols[4] = {q, k, v, mx};
        cJSON *r = table_json(c->n_layers, c->n_heads, top, names, cols, 4, mx);
        cJSON_AddStringToObject(r, "ranked_by", "max");
        cJSON_AddItemToObject(out, "readers", r);
    }
    free(buf);
    return st;
}

static int by_pair_score(const void *x, const void *y)
{
    const ark_comp_pair *a = x, *b = y;
    return a->score < b->score ? 1 : a->score > b->score ? -1 : (int)a->mode - (int)b->mode;
}

static ark_status sec_two_hop(write_read *t, const ark_subspace *s, int top, cJSON *out)
{
    const ark_config *c = ark_model_config(t->env.model);
    int L = c->n_layers, H = c->n_heads, count = top > 0 ? top : L * H * L * H, np = 0;
    size_t n = (size_t)L * H * L * H;
    float *thr = malloc(sizeof(float) * (n ? n : 1));
    ark_comp_pair *pairs = malloc(sizeof *pairs * 3 * (size_t)count);
    ark_status st = thr && pairs ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "write_read: out of memory");
    for (int mi = 0; st == ARK_OK && mi < 3; mi++) {
        if ((st = ark_composition_scores_through(t->env.model, (ark_comp_mode)mi, s->basis, s->k, thr)) != ARK_OK) break;
        np += ark_composition_top(thr, L, H, (ark_comp_mode)mi, NULL, 0, count, pairs + np);
    }
    if (st == ARK_OK) qsort(pairs, (size_t)np, sizeof *pairs, by_pair_score);
    cJSON *o = cJSON_CreateObject(), *tl = cJSON_AddArrayToObject(o, "top");
    for (int i = 0; st == ARK_OK && i < np && i < count; i++) {
        const ark_comp_pair *p = &pairs[i];
        double full = 0; /* the unrestricted score, through the factored circuits */
        if ((st = ark_composition_score(t->env.model, p->mode, p->la, p->ha, p->lb, p->hb, &full)) != ARK_OK) break;
        cJSON *e = cJSON_CreateObject();
        char label[64];
        int w[2] = {p->la, p->ha}, r[2] = {p->lb, p->hb};
        snprintf(label, sizeof label, "L%dH%d->L%dH%d", p->la, p->ha, p->lb, p->hb);
        cJSON_AddStringToObject(e, "mode", ark_comp_mode_name(p->mode));
        cJSON_AddItemToObject(e, "writer", cJSON_CreateIntArray(w, 2));
        cJSON_AddItemToObject(e, "reader", cJSON_CreateIntArray(r, 2));
        cJSON_AddStringToObject(e, "label", label);
        cJSON_AddNumberToObject(e, "score", p->score);
        cJSON_AddNumberToObject(e, "full", full);
        add_num(e, "share", full > 0 ? p->score / full : NAN);
        cJSON_AddItemToArray(tl, e);
    }
    if (st == ARK_OK) cJSON_AddItemToObject(out, "two_hop", o);
    else cJSON_Delete(o);
    free(thr);
    free(pairs);
    return st;
}

static ark_status sec_flow(write_read *t, const ark_subspace *s, const ark_cache *cache, const tool_batch *b,
                           const cJSON *params, int top, cJSON *out)
{
    const ark_config *c = ark_model_config(t->env.model);
    int row, *fl = NULL, nf = 0, n = c->n_layers * c->n_heads;
    ARK_TRY(tool_get_int(params, "row", 0, &row));
    ARK_TRY(tool_get_ints(params, "flow", &fl, &nf));
    if (nf != 2) { free(fl); return ark_fail(ARK_ERR_ARG, "\"flow\": expected [source position, destination position]"); }
    if (row < 0 || row >= b->B) { free(fl); return ark_fail(ARK_ERR_ARG, "\"row\": %d, the input has rows 0..%d", row, b->B - 1); }
    int len = b->len[row], src = fl[0] < 0 ? fl[0] + len : fl[0], dst = fl[1] < 0 ? fl[1] + len : fl[1];
    free(fl);
    if (src < 0 || dst >= len || src > dst)
        return ark_fail(ARK_ERR_ARG, "\"flow\": source %d, destination %d: need 0 <= source <= destination < %d (row %d's length)",
                        src, dst, len, row);
    float *buf = malloc(sizeof(float) * 4 * n);
    if (!buf) return ark_fail(ARK_ERR_NOMEM, "write_read: out of memory");
    float *dot = s->k == 1 ? buf + 3 * n : NULL;
    ark_status st = ark_info_flow(t->env.model, cache, row, src, dst, s, buf, buf + n, buf + 2 * n, dot);
    if (st == ARK_OK) {
        const char *names[4] = {"attention", "moved", "moved_proj", "moved_dot"};
        float *cols[4] = {buf, buf + n, buf + 2 * n, dot};
        cJSON *o = table_json(c->n_layers, c->n_heads, top, names, cols, 4, buf + n);
        const int32_t *ids = b->tokens + (size_t)row * b->T;
        cJSON_AddNumberToObject(o, "row", row);
        cJSON_AddNumberToObject(o, "src", src);
        cJSON_AddNumberToObject(o, "dst", dst);
        cJSON_AddNumberToObject(o, "src_token", ids[src]);
        cJSON_AddNumberToObject(o, "dst_token", ids[dst]);
        cJSON_AddItemToObject(o, "src_str", tool_str_tokens(&t->env, ids + src, 1));
        cJSON_AddItemToObject(o, "dst_str", tool_str_tokens(&t->env, ids + dst, 1));
        cJSON_AddStringToObject(o, "ranked_by", "moved");
        cJSON_AddItemToObject(out, "flow", o);
    }
    free(buf);
    return st;
}

static cJSON *rows_json(const tool_batch *b)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < b->B; i++) cJSON_AddItemToArray(a, cJSON_CreateIntArray(b->tokens + (size_t)i * b->T, b->len[i]));
    return a;
}

/* Run the prompt keeping what the cache sections read. */
static ark_status run_prompt(write_read *t, const tool_batch *b, bool flow, ark_cache **cache)
{
    ark_plan *plan = ark_plan_new(t->env.model);
    if (!plan) return ark_fail(ARK_ERR_NOMEM, "write_read: out of memory");
    ark_status st = ark_plan_keep(plan, "blocks.*.attn.hook_z");
    if (st == ARK_OK && flow) st = ark_plan_keep(plan, "blocks.*.attn.hook_pattern");
    if (st == ARK_OK && flow) st = ark_plan_keep(plan, "blocks.*.attn.hook_v");
    if (st == ARK_OK) st = ark_run(t->env.model, b->tokens, b->B, b->T, b->mask, plan, cache);
    ark_plan_free(plan);
    return st;
}

static ark_status op_sections(const char *op, unsigned *sec)
{
    if (!op || !*op || !strcmp(op, "analyze")) *sec = SEC_WRITERS | SEC_READERS | SEC_TWO_HOP | SEC_FLOW | SEC_CACHE;
    else if (!strcmp(op, "writers")) *sec = SEC_WRITERS | SEC_CACHE;
    else if (!strcmp(op, "readers")) *sec = SEC_READERS;
    else if (!strcmp(op, "two_hop")) *sec = SEC_TWO_HOP;
    else if (!strcmp(op, "flow")) *sec = SEC_FLOW;
    else if (!strcmp(op, "direction")) *sec = 0;
    else return ark_fail(ARK_ERR_ARG, "write_read: unknown operation \"%s\" (analyze, writers, readers, two_hop, flow, direction)", op);
    return ARK_OK;
}

static ark_status analyze(write_read *t, const cJSON *p, unsigned sec, const ark_subspace *s, cJSON *out)
{
    int top;
    ARK_TRY(tool_get_int(p, "top", 10, &top));
    if (top < 0) return ark_fail(ARK_ERR_ARG, "\"top\": %d, expected 0 (all) or a positive count", top);
    bool input = cJSON_GetObjectItemCaseSensitive(p, "text") || cJSON_GetObjectItemCaseSensitive(p, "tokens");
    bool flow = (sec & SEC_FLOW) && cJSON_GetObjectItemCaseSensitive(p, "flow");
    if (flow && !input) return ark_fail(ARK_ERR_ARG, "\"flow\" needs a prompt: give \"text\" or \"tokens\"");
    if (sec == SEC_FLOW && !flow) return ark_fail(ARK_ERR_ARG, "\"flow\": missing [source position, destination position]");
    tool_batch b = {0};
    ark_cache *cache = NULL;
    ark_status st = ARK_OK;
    if (input && ((sec & SEC_CACHE) || flow)) {
        st = tool_batch_from_json(&t->env, p, &b);
        if (st == ARK_OK) st = run_prompt(t, &b, flow, &cache);
        if (st == ARK_OK) cJSON_AddItemToObject(out, "tokens", rows_json(&b));
    }
    if (st == ARK_OK && (sec & SEC_WRITERS)) st = sec_writers(t, s, (sec & SEC_CACHE) ? cache : NULL, &b, top, out);
    if (st == ARK_OK && (sec & SEC_READERS)) st = sec_readers(t, s, top, out);
    if (st == ARK_OK && (sec & SEC_TWO_HOP)) st = sec_two_hop(t, s, top, out);
    if (st == ARK_OK && flow) st = sec_flow(t, s, cache, &b, p, top, out);
    ark_cache_free(cache);
    tool_batch_free(&b);
    return st;
}

static ark_status wr_run(void *state, const char *op, const char *params, char **result)
{
    write_read *t = state;
    unsigned sec = 0;
    cJSON *p;
    *result = NULL;
    ARK_TRY(op_sections(op, &sec));
    ARK_TRY(tool_parse_params("write_read", params, &p));
    const ark_config *c = ark_model_config(t->env.model);
    cJSON *out = cJSON_CreateObject(), *info = cJSON_CreateObject();
    ark_subspace s = {0};
    ark_status st = composer_apply_process(t->env.model, p);
    cJSON_AddNumberToObject(out, "n_layers", c->n_layers);
    cJSON_AddNumberToObject(out, "n_heads", c->n_heads);
    cJSON_AddItemToObject(out, "processed", composer_processed_json(t->env.model));
    cJSON_AddItemToObject(out, "direction", info);
    if (st == ARK_OK) st = parse_direction(&t->env, p, &s, info);
    if (st == ARK_OK) st = analyze(t, p, sec, &s, out);
    ark_subspace_free(&s);
    cJSON_Delete(p);
    if (st != ARK_OK) { cJSON_Delete(out); return st; }
    return tool_result(out, result);
}

static const char *const wr_ops[] = {
    "analyze: direction (token:ID|token:STRING|head:L.H|file:PATH[:KEY]), top, process, [text|tokens], [flow [src, dst], row]",
    "writers: direction, top, process, [text|tokens]",
    "readers: direction, top, process",
    "two_hop: direction, top, process",
    "flow: direction, text|tokens, flow [src, dst], row, top, process",
    "direction: direction, process",
    NULL,
};

const ark_tool_def ark_tool_write_read = {
    "write_read", "which heads write into and read from a residual direction or subspace; information flow",
    wr_create, wr_run, wr_destroy, wr_ops,
};
