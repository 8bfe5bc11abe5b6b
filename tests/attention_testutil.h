/* Shared by test_attention.c and test_attention_models.c: JSON reading and
 * the trained induction-gpt2 fixture (eval_ids.json, ground_truth.json). */
#ifndef ARK_ATTENTION_TESTUTIL_H
#define ARK_ATTENTION_TESTUTIL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "testutil.h"

static inline cJSON *read_json(const char *path)
{
    char *text = read_file(path, NULL);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    return j;
}

static inline double jnum(const cJSON *a, int i, int j) { return cJSON_GetArrayItem(cJSON_GetArrayItem(a, i), j)->valuedouble; }

typedef struct induction_fx {
    ark_model *m;
    cJSON *gt;
    int B, T;
    int32_t *ids; /* (B, T) */
} induction_fx;

static inline bool induction_open(induction_fx *f)
{
    memset(f, 0, sizeof *f);
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s", fixture_path("trained/induction-gpt2"));
    snprintf(path, sizeof path, "%s/ground_truth.json", dir);
    f->gt = read_json(path);
    snprintf(path, sizeof path, "%s/eval_ids.json", dir);
    cJSON *ev = read_json(path);
    if (!f->gt || !ev || ark_model_open(dir, &f->m) != ARK_OK) { cJSON_Delete(f->gt); cJSON_Delete(ev); return false; }
    const cJSON *seqs = cJSON_GetObjectItem(ev, "input_ids");
    f->B = cJSON_GetArraySize(seqs);
    f->T = cJSON_GetArraySize(cJSON_GetArrayItem(seqs, 0));
    f->ids = malloc(sizeof(int32_t) * f->B * f->T);
    for (int b = 0; b < f->B; b++)
        for (int t = 0; t < f->T; t++) f->ids[b * f->T + t] = (int32_t)jnum(seqs, b, t);
    cJSON_Delete(ev);
    return true;
}

static inline void induction_close(induction_fx *f)
{
    ark_model_free(f->m);
    cJSON_Delete(f->gt);
    free(f->ids);
}

#endif
