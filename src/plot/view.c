/* Interactive HTML views: the embedded template (views/view.html) filled
 * with the shared styles and script, the view's script, and its data as
 * JSON; and the views' data from a model run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "plot/collect.h"
#include "plot/plot_internal.h"
#include "plot/views.h"

static const char *asset(const char *name)
{
    for (const ark_view_asset *a = ark_view_assets; a->name; a++)
        if (!strcmp(a->name, name)) return a->data;
    return NULL;
}

static void put_html(FILE *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", o);
        else if (*s == '>') fputs("&gt;", o);
        else if (*s == '&') fputs("&amp;", o);
        else if (*s == '"') fputs("&quot;", o);
        else fputc(*s, o);
    }
}

/* JSON inside <script>: every '<' (only possible inside strings) as \u003c,
 * so that no "</script>" or "<!--" can end or confuse the element. */
static void put_json(FILE *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '<') fputs("\\u003c", o);
        else fputc(*s, o);
    }
}

static ark_status check_data(const char *kind, const cJSON *d)
{
    if (!cJSON_IsObject(d)) return ark_fail(ARK_ERR_ARG, "view data: expected a JSON object");
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(d, "tokens");
    if (!strcmp(kind, "attention")) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(d, "patterns");
        int dims[4], n = cJSON_GetArraySize(tok);
        if (!cJSON_IsArray(tok) || pl_dims(p, dims, 4) != 4 || dims[2] != n || dims[3] != n)
            return ark_fail(ARK_ERR_ARG, "view data: attention needs \"tokens\" (n) and \"patterns\" [layer][head][n][n]");
    } else if (!strcmp(kind, "lens")) {
        const cJSON *top = cJSON_GetObjectItemCaseSensitive(d, "top"), *lab = cJSON_GetObjectItemCaseSensitive(d, "labels");
        int dims[3];
        if (!cJSON_IsArray(tok) || !cJSON_IsArray(lab) || pl_dims(top, dims, 3) != 3 || dims[0] != cJSON_GetArraySize(lab) ||
            dims[1] != cJSON_GetArraySize(tok) || dims[2] < 1)
            return ark_fail(ARK_ERR_ARG, "view data: lens needs \"tokens\" (n), \"labels\" (points) and \"top\" "
                            "[point][n][{token, prob}...]");
    } else if (!strcmp(kind, "tokens")) {
        const cJSON *rows = cJSON_GetObjectItemCaseSensitive(d, "rows"), *v = cJSON_GetObjectItemCaseSensitive(d, "values");
        if (!cJSON_IsArray(rows) && (!cJSON_IsArray(tok) || !cJSON_IsArray(v) || cJSON_GetArraySize(tok) != cJSON_GetArraySize(v)))
            return ark_fail(ARK_ERR_ARG, "view data: tokens needs \"tokens\" and \"values\" of one length (or \"rows\")");
    } else {
        return ark_fail(ARK_ERR_ARG, "view \"%s\": expected attention, lens or tokens", kind);
    }
    return ARK_OK;
}

ark_status ark_view_render(const char *kind, const char *data_json, const char *out_path)
{
    if (!kind) return ark_fail(ARK_ERR_ARG, "view: no kind (attention, lens or tokens)");
    if (!out_path || !*out_path) return ark_fail(ARK_ERR_ARG, "out: missing");
    cJSON *d = data_json ? cJSON_Parse(data_json) : NULL;
    if (!d) return ark_fail(ARK_ERR_FORMAT, "view data: not valid JSON");
    ark_status s = check_data(kind, d);
    char script_name[32];
    snprintf(script_name, sizeof script_name, "%s.js", kind);
    const char *tpl = asset("view.html"), *css = asset("common.css"), *common = asset("common.js"), *js = asset(script_name);
    if (s == ARK_OK && (!tpl || !css || !common || !js)) s = ark_fail(ARK_ERR_MISSING, "view: template %s not built in", script_name);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(d, "title");
    char dflt[64];
    snprintf(dflt, sizeof dflt, "arrakis %s view", kind);
    const char *title = cJSON_IsString(t) ? t->valuestring : dflt;
    char *json = s == ARK_OK ? cJSON_PrintUnformatted(d) : NULL;
    FILE *o = s == ARK_OK ? fopen(out_path, "wb") : NULL;
    if (s == ARK_OK && !o) s = ark_fail(ARK_ERR_IO, "%s: cannot open for writing", out_path);
    for (const char *p = tpl; s == ARK_OK && *p;) {
        const char *q = strstr(p, "{{");
        if (!q) { fputs(p, o); break; }
        fwrite(p, 1, q - p, o);
        if (!strncmp(q, "{{TITLE}}", 9)) put_html(o, title), p = q + 9;
        else if (!strncmp(q, "{{STYLE}}", 9)) fputs(css, o), p = q + 9;
        else if (!strncmp(q, "{{SCRIPT}}", 10)) fputs(common, o), fputs(js, o), p = q + 10;
        else if (!strncmp(q, "{{DATA}}", 8)) put_json(o, json), p = q + 8;
        else fputs("{{", o), p = q + 2;
    }
    if (o && (ferror(o) | fclose(o))) s = ark_fail(ARK_ERR_IO, "%s: write failed", out_path);
    free(json);
    cJSON_Delete(d);
    return s;
}

/* ---- data from a model run ---- */

static ark_status collect_attention(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out)
{
    const ark_config *c = ark_model_config(env->model);
    int L = c->n_layers, H = c->n_heads, n = in->n, l0 = 0, l1 = L;
    if (cJSON_GetObjectItemCaseSensitive(spec, "layer")) {
        ARK_TRY(pl_get_layer(env, spec, "layer", 0, &l0));
        l1 = l0 + 1;
    } else if ((double)L * H * n * n > 4e6) {
        return ark_fail(ARK_ERR_ARG, "\"layer\": %d layers x %d heads x %d^2 positions is too much for one page; choose a layer", L, H, n);
    }
    ark_plan *p = ark_plan_new(env->model);
    ark_status s = ARK_OK;
    char name[64];
    for (int l = l0; l < l1 && s == ARK_OK; l++) {
        snprintf(name, sizeof name, "blocks.%d.attn.hook_pattern", l);
        s = ark_plan_keep(p, name);
    }
    ark_cache *cache = NULL;
    if (s == ARK_OK) s = pl_run_row0(env, in, p, l1 < L ? l1 : -1, &cache);
    ark_plan_free(p);
    if (s != ARK_OK) return s;
    cJSON *layers = cJSON_AddArrayToObject(out, "layers"), *pats = cJSON_AddArrayToObject(out, "patterns");
    for (int l = l0; l < l1; l++) {
        snprintf(name, sizeof name, "blocks.%d.attn.hook_pattern", l);
        const float *A = ark_cache_get(cache, name)->data; /* [1, H, n, n] */
        cJSON_AddItemToArray(layers, cJSON_CreateNumber(l));
        cJSON *hs = cJSON_CreateArray();
        for (int h = 0; h < H; h++) {
            cJSON *tmp = cJSON_CreateObject();
            pl_add_matrix(tmp, "m", A + (size_t)h * n * n, n, n);
            cJSON_AddItemToArray(hs, cJSON_DetachItemFromObject(tmp, "m"));
            cJSON_Delete(tmp);
        }
        cJSON_AddItemToArray(pats, hs);
    }
    ark_cache_free(cache);
    cJSON_AddItemToObject(out, "tokens", cJSON_Duplicate(in->tokens, 1));
    cJSON_AddStringToObject(out, "title", "attention patterns");
    return ARK_OK;
}

static ark_status collect_lens(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out)
{
    int k;
    ARK_TRY(tool_get_int(spec, "top_k", 5, &k));
    pl_lens l;
    ARK_TRY(pl_lens_compute(env, in, k, &l));
    cJSON *labels = cJSON_AddArrayToObject(out, "labels"), *top = cJSON_AddArrayToObject(out, "top");
    for (int i = 0; i < l.npts; i++) {
        cJSON_AddItemToArray(labels, cJSON_CreateString(l.labels[i]));
        cJSON *row = cJSON_CreateArray();
        for (int p = 0; p < l.n; p++) {
            cJSON *cell = cJSON_CreateArray();
            for (int j = 0; j < k; j++) {
                size_t at = ((size_t)i * l.n + p) * k + j;
                cJSON *e = cJSON_CreateObject();
                cJSON_AddItemToObject(e, "token", pl_token_json(env, l.ids[at]));
                cJSON_AddNumberToObject(e, "id", l.ids[at]);
                cJSON_AddNumberToObject(e, "prob", l.probs[at]);
                cJSON_AddItemToArray(cell, e);
            }
            cJSON_AddItemToArray(row, cell);
        }
        cJSON_AddItemToArray(top, row);
    }
    pl_lens_free(&l);
    cJSON_AddItemToObject(out, "tokens", cJSON_Duplicate(in->tokens, 1));
    cJSON_AddStringToObject(out, "title", "logit lens");
    return ARK_OK;
}

static ark_status collect_tokens(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out)
{
    const char *values;
    ARK_TRY(tool_get_str(spec, "values", "logprob", &values));
    float *v = malloc(sizeof *v * in->n);
    char label[256];
    ark_status s = pl_view_token_values(env, values, in, v, label, sizeof label);
    if (s == ARK_OK) {
        cJSON *a = cJSON_AddArrayToObject(out, "values");
        for (int i = 0; i < in->n; i++) cJSON_AddItemToArray(a, isfinite(v[i]) ? cJSON_CreateNumber(v[i]) : cJSON_CreateNull());
        cJSON_AddItemToObject(out, "tokens", cJSON_Duplicate(in->tokens, 1));
        cJSON_AddStringToObject(out, "label", label);
        cJSON_AddStringToObject(out, "title", label);
    }
    free(v);
    return s;
}

ark_status ark_view_collect(const ark_tool_env *env, const char *kind, const char *spec_json, char **data_json)
{
    *data_json = NULL;
    if (!env || !env->model) return ark_fail(ARK_ERR_ARG, "view: no model");
    ark_status (*fn)(const ark_tool_env *, const cJSON *, const pl_input *, cJSON *) =
        !kind ? NULL : !strcmp(kind, "attention") ? collect_attention : !strcmp(kind, "lens") ? collect_lens
        : !strcmp(kind, "tokens") ? collect_tokens : NULL;
    if (!fn) return ark_fail(ARK_ERR_ARG, "view \"%s\": expected attention, lens or tokens", kind ? kind : "");
    cJSON *spec = spec_json ? cJSON_Parse(spec_json) : cJSON_CreateObject();
    if (!cJSON_IsObject(spec)) {
        cJSON_Delete(spec);
        return ark_fail(ARK_ERR_FORMAT, "view spec: not a JSON object");
    }
    pl_input in;
    ark_status s = pl_input_of(env, spec, &in);
    cJSON *out = cJSON_CreateObject();
    if (s == ARK_OK) s = fn(env, spec, &in, out);
    if (s == ARK_OK) *data_json = cJSON_PrintUnformatted(out);
    cJSON_Delete(out);
    pl_input_free(&in);
    cJSON_Delete(spec);
    return s;
}
