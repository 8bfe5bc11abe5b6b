/* Per-component profiles of a forward pass (see profile.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "arrakis/profile.h"
#include "run/run_internal.h"

struct ark_profile {
    ark_profile_entry *e;
    int n, cap;
    double t_last, total, peak_rss, run_bytes;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void run_prof_start(run_ctx *r)
{
    if (r->prof) r->prof->t_last = now();
}

void run_prof(run_ctx *r, const char *kind, int layer, double flops, double bytes, const char *fmt, ...)
{
    ark_profile *p = r->prof;
    if (!p) return;
    double t = now();
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        p->e = realloc(p->e, sizeof *p->e * p->cap);
    }
    ark_profile_entry *e = &p->e[p->n++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->name, sizeof e->name, fmt, ap);
    va_end(ap);
    e->kind = kind;
    e->layer = layer;
    e->seconds = t - p->t_last;
    e->flops = flops;
    e->bytes = bytes;
    p->total += e->seconds;
    p->t_last = t;
}

void run_prof_bytes(run_ctx *r, double bytes)
{
    if (r->prof) r->prof->run_bytes += bytes;
}

ark_status ark_run_profiled(ark_model *m, const int32_t *tokens, int B, int T, const uint8_t *mask,
                            const ark_plan *plan, ark_cache **out, ark_profile **prof)
{
    ark_profile *p = calloc(1, sizeof *p);
    ark_run_opts o = ARK_RUN_OPTS_INIT;
    o.mask = mask;
    ark_status s = run_forward_profiled(m, tokens, B, T, &o, plan, NULL, out, p);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    p->peak_rss = ru.ru_maxrss * 1024.0;
    if (s != ARK_OK) { ark_profile_free(p); *prof = NULL; return s; }
    *prof = p;
    return ARK_OK;
}

int ark_profile_count(const ark_profile *p) { return p->n; }
const ark_profile_entry *ark_profile_at(const ark_profile *p, int i) { return i >= 0 && i < p->n ? &p->e[i] : NULL; }
double ark_profile_total(const ark_profile *p) { return p->total; }
double ark_profile_peak_rss(const ark_profile *p) { return p->peak_rss; }
double ark_profile_run_bytes(const ark_profile *p) { return p->run_bytes; }

double ark_profile_kind_seconds(const ark_profile *p, const char *kind)
{
    double s = 0;
    for (int i = 0; i < p->n; i++)
        if (!kind || !strcmp(p->e[i].kind, kind)) s += p->e[i].seconds;
    return s;
}

double ark_profile_kind_flops(const ark_profile *p, const char *kind)
{
    double s = 0;
    for (int i = 0; i < p->n; i++)
        if (!kind || !strcmp(p->e[i].kind, kind)) s += p->e[i].flops;
    return s;
}

static const char *const kinds[] = {"embed", "norm", "attention", "mlp", "unembed"};

char *ark_profile_json(const ark_profile *p)
{
    cJSON *o = cJSON_CreateObject(), *by = cJSON_AddObjectToObject(o, "by_kind"), *es = cJSON_AddArrayToObject(o, "entries");
    cJSON_AddNumberToObject(o, "total_seconds", p->total);
    cJSON_AddNumberToObject(o, "total_flops", ark_profile_kind_flops(p, NULL));
    cJSON_AddNumberToObject(o, "peak_rss_bytes", p->peak_rss);
    cJSON_AddNumberToObject(o, "run_alloc_bytes", p->run_bytes);
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        cJSON *x = cJSON_AddObjectToObject(by, kinds[k]);
        double sec = ark_profile_kind_seconds(p, kinds[k]);
        cJSON_AddNumberToObject(x, "seconds", sec);
        cJSON_AddNumberToObject(x, "share", p->total > 0 ? sec / p->total : 0);
        cJSON_AddNumberToObject(x, "flops", ark_profile_kind_flops(p, kinds[k]));
    }
    for (int i = 0; i < p->n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", p->e[i].name);
        cJSON_AddStringToObject(e, "kind", p->e[i].kind);
        cJSON_AddNumberToObject(e, "layer", p->e[i].layer);
        cJSON_AddNumberToObject(e, "seconds", p->e[i].seconds);
        cJSON_AddNumberToObject(e, "share", p->total > 0 ? p->e[i].seconds / p->total : 0);
        cJSON_AddNumberToObject(e, "flops", p->e[i].flops);
        cJSON_AddNumberToObject(e, "bytes", p->e[i].bytes);
        cJSON_AddItemToArray(es, e);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static int cmp_time(const void *a, const void *b)
{
    double x = ((const ark_profile_entry *)a)->seconds, y = ((const ark_profile_entry *)b)->seconds;
    return x > y ? -1 : x < y;
}

void ark_profile_print(const ark_profile *p, FILE *f, int top)
{
    fprintf(f, "%-12s %10s %7s %12s %10s\n", "component", "ms", "share", "GFLOP", "GFLOP/s");
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        double sec = ark_profile_kind_seconds(p, kinds[k]), fl = ark_profile_kind_flops(p, kinds[k]);
        fprintf(f, "%-12s %10.3f %6.1f%% %12.4f %10.2f\n", kinds[k], sec * 1e3, p->total > 0 ? 100 * sec / p->total : 0,
                fl * 1e-9, sec > 0 ? fl / sec * 1e-9 : 0);
    }
    fprintf(f, "%-12s %10.3f %6.1f%% %12.4f\n", "total", p->total * 1e3, 100.0, ark_profile_kind_flops(p, NULL) * 1e-9);
    fprintf(f, "peak RSS %.1f MB; this run allocated %.1f MB for activations and the cache\n", p->peak_rss / 1048576.0,
            p->run_bytes / 1048576.0);
    if (top <= 0) return;
    ark_profile_entry *sorted = malloc(sizeof *sorted * (p->n ? p->n : 1));
    memcpy(sorted, p->e, sizeof *sorted * p->n);
    qsort(sorted, p->n, sizeof *sorted, cmp_time);
    fprintf(f, "\n%-28s %10s %7s %12s %12s\n", "slowest", "ms", "share", "GFLOP", "MB out");
    for (int i = 0; i < p->n && i < top; i++)
        fprintf(f, "%-28s %10.3f %6.1f%% %12.4f %12.3f\n", sorted[i].name, sorted[i].seconds * 1e3,
                p->total > 0 ? 100 * sorted[i].seconds / p->total : 0, sorted[i].flops * 1e-9, sorted[i].bytes / 1048576.0);
    free(sorted);
}

void ark_profile_free(ark_profile *p)
{
    if (!p) return;
    free(p->e);
    free(p);
}
