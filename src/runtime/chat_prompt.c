/* chat_prompt.c — rendering with the model's template and special texts. */
#include "runtime/chat_prompt.h"
#include "model/chat_template.h"

lm_status lm_chat_prompt(const lm_model_desc *m, const struct cJSON *messages,
                         const struct cJSON *tools, bool add_generation_prompt, char **out,
                         bool *used_builtin, lm_err *err) {
    lm_chat_params p = lm_chat_default_params();
    p.template_src = m->chat_template;
    p.messages = messages;
    p.tools = tools;
    p.add_generation_prompt = add_generation_prompt;
    p.bos_token = m->bos_text;
    p.eos_token = m->eos_text;
    return lm_chat_render(&p, out, NULL, used_builtin, err);
}
