/* bench_cancel.c — cancellation latency of the worker: the time from
 * lm_worker_cancel() on a client thread to the worker's DONE("cancelled")
 * acknowledgement, while the CPU engine decodes a random-weight model.
 * The limit it chases is one decode step (a cancel takes effect before the
 * next token), so latency is printed as a fraction of the measured step.
 *
 * usage: bench_cancel [SHAPE [TYPE [RUNS]]]   (default qwen2.5-0.5b Q4_0 10) */
#include "backend/registry.h"
#include "runtime/random_model.h"
#include "runtime/worker.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct state {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int tokens, done;
    double t_done;
    lm_worker_event last;
    char message[512];
} state;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void on_event(const lm_worker_event *ev, void *user) {
    state *s = user;
    double t = now_ms();
    pthread_mutex_lock(&s->mu);
    if (ev->kind == LM_EV_TOKEN) {
        s->tokens++;
    } else if (ev->kind != LM_EV_PROGRESS) {
        s->t_done = t;
        s->last = *ev;
        snprintf(s->message, sizeof s->message, "%s", ev->message ? ev->message : "");
        s->done = 1;
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *shape = argc > 1 ? argv[1] : "qwen2.5-0.5b";
    const char *type = argc > 2 ? argv[2] : "Q4_0";
    int runs = argc > 3 ? atoi(argv[3]) : 10;
    if (runs < 1 || runs > 1000) runs = 10;
    lm_err err = {0};
    lm_model_desc *m = NULL;
    if (lm_random_model_create(shape, type, 1, 0, &m, &err) != LM_OK) {
        fprintf(stderr, "bench_cancel: %s\n", err.msg);
        return 1;
    }
    lm_worker *w;
    if (lm_worker_create(NULL, &w, &err) != LM_OK) {
        fprintf(stderr, "bench_cancel: %s\n", err.msg);
        return 1;
    }
    state s;
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    double lat[1000], step_ms = 0;
    int32_t prompt[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    for (int r = 0; r < runs; r++) {
        lm_generate_params p;
        lm_generate_params_default(&p);
        p.model.desc = m;
        p.model.backend = "cpu";
        p.model.opts.n_ctx = 512;
        p.prompt_tokens = prompt;
        p.n_prompt_tokens = 8;
        p.n_predict = 400;
        p.ignore_eog = true;
        p.sampling.temperature = 0;
        pthread_mutex_lock(&s.mu);
        s.tokens = s.done = 0;
        pthread_mutex_unlock(&s.mu);
        uint64_t id = lm_worker_generate(w, &p, on_event, &s);
        /* Cancel at a random-ish point inside a decode step: after some
         * tokens, plus a fraction of a step. */
        pthread_mutex_lock(&s.mu);
        while (s.tokens < 4 + r % 3 && !s.done) pthread_cond_wait(&s.cv, &s.mu);
        pthread_mutex_unlock(&s.mu);
        if (step_ms > 0) {
            struct timespec d = {0, (long)(step_ms * 1e6 * (r % 4) / 4.0)};
            nanosleep(&d, NULL);
        }
        double t0 = now_ms();
        lm_worker_cancel(w, id);
        pthread_mutex_lock(&s.mu);
        while (!s.done) pthread_cond_wait(&s.cv, &s.mu);
        pthread_mutex_unlock(&s.mu);
        if (s.last.kind != LM_EV_DONE || strcmp(s.last.finish_reason, "cancelled")) {
            fprintf(stderr, "bench_cancel: run %d did not end cancelled (%s)\n", r, s.message);
            return 1;
        }
        lat[r] = s.t_done - t0;
        int decoded = s.last.usage.completion_tokens - 1;
        if (decoded > 0) step_ms = s.last.timings.decode_ms / decoded;
    }
    qsort(lat, (size_t)runs, sizeof lat[0], cmp);
    printf("bench_cancel: %s %s on cpu, %d runs\n", shape, type, runs);
    printf("cancel -> acknowledgement: median %.2f ms, max %.2f ms; one decode step %.2f ms\n",
           lat[runs / 2], lat[runs - 1], step_ms);
    printf("latency as a fraction of one decode step (the bound): median %.2f, max %.2f\n",
           step_ms > 0 ? lat[runs / 2] / step_ms : 0, step_ms > 0 ? lat[runs - 1] / step_ms : 0);
    lm_worker_free(w);
    lm_random_model_free(m);
    return 0;
}
