/* load_opts.c — defaults of the engine load options. */
#include "backend/backend.h"
#include <string.h>

void lm_load_opts_default(lm_load_opts *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->kv_type = LM_KV_F16;
    o->n_seq_max = 1;
}
