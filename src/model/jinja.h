/* jinja.h — a sandboxed Jinja2 template engine for chat templates: parses a
 * template once and renders it against a JSON context, matching Python Jinja2
 * 3.1 as Hugging Face configures it (trim_blocks, lstrip_blocks, loop
 * controls, tojson without ASCII escaping, raise_exception, strftime_now). */
#ifndef LM_MODEL_JINJA_H
#define LM_MODEL_JINJA_H
#include "localm.h"
#include <stddef.h>
#include <stdint.h>

struct cJSON;
typedef struct lm_jinja_template lm_jinja_template;

/* Bounds on one render; a render that exceeds one fails with LM_ERR_TEMPLATE. */
typedef struct lm_jinja_limits {
    size_t max_output;  /* bytes of rendered text */
    size_t max_memory;  /* bytes of values allocated while rendering */
    uint64_t max_steps; /* loop iterations + macro calls + filter calls */
    int max_depth;      /* nesting of macro calls and expression evaluation */
} lm_jinja_limits;

/* 4 MiB output, 256 MiB memory, 10 million steps, depth 200. */
lm_jinja_limits lm_jinja_default_limits(void);

/* Parses template text (src, len). Syntax errors fail with LM_ERR_TEMPLATE and
 * "line L, column C: message". */
lm_status lm_jinja_parse(const char *src, size_t len, lm_jinja_template **out, lm_err *err);
void lm_jinja_free(lm_jinja_template *t); /* NULL is fine */

/* Renders with the members of the JSON object `context` as variables (NULL:
 * none). lim NULL means lm_jinja_default_limits(). On success *out is a
 * malloc'd NUL-terminated string of *out_len bytes (the caller frees it). */
lm_status lm_jinja_render(const lm_jinja_template *t, const struct cJSON *context,
                          const lm_jinja_limits *lim, char **out, size_t *out_len, lm_err *err);
#endif
