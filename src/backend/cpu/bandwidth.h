/* bandwidth.h — measures the machine's streaming read bandwidth, the limit
 * that decode-time matmuls (and `localm bench`) are reported against. */
#ifndef LM_BACKEND_CPU_BANDWIDTH_H
#define LM_BACKEND_CPU_BANDWIDTH_H
#include "backend/cpu/threadpool.h"

/* GB/s (1e9 bytes/s) of a read of a buffer much larger than the last-level
 * cache, split over the pool's threads (NULL: one thread); best of several
 * passes. Returns 0 when the buffer cannot be allocated. Takes ~0.5 s. */
double lm_cpu_measure_read_bandwidth_gbs(lm_threadpool *pool);
#endif
