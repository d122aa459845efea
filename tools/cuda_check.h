/* cuda_check.h — the standalone CUDA measurement tools' error check: a failed
 * runtime call prints where and why, and the tool exits. */
#ifndef LM_TOOLS_CUDA_CHECK_H
#define LM_TOOLS_CUDA_CHECK_H
#include <stdio.h>
#include <stdlib.h>

#define CK(x)                                                                                      \
    do {                                                                                           \
        cudaError_t e_ = (x);                                                                      \
        if (e_ != cudaSuccess) {                                                                   \
            fprintf(stderr, "%s:%d %s\n", __FILE__, __LINE__, cudaGetErrorString(e_));             \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#endif
