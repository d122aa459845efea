/* hf_config.h — the parts of a Hugging Face config.json and
 * tokenizer_config.json that LocalM needs (llama, mistral, qwen2, qwen3). */
#ifndef LM_FORMAT_HF_CONFIG_H
#define LM_FORMAT_HF_CONFIG_H
#include "localm.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LM_HF_MAX_EOS 8

typedef struct lm_hf_config {
    char model_type[32];   /* "llama", "qwen2", ... ("" when absent) */
    char architecture[64]; /* architectures[0]: "LlamaForCausalLM" ("" when absent) */
    uint32_t hidden_size, intermediate_size, num_hidden_layers;
    uint32_t num_attention_heads, num_key_value_heads; /* kv defaults to heads */
    uint32_t head_dim;                                 /* defaults to hidden / heads */
    uint32_t max_position_embeddings;                  /* 0 when absent */
    uint32_t vocab_size;
    double rope_theta;   /* default 10000 */
    double rms_norm_eps; /* default 1e-6 */
    bool has_rope_scaling;
    char rope_type[32]; /* rope_scaling.rope_type (or .type): "llama3", "linear", ... */
    double rope_factor, low_freq_factor, high_freq_factor;
    uint32_t original_max_position_embeddings;
    bool tie_word_embeddings; /* default false */
    bool attention_bias;      /* default false */
    int32_t bos_token_id;     /* -1 when absent */
    uint32_t n_eos;
    int32_t eos_token_ids[LM_HF_MAX_EOS]; /* int or list in the file */
    char torch_dtype[16];
} lm_hf_config;

/* Parses config.json; missing required sizes and values of the wrong type are
 * LM_ERR_JSON errors naming the field. */
lm_status lm_hf_config_parse(const char *json, size_t len, lm_hf_config *out, lm_err *err);

typedef struct lm_hf_tokenizer_config {
    char *chat_template;                 /* owned or NULL (a list of {name, template}: "default") */
    char *bos_token, *eos_token;         /* owned or NULL (string or {content: ...}) */
    int8_t add_bos_token, add_eos_token; /* -1 when absent */
} lm_hf_tokenizer_config;

lm_status lm_hf_tokenizer_config_parse(const char *json, size_t len, lm_hf_tokenizer_config *out,
                                       lm_err *err);
void lm_hf_tokenizer_config_free(lm_hf_tokenizer_config *c); /* frees the strings */
#endif
