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

static int parse_float(const char *cmd, const char *flag, const char *v, float *out)
{
    char *end;
    *out = strtof(v, &end);
    if (end == v || *end) return cli_arg_error(cmd, "%s %s: expected a number", flag, v);
    return 0;
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
    const char *dir = NULL, *v;
    bool json = false;
    ark_gen_opts o = ARK_GEN_OPTS_INIT;
    o.max_new = 20;
    cli_inputs inputs = {0};
    cli_interv iv = {0};
    unsigned process = 0;
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            usage();
            cli_inputs_free(&inputs);
            cli_interv_free(&iv);
            return 0;
        }
        int used = cli_inputs_arg(&inputs, argc, argv, &i);
        if (!used) used = cli_interv_arg(&iv, argc, argv, &i);
        if (!used) used = cli_process_arg(argc, argv, &i, &process);
        if (used < 0) { rc = 2; continue; }
        if (used) continue;
        long n;
        if (cli_opt(argc, argv, &i, "--max-new", &v)) {
            if (!v) { rc = 2; continue; }
            if (!cli_parse_int(v, &n) || n < 0) rc = cli_arg_error("generate", "--max-new %s: expected a count", v);
            o.max_new = (int)n;
        } else if (cli_opt(argc, argv, &i, "--top-k", &v)) {
            if (!v) { rc = 2; continue; }
            if (!cli_parse_int(v, &n) || n < 0) rc = cli_arg_error("generate", "--top-k %s: expected a count", v);
            o.top_k = (int)n;
        } else if (cli_opt(argc, argv, &i, "--seed", &v)) {
            if (!v) { rc = 2; continue; }
            if (!cli_parse_int(v, &n)) rc = cli_arg_error("generate", "--seed %s: expected an integer", v);
            o.seed = (uint64_t)n;
        } else if (cli_opt(argc, argv, &i, "--temperature", &v)) {
            if (!v) { rc = 2; continue; }
            rc = parse_float("generate", "--temperature", v, &o.temperature);
        } else if (cli_opt(argc, argv, &i, "--top-p", &v)) {
            if (!v) { rc = 2; continue; }
            rc = parse_float("generate", "--top-p", v, &o.top_p);
        } else if (cli_flag(argv, i, "--no-stop")) o.eos_id = -1;
        else if (cli_flag(argv, i, "--json")) json = true;
        else if (argv[i][0] == '-') rc = cli_arg_error("generate", "unknown option %s", argv[i]);
        else if (!dir) dir = argv[i];
        else rc = cli_arg_error("generate", "unexpected argument %s", argv[i]);
    }
    if (!rc && !dir) rc = cli_arg_error("generate", "missing MODEL_DIR");
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
