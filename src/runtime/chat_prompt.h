/* chat_prompt.h — a conversation rendered into prompt text with a model's own
 * chat template and its BOS/EOS texts (ChatML when the model has none). */
#ifndef LM_RUNTIME_CHAT_PROMPT_H
#define LM_RUNTIME_CHAT_PROMPT_H
#include "model/model_desc.h"
#include <stdbool.h>

struct cJSON;

/* *out is malloc'd; *used_builtin (may be NULL) tells whether ChatML was used. */
lm_status lm_chat_prompt(const lm_model_desc *m, const struct cJSON *messages,
                         const struct cJSON *tools, bool add_generation_prompt, char **out,
                         bool *used_builtin, lm_err *err);
#endif
