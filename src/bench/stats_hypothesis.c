/* ark_test_hypothesis: run a null and an alternative function n times,
 * test, state the decision, and record the test in an experiment run
 * (see include/arrakis/stats.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "arrakis/bench.h"
#include "bench/stats_internal.h"
#include "core/error.h"

/* Call fn(ctx, i) for one i; errors name the function and i. */
static ark_status call_metric(const char *what, ark_metric_fn fn, void *ctx, int i, double *value)
{
    *value = NAN;
    ark_status s = fn(ctx, i, value);
    if (s != ARK_OK) return ark_fail_prefix(s, "%s(%d)", what, i);
    if (!isfinite(*value)) return ark_fail(ARK_ERR_ARG, "%s(%d): returned %g, not a finite number", what, i, *value);
    return ARK_OK;
}

static cJSON *number_array(const double *x, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(x[i]));
    return a;
}

static char *hypothesis_json(const ark_hypothesis *h, const ark_stats_result *r, const double *alt,
                             const double *null)
{
    cJSON *o = stats_json_object(r);
    if (h->name) cJSON_AddStringToObject(o, "hypothesis", h->name);
    else cJSON_AddNullToObject(o, "hypothesis");
    if (h->metric) cJSON_AddStringToObject(o, "metric", h->metric);
    else cJSON_AddNullToObject(o, "metric");
    cJSON_AddNumberToObject(o, "n", h->n);
    cJSON *v = cJSON_AddObjectToObject(o, "values");
    cJSON_AddItemToObject(v, "alternative", number_array(alt, h->n));
    cJSON_AddItemToObject(v, "null", number_array(null, h->n));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* Record the test in the run: the JSON as "hypothesis_test", the p-value as
 * a metric. */
static ark_status record(ark_exp_run *run, const ark_stats_result *r, const char *js)
{
    ARK_TRY(ark_exp_attach(run, "hypothesis_test", js));
    if (!isnan(r->p_value)) ARK_TRY(ark_exp_log_metric(run, "hypothesis_p_value", r->p_value));
    return ARK_OK;
}

ark_status ark_test_hypothesis(const ark_hypothesis *h, ark_exp_run *run, ark_stats_result *out, char **json)
{
    if (json) *json = NULL;
    if (!h) return ark_fail(ARK_ERR_ARG, "hypothesis: NULL");
    if (!h->null_fn) return ark_fail(ARK_ERR_ARG, "hypothesis.null_fn: NULL");
    if (!h->alt_fn) return ark_fail(ARK_ERR_ARG, "hypothesis.alt_fn: NULL");
    if (h->n < 2) return ark_fail(ARK_ERR_ARG, "hypothesis.n: %d, expected at least 2", h->n);
    ark_stats_opts o;
    ARK_TRY(stats_opts_resolve(&h->opts, &o)); /* before any (possibly slow) call */
    double *alt = malloc(sizeof *alt * (size_t)h->n), *null = malloc(sizeof *null * (size_t)h->n);
    ark_status s = alt && null ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "hypothesis: %d values", h->n);
    for (int i = 0; s == ARK_OK && i < h->n; i++) {
        s = call_metric("alt_fn", h->alt_fn, h->alt_ctx, i, &alt[i]);
        if (s == ARK_OK) s = call_metric("null_fn", h->null_fn, h->null_ctx, i, &null[i]);
    }
    ark_stats_result r;
    if (s == ARK_OK) s = ark_stats_run(h->test, alt, h->n, null, h->n, &o, &r);
    char *js = NULL;
    if (s == ARK_OK) {
        stats_decide_as(&r, "alternative", "null");
        js = hypothesis_json(h, &r, alt, null);
        if (!js) s = ark_fail(ARK_ERR_NOMEM, "hypothesis: JSON");
    }
    if (s == ARK_OK && run) s = record(run, &r, js);
    free(alt);
    free(null);
    if (s != ARK_OK) {
        free(js);
        return s;
    }
    if (out) *out = r;
    if (json) *json = js;
    else free(js);
    return ARK_OK;
}
