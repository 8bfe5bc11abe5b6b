/* The built-in tools, NULL-terminated (src/tools/builtin.c). Each tool's
 * file defines one `const ark_tool_def ark_tool_<name>` and the list below
 * names it. */
#ifndef ARK_TOOLS_BUILTIN_H
#define ARK_TOOLS_BUILTIN_H

#include "arrakis/tool.h"

extern const ark_tool_def *const ark_builtin_tools[];
extern const ark_tool_def ark_tool_composer;
extern const ark_tool_def ark_tool_write_read;
extern const ark_tool_def ark_tool_attention;
extern const ark_tool_def ark_tool_logit_lens;
extern const ark_tool_def ark_tool_logit;
extern const ark_tool_def ark_tool_decomposer;
extern const ark_tool_def ark_tool_residual;

extern const ark_tool_def ark_tool_knowledge;
extern const ark_tool_def ark_tool_kg_extractor;
extern const ark_tool_def ark_tool_patching;
extern const ark_tool_def ark_tool_causal;

extern const ark_tool_def ark_tool_sparsity;
extern const ark_tool_def ark_tool_superposition;
extern const ark_tool_def ark_tool_feature_viz;
extern const ark_tool_def ark_tool_surgery;

#endif
