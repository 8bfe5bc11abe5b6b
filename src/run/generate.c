/* Generation with a key/value cache (see generate.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/generate.h"
#include "core/error.h"
#include "core/rng.h"
#include "run/run_internal.h"

struct ark_generation {
    int B, Tall;          /* rows; prompt width + max_new */
    int32_t *grid;        /* (B, Tall) prompt layout plus generated tokens */
    uint8_t *mask;        /* (B, Tall) */
    int32_t **rows;       /* per row: real tokens */
    int *n, *n_new;
    bool *stopped;
    ark_cache *cache;
};

typedef struct { float p; int id; } cand;

static int cmp_cand(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    return x->p > y->p ? -1 : x->p < y->p ? 1 : x->id - y->id;
}

/* Pick the next token from one row of logits. */
static int32_t pick(const float *logits, int V, const ark_gen_opts *o, ark_rng *rng, cand *buf)
{
    if (o->temperature <= 0.0f) {
        int best = 0;
        for (int i = 1; i < V; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }
    float mx = -INFINITY;
    for (int i = 0; i < V; i++) mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0;
    for (int i = 0; i < V; i++) {
        buf[i].id = i;
        buf[i].p = expf((logits[i] - mx) / o->temperature);
        sum += buf[i].p;
    }
    qsort(buf, V, sizeof *buf, cmp_cand);
    int keep = o->top_k > 0 && o->top_k < V ? o->top_k : V;
    double kept = 0;
    for (int i = 0; i < keep; i++) kept += buf[i].p;
    if (o->top_p < 1.0f) { /* smallest prefix whose probability reaches top_p (at least one) */
        double acc = 0;
        for (int i = 0; i < keep; i++) {
            acc += buf[i].p / kept;
            if (acc >= o->top_p) { keep = i + 1; break; }
        }
        kept = 0;
        for (int i = 0; i < keep; i++) kept += buf[i].p;
    }
    (void)sum;
    double u = ark_rng_uniform(rng) * kept, acc = 0;
    for (int i = 0; i < keep; i++) {
        acc += buf[i].p;
        if (u < acc) return buf[i].id;
    }
    return buf[keep - 1].id;
}

/* One step: logits for the newest position of every row. */
static ark_status step(ark_model *m, ark_generation *g, ark_kv *kv, int t0, int width, const ark_gen_opts *o,
                       const ark_plan *plan, ark_cache **out)
{
    ark_run_opts ro = ARK_RUN_OPTS_INIT;
    if (o->no_kv_cache) {
        /* the whole sequence so far, in the padded layout */
        int32_t *tok = malloc(sizeof *tok * g->B * width);
        uint8_t *mk = malloc((size_t)g->B * width);
        for (int b = 0; b < g->B; b++) {
            memcpy(tok + (size_t)b * width, g->grid + (size_t)b * g->Tall, sizeof *tok * width);
            memcpy(mk + (size_t)b * width, g->mask + (size_t)b * g->Tall, width);
        }
        ro.mask = mk;
        ark_status s = run_forward(m, tok, g->B, width, &ro, plan, NULL, out);
        free(tok);
        free(mk);
        return s;
    }
    int T = width - t0;
    int32_t *tok = malloc(sizeof *tok * g->B * T);
    uint8_t *mk = malloc((size_t)g->B * T);
    for (int b = 0; b < g->B; b++) {
        memcpy(tok + (size_t)b * T, g->grid + (size_t)b * g->Tall + t0, sizeof *tok * T);
        memcpy(mk + (size_t)b * T, g->mask + (size_t)b * g->Tall + t0, T);
    }
    ro.mask = mk;
    ark_status s = run_forward(m, tok, g->B, T, &ro, plan, kv, out);
    free(tok);
    free(mk);
    return s;
}

/* A plan with the same hook functions but nothing kept, for the steps. */
static ark_plan *hooks_only(const ark_model *m, const ark_plan *plan)
{
    if (!plan) return NULL;
    ark_plan *p = ark_plan_new(m);
    p->regs = malloc(sizeof *p->regs * (plan->n_regs ? plan->n_regs : 1));
    for (int i = 0; i < plan->n_regs; i++) {
        p->regs[i] = plan->regs[i];
        p->regs[i].free_ctx = NULL; /* the caller's plan owns them */
    }
    p->n_regs = p->cap_regs = plan->n_regs;
    return p;
}

static bool plan_keeps_any(const ark_model *m, const ark_plan *plan)
{
    for (int i = 0; plan && i < ark_hook_count(m); i++)
        if (ark_plan_keeps(plan, i)) return true;
    return false;
}

static ark_generation *gen_new(const int32_t *tokens, int B, int T, const uint8_t *mask, int max_new)
{
    ark_generation *g = calloc(1, sizeof *g);
    g->B = B;
    g->Tall = T + max_new;
    g->grid = calloc((size_t)B * g->Tall, sizeof *g->grid);
    g->mask = calloc((size_t)B * g->Tall, 1);
    g->rows = calloc(B, sizeof *g->rows);
    g->n = calloc(B, sizeof *g->n);
    g->n_new = calloc(B, sizeof *g->n_new);
    g->stopped = calloc(B, sizeof *g->stopped);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            g->grid[(size_t)b * g->Tall + t] = tokens[(size_t)b * T + t];
            g->mask[(size_t)b * g->Tall + t] = mask ? mask[(size_t)b * T + t] : 1;
        }
    return g;
}

/* The index of row b's last real position before `width`. */
static int last_real(const ark_generation *g, int b, int width)
{
    for (int t = width - 1; t >= 0; t--)
        if (g->mask[(size_t)b * g->Tall + t]) return t;
    return width - 1;
}

static void collect_rows(ark_generation *g, int width)
{
    for (int b = 0; b < g->B; b++) {
        g->rows[b] = malloc(sizeof(int32_t) * (width ? width : 1));
        for (int t = 0; t < width; t++)
            if (g->mask[(size_t)b * g->Tall + t]) g->rows[b][g->n[b]++] = g->grid[(size_t)b * g->Tall + t];
    }
}

ark_status ark_generate(ark_model *m, const int32_t *tokens, int B, int T, const uint8_t *mask,
                        const ark_gen_opts *opts, const ark_plan *plan, ark_generation **out)
{
    ark_gen_opts o = ARK_GEN_OPTS_INIT;
    if (opts) o = *opts;
    *out = NULL;
    if (o.max_new < 0) return ark_fail(ARK_ERR_ARG, "max_new %d: expected >= 0", o.max_new);
    if (o.top_p <= 0.0f || o.top_p > 1.0f) return ark_fail(ARK_ERR_ARG, "top_p %g: expected 0 < top_p <= 1", o.top_p);
    if (o.eos_id == ARK_EOS_DEFAULT) o.eos_id = m->cfg.eos_id;
    int V = m->cfg.d_vocab;
    ark_generation *g = gen_new(tokens, B, T, mask, o.max_new);
    ark_kv *kv = o.no_kv_cache ? NULL : ark_kv_new(&m->cfg, B, g->Tall);
    ark_plan *steps = hooks_only(m, plan);
    cand *buf = malloc(sizeof *buf * V);
    ark_rng rng;
    ark_rng_seed(&rng, o.seed);
    ark_status s = (!o.no_kv_cache && !kv) ? ark_fail(ARK_ERR_NOMEM, "out of memory for the key/value cache") : ARK_OK;
    int width = T, fed = 0, live = B;
    for (int i = 0; i < o.max_new && s == ARK_OK && live > 0; i++) {
        ark_cache *c = NULL;
        s = step(m, g, kv, fed, width, &o, steps, &c);
        if (s != ARK_OK) break;
        const ark_tensor *lg = ark_cache_logits(c);
        int Tl = (int)lg->shape[1], base = o.no_kv_cache ? 0 : fed;
        for (int b = 0; b < B; b++) {
            size_t at = (size_t)b * g->Tall + width;
            if (g->stopped[b]) { g->grid[at] = o.eos_id >= 0 ? o.eos_id : 0; continue; } /* masked filler */
            int t = last_real(g, b, width) - base;
            int32_t next = pick(lg->data + ((size_t)b * Tl + t) * V, V, &o, &rng, buf);
            g->grid[at] = next;
            g->mask[at] = 1;
            g->n_new[b]++;
            if (next == o.eos_id) { g->stopped[b] = true; live--; }
        }
        ark_cache_free(c);
        fed = width;
        width++;
    }
    if (s == ARK_OK && plan_keeps_any(m, plan)) {
        ark_run_opts ro = ARK_RUN_OPTS_INIT;
        int32_t *tok = malloc(sizeof *tok * B * width);
        uint8_t *mk = malloc((size_t)B * width);
        for (int b = 0; b < B; b++) {
            memcpy(tok + (size_t)b * width, g->grid + (size_t)b * g->Tall, sizeof *tok * width);
            memcpy(mk + (size_t)b * width, g->mask + (size_t)b * g->Tall, width);
        }
        ro.mask = mk;
        s = run_forward(m, tok, B, width, &ro, plan, NULL, &g->cache);
        free(tok);
        free(mk);
    }
    collect_rows(g, width);
    /* keep the mask as (B, width), the layout of the final cache */
    for (int b = 0; b < B; b++) memmove(g->mask + (size_t)b * width, g->mask + (size_t)b * g->Tall, width);
    g->Tall = width;
    free(buf);
    ark_plan_free(steps);
    ark_kv_free(kv);
    if (s != ARK_OK) { ark_generation_free(g); return s; }
    *out = g;
    return ARK_OK;
}

int ark_generation_rows(const ark_generation *g) { return g->B; }

const int32_t *ark_generation_tokens(const ark_generation *g, int b, int *n)
{
    if (b < 0 || b >= g->B) return NULL;
    if (n) *n = g->n[b];
    return g->rows[b];
}

int ark_generation_new(const ark_generation *g, int b) { return b >= 0 && b < g->B ? g->n_new[b] : 0; }
bool ark_generation_stopped(const ark_generation *g, int b) { return b >= 0 && b < g->B && g->stopped[b]; }
const ark_cache *ark_generation_cache(const ark_generation *g) { return g->cache; }

const uint8_t *ark_generation_mask(const ark_generation *g, int *T)
{
    if (T) *T = g->Tall;
    return g->mask;
}

void ark_generation_free(ark_generation *g)
{
    if (!g) return;
    for (int b = 0; b < g->B; b++) free(g->rows[b]);
    free(g->rows);
    free(g->n);
    free(g->n_new);
    free(g->stopped);
    free(g->grid);
    free(g->mask);
    ark_cache_free(g->cache);
    free(g);
}
