/* cmd_pull.c — `localm pull REF` and `localm rm REF`: download a model into
 * the disk cache (with a progress bar on a terminal), or delete one. */
#include "base/err.h"
#include "catalog/pull.h"
#include "cli/commands.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct bar {
    int tty;
    double t0, last;
    int last_pct;
} bar;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void human(double b, char *out, size_t cap) {
    const char *u[] = {"B", "KB", "MB", "GB", "TB"};
    int i = 0;
    while (b >= 1024 && i < 4)
        b /= 1024, i++;
    snprintf(out, cap, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

/* Bytes, rate and ETA on one redrawn line on a terminal; a plain line every
 * 10% otherwise (logs and pipes). */
static int on_progress(const lm_progress *ev, void *user) {
    bar *b = user;
    double t = now_s();
    if (ev->phase == LM_PHASE_RESOLVE) {
        fprintf(stderr, "resolve: %s\n", ev->text ? ev->text : "");
        b->t0 = t;
        return 0;
    }
    int pct = ev->total ? (int)(100.0 * (double)ev->done / (double)ev->total) : -1;
    bool final = ev->total && ev->done >= ev->total;
    if (b->tty) {
        if (t - b->last < 0.1 && !final) return 0;
        b->last = t;
        char done[32], total[32], rate[32];
        human((double)ev->done, done, sizeof done);
        human((double)ev->total, total, sizeof total);
        double el = t - b->t0 > 1e-3 ? t - b->t0 : 1e-3;
        human((double)ev->done / el, rate, sizeof rate);
        int width = 30, fill = pct >= 0 ? pct * width / 100 : 0;
        char barbuf[64];
        for (int i = 0; i < width; i++)
            barbuf[i] = i < fill ? '#' : '-';
        barbuf[width] = 0;
        double eta = ev->total && ev->done ? el * ((double)ev->total / (double)ev->done - 1) : 0;
        fprintf(stderr, "\r%-8s [%s] %3d%% %s / %s  %s/s  ETA %.0fs   ", lm_phase_name(ev->phase),
                barbuf, pct < 0 ? 0 : pct, done, total, rate, eta);
        if (final) fputc('\n', stderr);
    } else if (pct >= 0 && (pct / 10 != b->last_pct / 10 || final)) {
        b->last_pct = pct;
        fprintf(stderr, "%s: %d%% (%llu of %llu bytes)\n", lm_phase_name(ev->phase), pct,
                (unsigned long long)ev->done, (unsigned long long)ev->total);
    }
    return 0;
}

int lm_cmd_pull(int argc, char **argv) {
    const char *ref = NULL;
    bool offline = lm_offline();
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: localm pull REF [--offline]\n\n"
                   "REF is a catalog id (`localm ls`), ID:QUANT, hf://OWNER/REPO/FILE.gguf or an\n"
                   "https:// URL. Downloads resume after interruptions, are checked against the\n"
                   "catalog's sha256 (or record it), and appear in the cache only when complete.\n"
                   "Environment: LOCALM_HOME (cache), HF_TOKEN (gated repositories),\n"
                   "LOCALM_HF_ENDPOINT (hub address), LOCALM_OFFLINE=1 (never download).\n");
            return 0;
        } else if (!strcmp(argv[i], "--offline"))
            offline = true;
        else if (argv[i][0] != '-' && !ref)
            ref = argv[i];
        else {
            fprintf(stderr, "localm pull: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!ref) {
        fprintf(stderr, "usage: localm pull REF [--offline]\n");
        return 2;
    }
    bar b = {isatty(STDERR_FILENO), now_s(), 0, -10};
    lm_pull_result r;
    lm_err err = {0};
    if (lm_pull(ref, offline, on_progress, &b, &r, &err) != LM_OK) {
        if (b.tty) fputc('\n', stderr);
        fprintf(stderr, "localm pull: %s\n", lm_err_text(&err));
        return 1;
    }
    char size[32];
    human((double)r.size, size, sizeof size);
    printf("%s %s (%s, sha256 %s)\n",
           r.already_present ? "already present:" : "downloaded:", r.path, size,
           r.sha256[0] ? r.sha256 : "unknown");
    return 0;
}

int lm_cmd_rm(int argc, char **argv) {
    if (argc != 2 || argv[1][0] == '-') {
        printf("usage: localm rm REF   (a catalog id, ID:QUANT or hf://OWNER/REPO/FILE)\n");
        return argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) ? 0 : 2;
    }
    char removed[1024];
    lm_err err = {0};
    if (lm_pull_remove(argv[1], removed, sizeof removed, &err) != LM_OK) {
        fprintf(stderr, "localm rm: %s\n", lm_err_text(&err));
        return 1;
    }
    printf("removed %s\n", removed);
    return 0;
}
