/* arrakis generate MODEL_DIR (--text … | --tokens …) [--max-new N] [--temperature T]
 *                  [--top-k K] [--top-p P] [--seed S] [--json] [interventions] */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "cli.h"
#include "cli_input.h"
#include "cli_interv.h"
#include "cli_process.h"

static void usage(void)
{
    printf("usage: arrakis generate MODEL_DIR (--text TEXT | --tokens IDS)... [--max-new N] [--temperature T]\n"
           "                       [--top-k K] [--top-p P] [--seed S] [--no-stop] [--json]\n"
           "                       [--ablate ...] [--patch ... --from FILE] [--steer ...] [--process STEPS]\n\n"
           "Continue each prompt (one batch row per --text/--tokens).  Greedy by default and with\n"
           "--temperature 0; otherwise samples (seeded) from the top-k / top-p filtered distribution.\n"
           "Stops a row at the model's eos_token_id (unless --no-stop) or after --max-new tokens\n"
           "(default 20).  A key/value cache makes each new token cost one position.  The intervention\n"
           "flags of `arrakis run` stay active at every step.\n\n"
           "examples:\n"
           "  arrakis generate MODEL_DIR --text \"Gaishar Tastei lives in\" --max-new 3\n"
           "  arrakis generate MODEL_DIR --tokens 1,2,3 --temperature 0.8 --top-p 0.9 --seed 7 --json\n");
}

/* The sampling options into *o; 0, -1 after --help, or an exit code. */
static int parse_args(int argc, char **argv, const char **dir, bool *json, ark_gen_opts *o, cli_inputs *inputs,
                      cli_interv *iv, unsigned *process)
{
    long max_new = o->max_new, top_k = o->top_k, seed = (long)o->seed;
    double temperature = o->temperature, top_p = o->top_p;
    bool no_stop = false;
    const cli_option opts[] = {
        CLI_INT_OPT("--max-new", &max_new, CLI_MIN(0), .expect = "a count"),
        CLI_INT_OPT("--top-k", &top_k, CLI_MIN(0), .expect = "a count"), CLI_INT_OPT("--seed", &seed),
        CLI_DOUBLE_OPT("--temperature", &temperature), CLI_DOUBLE_OPT("--top-p", &top_p),
        CLI_FLAG_OPT("--no-stop", &no_stop), CLI_FLAG_OPT("--json", json), CLI_OPT_END,
    };
    cli_spec spec = {.cmd = "generate", .usage = usage, .opts = opts, .inputs = inputs, .process = process,
                     .dir = dir, .arg = cli_interv_spec_arg, .arg_ctx = iv};
    int rc = cli_parse(&spec, argc, argv);
    o->max_new = (int)max_new;
    o->top_k = (int)top_k;
    o->seed = (uint64_t)seed;
    o->temperature = (float)temperature;
    o->top_p = (float)top_p;
    if (no_stop) o->eos_id = -1;
    return rc;
}

static void print_row(const ark_generation *g, int b, cli_vocab *vocab, cJSON *rows)
{
    int n, k = ark_generation_new(g, b);
    const int32_t *ids = ark_generation_tokens(g, b, &n);
    cJSON *row = cJSON_CreateObject(), *all = cJSON_AddArrayToObject(row, "tokens"), *gen = cJSON_AddArrayToObject(row, "generated");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(i < n - k ? all : gen, cJSON_CreateNumber(ids[i]));
    cJSON_AddBoolToObject(row, "stopped_at_eos", ark_generation_stopped(g, b));
    char *text = NULL, *cont = NULL;
    if (vocab->tok) {
        ark_tokenizer_decode(vocab->tok, ids, n, false, &text);
        ark_tokenizer_decode(vocab->tok, ids + n - k, k, false, &cont);
        if (text) cJSON_AddStringToObject(row, "text", text);
        if (cont) cJSON_AddStringToObject(row, "continuation", cont);
    }
    if (rows) cJSON_AddItemToArray(rows, row);
    else {
        printf("row %d: %d new token%s%s\n", b, k, k == 1 ? "" : "s", ark_generation_stopped(g, b) ? " (stopped at eos)" : "");
        if (text) printf("  text:  %s\n  new:  ", text);
        else printf("  tokens:");
        for (int i = n - k; i < n; i++) printf(" %d", ids[i]);
        printf("\n");
        cJSON_Delete(row);
    }
    free(text);
    free(cont);
}

int cmd_generate(int argc, char **argv)
{
    const char *dir = NULL;
    bool json = false;
    ark_gen_opts o = ARK_GEN_OPTS_INIT;
    o.max_new = 20;
    cli_inputs inputs = {0};
    cli_interv iv = {0};
    unsigned process = 0;
    int rc = parse_args(argc, argv, &dir, &json, &o, &inputs, &iv, &process);
    if (rc < 0) {
        cli_inputs_free(&inputs);
        cli_interv_free(&iv);
        return 0;
    }
    ark_model *m = NULL;
    if (!rc && ark_model_open(dir, &m) != ARK_OK) rc = cli_lib_error("generate", NULL);
    if (!rc) rc = cli_apply_process("generate", m, process);
    cli_batch batch = {0};
    cli_vocab vocab = {0};
    ark_plan *plan = m ? ark_plan_new(m) : NULL;
    if (!rc) rc = cli_inputs_batch(&inputs, "generate", dir, m, &batch, &vocab);
    if (!rc) rc = cli_interv_apply(&iv, "generate", m, &batch, plan);
    ark_generation *g = NULL;
    if (!rc && ark_generate(m, batch.tokens, batch.B, batch.T, batch.mask, &o, plan, &g) != ARK_OK)
        rc = cli_lib_error("generate", NULL);
    if (!rc) {
        cJSON *rows = json ? cJSON_CreateArray() : NULL;
        for (int b = 0; b < ark_generation_rows(g); b++) print_row(g, b, &vocab, rows);
        if (json) {
            cJSON *out = cJSON_CreateObject();
            cJSON_AddItemToObject(out, "rows", rows);
            char *s = cJSON_PrintUnformatted(out);
            printf("%s\n", s);
            free(s);
            cJSON_Delete(out);
        }
    }
    ark_generation_free(g);
    ark_plan_free(plan);
    cli_batch_free(&batch);
    cli_vocab_free(&vocab);
    cli_inputs_free(&inputs);
    cli_interv_free(&iv);
    ark_model_free(m);
    return rc;
}
