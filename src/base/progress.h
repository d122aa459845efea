/* progress.h — the one shape of loading progress events:
 * {phase: resolve|download|verify|load|warmup, done, total, text}. */
#ifndef LM_BASE_PROGRESS_H
#define LM_BASE_PROGRESS_H
#include <stdint.h>

typedef enum lm_phase {
    LM_PHASE_RESOLVE = 0,
    LM_PHASE_DOWNLOAD,
    LM_PHASE_VERIFY,
    LM_PHASE_LOAD,
    LM_PHASE_WARMUP,
} lm_phase;

typedef struct lm_progress {
    lm_phase phase;
    uint64_t done, total; /* total 0 = unknown */
    const char *text;     /* short description, may be NULL */
} lm_progress;

/* Called on the thread doing the work; return non-zero to cancel it. */
typedef int (*lm_progress_fn)(const lm_progress *ev, void *user);

const char *lm_phase_name(lm_phase p); /* "resolve", "download", ... */
#endif
