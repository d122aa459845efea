/* random_model.h — random-weight models of real shapes (TinyLlama 1.1B,
 * Llama 3.2 1B, Qwen2.5 0.5B, Llama 3 8B) built in memory in any weight type,
 * for benchmarks without downloads; optionally saved as GGUF so other engines
 * run the very same model. */
#ifndef LM_RUNTIME_RANDOM_MODEL_H
#define LM_RUNTIME_RANDOM_MODEL_H
#include "localm.h"
#include "model/model_desc.h"
#include <stdint.h>

/* "tinyllama-1.1b, llama3.2-1b, qwen2.5-0.5b, llama3-8b". */
const char *lm_random_shape_names(void);

/* Builds shape with weights of type type_name: a type name ("Q4_0", "Q8_0",
 * "F16", ...) or "Q4_K_M" (Q4_K, with Q6_K for output, attn_v and ffn_down as
 * llama-quantize's mix does; rows whose length is not a multiple of 256 fall
 * back to Q5_0 / Q8_0). Rows are drawn from a pool of rows quantised with the
 * kernels' quantiser, copied on n_threads threads (0 = physical cores), so an
 * 8B model takes seconds. The description has no tokenizer; free it with
 * lm_random_model_free. */
lm_status lm_random_model_create(const char *shape, const char *type_name, uint64_t seed,
                                 int n_threads, lm_model_desc **out, lm_err *err);
/* The same with only the shape's first n_layer layers (0: all of them):
 * random weights amplify rounding over their depth until two correct
 * engines' logits differ completely (a 22-layer one: relative differences
 * ~0.5), so comparisons between engines use a few layers. */
lm_status lm_random_model_create_layers(const char *shape, const char *type_name, int n_layer,
                                        uint64_t seed, int n_threads, lm_model_desc **out,
                                        lm_err *err);
void lm_random_model_free(lm_model_desc *m); /* NULL is fine */

/* Writes m as a GGUF v3 file in llama.cpp's conventions (with a placeholder
 * SentencePiece-style vocabulary so readers that need one accept it). */
lm_status lm_random_model_save(const lm_model_desc *m, const char *path, lm_err *err);
#endif
