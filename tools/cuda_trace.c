/* cuda_trace.c — a kernel timeline of any CUDA program, for finding where a
 * decode step's time goes inside its graph (nsys is not on the device
 * machines; ncu serialises kernels and so hides what programmatic dependent
 * launch overlaps). Built as a CUPTI injection library and loaded by the
 * driver through CUDA_INJECTION64_PATH; every kernel's start and end (graph
 * nodes included, without serialising them) go to LOCALM_TRACE_OUT as
 * "start end graph node grid block stream name" lines, nanoseconds.
 *
 *   cc -O2 -shared -fPIC -I$CUDA/include tools/cuda_trace.c -o /tmp/trace.so \
 *      -L$CUDA/lib64 -lcupti
 *   CUDA_INJECTION64_PATH=/tmp/trace.so LOCALM_TRACE_OUT=t.txt localm bench ...
 *   python3 tools/cuda_trace_summary.py t.txt
 *
 * A development tool: not built by CMake, not part of the product. */
#include <cupti.h>
#include <stdio.h>
#include <stdlib.h>

static FILE *out;

static void CUPTIAPI buffer_requested(uint8_t **buf, size_t *size, size_t *max_records) {
    *size = (size_t)16 << 20;
    *buf = aligned_alloc(8, *size);
    *max_records = 0;
}

static void CUPTIAPI buffer_completed(CUcontext ctx, uint32_t stream, uint8_t *buf, size_t size,
                                      size_t valid) {
    (void)ctx, (void)stream, (void)size;
    CUpti_Activity *rec = NULL;
    while (out && cuptiActivityGetNextRecord(buf, valid, &rec) == CUPTI_SUCCESS) {
        if (rec->kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) continue;
        const CUpti_ActivityKernel10 *k = (const CUpti_ActivityKernel10 *)rec;
        fprintf(out, "%llu %llu %u %llu %d %d %u %s\n", (unsigned long long)k->start,
                (unsigned long long)k->end, k->graphId, (unsigned long long)k->graphNodeId,
                k->gridX * k->gridY * k->gridZ, k->blockX * k->blockY * k->blockZ, k->streamId,
                k->name);
    }
    size_t dropped = 0;
    cuptiActivityGetNumDroppedRecords(NULL, 0, &dropped);
    if (dropped) fprintf(stderr, "cuda_trace: %zu records dropped\n", dropped);
    free(buf);
}

static void flush(void) {
    cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
    if (out) fclose(out), out = NULL;
}

int InitializeInjection(void) {
    const char *path = getenv("LOCALM_TRACE_OUT");
    out = fopen(path ? path : "cuda_trace.txt", "w");
    if (!out) return 0;
    if (cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed) != CUPTI_SUCCESS ||
        cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) != CUPTI_SUCCESS) {
        fprintf(stderr, "cuda_trace: CUPTI activity tracing unavailable\n");
        return 0;
    }
    atexit(flush);
    return 1;
}
