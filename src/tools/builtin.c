#include "tools/builtin.h"

/* Add each built-in tool here (declared in its own file). */
const ark_tool_def *const ark_builtin_tools[] = {
    &ark_tool_attention,
    &ark_tool_logit_lens,
    &ark_tool_logit,
    &ark_tool_decomposer,
    &ark_tool_residual,
    &ark_tool_composer,
    &ark_tool_write_read,
    &ark_tool_knowledge,
    &ark_tool_kg_extractor,
    &ark_tool_patching,
    &ark_tool_causal,
    &ark_tool_sparsity,
    &ark_tool_superposition,
    &ark_tool_feature_viz,
    &ark_tool_surgery,
    NULL,
};
