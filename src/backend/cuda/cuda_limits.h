/* cuda_limits.h — the hardware limits CUDA benchmarks report against: a
 * measured device-to-device copy bandwidth, the datasheet HBM bandwidth and
 * dense FP16 tensor-core peak of known cards, and VRAM in use. */
#ifndef LM_BACKEND_CUDA_CUDA_LIMITS_H
#define LM_BACKEND_CUDA_CUDA_LIMITS_H
#include <stdbool.h>
#include <stdint.h>

typedef struct lm_cuda_limits {
    char device[128];
    double copy_gbs;    /* measured: (bytes read + bytes written) / s of cudaMemcpy D2D */
    double nominal_gbs; /* datasheet HBM bandwidth, 0 when the card is not known */
    double fp16_tflops; /* datasheet dense FP16 tensor peak, 0 when not known */
} lm_cuda_limits;

/* Fills *out for device dev; false when no device can be used. Allocates
 * 2 x 512 MiB for a moment. */
bool lm_cuda_measure_limits(int dev, lm_cuda_limits *out);
/* Bytes of VRAM in use on the device now (total - free), 0 on error. */
uint64_t lm_cuda_vram_used(int dev);
#endif
