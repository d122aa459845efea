/* engine_cuda.c — the CUDA engine's table: probing devices, deciding whether a
 * model fits (types, shapes, VRAM for weights + KV cache + scratch), uploading
 * weights with progress, and releasing everything. The forward pass lives in
 * forward_cuda.c, the kernels in the .cu files. */
#include "backend/cuda/engine_cuda.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/engine_cuda_impl.h"
#include "backend/cuda/env_switch.h"
#include "base/err.h"
#include "base/half.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN 256u
#define RESERVE_BYTES (96ull << 20) /* cuBLAS workspace and context slack */

static size_t align_up(size_t v) {
    return (v + ALIGN - 1) & ~(size_t)(ALIGN - 1);
}

/* ---- probe ---------------------------------------------------------------- */

static bool cuda_unavailable(char *reason, size_t n) {
    int count = 0;
    cudaError_t rc = cudaGetDeviceCount(&count);
    if (rc == cudaErrorNoDevice || (rc == cudaSuccess && count == 0)) {
        snprintf(reason, n, "no CUDA device");
        return true;
    }
    if (rc == cudaErrorInsufficientDriver) {
        snprintf(reason, n, "no CUDA driver (or one older than the runtime)");
        return true;
    }
    if (rc != cudaSuccess) {
        snprintf(reason, n, "CUDA unavailable: %s", cudaGetErrorString(rc));
        return true;
    }
    return false;
}

/* Compute capability of a device as 10 major + minor (0 when unreadable). */
static int device_cc(int device) {
    int mj = 0, mn = 0;
    (void)cudaDeviceGetAttribute(&mj, cudaDevAttrComputeCapabilityMajor, device);
    (void)cudaDeviceGetAttribute(&mn, cudaDevAttrComputeCapabilityMinor, device);
    return 10 * mj + mn;
}

/* What the current device (compute capability dev, as device_cc) loses with
 * the code this build has for it (k_arch.cu), and the remedy, after prefix;
 * "" when it runs the code it needs. true when the kernels come from PTX,
 * which the driver compiles at their first use. */
static bool code_note(char *buf, size_t n, const char *prefix, int dev) {
    int code = lmc_code_arch(), major = dev / 10;
    const char *miss = code < 80                 ? (major >= 9 ? "tensor-core prompt kernels and "
                                                                 "programmatic launch"
                                                               : "tensor-core prompt kernels")
                       : code < 90 && major >= 9 ? "programmatic launch"
                                                 : NULL;
    buf[0] = 0;
    if (code == 0)
        snprintf(buf, n, "%sthis build has no code for sm_%d (LOCALM_CUDA_ARCHS=%d-real)", prefix,
                 dev, dev);
    else if (code < dev && miss)
        snprintf(buf, n, "%sruns compute_%d PTX, without %s (LOCALM_CUDA_ARCHS=%d-real)", prefix,
                 code, miss, dev);
    return code > 0 && code < dev;
}

static lm_status cuda_probe(lm_backend_info *out) {
    memset(out, 0, sizeof *out);
    if (cuda_unavailable(out->reason, sizeof out->reason)) {
        (void)cudaGetLastError();
        return LM_OK;
    }
    int count = 0;
    (void)cudaGetDeviceCount(&count);
    for (int i = 0; i < count && out->n_devices < 8; i++) {
        struct cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
        lm_device_info *d = &out->devices[out->n_devices++];
        snprintf(d->name, sizeof d->name, "%.127s", p.name);
        snprintf(d->caps, sizeof d->caps, "sm_%d%d, %d SMs", p.major, p.minor,
                 p.multiProcessorCount);
        size_t fr = 0, tot = 0;
        bool set = cudaSetDevice(i) == cudaSuccess;
        if (set) {
            size_t at = strlen(d->caps);
            code_note(d->caps + at, sizeof d->caps - at, "; ", 10 * p.major + p.minor);
        }
        if (set && cudaMemGetInfo(&fr, &tot) == cudaSuccess) {
            d->mem_free = fr;
            d->mem_total = tot;
        } else {
            d->mem_total = p.totalGlobalMem;
        }
    }
    out->usable = out->n_devices > 0;
    if (!out->usable) snprintf(out->reason, sizeof out->reason, "no usable CUDA device");
    return LM_OK;
}

/* ---- shapes and sizes ----------------------------------------------------- */

static bool mat_ok(const lm_tensor *t, uint64_t n_in, uint64_t rows, char *why, size_t n) {
    if (!t) {
        snprintf(why, n, "missing weight matrix");
        return false;
    }
    if (!lmc_type_supported(t->type)) {
        snprintf(why, n, "tensor %s has type %s, which the CUDA engine does not compute with",
                 t->name, lm_type_name(t->type));
        return false;
    }
    const lm_type_info *ti = lm_type_get(t->type);
    if (t->ne[0] != n_in || t->ne[1] != rows || n_in % 32 || n_in % ti->block_elems) {
        snprintf(why, n, "tensor %s has shape [%llu, %llu], expected [%llu, %llu]", t->name,
                 (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
                 (unsigned long long)n_in, (unsigned long long)rows);
        return false;
    }
    return true;
}

static bool vec_ok(const lm_tensor *t, uint64_t len, char *why, size_t n) {
    if (!t) return true;
    if ((t->type != LM_TYPE_F32 && t->type != LM_TYPE_F16 && t->type != LM_TYPE_BF16) ||
        t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3] != len) {
        snprintf(why, n, "tensor %s: expected %llu F32/F16/BF16 values", t->name,
                 (unsigned long long)len);
        return false;
    }
    return true;
}

/* Checks everything but memory; fills why when the model is not supported. */
static bool model_ok(const lm_model_desc *m, char *why, size_t n) {
    const lm_hparams *hp = &m->hp;
    if (hp->arch != LM_ARCH_LLAMA && hp->arch != LM_ARCH_MISTRAL && hp->arch != LM_ARCH_QWEN2 &&
        hp->arch != LM_ARCH_QWEN3) {
        snprintf(why, n, "architecture %s is not supported by the CUDA engine", hp->arch_name);
        return false;
    }
    if (!hp->n_layer || !hp->n_head || !hp->n_head_kv || hp->n_head % hp->n_head_kv ||
        !lmc_attention_supported((int)hp->n_head, (int)hp->n_head_kv, (int)hp->head_dim) ||
        hp->n_embd % 32 || hp->n_ff % 32 || !m->tok_embd || !m->output || !m->output_norm) {
        snprintf(why, n, "model shape not supported (heads %u/%u, head_dim %u, n_embd %u)",
                 hp->n_head, hp->n_head_kv, hp->head_dim, hp->n_embd);
        return false;
    }
    uint64_t E = hp->n_embd, Q = (uint64_t)hp->n_head * hp->head_dim,
             K = (uint64_t)hp->n_head_kv * hp->head_dim, F = hp->n_ff;
    if (!mat_ok(m->tok_embd, E, hp->n_vocab, why, n) ||
        !mat_ok(m->output, E, hp->n_vocab, why, n) || !vec_ok(m->output_norm, E, why, n))
        return false;
    for (uint32_t i = 0; i < hp->n_layer; i++) {
        const lm_layer *L = &m->layers[i];
        if (!mat_ok(L->wq, E, Q, why, n) || !mat_ok(L->wk, E, K, why, n) ||
            !mat_ok(L->wv, E, K, why, n) || !mat_ok(L->wo, Q, E, why, n) ||
            !mat_ok(L->ffn_gate, E, F, why, n) || !mat_ok(L->ffn_up, E, F, why, n) ||
            !mat_ok(L->ffn_down, F, E, why, n) || !L->attn_norm || !L->ffn_norm ||
            !vec_ok(L->attn_norm, E, why, n) || !vec_ok(L->ffn_norm, E, why, n) ||
            !vec_ok(L->bq, Q, why, n) || !vec_ok(L->bk, K, why, n) || !vec_ok(L->bv, K, why, n) ||
            !vec_ok(L->q_norm, hp->head_dim, why, n) || !vec_ok(L->k_norm, hp->head_dim, why, n)) {
            if (!why[0]) snprintf(why, n, "layer %u: missing norm weights", i);
            return false;
        }
        if (L->ffn_gate->type != L->ffn_up->type) { /* the fused SwiGLU mat-vec needs one type */
            snprintf(why, n, "layer %u: ffn_gate (%s) and ffn_up (%s) differ in type", i,
                     lm_type_name(L->ffn_gate->type), lm_type_name(L->ffn_up->type));
            return false;
        }
    }
    return true;
}

static void set_dims(lm_engine *e, const lm_model_desc *m, const lm_load_opts *o) {
    const lm_hparams *hp = &m->hp;
    e->hp = *hp;
    e->n_embd = (int)hp->n_embd;
    e->n_layer = (int)hp->n_layer;
    e->nh = (int)hp->n_head;
    e->nkv = (int)hp->n_head_kv;
    e->hd = (int)hp->head_dim;
    e->n_ff = (int)hp->n_ff;
    e->n_vocab = (int)hp->n_vocab;
    e->qkv_dim = (e->nh + 2 * e->nkv) * e->hd;
    e->n_ctx = (int)(o && o->n_ctx ? o->n_ctx : lm_model_default_ctx(hp));
    e->n_seq = o && o->n_seq_max > 0 ? o->n_seq_max : 1;
    e->dec_split = lmc_attention_dec_split(e->n_ctx, e->nkv);
}

static size_t mat_bytes(const lm_tensor *t) {
    uint64_t rb = 0;
    lm_type_row_bytes(t->type, t->ne[0], &rb);
    return (size_t)(rb * t->ne[1]);
}

/* Walks the upload order. With dst == NULL only counts; the byte count is the
 * same either way, so check() and load() agree. */
typedef struct placer {
    size_t off;
    uint8_t *base;
} placer;

static size_t place(placer *p, size_t bytes, bool aligned) {
    if (aligned) p->off = align_up(p->off);
    size_t at = p->off;
    p->off += bytes;
    return at;
}

static size_t weight_bytes(const lm_model_desc *m) {
    const lm_hparams *hp = &m->hp;
    placer p = {0, NULL};
    place(&p, mat_bytes(m->tok_embd), true);
    if (m->output != m->tok_embd) place(&p, mat_bytes(m->output), true);
    size_t vec =
        (size_t)hp->n_embd * 2 + (hp->n_head + 2 * hp->n_head_kv) * hp->head_dim + 2 * hp->head_dim;
    for (uint32_t i = 0; i < hp->n_layer; i++) {
        const lm_layer *L = &m->layers[i];
        const lm_tensor *ts[7] = {L->wq, L->wk, L->wv, L->wo, L->ffn_gate, L->ffn_up, L->ffn_down};
        for (int k = 0; k < 7; k++)
            place(&p, mat_bytes(ts[k]), true);
        place(&p, vec * sizeof(float), true);
    }
    place(&p, ((size_t)hp->n_embd + hp->head_dim) * sizeof(float), true);
    return align_up(p.off) + 8 * ALIGN;
}

static size_t kv_bytes(const lm_engine *e) {
    return (size_t)e->n_layer * 2 * e->n_seq * e->n_ctx * e->nkv * e->hd * 2;
}

static size_t max_sz(size_t a, size_t b) {
    return a > b ? a : b;
}

static size_t wh_elems_for(const lm_engine *e) {
    size_t E = e->n_embd, F = e->n_ff, Q = (size_t)e->nh * e->hd;
    size_t w = max_sz((size_t)e->qkv_dim * E, Q * E);
    w = max_sz(w, 2 * F * E);
    return w;
}

/* Lays out (base != NULL) or measures (base == NULL) the scratch parts. */
static size_t scratch_walk(lm_engine *e, uint8_t *base) {
    size_t T = LMC_MAX_TOK, S = LMC_SMALL_TOK;
    size_t maxw = max_sz(max_sz((size_t)e->n_embd, (size_t)e->n_ff),
                         max_sz((size_t)e->nh * e->hd, (size_t)e->qkv_dim));
    size_t part_rows = max_sz(S * e->nh * e->dec_split, T * e->nh);
    size_t off = 0;
#define LMC_PART(field, type, count)                                                               \
    do {                                                                                           \
        off = align_up(off);                                                                       \
        if (base) e->field = (type *)(base + off);                                                 \
        off += sizeof(type) * (count);                                                             \
    } while (0)
    LMC_PART(x, float, T * e->n_embd);
    LMC_PART(xf, float, S *maxw); /* the decode body's and the logits' float input */
    LMC_PART(xg, float, T * e->n_embd);
    LMC_PART(qkv, float, T * e->qkv_dim);
    LMC_PART(q, float, T * e->nh * e->hd);
    LMC_PART(att, float, T * e->nh * e->hd);
    /* silu(gate) * up in float, or gate|up in half: n_ff floats' worth a token */
    LMC_PART(ffb, float, T * e->n_ff);
    LMC_PART(logits, float, (size_t)LMC_LOGIT_ROWS * e->n_vocab);
    LMC_PART(part, float, part_rows *(e->hd + 2));
    LMC_PART(xh, uint16_t, T * maxw);
    LMC_PART(wh, uint16_t, wh_elems_for(e));
    LMC_PART(xq, int8_t, T * maxw); /* T: short prompts' q8 activations (k_mmq.cu) */
    LMC_PART(xs, float, T *maxw / 16);
    LMC_PART(xq2, int8_t, S * maxw);
    LMC_PART(xs2, float, S *maxw / 16);
    LMC_PART(att_cnt, int32_t, S * e->nkv);
    LMC_PART(d_in, int32_t, 4 * T);
#undef LMC_PART
    if (base) e->wh_elems = wh_elems_for(e);
    return align_up(off);
}

size_t lmc_scratch_bytes(const lm_engine *e) {
    return scratch_walk((lm_engine *)e, NULL);
}

cudaError_t lmc_vram_room(const lm_engine *e, size_t *room, size_t *free_bytes) {
    size_t fr = 0, tot = 0, slack = 256ull << 20;
    size_t used = e->wbytes + e->kv_bytes + e->scratch_bytes + lmc_persist_bytes(e);
    cudaError_t rc = cudaMemGetInfo(&fr, &tot);
    *room = rc == cudaSuccess && fr > slack ? fr - slack : 0;
    if (e->mem_budget) {
        size_t b = e->mem_budget > used + slack ? e->mem_budget - used - slack : 0;
        *room = b < *room ? b : *room;
    }
    if (free_bytes) *free_bytes = fr;
    return rc;
}
void lmc_scratch_layout(lm_engine *e, uint8_t *base) {
    scratch_walk(e, base);
}

/* ---- check ---------------------------------------------------------------- */

static lm_status cuda_check(const lm_model_desc *m, const lm_load_opts *o, lm_support *out) {
    memset(out, 0, sizeof *out);
    if (cuda_unavailable(out->reason, sizeof out->reason)) {
        (void)cudaGetLastError();
        return LM_OK;
    }
    if (!model_ok(m, out->reason, sizeof out->reason)) return LM_OK;
    lm_engine e;
    memset(&e, 0, sizeof e);
    set_dims(&e, m, o);
    int dev = o ? o->device : 0;
    size_t fr = 0, tot = 0;
    if (cudaSetDevice(dev) != cudaSuccess || cudaMemGetInfo(&fr, &tot) != cudaSuccess) {
        (void)cudaGetLastError();
        snprintf(out->reason, sizeof out->reason, "CUDA device %d cannot be used", dev);
        return LM_OK;
    }
    if (lmc_code_arch() == 0) { /* every launch would fail */
        code_note(out->reason, sizeof out->reason, "", device_cc(dev));
        return LM_OK;
    }
    out->bytes_weights = weight_bytes(m);
    out->bytes_kv = kv_bytes(&e);
    out->bytes_needed = out->bytes_weights + out->bytes_kv + lmc_scratch_bytes(&e) + RESERVE_BYTES;
    uint64_t budget = o && o->mem_budget ? o->mem_budget : fr;
    const char *what = o && o->mem_budget ? "budget" : "free";
    if (out->bytes_needed > budget) {
        snprintf(out->reason, sizeof out->reason,
                 "needs %.2f GiB of VRAM (weights %.2f, KV cache %.2f at %d tokens), %.2f GiB %s",
                 out->bytes_needed / 1073741824.0, out->bytes_weights / 1073741824.0,
                 out->bytes_kv / 1073741824.0, e.n_ctx, budget / 1073741824.0, what);
        return LM_OK;
    }
    out->ok = true;
    return LM_OK;
}

/* ---- load ----------------------------------------------------------------- */

typedef struct uploader {
    lm_engine *e;
    placer p;
    lm_progress_fn fn;
    void *user;
    uint64_t done, total;
    float *tmp; /* host staging for vectors */
    lm_err *err;
} uploader;

static lm_status cuda_fail(lm_err *err, cudaError_t rc, const char *what) {
    return lm_fail(err, rc == cudaErrorMemoryAllocation ? LM_ERR_DEVICE : LM_ERR_BACKEND,
                   "CUDA %s: %s", what, cudaGetErrorString(rc));
}

static lm_status report(uploader *u, uint64_t add, const char *text) {
    u->done += add;
    if (!u->fn) return LM_OK;
    lm_progress ev = {LM_PHASE_LOAD, u->done, u->total, text};
    if (u->fn(&ev, u->user)) return lm_fail(u->err, LM_ERR_CANCELLED, "load cancelled");
    return LM_OK;
}

static lm_status up_mat(uploader *u, const lm_tensor *t, bool aligned, lmc_mat *out) {
    size_t bytes = mat_bytes(t);
    size_t at = place(&u->p, bytes, aligned);
    const uint8_t *src = t->data;
    for (size_t o = 0; o < bytes;) {
        size_t n = bytes - o < (64u << 20) ? bytes - o : (64u << 20);
        cudaError_t rc = cudaMemcpy(u->p.base + at + o, src + o, n, cudaMemcpyHostToDevice);
        if (rc != cudaSuccess) return cuda_fail(u->err, rc, "upload");
        o += n;
        lm_status s = report(u, n, t->name);
        if (s) return s;
    }
    /* the copies above are synchronous; so is this, before the engine's own
     * stream uses the weights */
    if (!lmc_device_layout(0, t->type, u->p.base + at, bytes)) {
        cudaError_t rc = cudaGetLastError();
        if (rc != cudaSuccess) return cuda_fail(u->err, rc, "weight layout");
        return lm_fail(u->err, LM_ERR_BACKEND, "cuda: %s is not aligned to its blocks", t->name);
    }
    cudaError_t rc = cudaStreamSynchronize(0);
    if (rc != cudaSuccess) return cuda_fail(u->err, rc, "weight layout");
    out->w = u->p.base + at;
    out->type = t->type;
    out->n_in = (int)t->ne[0];
    out->rows = (int)t->ne[1];
    out->row_bytes = bytes / t->ne[1];
    return LM_OK;
}

static void to_float(const lm_tensor *t, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (t->type == LM_TYPE_F32)
            memcpy(&dst[i], (const uint8_t *)t->data + 4 * i, 4);
        else {
            uint16_t h;
            memcpy(&h, (const uint8_t *)t->data + 2 * i, 2);
            dst[i] = t->type == LM_TYPE_F16 ? lm_half_to_float(h) : lm_bf16_to_float(h);
        }
    }
}

/* Uploads n floats from the staging buffer; returns the device pointer. */
static lm_status up_floats(uploader *u, size_t n, size_t at, const float **out) {
    cudaError_t rc = cudaMemcpy(u->p.base + at, u->tmp, n * sizeof(float), cudaMemcpyHostToDevice);
    if (rc != cudaSuccess) return cuda_fail(u->err, rc, "upload");
    *out = (const float *)(u->p.base + at);
    return LM_OK;
}

/* When three (or two) matrices of one type lie back to back, they form one
 * matrix with the rows of all, which saves launches and GEMMs. */
static lmc_mat fuse(const lmc_mat *a, const lmc_mat *b, const lmc_mat *c) {
    lmc_mat f = {0};
    if (a->type != b->type || (c && c->type != a->type)) return f;
    if ((const uint8_t *)a->w + a->row_bytes * a->rows != b->w) return f;
    if (c && (const uint8_t *)b->w + b->row_bytes * b->rows != c->w) return f;
    f = *a;
    f.rows = a->rows + b->rows + (c ? c->rows : 0);
    return f;
}

/* Whether lmc_mmq reads this matrix (short prompts take it when it reads
 * every layer matrix: lm_engine.mmq). */
static bool mmq_ok(const lmc_mat *m) {
    return lmc_mmq_supported(m->type) && m->n_in % 256 == 0;
}
/* K-quants, whose activations the short-prompt path quantises per 256
 * (lm_engine.mmq256). */
static bool kquant(const lmc_mat *m) {
    return m->type == LM_TYPE_Q4_K || m->type == LM_TYPE_Q5_K || m->type == LM_TYPE_Q6_K;
}

static lm_status upload_all(uploader *u, const lm_model_desc *m) {
    lm_engine *e = u->e;
    lm_status s;
    if ((s = up_mat(u, m->tok_embd, true, &e->tok))) return s;
    if (m->output == m->tok_embd)
        e->out = e->tok;
    else if ((s = up_mat(u, m->output, true, &e->out)))
        return s;
    size_t E = e->n_embd, hd = e->hd, Q = (size_t)e->nh * hd, K = (size_t)e->nkv * hd;
    e->mmq = e->mmq256 = true;
    e->qglu = lmc_qglu_ready() && lmc_qglu_shape_ok(e->n_ff, e->n_embd);
    e->qdown = lmc_switch("LOCALM_CUDA_QDOWN", true);
    for (int i = 0; i < e->n_layer; i++) {
        const lm_layer *L = &m->layers[i];
        lmc_layer *D = &e->layers[i];
        /* Matrices of one type go back to back (every row start keeps the
         * alignment its loads need); a type change starts aligned. */
        if ((s = up_mat(u, L->wq, true, &D->wq)) ||
            (s = up_mat(u, L->wk, L->wk->type != L->wq->type, &D->wk)) ||
            (s = up_mat(u, L->wv, L->wv->type != L->wk->type, &D->wv)) ||
            (s = up_mat(u, L->wo, true, &D->wo)) || (s = up_mat(u, L->ffn_gate, true, &D->gate)) ||
            (s = up_mat(u, L->ffn_up, L->ffn_up->type != L->ffn_gate->type, &D->up)) ||
            (s = up_mat(u, L->ffn_down, true, &D->down)))
            return s;
        D->wqkv = fuse(&D->wq, &D->wk, &D->wv);
        if (!D->wqkv.w) D->wqk = fuse(&D->wq, &D->wk, NULL);
        D->wgu = fuse(&D->gate, &D->up, NULL);
        /* attn_norm | ffn_norm | bq bk bv | q_norm | k_norm */
        size_t nvec = 2 * E + Q + 2 * K + 2 * hd;
        size_t at = place(&u->p, nvec * sizeof(float), true);
        float *t = u->tmp;
        memset(t, 0, nvec * sizeof(float));
        to_float(L->attn_norm, t, E);
        to_float(L->ffn_norm, t + E, E);
        if (L->bq) to_float(L->bq, t + 2 * E, Q);
        if (L->bk) to_float(L->bk, t + 2 * E + Q, K);
        if (L->bv) to_float(L->bv, t + 2 * E + Q + K, K);
        if (L->q_norm) to_float(L->q_norm, t + 2 * E + Q + 2 * K, hd);
        if (L->k_norm) to_float(L->k_norm, t + 2 * E + Q + 2 * K + hd, hd);
        const float *dv = NULL;
        if ((s = up_floats(u, nvec, at, &dv))) return s;
        D->attn_norm = dv;
        D->ffn_norm = dv + E;
        D->bqkv = (L->bq || L->bk || L->bv) ? dv + 2 * E : NULL;
        D->q_norm = L->q_norm ? dv + 2 * E + Q + 2 * K : NULL;
        D->k_norm = L->k_norm ? dv + 2 * E + Q + 2 * K + hd : NULL;
        e->mmq &= mmq_ok(&D->wq) && mmq_ok(&D->wk) && mmq_ok(&D->wv) && mmq_ok(&D->wo) &&
                  mmq_ok(&D->gate) && mmq_ok(&D->up) && mmq_ok(&D->down);
        e->qglu &= D->wgu.w && D->wgu.type == LM_TYPE_Q4_K;
        e->mmq256 &= kquant(&D->wq) && kquant(&D->wk) && kquant(&D->wv) && kquant(&D->wo) &&
                     kquant(&D->gate) && kquant(&D->up) && kquant(&D->down);
    }
    /* =0: per-32 activations for every type */
    if (!lmc_switch("LOCALM_CUDA_X256", true)) e->mmq256 = false;
    size_t at = place(&u->p, (E + hd) * sizeof(float), true);
    to_float(m->output_norm, u->tmp, E);
    for (size_t i = 0; i < hd / 2; i++) {
        double f = pow((double)e->hp.rope_theta, -2.0 * (double)i / (double)hd);
        if (e->hp.rope_freq_factors) f /= (double)e->hp.rope_freq_factors[i];
        u->tmp[E + i] = (float)f;
    }
    const float *dv = NULL;
    if ((s = up_floats(u, E + hd, at, &dv))) return s;
    e->out_norm = dv;
    e->inv_freq = dv + E;
    return LM_OK;
}

cudaError_t lmc_stream_create(cudaStream_t *st, bool highest) {
    int least = 0, greatest = 0;
    cudaError_t rc = cudaDeviceGetStreamPriorityRange(&least, &greatest);
    if (rc != cudaSuccess) return rc;
    return cudaStreamCreateWithPriority(st, cudaStreamNonBlocking, highest ? greatest : least);
}

static void cuda_unload(lm_engine *e) {
    if (!e) return;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i <= LMC_SMALL_TOK; i++)
            if (e->graph[k][i]) cudaGraphExecDestroy(e->graph[k][i]);
    if (e->blas) cublasDestroy(e->blas);
    lmc_persist_free(e);
    lmc_wpipe_free(e);
    if (e->st) cudaStreamDestroy(e->st);
    cudaFree(e->wbuf);
    cudaFree(e->kv);
    cudaFree(e->scratch);
    cudaFree(e->qglu_work);
    cudaFreeHost(e->h_in);
    cudaFreeHost(e->h_logits);
    (void)cudaGetLastError();
    free(e->layers);
    free(e->seq_len);
    free(e);
}

static lm_status cuda_load(const lm_model_desc *m, const lm_load_opts *o, lm_progress_fn fn,
                           void *user, lm_engine **out, lm_err *err) {
    *out = NULL;
    lm_support sup;
    cuda_check(m, o, &sup);
    if (!sup.ok) return lm_fail(err, LM_ERR_DECLINED, "cuda: %s", sup.reason);
    lm_engine *e = calloc(1, sizeof *e);
    if (!e) return lm_fail(err, LM_ERR_NO_MEMORY, "cuda engine");
    set_dims(e, m, o);
    e->device = o ? o->device : 0;
    e->mem_budget = o ? o->mem_budget : 0;
    e->layers = calloc((size_t)e->n_layer, sizeof *e->layers);
    e->seq_len = calloc((size_t)e->n_seq, sizeof *e->seq_len);
    size_t E = e->n_embd, vec = 2 * E + (size_t)e->qkv_dim + 2 * (size_t)e->hd + E;
    float *tmp = malloc(vec * sizeof(float));
    lm_status s = LM_OK;
    cudaError_t rc;
    if (!e->layers || !e->seq_len || !tmp) {
        s = lm_fail(err, LM_ERR_NO_MEMORY, "cuda engine tables");
        goto fail;
    }
    e->wbytes = weight_bytes(m);
    e->kv_bytes = kv_bytes(e);
    e->scratch_bytes = lmc_scratch_bytes(e);
    /* The main stream gets the highest priority, so the prefill GEMMs' blocks
     * go first and the dequantisation stream (prefill_weights.c) fills the
     * gaps (at equal priority the 8B prefill was 18 % slower than with the
     * pipeline off). */
    if ((rc = cudaSetDevice(e->device)) || (rc = lmc_stream_create(&e->st, true)) ||
        (rc = cudaMalloc((void **)&e->wbuf, e->wbytes)) ||
        (rc = cudaMalloc((void **)&e->kv, e->kv_bytes)) ||
        (rc = cudaMalloc((void **)&e->scratch, e->scratch_bytes)) ||
        (rc = cudaMallocHost((void **)&e->h_in, 4 * LMC_MAX_TOK * sizeof(int32_t))) ||
        (rc = cudaMallocHost((void **)&e->h_logits,
                             (size_t)LMC_SMALL_TOK * (size_t)e->n_vocab * sizeof(float)))) {
        s = cuda_fail(err, rc, "allocation");
        goto fail;
    }
    { /* kernels from PTX: the first use compiles them, which takes a while */
        char note[160];
        int cc = device_cc(e->device);
        if (code_note(note, sizeof note, "; ", cc))
            fprintf(stderr,
                    "cuda: no sm_%d code in this build: the driver compiles the kernels from "
                    "compute_%d PTX on first use (once, then cached)%s\n",
                    cc, lmc_code_arch(), note);
    }
    if (cublasCreate(&e->blas) != CUBLAS_STATUS_SUCCESS ||
        cublasSetStream(e->blas, e->st) != CUBLAS_STATUS_SUCCESS) {
        s = lm_fail(err, LM_ERR_BACKEND, "cuBLAS could not be initialised");
        goto fail;
    }
    cublasSetMathMode(e->blas, CUBLAS_DEFAULT_MATH);
    (void)lmc_wgmma_loaded(); /* its one-time probe, here rather than inside a pass */
    lmc_scratch_layout(e, e->scratch);
    size_t per = (size_t)e->n_seq * e->n_ctx * e->nkv * e->hd;
    for (int i = 0; i < e->n_layer; i++) {
        e->layers[i].k_cache = e->kv + (size_t)(2 * i) * per;
        e->layers[i].v_cache = e->kv + (size_t)(2 * i + 1) * per;
    }
    /* Zeroed caches: positions never written still hold finite numbers; the
     * attention counters start (and stay) at zero. */
    if ((rc = cudaMemset(e->kv, 0, e->kv_bytes)) ||
        (rc = cudaMemset(e->att_cnt, 0, sizeof(int32_t) * LMC_SMALL_TOK * e->nkv))) {
        s = cuda_fail(err, rc, "memset");
        goto fail;
    }
    uploader u = {e, {0, e->wbuf}, fn, user, 0, m->weight_bytes, tmp, err};
    if (!u.total) u.total = e->wbytes;
    if ((s = upload_all(&u, m))) goto fail;
    if (e->qglu && ((rc = cudaMalloc((void **)&e->qglu_work, lmc_qglu_work_bytes())) ||
                    (rc = cudaMemset(e->qglu_work, 0, lmc_qglu_work_bytes())))) {
        s = cuda_fail(err, rc, "allocation");
        goto fail;
    }
    if ((rc = lmc_persist_setup(e))) {
        s = cuda_fail(err, rc, "persistent decode set-up");
        goto fail;
    }
    if ((rc = lmc_wpipe_init(e))) {
        s = cuda_fail(err, rc, "prefill stream");
        goto fail;
    }
    if (!lmc_warm_up(e)) {
        rc = cudaGetLastError();
        s = rc ? cuda_fail(err, rc, "warm-up prompt")
               : lm_fail(err, LM_ERR_BACKEND, "cuda: the warm-up prompt failed");
        goto fail;
    }
    free(tmp);
    *out = e;
    return LM_OK;
fail:
    free(tmp);
    cuda_unload(e);
    return s;
}

static lm_status cuda_kv_seq(lm_engine *e, lm_kv_op op, int seq, int p0, int p1) {
    if (seq < -1 || seq >= e->n_seq || (op == LM_KV_REMOVE && (seq < 0 || p0 < 0)))
        return LM_ERR_INVALID_ARG;
    if (op == LM_KV_CLEAR) {
        for (int i = 0; i < e->n_seq; i++)
            if (seq < 0 || i == seq) e->seq_len[i] = 0;
        return LM_OK;
    }
    /* Attention reads positions [0, pos] of a sequence, so forgetting a tail is
     * free; a hole in the middle would need the later entries moved. */
    if (p1 >= 0 && p1 < e->seq_len[seq]) return LM_ERR_UNSUPPORTED;
    if (p0 < e->seq_len[seq]) e->seq_len[seq] = p0;
    return LM_OK;
}

static const lm_backend_ops k_cuda_ops = {
    .abi_version = LM_BACKEND_ABI_VERSION,
    .name = "cuda",
    .probe = cuda_probe,
    .check = cuda_check,
    .load = cuda_load,
    .forward = lmc_forward,
    .kv_seq = cuda_kv_seq,
    .unload = cuda_unload,
};

const lm_backend_ops *lm_backend_cuda(void) {
    return &k_cuda_ops;
}
