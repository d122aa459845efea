/* cuda_missing.c — the "cuda" entry of a binary built without the CUDA
 * engine: it is listed and declines every model with that reason, so that
 * users see why their GPU is not used (`backend: cpu (cuda: declined — …)`)
 * instead of a silent CPU run. Registered only when lm_backend_cuda is absent. */
#include "backend/backend.h"
#include "base/err.h"
#include <stdio.h>
#include <string.h>

#define WHY "this binary was built without the CUDA engine (rebuild with nvcc installed)"

static lm_status probe(lm_backend_info *out) {
    memset(out, 0, sizeof *out);
    out->usable = false;
    snprintf(out->reason, sizeof out->reason, "%s", WHY);
    return LM_OK;
}

static lm_status check(const lm_model_desc *m, const lm_load_opts *o, lm_support *out) {
    (void)o;
    memset(out, 0, sizeof *out);
    out->ok = false;
    snprintf(out->reason, sizeof out->reason, "%s", WHY);
    out->bytes_weights = m ? m->weight_bytes : 0;
    return LM_OK;
}

static lm_status load(const lm_model_desc *m, const lm_load_opts *o, lm_progress_fn fn,
                      void *user, lm_engine **out, lm_err *err) {
    (void)m, (void)o, (void)fn, (void)user;
    *out = NULL;
    return lm_fail(err, LM_ERR_DEVICE, "%s", WHY);
}

static lm_status forward(lm_engine *e, const lm_batch *b, lm_logits *out, lm_err *err) {
    (void)e, (void)b, (void)out;
    return lm_fail(err, LM_ERR_DEVICE, "%s", WHY);
}

static lm_status kv_seq(lm_engine *e, lm_kv_op op, int seq, int p0, int p1) {
    (void)e, (void)op, (void)seq, (void)p0, (void)p1;
    return LM_ERR_DEVICE;
}

static void unload(lm_engine *e) {
    (void)e;
}

const lm_backend_ops *lm_backend_cuda_missing(void) {
    static const lm_backend_ops ops = {LM_BACKEND_ABI_VERSION, "cuda", probe, check, load,
                                       forward, kv_seq, unload};
    return &ops;
}
