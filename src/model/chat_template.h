/* chat_template.h — renders a conversation into prompt text with a model's
 * Jinja chat template, the way Hugging Face's apply_chat_template does, or
 * with a built-in ChatML template when the model ships none. */
#ifndef LM_MODEL_CHAT_TEMPLATE_H
#define LM_MODEL_CHAT_TEMPLATE_H
#include "localm.h"
#include "model/jinja.h"
#include <stdbool.h>
#include <stddef.h>

struct cJSON;

typedef struct lm_chat_params {
    const char *template_src;     /* NUL-terminated Jinja source; NULL: built-in ChatML */
    const struct cJSON *messages; /* JSON array of {role, content, ...} (required) */
    const struct cJSON *tools;    /* JSON array of tool schemas, or NULL (renders as none) */
    bool add_generation_prompt;
    const char *bos_token;         /* NULL: "" */
    const char *eos_token;         /* NULL: "" */
    const struct cJSON *extra;     /* JSON object of further variables, or NULL */
    const lm_jinja_limits *limits; /* NULL: lm_jinja_default_limits() */
} lm_chat_params;

lm_chat_params lm_chat_default_params(void);

/* The built-in ChatML template (<|im_start|>role\ncontent<|im_end|>\n ...). */
const char *lm_chat_builtin_template(void);

/* Renders into *out (malloc'd, NUL-terminated; *out_len bytes when out_len is
 * not NULL). *used_builtin (may be NULL) tells whether ChatML was used, so the
 * caller can report it. Template errors fail with LM_ERR_TEMPLATE. */
lm_status lm_chat_render(const lm_chat_params *p, char **out, size_t *out_len, bool *used_builtin,
                         lm_err *err);
#endif
