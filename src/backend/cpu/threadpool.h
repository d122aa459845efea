/* threadpool.h — a fixed pool of worker threads for data-parallel kernels,
 * with low-overhead dispatch (spinning briefly before sleeping) so that a
 * decode step's many small parallel sections are not bound by wake-up latency. */
#ifndef LM_BACKEND_CPU_THREADPOOL_H
#define LM_BACKEND_CPU_THREADPOOL_H

typedef struct lm_threadpool lm_threadpool;
typedef void (*lm_task_fn)(void *ctx, int ith, int nth);

lm_threadpool *lm_threadpool_create(int n_threads); /* NULL on failure */
void lm_threadpool_free(lm_threadpool *p);          /* NULL is fine */
int lm_threadpool_size(const lm_threadpool *p);
/* Runs fn(ctx, ith, nth) for ith in [0, nth) — the caller runs ith 0 — and
 * returns when all have finished. */
void lm_threadpool_run(lm_threadpool *p, lm_task_fn fn, void *ctx);
/* Physical cores of this machine (logical CPUs / SMT siblings), >= 1. */
int lm_cpu_physical_cores(void);
#endif
