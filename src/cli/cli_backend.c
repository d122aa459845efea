/* cli_backend.c — engine lookup by name for CLI commands. */
#include "cli/cli_backend.h"
#include "backend/cpu/engine_cpu.h"
#include <string.h>

const lm_backend_ops *lm_cli_backend(const char *name) {
    if (!name || !strcmp(name, "cpu")) return lm_backend_cpu();
    return NULL;
}
