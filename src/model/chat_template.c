/* chat_template.c — conversation + template -> prompt text, with the variables
 * Hugging Face's apply_chat_template passes (messages, tools, bos_token,
 * eos_token, add_generation_prompt) and a ChatML fallback. */
#include "model/chat_template.h"
#include "base/err.h"
#include <cjson/cJSON.h>
#include <string.h>

static const char k_chatml[] =
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string %}{{- message['content'] }}"
    "{%- elif message['content'] is not none %}{{- message['content'] | tojson }}{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

const char *lm_chat_builtin_template(void) {
    return k_chatml;
}

lm_chat_params lm_chat_default_params(void) {
    return (lm_chat_params){0};
}

lm_status lm_chat_render(const lm_chat_params *p, char **out, size_t *out_len, bool *used_builtin,
                         lm_err *err) {
    if (!p || !out) return lm_fail(err, LM_ERR_INVALID_ARG, "chat template: bad arguments");
    *out = NULL;
    if (!cJSON_IsArray(p->messages))
        return lm_fail(err, LM_ERR_INVALID_ARG, "chat template: messages must be a JSON array");
    if (p->tools && !cJSON_IsArray(p->tools) && !cJSON_IsNull(p->tools))
        return lm_fail(err, LM_ERR_INVALID_ARG, "chat template: tools must be a JSON array");
    if (p->extra && !cJSON_IsObject(p->extra))
        return lm_fail(err, LM_ERR_INVALID_ARG,
                       "chat template: extra variables must be a JSON object");
    bool builtin = p->template_src == NULL;
    if (used_builtin) *used_builtin = builtin;
    const char *src = builtin ? k_chatml : p->template_src;

    /* The context borrows the caller's JSON: references, not copies. */
    cJSON *ctx = cJSON_CreateObject();
    if (!ctx) return lm_fail(err, LM_ERR_NO_MEMORY, "chat template: out of memory");
    bool ok = true;
    if (p->extra)
        for (const cJSON *e = p->extra->child; e && ok; e = e->next)
            ok = cJSON_AddItemReferenceToObject(ctx, e->string, (cJSON *)e);
    const char *reserved[] = {"messages", "tools", "add_generation_prompt", "bos_token",
                              "eos_token"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(ctx, reserved[i]);
    ok = ok && cJSON_AddItemReferenceToObject(ctx, "messages", (cJSON *)p->messages);
    if (ok && p->tools)
        ok = cJSON_AddItemReferenceToObject(ctx, "tools", (cJSON *)p->tools);
    else if (ok)
        ok = cJSON_AddNullToObject(ctx, "tools") != NULL;
    ok = ok && cJSON_AddBoolToObject(ctx, "add_generation_prompt", p->add_generation_prompt);
    ok = ok && cJSON_AddStringToObject(ctx, "bos_token", p->bos_token ? p->bos_token : "");
    ok = ok && cJSON_AddStringToObject(ctx, "eos_token", p->eos_token ? p->eos_token : "");
    if (!ok) {
        cJSON_Delete(ctx);
        return lm_fail(err, LM_ERR_NO_MEMORY, "chat template: out of memory");
    }
    lm_jinja_template *t = NULL;
    lm_status st = lm_jinja_parse(src, strlen(src), &t, err);
    if (st == LM_OK) st = lm_jinja_render(t, ctx, p->limits, out, out_len, err);
    lm_jinja_free(t);
    cJSON_Delete(ctx);
    if (st != LM_OK) lm_err_prefix(err, "chat template%s", builtin ? " (built-in ChatML)" : "");
    return st;
}
