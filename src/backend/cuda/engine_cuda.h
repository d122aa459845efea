/* engine_cuda.h — the CUDA engine: weights in VRAM in their GGUF block types,
 * decode through per-type mat-vec kernels captured as a CUDA graph, prefill
 * through cuBLAS tensor-core GEMMs. Only built when LOCALM_HAVE_CUDA is set;
 * in a binary without a GPU or driver, probe() reports why it is unusable. */
#ifndef LM_BACKEND_CUDA_ENGINE_CUDA_H
#define LM_BACKEND_CUDA_ENGINE_CUDA_H
#include "backend/backend.h"

const lm_backend_ops *lm_backend_cuda(void);
#endif
