/* graph_capture.c — recording a stream's work as a CUDA graph. */
#include "backend/cuda/graph_capture.h"
#include <stddef.h>

bool lmc_graph_capture(cudaStream_t st, bool (*body)(void *ctx), void *ctx, cudaGraphExec_t *out) {
    *out = NULL;
    /* thread-local: another thread's CUDA calls do not join the capture */
    if (cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
        (void)cudaGetLastError();
        return false;
    }
    bool ok = body(ctx);
    cudaGraph_t g = NULL;
    /* ended even when the body failed: the stream leaves capture mode */
    cudaError_t rc = cudaStreamEndCapture(st, &g);
    if (rc == cudaSuccess && ok) rc = cudaGraphInstantiate(out, g, 0);
    if (g) cudaGraphDestroy(g);
    if (rc != cudaSuccess || !ok) {
        (void)cudaGetLastError();
        *out = NULL;
        return false;
    }
    return true;
}
