/* load_opts.c — defaults of the engine load options shared by every backend. */
#include "backend/backend.h"
#include <string.h>

void lm_load_opts_default(lm_load_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_ctx = 0; /* lm_model_default_ctx(): the training context, at most 8192 */
    o->n_threads = 0;
    o->kv_type = LM_KV_F16;
    o->n_seq_max = 1;
    o->mem_budget = 0;
    o->device = 0;
}
