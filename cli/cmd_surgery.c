/* arrakis surgery MODEL_DIR EDIT... --out DIR [--text TEXT | --tokens IDS]... [--json]
 *
 * Edit a copy of a model (the tool "surgery", include/arrakis/tool_surgery.h)
 * and write it as a new Hugging Face folder that `arrakis info` / `run`
 * load.  The folder MODEL_DIR is never changed. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "cli.h"
#include "cli_input.h"
#include "cli_tool.h"

static void usage(void)
{
    printf("usage: arrakis surgery MODEL_DIR EDIT... --out DIR [--text TEXT | --tokens IDS | --tokens-file FILE] [--json]\n\n"
           "Apply the edits, in the order given, to a copy of the model and write it to DIR (model.safetensors\n"
           "under the family's tensor names, config.json with the new layer count, the tokenizer files).\n"
           "Edits (each may be repeated; layer indices refer to the model as edited so far):\n"
           "  --delete-layer L            remove block L (later blocks move down)\n"
           "  --permute 0,2,1,...         new block i = block order[i]; may also drop or repeat blocks\n"
           "  --replace-layer L=S         block L becomes a copy of block S\n"
           "  --zero-head L.H             W_Q, b_Q and W_O of head H become 0 (and its K, V without GQA)\n"
           "  --merge-heads L.H1,L.H2[:A] head H1 <- A*H1 + (1-A)*H2 (W_Q, b_Q, W_O, and K, V without GQA;\n"
           "                              default A = 0.5), then head H2 zeroed\n"
           "  --zero-neuron L.N[:in|:out] zero MLP neuron N's input weights (W_in / W_gate column and bias) and/or\n"
           "                              output row (W_out); default both.  Its activation is then exactly 0.\n"
           "With --text/--tokens/--tokens-file the original and the edited model are run on those prompts and\n"
           "the largest logit change and top-1 agreement are printed (no --out needed then).\n"
           "Models that derive per-layer settings from the layer index (gpt2's scale_attn_by_inverse_layer_idx,\n"
           "qwen2's max_window_layers) are refused for layer edits that would change them.\n\n"
           "examples:\n"
           "  arrakis surgery MODEL_DIR --delete-layer 1 --out smaller/\n"
           "  arrakis surgery MODEL_DIR --permute 1,0 --zero-head 0.3 --out edited/ --tokens 1,2,3,4\n"
           "  arrakis surgery MODEL_DIR --merge-heads 1.0,1.2:0.7 --zero-neuron 0.17:in --out edited/ --json\n");
}

/* "L.H" -> two ints. */
static bool parse_pair(const char *s, int *a, int *b, const char **rest)
{
    char *end;
    long x = strtol(s, &end, 10);
    if (end == s || *end != '.') return false;
    const char *q = end + 1;
    long y = strtol(q, &end, 10);
    if (end == q) return false;
    *a = (int)x;
    *b = (int)y;
    *rest = end;
    return true;
}

static int add_edit(cJSON *edits, const char *opt, const char *v)
{
    cJSON *e = cJSON_CreateObject();
    int l, h, l2, h2;
    const char *rest;
    long x;
    if (!strcmp(opt, "--delete-layer")) {
        if (!cli_parse_int(v, &x)) goto bad;
        cJSON_AddStringToObject(e, "op", "delete_layer");
        cJSON_AddNumberToObject(e, "layer", (double)x);
    } else if (!strcmp(opt, "--permute")) {
        int32_t *ids;
        int n = cli_parse_ids("surgery", v, &ids);
        if (n < 0) { cJSON_Delete(e); return 2; }
        cJSON_AddStringToObject(e, "op", "permute");
        cJSON_AddItemToObject(e, "order", cJSON_CreateIntArray((const int *)ids, n));
        free(ids);
    } else if (!strcmp(opt, "--replace-layer")) {
        char *end;
        long a = strtol(v, &end, 10);
        if (end == v || *end != '=') goto bad;
        const char *q = end + 1;
        long b = strtol(q, &end, 10);
        if (end == q || *end) goto bad;
        cJSON_AddStringToObject(e, "op", "replace_layer");
        cJSON_AddNumberToObject(e, "layer", (double)a);
        cJSON_AddNumberToObject(e, "src_layer", (double)b);
    } else if (!strcmp(opt, "--zero-head")) {
        if (!parse_pair(v, &l, &h, &rest) || *rest) goto bad;
        cJSON_AddStringToObject(e, "op", "zero_head");
        cJSON_AddNumberToObject(e, "layer", l);
        cJSON_AddNumberToObject(e, "head", h);
    } else if (!strcmp(opt, "--zero-neuron")) {
        if (!parse_pair(v, &l, &h, &rest)) goto bad;
        const char *sides = !*rest ? "both" : !strcmp(rest, ":in") ? "in" : !strcmp(rest, ":out") ? "out" : NULL;
        if (!sides) goto bad;
        cJSON_AddStringToObject(e, "op", "zero_neuron");
        cJSON_AddNumberToObject(e, "layer", l);
        cJSON_AddNumberToObject(e, "neuron", h);
        cJSON_AddStringToObject(e, "sides", sides);
    } else { /* --merge-heads L.H1,L.H2[:alpha] */
        if (!parse_pair(v, &l, &h, &rest) || *rest != ',' || !parse_pair(rest + 1, &l2, &h2, &rest)) goto bad;
        if (l != l2) { cJSON_Delete(e); return cli_error("surgery", "--merge-heads %s: both heads must be in the same layer", v); }
        double alpha = 0.5;
        if (*rest == ':') {
            char *end;
            alpha = strtod(rest + 1, &end);
            if (end == rest + 1 || *end) goto bad;
        } else if (*rest) goto bad;
        cJSON_AddStringToObject(e, "op", "merge_heads");
        cJSON_AddNumberToObject(e, "layer", l);
        int hs[2] = {h, h2};
        cJSON_AddItemToObject(e, "heads", cJSON_CreateIntArray(hs, 2));
        cJSON_AddNumberToObject(e, "alpha", alpha);
    }
    cJSON_AddItemToArray(edits, e);
    return 0;
bad:
    cJSON_Delete(e);
    return cli_arg_error("surgery", "%s %s: malformed", opt, v);
}

static void print_result(const cJSON *r)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(r, "edits")) printf("  %s\n", e->valuestring);
    printf("layers: %d -> %d\n", cJSON_GetObjectItemCaseSensitive(r, "n_layers_before")->valueint,
           cJSON_GetObjectItemCaseSensitive(r, "n_layers_after")->valueint);
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(r, "out"), *c = cJSON_GetObjectItemCaseSensitive(r, "comparison");
    if (cJSON_IsString(out)) printf("edited model written to %s\n", out->valuestring);
    if (c)
        printf("on %d positions: largest logit change %.6g, top-1 agreement %.4f\n",
               cJSON_GetObjectItemCaseSensitive(c, "positions")->valueint,
               cJSON_GetObjectItemCaseSensitive(c, "max_abs_logit_change")->valuedouble,
               cJSON_GetObjectItemCaseSensitive(c, "top1_agreement")->valuedouble);
}

/* The edit options, repeatable and kept in order, as a cli_spec.arg hook
 * (ctx: the "edits" array). */
static int edit_arg(void *edits, int argc, char **argv, int *i)
{
    static const char *names[] = {"--delete-layer", "--permute", "--replace-layer", "--zero-head", "--zero-neuron",
                                  "--merge-heads"};
    const char *v;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (cli_opt(argc, argv, i, names[k], &v)) {
            int rc = v ? add_edit(edits, names[k], v) : 2;
            return rc ? -rc : 1;
        }
    return 0;
}

int cmd_surgery(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL;
    bool json = false;
    cli_inputs inputs = {0};
    cJSON *p = cJSON_CreateObject(), *edits = cJSON_AddArrayToObject(p, "edits");
    const cli_option opts[] = {CLI_STR_OPT("--out", &out), CLI_FLAG_OPT("--json", &json), CLI_OPT_END};
    cli_spec spec = {.cmd = "surgery", .usage = usage, .opts = opts, .inputs = &inputs, .dir = &dir,
                     .arg = edit_arg, .arg_ctx = edits};
    int rc = cli_parse(&spec, argc, argv);
    if (rc < 0) {
        cJSON_Delete(p);
        cli_inputs_free(&inputs);
        return 0;
    }
    bool compare = inputs.n > 0 || inputs.tokens_file;
    if (!rc && cJSON_GetArraySize(edits) == 0) rc = cli_error("surgery", "no edits given (--delete-layer, --permute, ...)");
    if (!rc && !out && !compare) rc = cli_error("surgery", "--out DIR: give the folder to write the edited model to");
    cli_tool_ctx ctx = {0};
    if (!rc) rc = cli_tool_open("surgery", dir, &ctx);
    if (!rc && out) cJSON_AddStringToObject(p, "out", out);
    if (!rc && compare) {
        rc = cli_tool_add_inputs("surgery", &inputs, dir, ctx.model, p);
    }
    char *params = cJSON_PrintUnformatted(p), *result = NULL;
    if (!rc) rc = cli_tool_call("surgery", &ctx, "surgery", "edit", params, &result);
    if (!rc && json) printf("%s\n", result);
    else if (!rc) {
        cJSON *r = cJSON_Parse(result);
        print_result(r);
        cJSON_Delete(r);
    }
    free(result);
    free(params);
    cJSON_Delete(p);
    if (ctx.model) cli_tool_close(&ctx);
    cli_inputs_free(&inputs);
    return rc;
}
