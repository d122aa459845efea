/* progress_bar.c — terminal rendering of progress events. */
#include "cli/progress_bar.h"
#include "backend/select.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* "  12.0 MiB / 1.20 GiB  8.10 MiB/s  ETA 143s": what a download's bar adds. */
static void download_figures(const lm_progress *p, double elapsed, char *buf, size_t cap) {
    char done[32], total[32], rate[32];
    lm_format_bytes(p->done, done, sizeof done);
    lm_format_bytes(p->total, total, sizeof total);
    double r = elapsed > 1e-3 ? (double)p->done / elapsed : 0;
    lm_format_bytes((uint64_t)r, rate, sizeof rate);
    if (p->total && r > 0 && p->done <= p->total)
        snprintf(buf, cap, "  %s / %s  %s/s  ETA %.0fs", done, total, rate,
                 (double)(p->total - p->done) / r);
    else
        snprintf(buf, cap, "  %s  %s/s", done, rate);
}

bool lm_progress_use_color(bool tty, const char *no_color_env) {
    return tty && !(no_color_env && *no_color_env);
}

void lm_progress_bar_init(lm_progress_bar *b, FILE *out) {
    memset(b, 0, sizeof *b);
    b->out = out;
    b->tty = isatty(fileno(out)) != 0;
    b->color = lm_progress_use_color(b->tty, getenv("NO_COLOR"));
    b->width = 30;
    b->last_phase = -1;
    b->last_step = -1;
}

static int percent(const lm_progress *p) {
    if (!p->total) return -1;
    uint64_t d = p->done > p->total ? p->total : p->done;
    return (int)(d * 100 / p->total);
}

const char *lm_progress_format(const lm_progress *p, bool tty, bool color, int width, char *buf,
                               size_t cap) {
    int pc = percent(p);
    const char *text = p->text ? p->text : "";
    if (!tty) {
        if (pc >= 0)
            snprintf(buf, cap, "%s: %d%%%s%s", lm_phase_name(p->phase), pc, *text ? " " : "", text);
        else
            snprintf(buf, cap, "%s:%s%s", lm_phase_name(p->phase), *text ? " " : "", text);
        return buf;
    }
    char bar[128];
    if (width > (int)sizeof bar - 1) width = (int)sizeof bar - 1;
    int filled = pc >= 0 ? pc * width / 100 : 0;
    for (int i = 0; i < width; i++)
        bar[i] = i < filled ? '#' : '-';
    bar[width] = 0;
    const char *on = color ? "\033[36m" : "", *off = color ? "\033[0m" : "";
    if (pc >= 0)
        snprintf(buf, cap, "%-8s %s[%s]%s %3d%%  %s", lm_phase_name(p->phase), on, bar, off, pc,
                 text);
    else
        snprintf(buf, cap, "%-8s %s", lm_phase_name(p->phase), text);
    return buf;
}

void lm_progress_bar_update(lm_progress_bar *b, const lm_progress *p) {
    char line[512];
    int pc = percent(p);
    if ((int)p->phase != b->last_phase) b->t0 = now_s();
    if (b->tty) {
        lm_progress_format(p, true, b->color, b->width, line, sizeof line);
        char extra[128] = "";
        if (p->phase == LM_PHASE_DOWNLOAD)
            download_figures(p, now_s() - b->t0, extra, sizeof extra);
        fprintf(b->out, "\r\033[2K%s%s", line, extra);
        b->drawn = true;
    } else {
        /* Plain output is for logs: one line per phase and per 25% step. */
        int step = pc >= 0 ? pc / 25 : -1;
        if ((int)p->phase == b->last_phase && step == b->last_step) return;
        b->last_step = step;
        fprintf(b->out, "%s\n", lm_progress_format(p, false, false, 0, line, sizeof line));
    }
    b->last_phase = (int)p->phase;
    fflush(b->out);
}

int lm_progress_bar_fn(const lm_progress *p, void *bar) {
    lm_progress_bar_update(bar, p);
    return 0;
}

void lm_progress_bar_finish(lm_progress_bar *b) {
    if (b->tty && b->drawn) {
        fprintf(b->out, "\r\033[2K");
        fflush(b->out);
    }
    b->drawn = false;
}
