/* Arrakis: a mechanistic-interpretability workbench.  Umbrella header. */
#ifndef ARRAKIS_H
#define ARRAKIS_H

#include "arrakis/core.h"
#include "arrakis/safetensors.h"
#include "arrakis/model.h"
#include "arrakis/run.h"
#include "arrakis/interventions.h"
#include "arrakis/generate.h"
#include "arrakis/profile.h"
#include "arrakis/tokenizer.h"
#include "arrakis/tool.h"
#include "arrakis/analysis.h"
#include "arrakis/weights.h"
#include "arrakis/factored.h"
#include "arrakis/plot.h"
#include "arrakis/bench.h"
#include "arrakis/stats.h"

/* The built-in tools' typed APIs. */
#include "arrakis/tool_attention.h"
#include "arrakis/tool_composer.h"
#include "arrakis/tool_write_read.h"
#include "arrakis/tool_logit_lens.h"
#include "arrakis/tool_logit.h"
#include "arrakis/tool_decomposer.h"
#include "arrakis/tool_residual.h"
#include "arrakis/tool_patching.h"
#include "arrakis/tool_causal.h"
#include "arrakis/tool_knowledge.h"
#include "arrakis/tool_kg.h"
#include "arrakis/tool_sparsity.h"
#include "arrakis/tool_superposition.h"
#include "arrakis/tool_feature_viz.h"
#include "arrakis/tool_surgery.h"

#endif
