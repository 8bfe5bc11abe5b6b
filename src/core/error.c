#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ARK_ERRMSG_MAX 2048
static _Thread_local char errmsg[ARK_ERRMSG_MAX];

const char *ark_errmsg(void) { return errmsg; }

void ark_clear_error(void) { errmsg[0] = '\0'; }

ark_status ark_fail(ark_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, sizeof errmsg, fmt, ap);
    va_end(ap);
    return code;
}

ark_status ark_fail_prefix(ark_status code, const char *fmt, ...)
{
    char old[ARK_ERRMSG_MAX];
    memcpy(old, errmsg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(errmsg, sizeof errmsg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n + 2 < sizeof errmsg)
        snprintf(errmsg + n, sizeof errmsg - (size_t)n, ": %.*s", (int)(sizeof errmsg - (size_t)n - 3), old);
    return code;
}

const char *ark_status_name(ark_status s)
{
    switch (s) {
    case ARK_OK: return "ok";
    case ARK_ERR_IO: return "io";
    case ARK_ERR_FORMAT: return "format";
    case ARK_ERR_SHAPE: return "shape";
    case ARK_ERR_MISSING: return "missing";
    case ARK_ERR_UNSUPPORTED: return "unsupported";
    case ARK_ERR_ARG: return "argument";
    case ARK_ERR_NOMEM: return "memory";
    }
    return "unknown";
}
