/* model_arg.h — the MODEL argument of run, chat and serve: a path, a catalog
 * id or an hf:// reference (downloaded on first use, with a progress bar), or,
 * when absent, the embedded demo model. */
#ifndef LM_CLI_MODEL_ARG_H
#define LM_CLI_MODEL_ARG_H
#include "localm.h"
#include <stdbool.h>
#include <stddef.h>

lm_status lm_cli_model_path(const char *ref, char *path, size_t cap, bool *is_demo, lm_err *err);
#endif
