/* model_internal.h — shared between the model description readers (GGUF and
 * Hugging Face folders) and the common binding/validation step. */
#ifndef LM_MODEL_MODEL_INTERNAL_H
#define LM_MODEL_MODEL_INTERNAL_H
#include "model/model_desc.h"

/* Fill m (tensors, hp, tokenizer, template, priv) from a source; on failure
 * the caller frees m with lm_model_free. */
lm_status lm_model_open_gguf(const char *path, lm_model_desc *m, lm_err *err);
lm_status lm_model_open_hf(const char *path, lm_model_desc *m, lm_err *err);

/* Resolves tok_embd/output_norm/output/layers from the tensor table and
 * checks every shape against the hyper-parameters. */
lm_status lm_model_bind(lm_model_desc *m, lm_err *err);

lm_arch lm_arch_from_name(const char *name); /* LM_ARCH_UNKNOWN when not supported */
#define LM_ARCH_SUPPORTED_LIST "llama, mistral, qwen2, qwen3"

/* Caps on hyper-parameters read from files: anything larger is corrupt. */
#define LM_MAX_LAYERS 1024u
#define LM_MAX_DIM (1u << 20)
#endif
