#include "tools/builtin.h"

/* Add each built-in tool here (declared in its own file). */
const ark_tool_def *const ark_builtin_tools[] = {
    &ark_tool_attention,
    NULL,
};
