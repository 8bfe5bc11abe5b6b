/* Helpers shared by the bench tests (test_bench.c, test_bench_spec.c). */
#ifndef ARK_BENCH_TESTUTIL_H
#define ARK_BENCH_TESTUTIL_H

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "arrakis/arrakis.h"
#include "testutil.h"

static inline void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Parse a JSON text an API call returned (failing the test on an error). */
static inline cJSON *parse_ok(ark_status st, char *json)
{
    if (st != ARK_OK) fail_msg("%s", ark_errmsg());
    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    free(json);
    return o;
}

static inline cJSON *version_json(ark_exp_store *s, const char *name, const char *version)
{
    char *json = NULL;
    ark_status st = ark_exp_version(s, name, version, &json);
    return parse_ok(st, json);
}

static inline cJSON *versions_json(ark_exp_store *s, const char *name)
{
    char *json = NULL;
    ark_status st = ark_exp_versions(s, name, &json);
    return parse_ok(st, json);
}

static inline double num(const cJSON *o, const char *key) { return cJSON_GetNumberValue(cJSON_GetObjectItem(o, key)); }
static inline const char *str(const cJSON *o, const char *key) { return cJSON_GetStringValue(cJSON_GetObjectItem(o, key)); }

#endif
