/* fuzz_jinja.c — libFuzzer target: parses arbitrary bytes as a Jinja template
 * and renders it against a small fixed chat context under tight limits. */
#include "model/jinja.h"
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>

static cJSON *g_ctx;

static const char k_context[] =
    "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
    "{\"role\":\"user\",\"content\":\"Hi <b>there</b>\"},"
    "{\"role\":\"assistant\",\"content\":\"<think>x</think>Hello\",\"tool_calls\":"
    "[{\"function\":{\"name\":\"f\",\"arguments\":{\"a\":1,\"b\":[true,null,2.5]}}}]},"
    "{\"role\":\"tool\",\"content\":\"42\"}],"
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{}}}],"
    "\"add_generation_prompt\":true,\"bos_token\":\"<s>\",\"eos_token\":\"</s>\","
    "\"xs\":[1,2,3],\"s\":\"h\\u00e9llo\",\"n\":null}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_ctx) g_ctx = cJSON_Parse(k_context);
    lm_jinja_template *t = NULL;
    if (lm_jinja_parse((const char *)data, size, &t, NULL) != LM_OK) return 0;
    lm_jinja_limits lim = lm_jinja_default_limits();
    lim.max_output = 1 << 16;
    lim.max_memory = 16 << 20;
    lim.max_steps = 20000;
    lim.max_depth = 100;
    char *out = NULL;
    if (lm_jinja_render(t, g_ctx, &lim, &out, NULL, NULL) == LM_OK) free(out);
    lm_jinja_free(t);
    return 0;
}
