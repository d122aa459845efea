/* model_desc.h — one architecture-neutral description of a loaded model file:
 * hyper-parameters, tensor table, tokenizer and chat template, whether it came
 * from a GGUF file or a Hugging Face folder. Engines read only this.
 *
 * Conventions the description guarantees (so engines see one convention):
 *  - shapes are in GGUF order: ne[0] is the row length (input features), ne[1]
 *    the number of rows (output features). A matrix is ne[1] rows of ne[0].
 *  - tensors are named and grouped in `layers`; missing optional tensors are NULL.
 *  - hp.rope_layout says how rotary pairs are laid out in the Q/K rows AS
 *    STORED: GGUF `llama` files permute Q/K rows for adjacent pairs
 *    (LM_ROPE_ADJACENT); HF folders and qwen2/qwen3 use half-split pairs
 *    (LM_ROPE_HALF). Both give the same attention scores.
 *  - hp.rope_freq_factors holds the per-frequency divisors of llama3-style rope
 *    scaling (from `rope_freqs.weight` in GGUF, computed from config.json's
 *    `rope_scaling` in HF folders), or is NULL: inv_freq[i] =
 *    theta^(-2i/head_dim) / rope_freq_factors[i].
 *  - the output matrix is never missing: with tied embeddings `output` points
 *    to the token embedding tensor.
 */
#ifndef LM_MODEL_MODEL_DESC_H
#define LM_MODEL_MODEL_DESC_H
#include "base/mapfile.h"
#include "format/ggml_types.h"
#include "localm.h"
#include "model/vocab_spec.h"
#include <stdbool.h>
#include <stdint.h>

typedef enum lm_arch {
    LM_ARCH_UNKNOWN = 0,
    LM_ARCH_LLAMA,
    LM_ARCH_MISTRAL,
    LM_ARCH_QWEN2,
    LM_ARCH_QWEN3,
} lm_arch;

typedef enum lm_rope_layout { LM_ROPE_HALF = 0, LM_ROPE_ADJACENT = 1 } lm_rope_layout;
typedef enum lm_source_kind { LM_SOURCE_GGUF = 1, LM_SOURCE_HF = 2 } lm_source_kind;

typedef struct lm_hparams {
    lm_arch arch;
    char arch_name[32];  /* "llama", "qwen2", ... */
    uint32_t n_vocab;    /* rows of the embedding matrix (may exceed tokenizer vocab) */
    uint32_t n_embd;     /* hidden size */
    uint32_t n_layer;
    uint32_t n_head;     /* query heads */
    uint32_t n_head_kv;  /* key/value heads (GQA) */
    uint32_t head_dim;   /* may differ from n_embd / n_head (qwen3) */
    uint32_t n_ff;       /* FFN intermediate size */
    uint32_t n_ctx_train; /* max_position_embeddings / context_length */
    float norm_eps;      /* RMSNorm epsilon */
    float rope_theta;
    lm_rope_layout rope_layout;
    const float *rope_freq_factors; /* head_dim/2 divisors, or NULL (see above) */
    bool tied_embeddings;
    bool qkv_bias; /* qwen2 */
    bool qk_norm;  /* qwen3: per-head RMSNorm on q and k */
} lm_hparams;

typedef struct lm_tensor {
    char name[96];     /* GGUF-style name: "blk.3.attn_q.weight" */
    uint32_t type;     /* lm_type */
    uint32_t n_dims;
    uint64_t ne[4];    /* GGUF order; unused dims are 1 */
    uint64_t nbytes;
    const void *data;  /* in the file mapping (or an owned buffer for converted data) */
    uint64_t file_offset; /* absolute offset in its file (0 for owned buffers) */
    uint16_t file_index;  /* which mapped file (shards) */
} lm_tensor;

typedef struct lm_layer {
    const lm_tensor *attn_norm;              /* [n_embd] */
    const lm_tensor *wq, *wk, *wv, *wo;      /* wq: n_embd -> n_head*head_dim, wo back */
    const lm_tensor *bq, *bk, *bv;           /* biases or NULL */
    const lm_tensor *q_norm, *k_norm;        /* [head_dim] or NULL */
    const lm_tensor *ffn_norm;               /* [n_embd] */
    const lm_tensor *ffn_gate, *ffn_up;      /* n_embd -> n_ff */
    const lm_tensor *ffn_down;               /* n_ff -> n_embd */
} lm_layer;

typedef struct lm_model_desc {
    lm_source_kind source;
    char path[1024];       /* the .gguf file or the HF folder as given */
    lm_file_id identity;   /* of the main file (cache key) */
    char name[128];        /* general.name or folder name */
    lm_hparams hp;

    uint32_t n_tensors;
    lm_tensor *tensors;
    const lm_tensor *tok_embd;    /* [n_embd, n_vocab] */
    const lm_tensor *output_norm; /* [n_embd] */
    const lm_tensor *output;      /* [n_embd, n_vocab]; == tok_embd when tied */
    lm_layer *layers;             /* n_layer */

    struct lm_tokenizer *tokenizer; /* owned; NULL only if the file has none */
    char *chat_template;            /* owned, NUL-terminated, or NULL */
    char *bos_text, *eos_text;      /* owned token texts for templates, or NULL */

    uint64_t weight_bytes;   /* sum of tensor bytes */
    void *priv;              /* reader-owned state (mappings, buffers) */
    void (*priv_free)(void *priv);
} lm_model_desc;

/* Opens a .gguf file or a Hugging Face folder (chosen by what PATH is). */
lm_status lm_model_open(const char *path, lm_model_desc **out, lm_err *err);
void lm_model_free(lm_model_desc *m); /* NULL is fine */
const lm_tensor *lm_model_find_tensor(const lm_model_desc *m, const char *name);
const char *lm_arch_name(lm_arch a);
/* The context a model is loaded with when none is asked for: its training
 * context, at most LM_DEFAULT_CTX positions (4096 when unknown). Llama 3.1's
 * 131,072 would give an 8B ~16 GiB of F16 KV cache and push it off a 16 GB
 * GPU; llama.cpp's and Ollama's users get 4096 unless they ask. */
#define LM_DEFAULT_CTX 8192
uint32_t lm_model_default_ctx(const lm_hparams *hp);
/* The parsed GGUF file behind a description (to read any metadata key with
 * format/gguf.h), or NULL for Hugging Face folders. Lives as long as m. */
struct lm_gguf;
const struct lm_gguf *lm_model_gguf(const lm_model_desc *m);
#endif
