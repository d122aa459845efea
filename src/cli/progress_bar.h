/* progress_bar.h — drawing loading progress events ({phase, done, total,
 * text}) for the terminal: a redrawn bar on a TTY (coloured unless NO_COLOR
 * is set), plain lines otherwise (one per phase and per 25% step). */
#ifndef LM_CLI_PROGRESS_BAR_H
#define LM_CLI_PROGRESS_BAR_H
#include "base/progress.h"
#include <stdbool.h>
#include <stdio.h>

typedef struct lm_progress_bar {
    FILE *out;
    bool tty, color;
    int width;      /* bar cells */
    int last_phase; /* -1 before the first event */
    int last_step;  /* last 25% step printed in plain mode */
    bool drawn;     /* a bar line is on screen (TTY) */
    double t0;      /* when the current phase started (seconds, monotonic) */
} lm_progress_bar;

/* Colour only on a terminal and only when NO_COLOR is unset or empty
 * (no-color.org); no_color_env is getenv("NO_COLOR"). */
bool lm_progress_use_color(bool tty, const char *no_color_env);
/* Detects whether out is a terminal and whether NO_COLOR is set. */
void lm_progress_bar_init(lm_progress_bar *b, FILE *out);
void lm_progress_bar_update(lm_progress_bar *b, const lm_progress *p);
/* An lm_progress_fn that draws into the lm_progress_bar passed as user. */
int lm_progress_bar_fn(const lm_progress *p, void *bar);
/* Ends the bar's line (TTY) so that later output starts on a fresh line. */
void lm_progress_bar_finish(lm_progress_bar *b);

/* One rendering of an event into buf: with tty, a bar ("load  [#####-----]
 * 50%  text", colour codes when color); without, a plain line ("load: 50%
 * text"). Returns buf. */
const char *lm_progress_format(const lm_progress *p, bool tty, bool color, int width, char *buf,
                               size_t cap);
#endif
