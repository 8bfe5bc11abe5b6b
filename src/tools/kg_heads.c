/* The heads' relational view from the weights (include/arrakis/tool_kg.h):
 * singular directions of each head's OV and QK circuits read out through
 * the embedding and the unembedding. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/factored.h"
#include "arrakis/run.h"
#include "arrakis/tool_kg.h"
#include "arrakis/weights.h"
#include "core/error.h"

/* The k largest (sign +1) or smallest (sign -1) values' ids, best first,
 * ties to the lower id. */
static void extreme(const float *val, int V, int k, float sign, int32_t *ids, float *out)
{
    int n = 0;
    for (int t = 0; t < V; t++) {
        float x = sign * val[t];
        if (n == k && !(x > sign * val[ids[n - 1]])) continue;
        int j = n < k ? n++ : k - 1;
        while (j > 0 && x > sign * val[ids[j - 1]]) { ids[j] = ids[j - 1]; j--; }
        ids[j] = t;
    }
    for (int i = 0; i < n; i++) out[i] = val[ids[i]];
}

static void side_free(ark_kg_side *s) { free(s->top), free(s->bottom), free(s->top_val), free(s->bottom_val); }

static void side_fill(const float *val, int V, int k, ark_kg_side *s)
{
    s->top = malloc(sizeof(int32_t) * (k ? k : 1)), s->bottom = malloc(sizeof(int32_t) * (k ? k : 1));
    s->top_val = malloc(sizeof(float) * (k ? k : 1)), s->bottom_val = malloc(sizeof(float) * (k ? k : 1));
    extreme(val, V, k, 1.0f, s->top, s->top_val);
    extreme(val, V, k, -1.0f, s->bottom, s->bottom_val);
}

void ark_kg_heads_free(ark_kg_head *h, int n)
{
    for (int i = 0; h && i < n; i++) {
        for (int j = 0; j < h[i].n; j++) {
            if (h[i].ov) side_free(&h[i].ov[j].a), side_free(&h[i].ov[j].b);
            if (h[i].qk) side_free(&h[i].qk[j].a), side_free(&h[i].qk[j].b);
        }
        free(h[i].ov), free(h[i].qk), free(h[i].ov_s), free(h[i].qk_s);
    }
    free(h);
}

/* The embedding and unembedding, for the readouts. */
typedef struct readout {
    int d, V;
    ark_tensor WE, WU; /* (V, d), (d, V) */
    float *va, *vb;    /* (V) scratch */
    float *col;        /* (d) */
} readout;

/* Directions of one circuit: n singular pairs read out; `through_wu`: the
 * b side through W_U (OV) rather than W_E (QK). */
static ark_status circuit_view(ark_factored *f, readout *ro, int n, int k, bool through_wu, float *S_all, ark_kg_direction *dirs)
{
    int d = ro->d, r = ark_factored_svd_rank(f);
    float *U = malloc(sizeof(float) * d * r), *V = malloc(sizeof(float) * d * r);
    ark_status s = U && V ? ark_factored_svd(f, U, S_all, V) : ark_fail(ARK_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n && s == ARK_OK; i++) {
        for (int j = 0; j < d; j++) ro->col[j] = U[(size_t)j * r + i];
        cblas_sgemv(CblasRowMajor, CblasNoTrans, ro->V, d, 1.0f, ro->WE.data, d, ro->col, 1, 0.0f, ro->va, 1);
        for (int j = 0; j < d; j++) ro->col[j] = V[(size_t)j * r + i];
        if (through_wu) cblas_sgemv(CblasRowMajor, CblasTrans, d, ro->V, 1.0f, ro->WU.data, ro->V, ro->col, 1, 0.0f, ro->vb, 1);
        else cblas_sgemv(CblasRowMajor, CblasNoTrans, ro->V, d, 1.0f, ro->WE.data, d, ro->col, 1, 0.0f, ro->vb, 1);
        float mx = 0, mn = 0;
        for (int t = 0; t < ro->V; t++) mx = fmaxf(mx, ro->vb[t]), mn = fminf(mn, ro->vb[t]);
        if (-mn > mx) // the pair's sign: the b side's largest magnitude positive
            for (int t = 0; t < ro->V; t++) ro->va[t] = -ro->va[t], ro->vb[t] = -ro->vb[t];
        dirs[i].s = S_all[i];
        side_fill(ro->va, ro->V, k, &dirs[i].a);
        side_fill(ro->vb, ro->V, k, &dirs[i].b);
    }
    free(U), free(V);
    return s;
}

static ark_status head_view(const ark_model *m, readout *ro, int layer, int head, int n, int k, ark_kg_head *h)
{
    ark_factored *ov = NULL, *qk = NULL;
    h->layer = layer, h->head = head;
    ARK_TRY(ark_ov_circuit(m, layer, head, &ov));
    ark_status s = ark_qk_circuit(m, layer, head, &qk);
    if (s == ARK_OK) {
        h->r = ark_factored_svd_rank(ov);
        h->n = n < h->r ? n : h->r;
        h->k = k < ro->V ? k : ro->V;
        h->ov_s = malloc(sizeof(float) * h->r), h->qk_s = malloc(sizeof(float) * h->r);
        h->ov = calloc(h->n ? h->n : 1, sizeof *h->ov), h->qk = calloc(h->n ? h->n : 1, sizeof *h->qk);
        s = h->ov_s && h->qk_s && h->ov && h->qk ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "out of memory");
    }
    if (s == ARK_OK) s = circuit_view(ov, ro, h->n, h->k, true, h->ov_s, h->ov);
    if (s == ARK_OK) s = circuit_view(qk, ro, h->n, h->k, false, h->qk_s, h->qk);
    ark_factored_free(ov);
    ark_factored_free(qk);
    return s;
}

ark_status ark_kg_heads(const ark_model *m, const int *layer_head, int n_heads, int n_vectors, int k,
                        ark_kg_head **out, int *n_out)
{
    *out = NULL;
    *n_out = 0;
    const ark_config *c = ark_model_config(m);
    if (n_vectors < 1) return ark_fail(ARK_ERR_ARG, "\"vectors\": %d, expected >= 1", n_vectors);
    if (k < 1) return ark_fail(ARK_ERR_ARG, "\"top_k\": %d, expected >= 1", k);
    int n = layer_head ? n_heads : c->n_layers * c->n_heads;
    for (int i = 0; layer_head && i < n; i++) {
        int l = layer_head[2 * i], h = layer_head[2 * i + 1];
        if (l < 0 || l >= c->n_layers) return ark_fail(ARK_ERR_ARG, "head %d.%d: layer out of range (%d layers)", l, h, c->n_layers);
        if (h < 0 || h >= c->n_heads) return ark_fail(ARK_ERR_ARG, "head %d.%d: head out of range (%d heads)", l, h, c->n_heads);
    }
    readout ro = {.d = c->d_model, .V = c->d_vocab};
    ark_status s = ark_weight_get(m, ARK_W_E, -1, -1, &ro.WE);
    if (s == ARK_OK) s = ark_weight_get(m, ARK_W_U, -1, -1, &ro.WU);
    ro.va = malloc(sizeof(float) * ro.V), ro.vb = malloc(sizeof(float) * ro.V), ro.col = malloc(sizeof(float) * ro.d);
    ark_kg_head *hs = calloc(n ? n : 1, sizeof *hs);
    if (s == ARK_OK && (!ro.va || !ro.vb || !ro.col || !hs)) s = ark_fail(ARK_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n && s == ARK_OK; i++) {
        int l = layer_head ? layer_head[2 * i] : i / c->n_heads, h = layer_head ? layer_head[2 * i + 1] : i % c->n_heads;
        s = head_view(m, &ro, l, h, n_vectors, k, &hs[i]);
    }
    ark_weight_free(&ro.WE), ark_weight_free(&ro.WU);
    free(ro.va), free(ro.vb), free(ro.col);
    if (s != ARK_OK) { ark_kg_heads_free(hs, n); return s; }
    *out = hs;
    *n_out = n;
    return ARK_OK;
}
