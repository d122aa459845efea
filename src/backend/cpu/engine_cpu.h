/* engine_cpu.h — the portable CPU engine: its backend table. */
#ifndef LM_BACKEND_CPU_ENGINE_CPU_H
#define LM_BACKEND_CPU_ENGINE_CPU_H
#include "backend/backend.h"

/* The CPU engine's table (name "cpu"). Weights are used in place from the
 * model description's mapping, so the description must outlive the engine. */
const lm_backend_ops *lm_backend_cpu(void);
#endif
