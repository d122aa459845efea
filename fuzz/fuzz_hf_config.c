/* fuzz_hf_config.c — libFuzzer target: config.json and tokenizer_config.json
 * readers on arbitrary bytes. */
#include "format/hf_config.h"
#include <stdint.h>
#include <string.h>

static volatile uint64_t g_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lm_hf_config c;
    lm_err err;
    if (lm_hf_config_parse((const char *)data, size, &c, &err) == LM_OK)
        g_sink += c.hidden_size + c.n_eos + (c.n_eos ? (uint32_t)c.eos_token_ids[c.n_eos - 1] : 0);
    lm_hf_tokenizer_config t;
    if (lm_hf_tokenizer_config_parse((const char *)data, size, &t, &err) == LM_OK) {
        if (t.chat_template) g_sink += strlen(t.chat_template);
        if (t.bos_token) g_sink += strlen(t.bos_token);
        lm_hf_tokenizer_config_free(&t);
    }
    return 0;
}
