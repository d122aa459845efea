/* vocab_spec.h — the raw tokenizer data a model file carries (GGUF
 * tokenizer.ggml.* metadata), handed by the GGUF reader to the tokenizer
 * builder. tokenizer.json files are parsed by the tokenizer module itself. */
#ifndef LM_MODEL_VOCAB_SPEC_H
#define LM_MODEL_VOCAB_SPEC_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum lm_vocab_kind {
    LM_VOCAB_NONE = 0,
    LM_VOCAB_BPE = 1, /* byte-level BPE, GPT-2 byte map (GGUF model "gpt2") */
    LM_VOCAB_SPM = 2, /* SentencePiece BPE with scores (GGUF model "llama") */
} lm_vocab_kind;

/* Token types as GGUF numbers them (tokenizer.ggml.token_type). */
enum {
    LM_TOKEN_NORMAL = 1,
    LM_TOKEN_UNKNOWN = 2,
    LM_TOKEN_CONTROL = 3,
    LM_TOKEN_USER_DEFINED = 4,
    LM_TOKEN_UNUSED = 5,
    LM_TOKEN_BYTE = 6,
};

/* Strings point into the model file's mapping (not NUL-terminated: use the
 * lengths); arrays are owned by the spec's creator. */
typedef struct lm_vocab_spec {
    lm_vocab_kind kind;
    char model[32]; /* tokenizer.ggml.model as written: "gpt2", "llama", ... */
    char pre[64];   /* tokenizer.ggml.pre: "llama-bpe", "qwen2", "default", ... */
    uint32_t n_tokens;
    const char **tokens;
    uint32_t *token_lens;
    const float *scores;      /* n_tokens or NULL */
    const int32_t *types;     /* n_tokens or NULL (all NORMAL) */
    uint32_t n_merges;
    const char **merges; /* "a b" pairs, rank = index */
    uint32_t *merge_lens;
    int32_t bos_id, eos_id, eot_id, eom_id, unk_id, pad_id; /* -1 when absent */
    int8_t add_bos, add_eos; /* -1 when the file does not say */
    int8_t add_space_prefix; /* SPM: prepend "▁"; -1 when the file does not say */
} lm_vocab_spec;
#endif
