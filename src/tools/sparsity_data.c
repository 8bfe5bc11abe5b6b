/* Datasets of prompts, streaming a hook point's activations over them, and
 * the next-token loss over a dataset (include/arrakis/tool_sparsity.h). */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arrakis/tool_sparsity.h"
#include "core/error.h"

struct ark_dataset {
    char *path;            /* NULL for rows in memory */
    int fd;
    const ark_tokenizer *tok;
    int64_t *off;          /* (n) byte offset of each prompt's line */
    int32_t *len;          /* (n) its length in bytes */
    int32_t *line;         /* (n) its 1-based line number */
    int32_t **rows;        /* (n) rows in memory */
    int *row_len;
    int n;
};

/* ---- parsing one line ---- */

/* ids of a JSON array of token ids. */
static ark_status json_ids(const cJSON *a, const char *where, int32_t **ids, int *n)
{
    int k = cJSON_GetArraySize(a), i = 0;
    if (k < 1) return ark_fail(ARK_ERR_FORMAT, "%s: \"tokens\" is empty (a prompt needs at least one token)", where);
    *ids = malloc(sizeof(int32_t) * k);
    if (!*ids) return ark_fail(ARK_ERR_NOMEM, "%s: out of memory", where);
    const cJSON *x;
    cJSON_ArrayForEach(x, a) {
        if (!cJSON_IsNumber(x) || x->valuedouble != floor(x->valuedouble) || x->valuedouble < 0 || x->valuedouble > 2147483647.0) {
            free(*ids);
            *ids = NULL;
            return ark_fail(ARK_ERR_FORMAT, "%s: \"tokens\"[%d]: expected a non-negative integer token id", where, i);
        }
        (*ids)[i++] = (int32_t)x->valuedouble;
    }
    *n = k;
    return ARK_OK;
}

/* Check (ids == NULL) or decode one line. */
static ark_status parse_line(const char *text, size_t len, const ark_tokenizer *tok, const char *where, int32_t **ids,
                             int *n)
{
    cJSON *js = cJSON_ParseWithLength(text, len);
    if (!js) return ark_fail(ARK_ERR_FORMAT, "%s: not valid JSON (expected {\"text\": ...}, {\"tokens\": [...]} or [ids])", where);
    const cJSON *t = cJSON_IsObject(js) ? cJSON_GetObjectItemCaseSensitive(js, "text") : NULL;
    const cJSON *a = cJSON_IsArray(js) ? js : cJSON_GetObjectItemCaseSensitive(js, "tokens");
    if (!a && cJSON_IsObject(js)) a = cJSON_GetObjectItemCaseSensitive(js, "input_ids"); /* Hugging Face's name */
    ark_status s = ARK_OK;
    if (cJSON_IsArray(a)) {
        int32_t *tmp = NULL;
        int k = 0;
        s = json_ids(a, where, &tmp, &k);
        if (s == ARK_OK && ids) { *ids = tmp; *n = k; }
        else free(tmp);
    } else if (cJSON_IsString(t)) {
        if (!tok) s = ark_fail(ARK_ERR_ARG, "%s: \"text\" needs a tokenizer, and the model folder has none (give \"tokens\")", where);
        else if (ids) {
            ark_encoding *e = NULL;
            s = ark_tokenizer_encode(tok, t->valuestring, strlen(t->valuestring), true, &e);
            if (s == ARK_OK && ark_encoding_count(e) < 1) s = ark_fail(ARK_ERR_FORMAT, "%s: the text encodes to no tokens", where);
            if (s == ARK_OK) {
                *n = ark_encoding_count(e);
                *ids = malloc(sizeof(int32_t) * *n);
                memcpy(*ids, ark_encoding_ids(e), sizeof(int32_t) * *n);
            } else if (s != ARK_ERR_FORMAT) {
                s = ark_fail_prefix(s, "%s", where);
            }
            ark_encoding_free(e);
        }
    } else {
        s = ark_fail(ARK_ERR_FORMAT, "%s: expected {\"text\": \"...\"}, {\"tokens\": [ids]} or a list of ids", where);
    }
    cJSON_Delete(js);
    return s;
}

/* ---- opening ---- */

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return false;
    return true;
}

static ark_status grow(ark_dataset *d, int *cap)
{
    if (d->n < *cap) return ARK_OK;
    *cap = *cap ? 2 * *cap : 256;
    int64_t *o = realloc(d->off, sizeof *o * *cap);
    if (o) d->off = o;
    int32_t *l = realloc(d->len, sizeof *l * *cap);
    if (l) d->len = l;
    int32_t *ln = realloc(d->line, sizeof *ln * *cap);
    if (ln) d->line = ln;
    return o && l && ln ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "%s: out of memory", d->path);
}

ark_status ark_dataset_open(const char *path, const ark_tokenizer *tok, ark_dataset **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return ark_fail(ARK_ERR_IO, "%s: cannot open the data file", path);
    ark_dataset *d = calloc(1, sizeof *d);
    d->path = strdup(path);
    d->tok = tok;
    d->fd = -1;
    char *buf = NULL, where[512];
    size_t cap_buf = 0;
    ssize_t n;
    int64_t off = 0;
    int cap = 0, lineno = 0;
    ark_status s = ARK_OK;
    while (s == ARK_OK && (n = getline(&buf, &cap_buf, f)) >= 0) {
        lineno++;
        if (!blank(buf, (size_t)n)) {
            snprintf(where, sizeof where, "%s:%d", path, lineno);
            s = parse_line(buf, (size_t)n, tok, where, NULL, NULL);
            if (s == ARK_OK) s = grow(d, &cap);
            if (s == ARK_OK) {
                d->off[d->n] = off;
                d->len[d->n] = (int32_t)n;
                d->line[d->n++] = lineno;
            }
        }
        off += n;
    }
    free(buf);
    fclose(f);
    if (s == ARK_OK && d->n == 0) s = ark_fail(ARK_ERR_FORMAT, "%s: no prompts (expected one JSON object per line)", path);
    if (s == ARK_OK && (d->fd = open(path, O_RDONLY)) < 0) s = ark_fail(ARK_ERR_IO, "%s: cannot reopen", path);
    if (s != ARK_OK) { ark_dataset_free(d); return s; }
    *out = d;
    return ARK_OK;
}

ark_status ark_dataset_from_rows(const int32_t *const *rows, const int *lens, int n, ark_dataset **out)
{
    *out = NULL;
    if (n < 1) return ark_fail(ARK_ERR_ARG, "dataset: no rows");
    ark_dataset *d = calloc(1, sizeof *d);
    d->fd = -1;
    d->rows = calloc((size_t)n, sizeof *d->rows);
    d->row_len = calloc((size_t)n, sizeof *d->row_len);
    for (int i = 0; i < n; i++) {
        if (lens[i] < 1) { d->n = i; ark_dataset_free(d); return ark_fail(ARK_ERR_ARG, "dataset: row %d is empty", i); }
        d->rows[i] = malloc(sizeof(int32_t) * lens[i]);
        memcpy(d->rows[i], rows[i], sizeof(int32_t) * lens[i]);
        d->row_len[i] = lens[i];
        d->n = i + 1;
    }
    *out = d;
    return ARK_OK;
}

int ark_dataset_count(const ark_dataset *d) { return d ? d->n : 0; }

void ark_dataset_where(const ark_dataset *d, int i, char *buf, size_t cap)
{
    if (d->path && i >= 0 && i < d->n) snprintf(buf, cap, "%s:%d", d->path, d->line[i]);
    else snprintf(buf, cap, "row %d", i);
}

ark_status ark_dataset_get(const ark_dataset *d, int i, int32_t **ids, int *n)
{
    *ids = NULL;
    *n = 0;
    if (i < 0 || i >= d->n) return ark_fail(ARK_ERR_ARG, "dataset: prompt %d is out of range (0..%d)", i, d->n - 1);
    if (!d->path) {
        *ids = malloc(sizeof(int32_t) * d->row_len[i]);
        memcpy(*ids, d->rows[i], sizeof(int32_t) * d->row_len[i]);
        *n = d->row_len[i];
        return ARK_OK;
    }
    char *buf = malloc((size_t)d->len[i] + 1), where[512];
    if (!buf) return ark_fail(ARK_ERR_NOMEM, "dataset: out of memory");
    ark_dataset_where(d, i, where, sizeof where);
    ssize_t got = pread(d->fd, buf, (size_t)d->len[i], (off_t)d->off[i]);
    ark_status s = got == d->len[i] ? parse_line(buf, (size_t)got, d->tok, where, ids, n)
                                    : ark_fail(ARK_ERR_IO, "%s: read failed (was the file changed?)", where);
    free(buf);
    return s;
}

void ark_dataset_free(ark_dataset *d)
{
    if (!d) return;
    if (d->fd >= 0) close(d->fd);
    for (int i = 0; d->rows && i < d->n; i++) free(d->rows[i]);
    free(d->rows);
    free(d->row_len);
    free(d->off);
    free(d->len);
    free(d->line);
    free(d->path);
    free(d);
}

/* ---- hook points ---- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

ark_status ark_hook_width(const ark_model *m, const char *hook, int *width)
{
    const ark_config *c = ark_model_config(m);
    if (!hook || !*hook) return ark_fail(ARK_ERR_ARG, "no hook point given (e.g. blocks.0.mlp.hook_post)");
    if (ark_hook_find(m, hook) < 0) {
        ark_plan *p = ark_plan_new(m);
        ark_status s = ark_plan_keep(p, hook);
        ark_plan_free(p);
        if (s != ARK_OK) return s;
        return ark_fail(ARK_ERR_ARG, "hook \"%s\": expected one exact hook name (e.g. blocks.0.mlp.hook_post), not a "
                        "pattern or shorthand", hook);
    }
    if (ends_with(hook, "hook_pattern") || ends_with(hook, "hook_attn_scores"))
        return ark_fail(ARK_ERR_ARG, "hook \"%s\": attention maps [b, h, q, k] are not per-position activations", hook);
    if (ends_with(hook, "hook_scale")) *width = 1;
    else if (ends_with(hook, "mlp.hook_pre") || ends_with(hook, "hook_pre_linear") || ends_with(hook, "mlp.hook_post"))
        *width = c->d_mlp;
    else if (ends_with(hook, "hook_q") || ends_with(hook, "hook_rot_q") || ends_with(hook, "hook_z"))
        *width = c->n_heads * c->d_head;
    else if (ends_with(hook, "hook_k") || ends_with(hook, "hook_v") || ends_with(hook, "hook_rot_k"))
        *width = c->n_kv_heads * c->d_head;
    else if (ends_with(hook, "hook_result")) *width = c->n_heads * c->d_model;
    else *width = c->d_model;
    return ARK_OK;
}

/* The block after which `hook` is known: stop_at_layer for the run. */
static int stop_layer(const ark_model *m, const char *hook)
{
    int l;
    if (sscanf(hook, "blocks.%d.", &l) == 1) return l + 1;
    if (!strncmp(hook, "hook_", 5)) return 0;
    (void)m;
    return -1;
}

/* ---- batches ---- */

typedef struct batch_in {
    ark_batch b;
    int first;            /* dataset index of row 0 */
} batch_in;

/* Prompts [first, first + n) as a padded batch, cut to max_len and checked
 * against the vocabulary. */
static ark_status load_batch(const ark_model *m, const ark_dataset *d, int first, int n, int max_len, batch_in *out)
{
    memset(out, 0, sizeof *out);
    out->first = first;
    int32_t **rows = calloc((size_t)n, sizeof *rows);
    int *lens = calloc((size_t)n, sizeof *lens), V = ark_model_config(m)->d_vocab;
    ark_status s = rows && lens ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "dataset: out of memory");
    for (int i = 0; s == ARK_OK && i < n; i++) {
        s = ark_dataset_get(d, first + i, &rows[i], &lens[i]);
        if (s == ARK_OK && lens[i] > max_len) lens[i] = max_len;
        for (int t = 0; s == ARK_OK && t < lens[i]; t++)
            if (rows[i][t] >= V) {
                char where[512];
                ark_dataset_where(d, first + i, where, sizeof where);
                s = ark_fail(ARK_ERR_ARG, "%s: token id %d at position %d is out of range (the model's vocabulary has %d)",
                             where, rows[i][t], t, V);
            }
    }
    if (s == ARK_OK) s = ark_batch_pack(m, (const int32_t *const *)rows, lens, n, &out->b);
    for (int i = 0; rows && i < n; i++) free(rows[i]);
    free(rows);
    free(lens);
    return s;
}

static ark_status check_opts(const ark_model *m, const ark_dataset *d, const ark_stream_opts *o, int *first, int *end,
                             int *batch, int *max_len)
{
    ark_stream_opts dflt = ARK_STREAM_OPTS_INIT;
    if (!o) o = &dflt;
    if (!d) return ark_fail(ARK_ERR_ARG, "no dataset given");
    *batch = o->batch > 0 ? o->batch : 8;
    *max_len = o->max_len > 0 ? o->max_len : ark_model_config(m)->n_ctx;
    if (o->first < 0 || o->first >= d->n || o->count < 0)
        return ark_fail(ARK_ERR_ARG, "dataset range: first %d, count %d for %d prompts", o->first, o->count, d->n);
    *first = o->first;
    *end = o->count ? (o->first + o->count < d->n ? o->first + o->count : d->n) : d->n;
    return ARK_OK;
}

/* ---- streaming ---- */

typedef struct stream_ctx {
    const batch_in *in;
    int width;
    ark_act_consumer fn;
    void *ctx;
    float *act;
    int *prompt, *pos;
    int32_t *token, *next;
} stream_ctx;

static ark_status stream_hook(ark_tensor *act, const ark_hook_call *call, void *ctx)
{
    stream_ctx *s = ctx;
    const ark_batch *b = &s->in->b;
    int w = s->width, n = 0;
    if (ark_tensor_numel(act) != (int64_t)call->B * call->T * w)
        return ark_fail(ARK_ERR_SHAPE, "%s: unexpected activation size", call->name);
    for (int r = 0; r < b->B; r++)
        for (int t = 0; t < b->len[r]; t++) {
            memcpy(s->act + (size_t)n * w, act->data + ((size_t)r * b->T + t) * w, sizeof(float) * w);
            s->prompt[n] = s->in->first + r;
            s->pos[n] = t;
            s->token[n] = b->tokens[(size_t)r * b->T + t];
            s->next[n] = t + 1 < b->len[r] ? b->tokens[(size_t)r * b->T + t + 1] : -1;
            n++;
        }
    ark_act_rows rows = {s->act, n, w, s->prompt, s->pos, s->token, s->next};
    return s->fn(&rows, s->ctx);
}

ark_status ark_stream_acts(ark_model *m, const ark_dataset *d, const char *hook, const ark_stream_opts *o,
                           ark_act_consumer fn, void *ctx)
{
    int first, end, batch, max_len, width;
    ARK_TRY(check_opts(m, d, o, &first, &end, &batch, &max_len));
    ARK_TRY(ark_hook_width(m, hook, &width));
    size_t rows_cap = (size_t)batch * max_len;
    stream_ctx sc = {.width = width, .fn = fn, .ctx = ctx};
    sc.act = malloc(sizeof(float) * rows_cap * width);
    sc.prompt = malloc(sizeof(int) * rows_cap);
    sc.pos = malloc(sizeof(int) * rows_cap);
    sc.token = malloc(sizeof(int32_t) * rows_cap);
    sc.next = malloc(sizeof(int32_t) * rows_cap);
    ark_plan *plan = ark_plan_new(m);
    ark_status s = sc.act && sc.prompt && sc.pos && sc.token && sc.next && plan
                 ? ark_plan_add_hook(plan, hook, ARK_HOOK_OBSERVE, stream_hook, &sc)
                 : ark_fail(ARK_ERR_NOMEM, "streaming %s: out of memory", hook);
    ark_run_opts ro = ARK_RUN_OPTS_INIT;
    ro.stop_at_layer = stop_layer(m, hook);
    for (int i = first; s == ARK_OK && i < end; i += batch) {
        batch_in in;
        int n = end - i < batch ? end - i : batch;
        s = load_batch(m, d, i, n, max_len, &in);
        if (s == ARK_OK) {
            sc.in = &in;
            ro.mask = in.b.mask;
            ark_cache *c = NULL;
            s = ark_run_ex(m, in.b.tokens, in.b.B, in.b.T, &ro, plan, &c);
            ark_cache_free(c);
        }
        ark_batch_free(&in.b);
    }
    ark_plan_free(plan);
    free(sc.act);
    free(sc.prompt);
    free(sc.pos);
    free(sc.token);
    free(sc.next);
    return s;
}

/* ---- loss ---- */

/* Sum of next-token CE over one batch's real positions. */
static void batch_ce(const ark_batch *b, const float *logits, int V, double *sum, int64_t *n)
{
    for (int r = 0; r < b->B; r++)
        for (int t = 0; t + 1 < b->len[r]; t++) {
            const float *z = logits + ((size_t)r * b->T + t) * V;
            double mx = z[0], se = 0;
            for (int v = 1; v < V; v++) mx = z[v] > mx ? z[v] : mx;
            for (int v = 0; v < V; v++) se += exp((double)z[v] - mx);
            *sum += mx + log(se) - (double)z[b->tokens[(size_t)r * b->T + t + 1]];
            (*n)++;
        }
}

ark_status ark_dataset_ce(ark_model *m, const ark_dataset *d, const ark_stream_opts *o, const ark_plan *plan,
                          double *ce, int64_t *n_predicted)
{
    int first, end, batch, max_len, V = ark_model_config(m)->d_vocab;
    *ce = NAN;
    if (n_predicted) *n_predicted = 0;
    ARK_TRY(check_opts(m, d, o, &first, &end, &batch, &max_len));
    double sum = 0;
    int64_t n = 0;
    ark_status s = ARK_OK;
    for (int i = first; s == ARK_OK && i < end; i += batch) {
        batch_in in;
        int k = end - i < batch ? end - i : batch;
        s = load_batch(m, d, i, k, max_len, &in);
        ark_cache *c = NULL;
        if (s == ARK_OK) s = ark_run(m, in.b.tokens, in.b.B, in.b.T, in.b.mask, plan, &c);
        if (s == ARK_OK) batch_ce(&in.b, ark_cache_logits(c)->data, V, &sum, &n);
        ark_cache_free(c);
        ark_batch_free(&in.b);
    }
    if (s != ARK_OK) return s;
    if (n == 0) return ark_fail(ARK_ERR_ARG, "next-token loss: no prompt of the dataset has two or more tokens");
    *ce = sum / (double)n;
    if (n_predicted) *n_predicted = n;
    return ARK_OK;
}
