/* cmd_run.c — `localm run`: load a model through the worker (the backend line
 * says which engine runs it and why the others did not), stream the
 * generated text, then a stats line with prefill/decode speed and decode's
 * fraction of the memory-bandwidth roofline. Ctrl-C stops generation and
 * still prints the stats. */
#include "backend/cpu/bandwidth.h"
#include "backend/cpu/threadpool.h"
#include "backend/select.h"
#include "base/err.h"
#include "catalog/disk_cache.h"
#include "cli/commands.h"
#include "cli/model_arg.h"
#include "cli/progress_bar.h"
#include "runtime/worker.h"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t g_interrupted;
static void on_sigint(int sig) {
    (void)sig;
    g_interrupted = 1;
}

static void usage(FILE *f) {
    fprintf(f, "usage: localm run [-m MODEL] -p PROMPT [options]\n\n"
               "MODEL is a .gguf file, a Hugging Face folder, a catalog id (localm ls) or\n"
               "hf://OWNER/REPO/FILE.gguf (downloaded first); default: the built-in demo model.\n\n"
               "  -n N              tokens to generate (default 128)\n"
               "  --temp T          temperature; 0 = greedy (default 0.8)\n"
               "  --top-k K         (default 40)     --top-p P   (default 0.95)\n"
               "  --min-p P         (default 0.05)   --seed S\n"
               "  --threads N       CPU threads (default: physical cores)\n"
               "  --ctx N           context length (default: the model's, at most 8192)\n"
               "  --backend NAME    run on this engine only (also LOCALM_BACKEND)\n"
               "  --keep-alive D    keep the model loaded D after use (30s, 5m, 1h; -1 forever)\n");
}

/* "30s", "5m", "1h", "250ms", "-1" (forever), plain seconds. */
static int parse_duration(const char *s, uint64_t *ns) {
    if (!strcmp(s, "-1")) {
        *ns = LM_KEEP_ALIVE_FOREVER;
        return 1;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0) return 0;
    double mul = 1e9;
    if (!strcmp(end, "ms"))
        mul = 1e6;
    else if (!strcmp(end, "m"))
        mul = 60e9;
    else if (!strcmp(end, "h"))
        mul = 3600e9;
    else if (*end && strcmp(end, "s"))
        return 0;
    double r = v * mul;
    if (r >= 1.8e19) return 0;
    *ns = (uint64_t)r ? (uint64_t)r : 1; /* 0 means "default" to the worker */
    return 1;
}

/* Events from the worker thread, handed to the main thread. */
typedef struct run_state {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int finished; /* terminal events seen */
    lm_worker_event last;
    char backend[32], fallback[1024], finish[32], message[600];
    lm_progress_bar bar;
    int text_bytes;
    char last_char;
} run_state;

static void on_event(const lm_worker_event *ev, void *user) {
    run_state *s = user;
    if (ev->kind == LM_EV_PROGRESS) {
        lm_progress_bar_update(&s->bar, &ev->progress);
        return;
    }
    if (ev->kind == LM_EV_TOKEN) {
        if (ev->text_len) {
            fwrite(ev->text, 1, ev->text_len, stdout);
            fflush(stdout);
            s->text_bytes += (int)ev->text_len;
            s->last_char = ev->text[ev->text_len - 1];
        }
        return;
    }
    pthread_mutex_lock(&s->mu);
    s->last = *ev;
    snprintf(s->backend, sizeof s->backend, "%s", ev->backend ? ev->backend : "");
    snprintf(s->fallback, sizeof s->fallback, "%s", ev->fallback ? ev->fallback : "");
    snprintf(s->finish, sizeof s->finish, "%s", ev->finish_reason ? ev->finish_reason : "");
    snprintf(s->message, sizeof s->message, "%s", ev->message ? ev->message : "");
    s->finished++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Waits for the n-th terminal event; on Ctrl-C cancels request `id` once. */
static void wait_for(run_state *s, int n, lm_worker *w, uint64_t id) {
    int cancelled = 0;
    pthread_mutex_lock(&s->mu);
    while (s->finished < n) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        if (g_interrupted && id && !cancelled) {
            cancelled = 1;
            lm_worker_cancel(w, id);
        }
    }
    pthread_mutex_unlock(&s->mu);
}

/* The machine's read bandwidth in GB/s: cached in the disk cache, measured
 * (about half a second) the first time. */
static double read_bandwidth_gbs(void) {
    char buf[64];
    int cores = lm_cpu_physical_cores();
    char name[32];
    snprintf(name, sizeof name, "bandwidth_gbs_%dt", cores);
    if (lm_disk_cache_state_get(name, buf, sizeof buf, NULL) == LM_OK) {
        double v = strtod(buf, NULL);
        if (v > 0) return v;
    }
    lm_threadpool *pool = lm_threadpool_create(cores);
    double bw = lm_cpu_measure_read_bandwidth_gbs(pool);
    lm_threadpool_free(pool);
    if (bw > 0) {
        snprintf(buf, sizeof buf, "%.3f\n", bw);
        lm_disk_cache_state_put(name, buf, NULL);
    }
    return bw;
}

static void print_stats(const run_state *s) {
    const lm_worker_event *d = &s->last;
    char line[512];
    int n = snprintf(line, sizeof line,
                     "prompt %d tokens (%d prefilled), prefill %.1f t/s, %d generated, decode "
                     "%.1f t/s",
                     d->usage.prompt_tokens, d->usage.prefilled_tokens, d->timings.prefill_tps,
                     d->usage.completion_tokens, d->timings.decode_tps);
    if (!strcmp(s->backend, "cpu") && d->timings.decode_tps > 0 && d->model_bytes) {
        double bw = read_bandwidth_gbs();
        double gb_tok = (double)d->model_bytes / 1e9;
        /* Weights that fit in the CPU caches are not read from DRAM each
         * token, so the DRAM roofline does not bound them (fractions > 1). */
        const char *cached = d->model_bytes < (64ull << 20) ? "; weights fit in CPU cache" : "";
        if (bw > 0)
            snprintf(line + n, sizeof line - (size_t)n,
                     " = %.2f of the bandwidth roofline (%.3f GB read per token, %.1f GB/s "
                     "measured%s)",
                     d->timings.decode_tps * gb_tok / bw, gb_tok, bw, cached);
    } else if (d->timings.decode_tps > 0) {
        snprintf(line + n, sizeof line - (size_t)n, " (roofline: not measured for %s)", s->backend);
    }
    fprintf(stderr, "%s [%s]\n", line, s->finish);
}

int lm_cmd_run(int argc, char **argv) {
    lm_generate_params gp;
    lm_generate_params_default(&gp);
    uint64_t keep_alive = 0;
    const char *model = NULL, *prompt = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
#define NEEDV()                                                                                    \
    do {                                                                                           \
        if (!v) {                                                                                  \
            fprintf(stderr, "localm run: %s needs a value\n", a);                                  \
            return 2;                                                                              \
        }                                                                                          \
        i++;                                                                                       \
    } while (0)
#define NUM(dst, conv)                                                                             \
    do {                                                                                           \
        NEEDV();                                                                                   \
        errno = 0;                                                                                 \
        dst = conv;                                                                                \
        if (errno || !end || *end || end == v) {                                                   \
            fprintf(stderr, "localm run: %s: '%s' is not a number\n", a, v);                       \
            return 2;                                                                              \
        }                                                                                          \
    } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            NEEDV();
            model = v;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            NEEDV();
            prompt = v;
        } else if (!strcmp(a, "-n")) {
            NUM(gp.n_predict, (int)strtol(v, &end, 10));
        } else if (!strcmp(a, "--temp")) {
            NUM(gp.sampling.temperature, strtof(v, &end));
        } else if (!strcmp(a, "--top-k")) {
            NUM(gp.sampling.top_k, (int)strtol(v, &end, 10));
        } else if (!strcmp(a, "--top-p")) {
            NUM(gp.sampling.top_p, strtof(v, &end));
        } else if (!strcmp(a, "--min-p")) {
            NUM(gp.sampling.min_p, strtof(v, &end));
        } else if (!strcmp(a, "--seed")) {
            NUM(gp.sampling.seed, strtoull(v, &end, 10));
        } else if (!strcmp(a, "--threads")) {
            NUM(gp.model.opts.n_threads, (int)strtol(v, &end, 10));
        } else if (!strcmp(a, "--ctx")) {
            NUM(gp.model.opts.n_ctx, (uint32_t)strtoul(v, &end, 10));
        } else if (!strcmp(a, "--backend")) {
            NEEDV();
            gp.model.backend = v;
        } else if (!strcmp(a, "--keep-alive")) {
            NEEDV();
            if (!parse_duration(v, &keep_alive)) {
                fprintf(stderr, "localm run: --keep-alive: '%s' is not a duration (30s, 5m)\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "localm run: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
#undef NUM
#undef NEEDV
    }
    if (!prompt) {
        usage(stderr);
        return 2;
    }
    /* No -m: the built-in demo model; catalog ids and hf:// are pulled first. */
    char path[1024];
    lm_err rerr = {0};
    if (lm_cli_model_path(model, path, sizeof path, NULL, &rerr) != LM_OK) {
        fprintf(stderr, "localm run: %s\n", lm_err_text(&rerr));
        return 1;
    }
    gp.model.model = path;
    gp.model.keep_alive_ns = keep_alive;
    gp.prompt = prompt;

    run_state s;
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    lm_progress_bar_init(&s.bar, stderr);
    lm_worker_params wp;
    lm_worker_default_params(&wp);
    if (keep_alive) wp.keep_alive_ns = keep_alive;
    lm_worker *w = NULL;
    lm_err err = {0};
    if (lm_worker_create(&wp, &w, &err) != LM_OK) {
        fprintf(stderr, "localm run: %s\n", err.msg);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);

    int rc = 0;
    lm_worker_load(w, &gp.model, on_event, &s);
    wait_for(&s, 1, w, 0);
    lm_progress_bar_finish(&s.bar);
    if (s.last.kind == LM_EV_ERROR) {
        fprintf(stderr, "localm run: %s\n", s.message);
        rc = 1;
    } else if (g_interrupted) {
        rc = 130;
    } else {
        if (*s.fallback)
            fprintf(stderr, "backend: %s (%s)\n", s.backend, s.fallback);
        else
            fprintf(stderr, "backend: %s\n", s.backend);
        char loaded_on[32], loaded_why[1024];
        snprintf(loaded_on, sizeof loaded_on, "%s", s.backend);
        snprintf(loaded_why, sizeof loaded_why, "%s", s.fallback);
        uint64_t id = lm_worker_generate(w, &gp, on_event, &s);
        wait_for(&s, 2, w, id);
        if (s.text_bytes && s.last_char != '\n') fputc('\n', stdout);
        fflush(stdout);
        if (s.last.kind == LM_EV_ERROR) {
            fprintf(stderr, "localm run: %s\n", s.message);
            rc = 1;
        } else {
            /* The engine may have changed mid-generation (failover). */
            if (strcmp(loaded_on, s.backend) || strcmp(loaded_why, s.fallback))
                fprintf(stderr, "backend: %s (%s)\n", s.backend, s.fallback);
            print_stats(&s);
            if (g_interrupted) rc = 130;
        }
    }
    lm_worker_free(w);
    pthread_mutex_destroy(&s.mu);
    pthread_cond_destroy(&s.cv);
    return rc;
}
