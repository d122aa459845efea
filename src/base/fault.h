/* fault.h — test fault hooks: LOCALM_FAULT=SITE:N[,SITE:N...] makes the N-th
 * call (1-based, counted per process) of lm_fault_hit(SITE) return true, so
 * tests can make an engine fail at a chosen point (issue 4's fallback tests). */
#ifndef LM_BASE_FAULT_H
#define LM_BASE_FAULT_H
#include <stdbool.h>

/* Counts one call at `site` ("forward", "load", ...) and returns true when this
 * is the call LOCALM_FAULT names for that site. Thread-safe; cheap when the
 * variable is unset. */
bool lm_fault_hit(const char *site);
#endif
