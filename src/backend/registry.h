/* registry.h — the list of engines LocalM can use: the compiled-in backends in
 * preference order (cuda when built with CUDA, then cpu), plus backends that
 * callers register at run time (tests register fakes this way).
 *
 * Registration is meant for start-up (and tests); lookups are safe from any
 * thread. The registry keeps pointers to the tables, which must outlive it. */
#ifndef LM_BACKEND_REGISTRY_H
#define LM_BACKEND_REGISTRY_H
#include "backend/backend.h"

#define LM_REGISTRY_MAX 16

/* Number of backends, compiled-in ones included. */
int lm_registry_count(void);
/* The i-th backend in preference order, or NULL when out of range. */
const lm_backend_ops *lm_registry_get(int i);
/* By name ("cpu"); NULL when none has that name. */
const lm_backend_ops *lm_registry_find(const char *name);
/* Inserts a backend at position `index` (0 = most preferred; -1 or past the
 * end = last). Fails with LM_ERR_UNSUPPORTED when the table's abi_version is
 * not one this build understands, LM_ERR_INVALID_ARG when a required slot is
 * missing or the name is taken, LM_ERR_BUSY when the registry is full. */
lm_status lm_registry_register(const lm_backend_ops *ops, int index, lm_err *err);
/* Removes a registered backend by name (tests clean up their fakes). */
lm_status lm_registry_unregister(const char *name, lm_err *err);
/* Comma-separated names in order ("cuda, cpu"), into buf. */
const char *lm_registry_names(char *buf, size_t cap);
#endif
