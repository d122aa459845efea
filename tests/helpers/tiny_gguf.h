/* tiny_gguf.h — builds small, complete llama/qwen2 GGUF models in memory with
 * the GGUF writer, for tests of the model description and its error paths. */
#ifndef LM_TESTS_TINY_GGUF_H
#define LM_TESTS_TINY_GGUF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tiny_gguf_opts {
    const char *arch;   /* "llama" (default) or "qwen2", or anything to test errors */
    uint32_t n_embd;    /* default 32 */
    uint32_t n_head;    /* default 2 */
    uint32_t n_head_kv; /* default 1 */
    uint32_t n_ff;      /* default 64 */
    uint32_t n_vocab;   /* default 8 */
    uint32_t q_rows;    /* rows of attn_q (default n_head * head_dim) */
    uint32_t meta_n_ff; /* feed_forward_length written in metadata (default n_ff) */
    bool omit_output_norm;
    bool with_tokenizer; /* gpt2 tokenizer of n_vocab tokens */
} tiny_gguf_opts;

/* malloc'd file bytes in *buf / *len; returns false on failure. */
bool tiny_gguf_build(const tiny_gguf_opts *o, uint8_t **buf, size_t *len);
/* Writes the bytes to a fresh temporary file; returns its path (static buffer). */
const char *tiny_gguf_write_temp(const uint8_t *buf, size_t len);
#endif
