/* arrakis probe MODEL_DIR --data FILE.jsonl [--hook H] [--pos last|N|token:T] [--layers all|L,..]
 *               [--control shuffle|none] [--test-fraction F] [--l2 X] [--seed S] [--save DIR] [--json]
 * arrakis probe MODEL_DIR --truth PAIRS.jsonl [--direction dom|unembed|FILE[:KEY]] ...
 *
 * Linear probes per layer and the true/false probe, through the knowledge
 * tool (include/arrakis/tool_knowledge.h: ops probe and truth). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "cli.h"
#include "cli_tool.h"

static void usage(void)
{
    printf("usage: arrakis probe MODEL_DIR --data FILE.jsonl [--hook HOOK] [--pos last|N|token:TOKEN]\n"
           "                    [--layers all|L,L,..] [--control shuffle|none] [--test-fraction F] [--l2 X]\n"
           "                    [--seed S] [--max-iter N] [--tol X] [--no-standardize] [--save DIR] [--json]\n"
           "       arrakis probe MODEL_DIR --truth PAIRS.jsonl [--direction dom|unembed|FILE.safetensors[:KEY]]\n"
           "                    [--hook HOOK] [--pos ..] [--layers ..] [--test-fraction F] [--seed S] [--save DIR] [--json]\n\n"
           "Fit a linear probe per layer: multinomial logistic regression on standardised activations,\n"
           "minimising mean cross-entropy + l2/2 ||W||^2 (full-batch L-BFGS), on one hook point per layer at\n"
           "one position of each example.  --data has one {\"text\": ..., \"label\": ...} per line (or \"tokens\":\n"
           "[ids]; labels are strings, numbers or booleans; optional \"entity\" or \"subject\").  Examples are split\n"
           "into train and test by entity (the entity field, else the text), so no entity is in both; the test\n"
           "share is --test-fraction (default 0.25), seeded by --seed (default 0).  The control task (Hewitt &\n"
           "Liang 2019) gives each entity a random label (the entities' labels permuted) and fits the same probe;\n"
           "selectivity = test accuracy - control test accuracy.  With two classes the difference-of-means\n"
           "direction (classes sorted: second minus first) is also scored as a classifier.\n\n"
           "  --hook HOOK        TransformerLens shorthand (resid_post (default), resid_pre, resid_mid, attn_out,\n"
           "                     mlp_out, post, z, ...) read at every layer in --layers, or one full hook name\n"
           "  --pos P            last (default): each example's last token; N: index (negative from the end);\n"
           "                     token:TOKEN: the first occurrence of TOKEN (an id or a one-token string)\n"
           "  --l2 X             lambda (default 0.01); --max-iter (1000), --tol (1e-6: stop at ||grad|| <= tol)\n"
           "  --save DIR         DIR/layerL.safetensors (W [classes, d], b, mean, std, dom [classes, d] and, for two\n"
           "                     classes, vector [d]) with DIR/layerL.json (hook, layer, classes); the vector steers\n"
           "                     (arrakis run --steer HOOK:DIR/layerL.safetensors) and is a write-read direction\n"
           "  --truth PAIRS      one {\"true\": TEXT, \"false\": TEXT} per line: each statement's activation along a\n"
           "                     direction (--direction dom (default): the unit mean(true) - mean(false) of the\n"
           "                     training pairs; unembed: per statement, the unembedding column W_U[:, t] of the\n"
           "                     token t after the read position (give --pos at the token before the claimed\n"
           "                     object); or a file's KEY / \"vector\" / only tensor), with the separation\n"
           "                     (mean difference / pooled SD), the share of pairs where the true statement\n"
           "                     scores higher, and the share of statements on the right side of the midpoint\n"
           "  --json             the tool's JSON (per layer accuracies, fits, split, saved paths)\n\n"
           "examples:\n"
           "  arrakis probe ../shared/fixtures/trained/facts-llama --data colour.jsonl --layers all --save probes\n"
           "  arrakis probe MODEL_DIR --data sentiment.jsonl --hook mlp_out --pos -1 --l2 0.1 --json\n"
           "  arrakis probe MODEL_DIR --truth pairs.jsonl --layers 2,3\n"
           "  arrakis probe MODEL_DIR --truth pairs.jsonl --direction unembed --pos -3\n"
           "  arrakis run MODEL_DIR --text \"...\" --steer blocks.2.hook_resid_post:probes/layer2.safetensors:4\n");
}

typedef struct probe_args {
    const char *dir, *data, *truth, *hook, *pos, *layers, *control, *direction, *save;
    double test_fraction, l2, tol;
    long seed, max_iter;
    bool json, no_std, has_tf, has_l2, has_tol, has_iter;
} probe_args;

static int parse_args(int argc, char **argv, probe_args *a)
{
    const cli_option opts[] = {
        CLI_STR_OPT("--data", &a->data), CLI_STR_OPT("--truth", &a->truth), CLI_STR_OPT("--hook", &a->hook),
        CLI_STR_OPT("--pos", &a->pos), CLI_STR_OPT("--layers", &a->layers), CLI_STR_OPT("--control", &a->control),
        CLI_STR_OPT("--direction", &a->direction), CLI_STR_OPT("--save", &a->save),
        CLI_INT_OPT("--seed", &a->seed), CLI_INT_OPT("--max-iter", &a->max_iter, .seen = &a->has_iter),
        CLI_DOUBLE_OPT("--test-fraction", &a->test_fraction, .seen = &a->has_tf),
        CLI_DOUBLE_OPT("--l2", &a->l2, .seen = &a->has_l2), CLI_DOUBLE_OPT("--tol", &a->tol, .seen = &a->has_tol),
        CLI_FLAG_OPT("--no-standardize", &a->no_std), CLI_FLAG_OPT("--json", &a->json), CLI_OPT_END,
    };
    cli_spec spec = {.cmd = "probe", .usage = usage, .opts = opts, .dir = &a->dir};
    return cli_parse(&spec, argc, argv);
}

/* --layers all|L,L,.. and --pos last|N|token:T into params. */
static int site_params(const probe_args *a, cJSON *p)
{
    if (a->hook) cJSON_AddStringToObject(p, "hook", a->hook);
    if (a->layers && strcmp(a->layers, "all")) {
        int32_t *ids = NULL;
        int n = cli_parse_ids("probe", a->layers, &ids);
        if (n < 0) return 2;
        if (!n) { free(ids); return cli_arg_error("probe", "--layers %s: expected all or a list such as 0,2", a->layers); }
        cJSON *l = cJSON_AddArrayToObject(p, "layers");
        for (int i = 0; i < n; i++) cJSON_AddItemToArray(l, cJSON_CreateNumber(ids[i]));
        free(ids);
    }
    if (!a->pos || !strcmp(a->pos, "last")) return 0;
    long n;
    if (cli_parse_int(a->pos, &n)) cJSON_AddNumberToObject(p, "pos", (double)n);
    else if (!strncmp(a->pos, "token:", 6)) {
        cJSON *t = cJSON_AddObjectToObject(p, "pos");
        cJSON_AddStringToObject(t, "token", a->pos + 6);
    } else return cli_arg_error("probe", "--pos %s: expected last, an index or token:TOKEN", a->pos);
    return 0;
}

static int build_params(const probe_args *a, cJSON *p)
{
    if (a->truth) {
        cJSON_AddStringToObject(p, "pairs", a->truth);
        if (a->direction) {
            if (!strcmp(a->direction, "dom") || !strcmp(a->direction, "unembed")) cJSON_AddStringToObject(p, "direction", a->direction);
            else {
                char *d = malloc(strlen(a->direction) + 8);
                sprintf(d, "file:%s", !strncmp(a->direction, "file:", 5) ? a->direction + 5 : a->direction);
                cJSON_AddStringToObject(p, "direction", d);
                free(d);
            }
        }
    } else {
        cJSON_AddStringToObject(p, "data", a->data);
        if (a->control) cJSON_AddStringToObject(p, "control", a->control);
        if (a->has_l2) cJSON_AddNumberToObject(p, "l2", a->l2);
        if (a->has_tol) cJSON_AddNumberToObject(p, "tol", a->tol);
        if (a->has_iter) cJSON_AddNumberToObject(p, "max_iter", (double)a->max_iter);
        if (a->no_std) cJSON_AddFalseToObject(p, "standardize");
    }
    if (a->has_tf) cJSON_AddNumberToObject(p, "test_fraction", a->test_fraction);
    cJSON_AddNumberToObject(p, "seed", (double)a->seed);
    if (a->save) cJSON_AddStringToObject(p, "save", a->save);
    return site_params(a, p);
}

static void print_acc(double v)
{
    if (isnan(v)) printf(" %9s", "-");
    else printf(" %9.3f", v);
}

static void print_probe(const cJSON *out)
{
    const cJSON *d = cJSON_GetObjectItem(out, "data"), *sp = cJSON_GetObjectItem(d, "split"), *l;
    printf("probe on %s at position %s: %d examples, %d entities, %d classes (chance %.3f, majority %.3f)\n",
           cJSON_GetObjectItem(out, "hook")->valuestring, cJSON_GetObjectItem(out, "position")->valuestring,
           (int)cli_num(d, "n_examples"), (int)cli_num(d, "n_entities"), cJSON_GetArraySize(cJSON_GetObjectItem(d, "classes")),
           cli_num(d, "chance"), cli_num(d, "majority"));
    printf("split by entity (seed %d): %d train examples (%d entities), %d test (%d entities); l2 %g; control %s\n\n",
           (int)cli_num(sp, "seed"), (int)cli_num(sp, "train_examples"), (int)cli_num(sp, "train_entities"), (int)cli_num(sp, "test_examples"),
           (int)cli_num(sp, "test_entities"), cli_num(out, "l2"), cJSON_GetObjectItem(out, "control")->valuestring);
    printf("%5s  %-28s %9s %9s %9s %9s %9s %9s\n", "layer", "hook", "train", "test", "ctl.train", "ctl.test", "select.", "dom.test");
    cJSON_ArrayForEach(l, cJSON_GetObjectItem(out, "layers")) {
        printf("%5d  %-28s", (int)cli_num(l, "layer"), cJSON_GetObjectItem(l, "hook")->valuestring);
        print_acc(cli_num(l, "train_accuracy")), print_acc(cli_num(l, "test_accuracy"));
        print_acc(cli_num(l, "control_train_accuracy")), print_acc(cli_num(l, "control_test_accuracy"));
        print_acc(cli_num(l, "selectivity")), print_acc(cli_num(cJSON_GetObjectItem(l, "dom"), "test_accuracy"));
        const cJSON *f = cJSON_GetObjectItem(l, "fit");
        if (!cJSON_IsTrue(cJSON_GetObjectItem(f, "converged"))) printf("  (not converged: |grad| %.2g)", cli_num(f, "grad_norm"));
        printf("\n");
    }
    const cJSON *b = cJSON_GetObjectItem(out, "best");
    if (b) printf("\nbest layer: %d (test accuracy %.3f, selectivity %.3f)\n", (int)cli_num(b, "layer"), cli_num(b, "test_accuracy"), cli_num(b, "selectivity"));
    cJSON_ArrayForEach(l, cJSON_GetObjectItem(out, "layers")) {
        const cJSON *s = cJSON_GetObjectItem(l, "saved");
        if (s) printf("saved: %s\n", s->valuestring);
    }
}

static void print_truth(const cJSON *out)
{
    const cJSON *l;
    printf("true/false probe on %s at position %s: %d pairs, direction %s\n\n", cJSON_GetObjectItem(out, "hook")->valuestring,
           cJSON_GetObjectItem(out, "position")->valuestring, (int)cli_num(out, "n_pairs"),
           cJSON_GetObjectItem(out, "direction")->valuestring);
    printf("%5s  %-28s %-6s %6s %11s %10s %9s %9s\n", "layer", "hook", "set", "pairs", "separation", "mean diff", "pair acc", "sign acc");
    cJSON_ArrayForEach(l, cJSON_GetObjectItem(out, "layers")) {
        const char *sets[] = {"train", "test", "all"};
        for (int s = 0; s < 3; s++) {
            const cJSON *t = cJSON_GetObjectItem(l, sets[s]);
            if (!t) continue;
            printf("%5d  %-28s %-6s %6d %11.3f %10.4g %9.3f %9.3f\n", (int)cli_num(l, "layer"), cJSON_GetObjectItem(l, "hook")->valuestring,
                   sets[s], (int)cli_num(t, "n_pairs"), cli_num(t, "separation"), cli_num(t, "mean_difference"), cli_num(t, "pair_accuracy"),
                   cli_num(t, "sign_accuracy"));
        }
        const cJSON *sv = cJSON_GetObjectItem(l, "saved");
        if (sv) printf("       saved: %s\n", sv->valuestring);
    }
}

int cmd_probe(int argc, char **argv)
{
    probe_args a = {0};
    int prc = parse_args(argc, argv, &a);
    if (prc) return prc < 0 ? 0 : prc;
    if (!a.data == !a.truth) return cli_arg_error("probe", "give one of --data FILE.jsonl (a probe) or --truth PAIRS.jsonl");
    if (a.direction && !a.truth) return cli_arg_error("probe", "--direction goes with --truth");
    cJSON *params = cJSON_CreateObject();
    int rc = build_params(&a, params);
    char *text = rc ? NULL : cJSON_PrintUnformatted(params), *result = NULL;
    cJSON_Delete(params);
    cli_tool_ctx ctx;
    if (!rc) {
        rc = cli_tool_open("probe", a.dir, &ctx);
        if (!rc) rc = cli_tool_call("probe", &ctx, "knowledge", a.truth ? "truth" : "probe", text, &result);
        cli_tool_close(&ctx);
    }
    if (!rc && a.json) printf("%s\n", result);
    else if (!rc) {
        cJSON *out = cJSON_Parse(result);
        if (a.truth) print_truth(out);
        else print_probe(out);
        cJSON_Delete(out);
    }
    free(text);
    free(result);
    return rc;
}
