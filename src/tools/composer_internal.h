/* Helpers of the composer tool shared with the write_read tool. */
#ifndef ARK_TOOLS_COMPOSER_INTERNAL_H
#define ARK_TOOLS_COMPOSER_INTERNAL_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "arrakis/factored.h"
#include "arrakis/model.h"

/* The processing steps applied to m, as a JSON array of their names. */
cJSON *composer_processed_json(const ark_model *m);
/* "process": true -> ark_composer_process(m) (in place). */
ark_status composer_apply_process(ark_model *m, const cJSON *params);
/* params[field] as [layer, head] or "L.H" ("L1H2", "1:2" too); a negative
 * layer counts from the end.  Errors name the field. */
ark_status composer_parse_head(const ark_config *c, const cJSON *params, const char *field, int *l, int *h);
/* "1.2", "L1H2", "1:2" -> 1, 2 (no range check). */
bool composer_parse_head_str(const char *s, int *l, int *h);
/* A factored matrix as {shape, inner, frobenius, singular_values (top_k),
 * [matrix]}. */
ark_status composer_factored_json(const ark_factored *f, int top_k, bool materialize, cJSON **out);

#endif
