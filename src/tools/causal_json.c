/* The causal tool's facts from JSON parameters or a JSONL file
 * (causal_internal.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tools/causal_internal.h"
#include "tools/tool_util.h"

void causal_facts_free(causal_facts *fs)
{
    for (int i = 0; i < fs->n; i++) {
        ark_trace_prompt_free(&fs->f[i].p);
        free(fs->f[i].prompt);
        free(fs->f[i].subject);
    }
    free(fs->f);
    memset(fs, 0, sizeof *fs);
}

static const cJSON *field(const cJSON *o, const char *a, const char *b, const char *c)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
    if (!v && b) v = cJSON_GetObjectItemCaseSensitive(o, b);
    if (!v && c) v = cJSON_GetObjectItemCaseSensitive(o, c);
    return v;
}

/* A fact given as token ids: "tokens", "subject_span" [begin, end), "answer" (id or one-token string). */
static ark_status fact_from_tokens(const ark_tool_env *env, const cJSON *o, const cJSON *ans, bool need_subject, causal_fact *f)
{
    int *ids = NULL, n = 0, *span = NULL, ns = 0, V = ark_model_config(env->model)->d_vocab;
    ARK_TRY(tool_get_ints(o, "tokens", &ids, &n));
    ark_status st = n ? ARK_OK : ark_fail(ARK_ERR_ARG, "\"tokens\": empty");
    if (st == ARK_OK) st = tool_get_ints(o, "subject_span", &span, &ns);
    if (st == ARK_OK && ns != 2 && (need_subject || ns))
        st = ark_fail(ARK_ERR_ARG, "\"subject_span\": expected [begin, end) token indices");
    f->p.ids = malloc(sizeof(int32_t) * (n ? n : 1));
    f->p.T = n;
    for (int t = 0; st == ARK_OK && t < n; t++) {
        if (ids[t] < 0 || ids[t] >= V) st = ark_fail(ARK_ERR_ARG, "\"tokens\": id %d is out of range (vocab %d)", ids[t], V);
        f->p.ids[t] = ids[t];
    }
    if (st == ARK_OK && ns == 2) {
        f->p.subj_begin = span[0];
        f->p.subj_end = span[1];
        if (span[0] < 0 || span[1] > n || span[0] >= span[1])
            st = ark_fail(ARK_ERR_ARG, "\"subject_span\": [%d, %d) is not a non-empty range of the %d tokens", span[0], span[1], n);
    }
    if (st == ARK_OK) st = tool_token(env, ans, "answer", &f->p.answer);
    free(ids);
    free(span);
    return st;
}

static ark_status fact_from_json(const ark_tool_env *env, const cJSON *o, bool need_subject, causal_fact *f)
{
    if (!cJSON_IsObject(o)) return ark_fail(ARK_ERR_ARG, "expected a JSON object with \"prompt\", \"subject\" and \"answer\"");
    const cJSON *ans = field(o, "answer", "attribute", "target");
    if (!ans) return ark_fail(ARK_ERR_ARG, "\"answer\" is missing");
    if (cJSON_GetObjectItemCaseSensitive(o, "tokens")) return fact_from_tokens(env, o, ans, need_subject, f);
    const cJSON *pr = field(o, "prompt", "canonical_prompt", NULL), *sj = cJSON_GetObjectItemCaseSensitive(o, "subject");
    if (!cJSON_IsString(pr)) return ark_fail(ARK_ERR_ARG, "\"prompt\": expected a string (or give \"tokens\")");
    if (sj && !cJSON_IsString(sj)) return ark_fail(ARK_ERR_ARG, "\"subject\": expected a string");
    if (!sj && need_subject) return ark_fail(ARK_ERR_ARG, "\"subject\" is missing");
    if (!cJSON_IsString(ans) && !cJSON_IsNumber(ans)) return ark_fail(ARK_ERR_ARG, "\"answer\": expected a string or a token id");
    f->prompt = strdup(pr->valuestring);
    f->subject = sj ? strdup(sj->valuestring) : NULL;
    ARK_TRY(ark_trace_prompt_encode(env->tokenizer, env->model, f->prompt, f->subject,
                                    cJSON_IsString(ans) ? ans->valuestring : NULL, &f->p));
    if (cJSON_IsNumber(ans)) ARK_TRY(tool_token(env, ans, "answer", &f->p.answer));
    return ARK_OK;
}

static causal_fact *add_fact(causal_facts *fs, int *cap)
{
    if (fs->n == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        fs->f = realloc(fs->f, sizeof *fs->f * *cap);
    }
    causal_fact *f = &fs->f[fs->n++];
    memset(f, 0, sizeof *f);
    return f;
}

static ark_status facts_from_file(const ark_tool_env *env, const char *path, bool need_subject, causal_facts *fs)
{
    FILE *fp = fopen(path, "r");
    if (!fp) return ark_fail(ARK_ERR_IO, "\"facts_file\": cannot open %s", path);
    char *line = NULL;
    size_t cap_line = 0;
    int cap = 0, lineno = 0;
    ark_status st = ARK_OK;
    while (st == ARK_OK && getline(&line, &cap_line, fp) >= 0) {
        lineno++;
        char *s = line;
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
        if (!*s) continue;
        cJSON *o = cJSON_Parse(s);
        causal_fact *f = add_fact(fs, &cap);
        snprintf(f->where, sizeof f->where, "%s:%d", path, lineno);
        st = o ? fact_from_json(env, o, need_subject, f) : ark_fail(ARK_ERR_FORMAT, "not a JSON object");
        if (st != ARK_OK) ark_fail_prefix(st, "%s", f->where);
        cJSON_Delete(o);
    }
    free(line);
    fclose(fp);
    if (st == ARK_OK && !fs->n) st = ark_fail(ARK_ERR_ARG, "\"facts_file\": %s holds no facts", path);
    return st;
}

ark_status causal_facts_from_params(const ark_tool_env *env, const cJSON *p, bool need_subject, causal_facts *out)
{
    memset(out, 0, sizeof *out);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "facts"), *file = cJSON_GetObjectItemCaseSensitive(p, "facts_file");
    int cap = 0;
    ark_status st = ARK_OK;
    if (file) {
        st = cJSON_IsString(file) ? facts_from_file(env, file->valuestring, need_subject, out)
                                  : ark_fail(ARK_ERR_ARG, "\"facts_file\": expected a path");
    } else if (list) {
        if (!cJSON_IsArray(list) || !cJSON_GetArraySize(list)) st = ark_fail(ARK_ERR_ARG, "\"facts\": expected a non-empty list of facts");
        const cJSON *o;
        int i = 0;
        cJSON_ArrayForEach(o, list) {
            if (st != ARK_OK) break;
            causal_fact *f = add_fact(out, &cap);
            snprintf(f->where, sizeof f->where, "fact %d", i++);
            if ((st = fact_from_json(env, o, need_subject, f)) != ARK_OK) ark_fail_prefix(st, "%s", f->where);
        }
    } else {
        causal_fact *f = add_fact(out, &cap);
        snprintf(f->where, sizeof f->where, "the prompt");
        st = fact_from_json(env, p, need_subject, f);
    }
    if (st != ARK_OK) causal_facts_free(out);
    return st;
}
