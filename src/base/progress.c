/* progress.c — names of progress phases. */
#include "base/progress.h"

const char *lm_phase_name(lm_phase p) {
    static const char *const names[] = {"resolve", "download", "verify", "load", "warmup"};
    return (unsigned)p < sizeof names / sizeof names[0] ? names[p] : "unknown";
}
