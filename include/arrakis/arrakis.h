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

#include "arrakis/tool_sparsity.h"
#include "arrakis/tool_superposition.h"
#include "arrakis/tool_feature_viz.h"
#include "arrakis/tool_surgery.h"

#endif
