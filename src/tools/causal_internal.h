/* The causal tool's facts, read from its JSON parameters or a JSONL file. */
#ifndef ARK_TOOLS_CAUSAL_INTERNAL_H
#define ARK_TOOLS_CAUSAL_INTERNAL_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "arrakis/tool.h"
#include "arrakis/tool_causal.h"

typedef struct causal_fact {
    ark_trace_prompt p;
    char *prompt, *subject; /* NULL when given as tokens */
    char where[160];        /* "fact 3", "facts.jsonl:7" (for messages) */
} causal_fact;

typedef struct causal_facts {
    int n;
    causal_fact *f;
} causal_facts;

/* The facts of the parameters: one fact ({"prompt", "subject", "answer"} or
 * {"tokens", "subject_span", "answer"}), "facts" (a list of such objects)
 * or "facts_file" (JSONL, one object per line; blank lines skipped).  In a
 * fact, "canonical_prompt" stands in for a missing "prompt" and
 * "attribute" / "target" for a missing "answer"; other fields are ignored.
 * need_subject: a fact without a subject is an error. */
ark_status causal_facts_from_params(const ark_tool_env *env, const cJSON *params, bool need_subject, causal_facts *out);
void causal_facts_free(causal_facts *fs);

#endif
