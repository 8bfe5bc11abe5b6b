/* arrakis profile MODEL_DIR (--text … | --tokens …) [--hooks ...] [--repeat N] [--json] */
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "arrakis/profile.h"
#include "cli.h"
#include "cli_input.h"

static void usage(void)
{
    printf("usage: arrakis profile MODEL_DIR (--text TEXT | --tokens IDS)... [--hooks NAMES] [--top N] [--json]\n\n"
           "Time one forward pass per component (embedding, each layer's norms, q/k/v projections,\n"
           "attention core, output projection, MLP; final norm; unembedding): seconds, share of the\n"
           "total, analytic floating-point operations, bytes of activations produced, peak memory.\n"
           "A warm-up run comes first.  --hooks keeps hook points during the profiled run, to see\n"
           "what keeping them costs.\n\n"
           "example: arrakis profile MODEL_DIR --text \"The Eiffel Tower is in\" --json\n");
}

/* The arguments into the out-parameters: 0, -1 after --help, or an exit
 * code after reporting (the caller frees `in` either way). */
static int parse_args(int argc, char **argv, const char **dir, const char **hooks, bool *json, long *top,
                      cli_inputs *in)
{
    const cli_option opts[] = {
        CLI_STR_OPT("--hooks", hooks),
        CLI_INT_OPT("--top", top, .expect = "a count"),
        CLI_FLAG_OPT("--json", json), CLI_OPT_END,
    };
    cli_spec spec = {.cmd = "profile", .usage = usage, .opts = opts, .inputs = in, .dir = dir};
    return cli_parse(&spec, argc, argv);
}

int cmd_profile(int argc, char **argv)
{
    const char *dir = NULL, *hooks = NULL;
    bool json = false;
    long top = 10;
    cli_inputs inputs = {0};
    int prc = parse_args(argc, argv, &dir, &hooks, &json, &top, &inputs);
    if (prc) {
        cli_inputs_free(&inputs);
        return prc < 0 ? 0 : prc;
    }
    ark_model *m;
    if (ark_model_open(dir, &m) != ARK_OK) { cli_inputs_free(&inputs); return cli_lib_error("profile", NULL); }
    cli_batch batch = {0};
    cli_vocab vocab = {0};
    ark_plan *plan = ark_plan_new(m);
    int rc = cli_inputs_batch(&inputs, "profile", dir, m, &batch, &vocab);
    if (!rc && hooks) {
        char *copy = strdup(hooks), *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save))
            if (!strcmp(t, "all")) ark_plan_keep_all(plan);
            else if (ark_plan_keep(plan, t) != ARK_OK) rc = cli_lib_error("profile", "--hooks");
        free(copy);
    }
    ark_cache *cache = NULL;
    ark_profile *prof = NULL;
    if (!rc && ark_run(m, batch.tokens, batch.B, batch.T, batch.mask, plan, &cache) != ARK_OK) rc = cli_lib_error("profile", NULL);
    ark_cache_free(cache);
    cache = NULL;
    if (!rc && ark_run_profiled(m, batch.tokens, batch.B, batch.T, batch.mask, plan, &cache, &prof) != ARK_OK)
        rc = cli_lib_error("profile", NULL);
    if (!rc) {
        if (json) {
            char *s = ark_profile_json(prof);
            printf("%s\n", s);
            free(s);
        } else {
            printf("%s: %d x %d tokens, %d threads\n\n", dir, batch.B, batch.T, ark_get_threads());
            ark_profile_print(prof, stdout, (int)top);
        }
    }
    ark_profile_free(prof);
    ark_cache_free(cache);
    ark_plan_free(plan);
    cli_batch_free(&batch);
    cli_vocab_free(&vocab);
    cli_inputs_free(&inputs);
    ark_model_free(m);
    return rc;
}
