/* Plot data for `patching` and `causal_trace` collected from a model: the
 * spec's fields become parameters of the `patching` and `causal` tools (one
 * implementation of each method; see docs/tools/patching.md and causal.md),
 * and the tool's result is the plot's data, read by types.c like a result
 * given with --from.
 *
 *   patching:     text (clean), corrupted (text or ids, as many tokens),
 *                 answer [, wrong] (default: the clean top prediction) ->
 *                 metric logit (logit-diff with wrong), denoising, at the last
 *                 position; patch "resid" (resid_pre by layer x position,
 *                 default) or "heads" (head z by layer x head)
 *   causal_trace: text, subject (a substring of the text, or token
 *                 positions: their first..last span), answer (default: the
 *                 clean top prediction), samples (5), noise (ROME's multiple
 *                 of the subject embeddings' std, 3), seed (0) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "plot/collect.h"
#include "plot/plot_internal.h"

/* The token the spec names under `key`, or the clean run's top prediction
 * at the last position. */
static ark_status answer_of(const ark_tool_env *env, const cJSON *spec, const char *key, const pl_input *in, int32_t *id)
{
    *id = -1;
    ARK_TRY(pl_get_token(env, spec, key, id));
    if (*id >= 0) return ARK_OK;
    ark_cache *c;
    ARK_TRY(ark_run(env->model, in->ids, 1, in->n, NULL, NULL, &c));
    const ark_tensor *lg = ark_cache_logits(c);
    *id = pl_argmax(lg->data + (size_t)(in->n - 1) * lg->shape[2], (int)lg->shape[2]);
    ark_cache_free(c);
    return ARK_OK;
}

/* Run `tool` on params; its result's fields go into out. */
static ark_status via_tool(const ark_tool_env *env, const char *tool, cJSON *params, cJSON *out)
{
    char *ptext = cJSON_PrintUnformatted(params), *rtext = NULL;
    ark_tool *t = NULL;
    ark_status s = ark_tool_new(tool, env, &t);
    if (s == ARK_OK) s = ark_tool_run(t, NULL, ptext, &rtext);
    ark_tool_free(t);
    free(ptext);
    cJSON *res = s == ARK_OK ? cJSON_Parse(rtext) : NULL;
    if (s == ARK_OK && !res) s = ark_fail(ARK_ERR_FORMAT, "the %s tool returned unreadable JSON", tool);
    free(rtext);
    while (res && res->child) {
        cJSON *item = cJSON_DetachItemViaPointer(res, res->child);
        cJSON_AddItemToObject(out, item->string, item);
    }
    cJSON_Delete(res);
    return s;
}

static cJSON *ids_json(const int32_t *ids, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
    return a;
}

ark_status pl_collect_patching(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out)
{
    const char *what;
    ARK_TRY(tool_get_str(spec, "patch", "resid", &what));
    bool heads = !strcmp(what, "heads");
    if (!heads && strcmp(what, "resid")) return ark_fail(ARK_ERR_ARG, "\"patch\": \"%s\" (expected resid or heads)", what);
    const cJSON *corr = cJSON_GetObjectItemCaseSensitive(spec, "corrupted");
    if (!corr) return ark_fail(ARK_ERR_MISSING, "\"corrupted\": missing (the corrupted prompt, text or ids, as long as the clean one)");
    int32_t answer, wrong = -1;
    ARK_TRY(answer_of(env, spec, "answer", in, &answer));
    ARK_TRY(pl_get_token(env, spec, "wrong", &wrong));
    cJSON *p = cJSON_CreateObject(), *metric = cJSON_AddObjectToObject(p, "metric");
    cJSON_AddItemToObject(p, "clean_tokens", ids_json(in->ids, in->n));
    cJSON_AddItemToObject(p, cJSON_IsString(corr) ? "corrupted" : "corrupted_tokens", cJSON_Duplicate(corr, 1));
    cJSON_AddStringToObject(metric, "kind", wrong >= 0 ? "logit_diff" : "logit");
    cJSON_AddNumberToObject(metric, "token", answer);
    if (wrong >= 0) cJSON_AddNumberToObject(metric, "other", wrong);
    cJSON_AddNumberToObject(metric, "pos", -1);
    cJSON_AddStringToObject(p, "what", heads ? "heads" : "resid_pre");
    cJSON_AddBoolToObject(p, "by_pos", !heads);
    cJSON_AddBoolToObject(p, "progress", false);
    ark_status s = via_tool(env, "patching", p, out);
    cJSON_Delete(p);
    return s;
}

/* The subject as the tool takes it: text (with the prompt) or a token span. */
static ark_status add_subject(const cJSON *spec, const pl_input *in, cJSON *p)
{
    const cJSON *sj = cJSON_GetObjectItemCaseSensitive(spec, "subject"), *text = cJSON_GetObjectItemCaseSensitive(spec, "text");
    if (cJSON_IsString(sj) && cJSON_IsString(text)) {
        cJSON_AddStringToObject(p, "prompt", text->valuestring);
        cJSON_AddStringToObject(p, "subject", sj->valuestring);
        return ARK_OK;
    }
    if (!cJSON_IsArray(sj) || !cJSON_GetArraySize(sj))
        return ark_fail(ARK_ERR_MISSING, "\"subject\": missing (a substring of \"text\", or token positions)");
    int lo = in->n, hi = -1;
    const cJSON *x;
    cJSON_ArrayForEach(x, sj) {
        if (!cJSON_IsNumber(x) || x->valueint < 0 || x->valueint >= in->n)
            return ark_fail(ARK_ERR_ARG, "\"subject\": positions must be integers in 0..%d", in->n - 1);
        lo = x->valueint < lo ? x->valueint : lo;
        hi = x->valueint > hi ? x->valueint : hi;
    }
    cJSON_AddItemToObject(p, "tokens", ids_json(in->ids, in->n));
    cJSON_AddItemToObject(p, "subject_span", cJSON_CreateIntArray((int[]){lo, hi + 1}, 2));
    return ARK_OK;
}

ark_status pl_collect_causal_trace(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out)
{
    int samples, seed;
    double noise;
    int32_t answer;
    ARK_TRY(tool_get_int(spec, "samples", 5, &samples));
    ARK_TRY(tool_get_num(spec, "noise", 3.0, &noise));
    ARK_TRY(tool_get_int(spec, "seed", 0, &seed));
    ARK_TRY(answer_of(env, spec, "answer", in, &answer));
    cJSON *p = cJSON_CreateObject();
    ark_status s = add_subject(spec, in, p);
    char nu[32];
    snprintf(nu, sizeof nu, "%gsigma", noise);
    cJSON_AddNumberToObject(p, "answer", answer);
    cJSON_AddNumberToObject(p, "samples", samples);
    cJSON_AddStringToObject(p, "noise", nu);
    cJSON_AddNumberToObject(p, "seed", seed);
    if (s == ARK_OK) s = via_tool(env, "causal", p, out);
    cJSON_Delete(p);
    return s;
}
