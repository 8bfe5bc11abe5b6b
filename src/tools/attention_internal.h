/* Shared between the attention tool's files (src/tools/attention*.c). */
#ifndef ARK_TOOLS_ATTENTION_INTERNAL_H
#define ARK_TOOLS_ATTENTION_INTERNAL_H

#include "arrakis/tool_attention.h"

/* Check the batch's sizes and ids against the model; errors name the field. */
ark_status attn_check_input(const ark_model *m, const ark_attn_input *in);

/* The positions of row b's real tokens, in order, into idx (T); returns
 * their count. */
int attn_row_index(const ark_attn_input *in, int b, int *idx);

/* Row b's real ids into ids (T); returns their count. */
int attn_row_ids(const ark_attn_input *in, int b, const int *idx, int n, int32_t *ids);

/* A head's pattern restricted to a row's real queries and keys: out (n, n)
 * from pat (T, T) (one [b, h] slice of hook_pattern). */
void attn_row_pattern(const float *pat, int T, const int *idx, int n, float *out);

#endif
