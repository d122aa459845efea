/* err.h — filling an lm_err with a code and a formatted detail message. */
#ifndef LM_BASE_ERR_H
#define LM_BASE_ERR_H
#include "localm.h"

/* Records code + printf-style detail in e (if non-NULL) and returns code, so
 * failure paths read `return lm_fail(err, LM_ERR_IO, "open %s: %s", p, why);`. */
lm_status lm_fail(lm_err *e, lm_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes the existing message with "what: " (for context as errors bubble up). */
lm_status lm_err_prefix(lm_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lm_err_clear(lm_err *e);
/* The detail message, or the code's generic message when there is none. */
const char *lm_err_text(const lm_err *e);
#endif
