/* env_switch.h — the CUDA engine's LOCALM_CUDA_* on/off switches, kept for
 * measurements and documented where each is read: unset (or empty) leaves
 * the default, a value starting with 0 turns the switch off, with 1 on. */
#ifndef LM_BACKEND_CUDA_ENV_SWITCH_H
#define LM_BACKEND_CUDA_ENV_SWITCH_H
#include <stdbool.h>
#include <stdlib.h>

static inline bool lmc_switch(const char *name, bool dflt) {
    const char *v = getenv(name);
    if (!v || !v[0]) return dflt;
    return v[0] == '0' ? false : v[0] == '1' ? true : dflt;
}

#endif
