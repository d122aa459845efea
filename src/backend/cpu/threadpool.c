/* threadpool.c — fixed worker pool: a dispatch bumps a generation counter
 * that workers spin on for a while (so back-to-back parallel sections in a
 * decode step cost a cache-line transfer, not a wake-up) before they sleep
 * on a condition variable. */
#include "backend/cpu/threadpool.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* Spins before sleeping: long enough to bridge the gaps between the matmuls
 * of one decode step (tens of microseconds), short enough that an idle pool
 * stops burning cores within about a millisecond. */
enum { SPIN_ITERS = 20000 };

struct lm_threadpool {
    int n;
    pthread_t *threads;
    lm_task_fn fn;
    void *ctx;
    _Alignas(64) _Atomic unsigned gen; /* bumped once per dispatch */
    _Alignas(64) _Atomic int pending;  /* workers still running this dispatch */
    _Alignas(64) _Atomic int sleepers;
    _Atomic int quit;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

typedef struct {
    lm_threadpool *p;
    int ith;
} worker_arg;

static void *worker(void *argp) {
    worker_arg arg = *(worker_arg *)argp;
    free(argp);
    lm_threadpool *p = arg.p;
    unsigned seen = 0;
    for (;;) {
        unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
        for (int i = 0; g == seen && i < SPIN_ITERS; i++) {
            cpu_relax();
            g = atomic_load_explicit(&p->gen, memory_order_acquire);
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1); /* seq_cst: pairs with run()'s check */
            while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->quit))
                pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load_explicit(&p->quit, memory_order_acquire)) return NULL;
        seen = g;
        p->fn(p->ctx, arg.ith, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel);
    }
}

lm_threadpool *lm_threadpool_create(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    lm_threadpool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) goto fail;
    for (int i = 1; i < n_threads; i++) {
        worker_arg *a = malloc(sizeof *a);
        if (!a) goto fail;
        a->p = p;
        a->ith = i;
        if (pthread_create(&p->threads[i], NULL, worker, a) != 0) {
            free(a);
            goto fail;
        }
        p->n = i + 1; /* threads started so far, for cleanup */
    }
    p->n = n_threads;
    return p;
fail:
    lm_threadpool_free(p);
    return NULL;
}

void lm_threadpool_free(lm_threadpool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (p->threads)
        for (int i = 1; i < p->n; i++)
            if (p->threads[i]) pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
}

int lm_threadpool_size(const lm_threadpool *p) {
    return p ? p->n : 1;
}

void lm_threadpool_run(lm_threadpool *p, lm_task_fn fn, void *ctx) {
    if (!p || p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
    atomic_fetch_add(&p->gen, 1); /* seq_cst: publishes fn/ctx, then sleepers is read */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    fn(ctx, 0, p->n);
    for (unsigned i = 0; atomic_load_explicit(&p->pending, memory_order_acquire) > 0; i++) {
        if (i < 4096)
            cpu_relax();
        else
            sched_yield(); /* a worker was descheduled: stop competing with it */
    }
}

/* Counts distinct thread_siblings_list strings: one per physical core. */
int lm_cpu_physical_cores(void) {
    long n_cpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (n_cpu < 1) n_cpu = 1;
    enum { MAXC = 1024 };
    static char seen[MAXC][64];
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&mu);
    int n_seen = 0;
    for (long c = 0; c < n_cpu && c < MAXC; c++) {
        char path[128], buf[64] = {0};
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%ld/topology/thread_siblings_list",
                 c);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t got = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[got] = 0;
        buf[strcspn(buf, "\n")] = 0;
        int dup = 0;
        for (int i = 0; i < n_seen && !dup; i++) dup = strcmp(seen[i], buf) == 0;
        if (!dup) memcpy(seen[n_seen++], buf, sizeof buf);
    }
    pthread_mutex_unlock(&mu);
    return n_seen > 0 ? n_seen : (int)n_cpu;
}
