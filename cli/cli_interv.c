#include "cli_interv.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cli_interv_arg(cli_interv *iv, int argc, char **argv, int *i)
{
    const char *v;
    char kind;
    if (cli_opt(argc, argv, i, "--from", &v)) {
        if (!v) return -1;
        iv->from = v;
        return 1;
    }
    if (cli_opt(argc, argv, i, "--ablate", &v)) kind = 'a';
    else if (cli_opt(argc, argv, i, "--patch", &v)) kind = 'p';
    else if (cli_opt(argc, argv, i, "--steer", &v)) kind = 's';
    else return 0;
    if (!v) return -1;
    if (iv->n == iv->cap) {
        iv->cap = iv->cap ? 2 * iv->cap : 8;
        iv->items = realloc(iv->items, sizeof *iv->items * iv->cap);
    }
    iv->items[iv->n++] = (cli_interv_item){kind, v};
    return 1;
}

int cli_interv_spec_arg(void *iv, int argc, char **argv, int *i)
{
    int used = cli_interv_arg(iv, argc, argv, i);
    return used < 0 ? -2 : used;
}

/* A parsed spec: hook pattern, selection, and the other fields. */
typedef struct spec {
    char hook[256];
    char mode[16];
    char file[1024];
    float alpha;
    int pos[256], head[256], neuron[1024];
    ark_select sel;
} spec;

static int parse_list(const char *cmd, const char *s, int *out, int cap, int *n)
{
    int32_t *ids;
    int k = cli_parse_ids(cmd, s, &ids);
    if (k < 0) return 2;
    if (k > cap) { free(ids); return cli_error(cmd, "too many indices in \"%s\"", s); }
    for (int i = 0; i < k; i++) out[i] = ids[i];
    *n = k;
    free(ids);
    return 0;
}

/* Split "HOOK[:k=v...]" (steer: "HOOK:FILE[:ALPHA][:k=v]"); parts without
 * '=' belong to the hook name, except a steer's file and alpha. */
static int parse_spec(const char *cmd, char kind, const char *text, spec *sp)
{
    memset(sp, 0, sizeof *sp);
    snprintf(sp->mode, sizeof sp->mode, "zero");
    sp->alpha = 1.0f;
    char *copy = strdup(text), *save = NULL;
    int rc = 0;
    size_t hl = 0;
    for (char *part = strtok_r(copy, ":", &save); part && !rc; part = strtok_r(NULL, ":", &save)) {
        char *eq = strchr(part, '=');
        if (eq) {
            *eq = '\0';
            const char *val = eq + 1;
            if (!strcmp(part, "pos")) rc = parse_list(cmd, val, sp->pos, 256, &sp->sel.n_positions), sp->sel.positions = sp->pos;
            else if (!strcmp(part, "head")) rc = parse_list(cmd, val, sp->head, 256, &sp->sel.n_heads), sp->sel.heads = sp->head;
            else if (!strcmp(part, "neuron")) rc = parse_list(cmd, val, sp->neuron, 1024, &sp->sel.n_neurons), sp->sel.neurons = sp->neuron;
            else if (!strcmp(part, "mode") && kind == 'a') snprintf(sp->mode, sizeof sp->mode, "%s", val);
            else if (!strcmp(part, "alpha") && kind == 's') sp->alpha = strtof(val, NULL);
            else rc = cli_error(cmd, "unknown option \"%s\" in \"%s\" (pos=, head=, neuron=%s)", part, text,
                                kind == 'a' ? ", mode=zero|mean" : kind == 's' ? ", alpha=" : "");
        } else if (kind == 's' && hl && !sp->file[0] && (strstr(part, ".safetensors") || access(part, R_OK) == 0)) {
            snprintf(sp->file, sizeof sp->file, "%s", part);
        } else if (kind == 's' && sp->file[0]) {
            char *end;
            sp->alpha = strtof(part, &end);
            if (*end) rc = cli_error(cmd, "steer \"%s\": \"%s\" is not a number (ALPHA)", text, part);
        } else {
            hl += snprintf(sp->hook + hl, sizeof sp->hook - hl, "%s%s", hl ? ":" : "", part);
        }
    }
    free(copy);
    if (!rc && !sp->hook[0]) rc = cli_error(cmd, "\"%s\": no hook name", text);
    if (!rc && kind == 's' && !sp->file[0]) rc = cli_error(cmd, "--steer %s: expected HOOK:VECTOR.safetensors[:ALPHA]", text);
    if (!rc && kind == 'a' && strcmp(sp->mode, "zero") && strcmp(sp->mode, "mean"))
        rc = cli_error(cmd, "--ablate %s: mode must be zero or mean", text);
    return rc;
}

/* The steering vector: the file's only tensor, or the one named like the hook. */
static int load_vector(const char *cmd, cli_interv *iv, const spec *sp, float **vec, int *n)
{
    ark_st_file *f;
    if (ark_st_open(sp->file, &f) != ARK_OK) return cli_lib_error(cmd, "--steer");
    const ark_st_tensor *t = ark_st_count(f) == 1 ? ark_st_at(f, 0) : ark_st_find(f, sp->hook);
    if (!t) t = ark_st_find(f, "vector");
    int rc = 0;
    if (!t) rc = cli_error(cmd, "--steer: %s has %d tensors; name one \"%s\" or \"vector\"", sp->file, ark_st_count(f), sp->hook);
    float *data = NULL;
    bool owned = false;
    if (!rc && ark_st_to_f32(f, t, &data, &owned) != ARK_OK) rc = cli_lib_error(cmd, "--steer");
    if (!rc) {
        *n = (int)t->numel;
        *vec = malloc(sizeof(float) * (*n ? *n : 1));
        memcpy(*vec, data, sizeof(float) * *n);
        iv->vectors = realloc(iv->vectors, sizeof *iv->vectors * (iv->n_vectors + 1));
        iv->vectors[iv->n_vectors++] = *vec;
    }
    if (owned) free(data);
    ark_st_close(f);
    return rc;
}

/* A clean pass keeping every hook that a mean ablation names. */
static int mean_reference(cli_interv *iv, const char *cmd, ark_model *m, const cli_batch *batch)
{
    ark_plan *keep = ark_plan_new(m);
    int rc = 0;
    for (int i = 0; i < iv->n && !rc; i++) {
        spec sp;
        if (iv->items[i].kind != 'a' || parse_spec(cmd, 'a', iv->items[i].spec, &sp) || strcmp(sp.mode, "mean")) continue;
        if (ark_plan_keep(keep, sp.hook) != ARK_OK) rc = cli_lib_error(cmd, "--ablate");
    }
    if (!rc && ark_run(m, batch->tokens, batch->B, batch->T, batch->mask, keep, &iv->mean_ref) != ARK_OK)
        rc = cli_lib_error(cmd, "mean ablation reference run");
    ark_plan_free(keep);
    return rc;
}

int cli_interv_apply(cli_interv *iv, const char *cmd, ark_model *m, const cli_batch *batch, ark_plan *plan)
{
    int rc = 0;
    bool need_mean = false, need_from = false;
    for (int i = 0; i < iv->n; i++) {
        need_mean |= iv->items[i].kind == 'a' && strstr(iv->items[i].spec, "mode=mean");
        need_from |= iv->items[i].kind == 'p';
    }
    if (need_from && !iv->from) return cli_error(cmd, "--patch needs --from CACHE.safetensors (a file written by arrakis run --out)");
    if (need_from && ark_cache_load(iv->from, &iv->from_cache) != ARK_OK) return cli_lib_error(cmd, "--from");
    if (need_mean && (rc = mean_reference(iv, cmd, m, batch))) return rc;
    for (int i = 0; i < iv->n && !rc; i++) {
        spec sp;
        if ((rc = parse_spec(cmd, iv->items[i].kind, iv->items[i].spec, &sp))) break;
        ark_status s = ARK_OK;
        if (iv->items[i].kind == 'a')
            s = !strcmp(sp.mode, "mean") ? ark_plan_mean_ablate(plan, sp.hook, iv->mean_ref, &sp.sel)
                                         : ark_plan_zero_ablate(plan, sp.hook, &sp.sel);
        else if (iv->items[i].kind == 'p')
            s = ark_plan_patch(plan, sp.hook, iv->from_cache, &sp.sel);
        else {
            float *vec = NULL;
            int n = 0;
            if ((rc = load_vector(cmd, iv, &sp, &vec, &n))) break;
            s = ark_plan_steer(plan, sp.hook, vec, n, sp.alpha, &sp.sel);
        }
        if (s != ARK_OK) rc = cli_lib_error(cmd, iv->items[i].spec);
    }
    return rc;
}

void cli_interv_free(cli_interv *iv)
{
    free(iv->items);
    ark_cache_free(iv->from_cache);
    ark_cache_free(iv->mean_ref);
    for (int i = 0; i < iv->n_vectors; i++) free(iv->vectors[i]);
    free(iv->vectors);
}
