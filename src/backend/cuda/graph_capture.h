/* graph_capture.h — a stream's work recorded once as a CUDA graph, to be
 * replayed (the decode steps: launches cost more than the small kernels). */
#ifndef LM_BACKEND_CUDA_GRAPH_CAPTURE_H
#define LM_BACKEND_CUDA_GRAPH_CAPTURE_H
#include <cuda_runtime_api.h>
#include <stdbool.h>

/* Records what body(ctx) enqueues on st (nothing runs) and instantiates it
 * in *out. False, with *out NULL and the error cleared, when the capture,
 * the body or the instantiation fails: the caller runs the work directly. */
bool lmc_graph_capture(cudaStream_t st, bool (*body)(void *ctx), void *ctx, cudaGraphExec_t *out);

#endif
