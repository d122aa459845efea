/* err.c — detailed error messages carried in lm_err. */
#include "base/err.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

lm_status lm_fail(lm_err *e, lm_status code, const char *fmt, ...) {
    if (!e) return code;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

lm_status lm_err_prefix(lm_err *e, const char *fmt, ...) {
    if (!e) return LM_OK;
    char pre[256], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    size_t n = strlen(pre);
    if (n > sizeof e->msg - 3) n = sizeof e->msg - 3;
    memcpy(e->msg, pre, n);
    memcpy(e->msg + n, ": ", 2);
    size_t room = sizeof e->msg - n - 3;
    size_t m = strnlen(old, room);
    memcpy(e->msg + n + 2, old, m);
    e->msg[n + 2 + m] = 0;
    return e->code;
}

void lm_err_clear(lm_err *e) {
    if (!e) return;
    e->code = LM_OK;
    e->msg[0] = 0;
}

const char *lm_err_text(const lm_err *e) {
    if (!e) return "";
    return e->msg[0] ? e->msg : lm_status_message(e->code);
}
