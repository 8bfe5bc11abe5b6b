/* Internal error helpers: set the thread's message and return a status. */
#ifndef ARK_CORE_ERROR_H
#define ARK_CORE_ERROR_H

#include "arrakis/core.h"

#if defined(__GNUC__)
#define ARK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ARK_PRINTF(a, b)
#endif

/* Record a formatted message for this thread and return `code`. */
ark_status ark_fail(ark_status code, const char *fmt, ...) ARK_PRINTF(2, 3);

/* Prefix the current message with "prefix: " (for context added by callers,
 * e.g. the file name around a parse error).  Returns `code`. */
ark_status ark_fail_prefix(ark_status code, const char *fmt, ...) ARK_PRINTF(2, 3);

/* Clear the message. */
void ark_clear_error(void);

#define ARK_TRY(expr) do { ark_status ark_try_s_ = (expr); if (ark_try_s_ != ARK_OK) return ark_try_s_; } while (0)

#endif
