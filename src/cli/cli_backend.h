/* cli_backend.h — how CLI commands pick an engine by name ("cpu", "cuda")
 * until the backend registry is in: a small lookup over the built-in tables. */
#ifndef LM_CLI_CLI_BACKEND_H
#define LM_CLI_CLI_BACKEND_H
#include "backend/backend.h"

/* The table named name (NULL: the default, "cpu"), or NULL if not built in. */
const lm_backend_ops *lm_cli_backend(const char *name);
#endif
