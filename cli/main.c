/* arrakis: the command line over libarrakis. One subcommand per job. */
#include <stdio.h>
#include <string.h>

#include "arrakis/core.h"
#include "cli.h"

static const struct {
    const char *name;
    cli_cmd_fn fn;
    const char *summary;
} commands[] = {
    {"info", cmd_info, "describe a model folder: family, sizes, hook points"},
    {"run", cmd_run, "run a model on token ids or text; top-k predictions, cached activations"},
    {"generate", cmd_generate, "continue prompts (greedy or sampled), with interventions"},
    {"init", cmd_init, "write a randomly initialised model folder for a family"},
    {"decompose", cmd_decompose, "split the residual stream into its parts, with direct logit attribution"},
    {"lens", cmd_lens, "logit lens: the residual stream at every layer through the final norm and unembedding"},
    {"attribute", cmd_attribute, "direct logit attribution to a token (or a difference) by layer, head or neuron"},
    {"residual", cmd_residual, "residual-stream norms, movement, cosine between layers, each part's share"},
    {"svd", cmd_svd, "singular directions of a head's OV/QK circuit or an MLP, read out as tokens"},
    {"profile", cmd_profile, "time a forward pass per component: seconds, shares, FLOPs, memory"},
    {"stats", cmd_stats, "hypothesis tests on two samples: t-tests, permutation, bootstrap (JSON arrays)"},
    {"heads", cmd_heads, "score heads as previous-token/duplicate/induction heads; per-head ablation effects"},
    {"composition", cmd_composition, "Q-/K-/V-composition scores between heads, against a random baseline"},
    {"write-read", cmd_write_read, "heads that write into / read from a residual direction; information flow"},
    {"probe", cmd_probe, "linear probes per layer on a labelled dataset: accuracy, control task, selectivity"},
    {"kg", cmd_kg, "knowledge graph of what the model predicts for subjects x relation templates (JSON, DOT)"},
    {"exp", cmd_exp, "versioned experiments: run a YAML spec, list, show, diff and export runs"},
    {"patch", cmd_patch, "activation patching sweeps: layers x positions / heads, normalised metric"},
    {"trace", cmd_trace, "causal tracing (ROME): indirect effects of restored states; neuron interventions"},
    {"sparsity", cmd_sparsity, "activation density, dead units, L0, kurtosis, top examples per unit; magnitude pruning"},
    {"sae", cmd_sae, "sparse autoencoders: train (TopK or ReLU+L1) on activations, evaluate, inspect features"},
    {"pca", cmd_pca, "PCA of a hook point's activations over a dataset: explained variance, components"},
    {"surgery", cmd_surgery, "edit a model (delete/permute layers, merge/zero heads, zero neurons) into a new folder"},
    {"tool", cmd_tool, "run any tool by key with JSON parameters (arrakis tool --list)"},
    {"plot", cmd_plot, "plots (PNG/SVG/PDF): attention, logit lens, patching, attribution, neurons, ..."},
    {"view", cmd_view, "interactive HTML views: attention heads, logit lens table, tokens coloured by a value"},
    {"tokenize", cmd_tokenize, "text to token ids with a model folder's tokenizer"},
    {"detokenize", cmd_detokenize, "token ids to text"},
};

static void usage(FILE *f)
{
    fprintf(f, "arrakis %s - a mechanistic-interpretability workbench\n\n"
               "usage: arrakis COMMAND [ARGS...]   (arrakis COMMAND --help for details)\n\ncommands:\n",
            ark_version());
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fputs("\nexamples (a first session, from the repository root; the shipped model, models/induction-words):\n"
          "  M=models/induction-words  S=\"the red fox jumps over the lazy dog . the red fox jumps over the lazy\"\n"
          "  arrakis info $M                                       # family, sizes, hook points\n"
          "  arrakis run $M --text \"$S\" --top-k 5                 # next-token predictions\n"
          "  arrakis heads $M --repeat-random 12 --bos 1           # previous-token/induction heads\n"
          "  arrakis lens $M --text \"$S\" --pos -1                 # logit lens, layer by layer\n"
          "  arrakis exp run examples/investigation.yaml           # a logged, versioned experiment (docs/bench.md)\n"
          "  arrakis exp report induction_circuit --out report     # ... as an HTML report\n"
          "\ndocumentation: README.md, docs/api.md (the C API), docs/tools.md, docs/bench.md, docs/plots.md\n",
          f);
}

/* "unknown command" in one line, with a suggestion when one is close. */
static int unknown_command(const char *name)
{
    const char *names[sizeof commands / sizeof commands[0]];
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) names[i] = commands[i].name;
    const char *near = cli_closest(name, names, sizeof names / sizeof names[0]);
    fprintf(stderr, "arrakis: error: unknown command \"%s\" (arrakis --help lists the commands)", name);
    if (near) fprintf(stderr, "; did you mean \"%s\"?", near);
    fputc('\n', stderr);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("arrakis %s\n", ark_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            cli_set_command(commands[i].name);
            return commands[i].fn(argc - 1, argv + 1);
        }
    return unknown_command(argv[1]);
}
