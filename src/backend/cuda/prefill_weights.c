/* prefill_weights.c — quantised weights for the prefill GEMMs. cuBLAS needs
 * half weights, so each quantised matrix is dequantised to a half tile first.
 * That pass is bound by memory bandwidth while the GEMM is bound by tensor
 * throughput, and a 512-token GEMM often leaves SMs idle (64 output tiles of
 * the 4096-row projections on 132 SMs). So the tiles are dequantised on a
 * second, low-priority stream one tile ahead: while the GEMM of tile i runs,
 * tile i+1 is written into the other half of the tile buffer and fills the
 * SMs the GEMM leaves free. Events order the two streams: a GEMM waits for
 * its tile to be ready, a dequantisation waits for its half to be free.
 *
 * The forward pass multiplies the same matrices in the same order every time,
 * so the tile list is built once at load. A GEMM for any other matrix (the
 * output projection, or a pass cut short) takes the in-line path, which
 * first waits for the pipeline to drain. LOCALM_CUDA_OVERLAP=0 turns the
 * pipeline off (everything in line), for measurements.
 *
 * K-quant files keep wv in another type than wq|wk, so the two are separate
 * matrices, and cuBLAS multiplies a 1024-row wv (8B) at a third of the tensor
 * rate of the 5120-row wq|wk. Once dequantised both are half, so they share
 * one tile and one GEMM (lmc_gemm2).
 *
 * LOCALM_CUDA_F16_PREFILL=1 trades VRAM for prefill speed: every quantised
 * matrix the prefill multiplies also gets a half copy, made once at load, and
 * the GEMMs read it, so no pass dequantises (an 8B Q4_K_M model then holds
 * 14 GB more). Matrices are copied in pass order while the copies fit the
 * free VRAM and the load's budget; a line on stderr says when some do not,
 * and those are dequantised each pass as without the option. Off by
 * default: a runtime that quadruples a model's VRAM is not what people who
 * load several models expect. */
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/engine_cuda_impl.h"
#include "backend/cuda/env_switch.h"
#include <stdio.h>
#include <stdlib.h>

static size_t tile_elems(const lm_engine *e) {
    return (e->wh_elems / 2) & ~(size_t)127; /* keeps the second tile 256-byte aligned */
}

static int tile_rows(const lm_engine *e, const lmc_mat *m) {
    return (int)(tile_elems(e) / (size_t)m->n_in);
}

/* A matrix the prefill's GEMMs need dequantised: present and not F16. */
static bool quantised(const lmc_mat *m) {
    return m->w && m->type != LM_TYPE_F16;
}

/* Appends m's tiles (counting only when jobs is NULL); F16 and half copies
 * need none. */
static int add_mat(const lm_engine *e, const lmc_mat *m, lmc_wjob *jobs, int n) {
    if (!quantised(m) || m->h) return n;
    int per = tile_rows(e, m);
    if (per < 1) return n;
    for (int r0 = 0; r0 < m->rows; r0 += per) {
        if (jobs) jobs[n] = (lmc_wjob){m, NULL, r0, m->rows - r0 < per ? m->rows - r0 : per};
        n++;
    }
    return n;
}

/* Appends a and b as one tile when both are quantised and fit, else as
 * their own tiles. */
static int add_pair(const lm_engine *e, const lmc_mat *a, const lmc_mat *b, lmc_wjob *jobs, int n) {
    bool q = quantised(a) && quantised(b) && !a->h && !b->h;
    if (q && a->n_in == b->n_in && (size_t)(a->rows + b->rows) * (size_t)a->n_in <= tile_elems(e)) {
        if (jobs) jobs[n] = (lmc_wjob){a, b, 0, a->rows};
        return n + 1;
    }
    return add_mat(e, b, jobs, add_mat(e, a, jobs, n));
}

/* One GEMM of the prefill pass: matrix m, or wq|wk with the wv whose rows
 * the same GEMM writes after them (m2, lmc_gemm2). */
typedef struct gemm_unit {
    lmc_mat *m, *m2;
} gemm_unit;

enum { UNITS_PER_LAYER = 7 }; /* wq, wk, wv, wo, gate, up, down at most */

/* The prefill pass's GEMMs in the order run_big multiplies them: the one list
 * both the tile pipeline and the half copies are built from. */
static int gemm_units(lm_engine *e, gemm_unit *u, bool qglu) {
    int n = 0;
    for (int l = 0; l < e->n_layer; l++) {
        lmc_layer *L = &e->layers[l];
        if (L->wqkv.w)
            u[n++] = (gemm_unit){&L->wqkv, NULL};
        else if (L->wqk.w)
            u[n++] = (gemm_unit){&L->wqk, &L->wv};
        else {
            u[n++] = (gemm_unit){&L->wq, NULL};
            u[n++] = (gemm_unit){&L->wk, NULL};
            u[n++] = (gemm_unit){&L->wv, NULL};
        }
        u[n++] = (gemm_unit){&L->wo, NULL};
        if (L->wgu.w && qglu)
            ; /* multiplied from its blocks (k_qgemm.cu): no tiles */
        else if (L->wgu.w)
            u[n++] = (gemm_unit){&L->wgu, NULL};
        else {
            u[n++] = (gemm_unit){&L->gate, NULL};
            u[n++] = (gemm_unit){&L->up, NULL};
        }
        if (!qglu || !lmc_down_direct(e, &L->down)) u[n++] = (gemm_unit){&L->down, NULL};
    }
    return n;
}

bool lmc_down_direct(const lm_engine *e, const lmc_mat *m) {
    return e->qdown && !m->h && lmc_qmm_shape_ok(m->type, m->rows, m->n_in);
}

/* The pipeline's tiles for the units (counting only when jobs is NULL). */
static int build(const lm_engine *e, const gemm_unit *u, int nu, lmc_wjob *jobs) {
    int n = 0;
    for (int i = 0; i < nu; i++)
        n = u[i].m2 ? add_pair(e, u[i].m, u[i].m2, jobs, n) : add_mat(e, u[i].m, jobs, n);
    return n;
}

/* The half copies, when asked for, of as many quantised matrices of the
 * units (in pass order: wv right after wq|wk, so that one GEMM can read both)
 * as fit (see the top of the file). */
static cudaError_t make_half_copies(lm_engine *e, const gemm_unit *u, int nu) {
    if (!lmc_switch("LOCALM_CUDA_F16_PREFILL", false)) return cudaSuccess;
    lmc_mat **mats = malloc(sizeof *mats * 2 * (size_t)nu);
    if (!mats) return cudaErrorMemoryAllocation;
    int n = 0;
    for (int i = 0; i < nu; i++) {
        lmc_mat *two[2] = {u[i].m, u[i].m2};
        for (int k = 0; k < 2; k++)
            if (two[k] && quantised(two[k])) mats[n++] = two[k];
    }
    size_t room = 0, fr = 0;
    cudaError_t rc = lmc_vram_room(e, &room, &fr);
    size_t want = 0, bytes = 0;
    int k = 0;
    for (int i = 0; i < n; i++) {
        size_t b = (size_t)mats[i]->rows * (size_t)mats[i]->n_in * 2;
        want += b;
        if (k == i && bytes + b <= room) bytes += b, k++;
    }
    if (k && cudaMalloc((void **)&e->hbuf, bytes) != cudaSuccess) {
        (void)cudaGetLastError();
        e->hbuf = NULL, k = 0, bytes = 0;
    }
    if (k < n)
        fprintf(stderr,
                "cuda: LOCALM_CUDA_F16_PREFILL: half copies of %d of %d matrices (%.0f of %.0f "
                "MiB; %.0f MiB free%s); prefill dequantises the others each pass\n",
                k, n, bytes / 1048576.0, want / 1048576.0, fr / 1048576.0,
                e->mem_budget ? ", and the load's VRAM budget" : "");
    uint16_t *h = e->hbuf;
    for (int i = 0; i < k && rc == cudaSuccess; i++) {
        lmc_mat *m = mats[i];
        if (!lmc_dequant_f16(e->st, m->type, m->w, m->rows, m->n_in, h)) rc = cudaErrorInvalidValue;
        m->h = h;
        h += (size_t)m->rows * (size_t)m->n_in;
    }
    free(mats);
    return rc == cudaSuccess ? cudaStreamSynchronize(e->st) : rc;
}

cudaError_t lmc_wpipe_init(lm_engine *e) {
    e->overlap = lmc_switch("LOCALM_CUDA_OVERLAP", true);
    cudaError_t rc = lmc_stream_create(&e->st2, false);
    for (int i = 0; i < 2 && rc == cudaSuccess; i++) {
        rc = cudaEventCreateWithFlags(&e->ev_ready[i], cudaEventDisableTiming);
        if (rc == cudaSuccess)
            rc = cudaEventCreateWithFlags(&e->ev_free[i], cudaEventDisableTiming);
    }
    if (rc != cudaSuccess) return rc;
    gemm_unit *u = malloc(sizeof *u * UNITS_PER_LAYER * (size_t)e->n_layer);
    if (!u) return cudaErrorMemoryAllocation;
    rc = make_half_copies(e, u, gemm_units(e, u, false)); /* first: copies get no tiles */
    for (int k = 0; k < 1 + e->qglu && rc == cudaSuccess; k++) {
        int nu = gemm_units(e, u, k), n = build(e, u, nu, NULL);
        e->n_job_list[k] = n;
        e->job_list[k] = n ? malloc((size_t)n * sizeof(lmc_wjob)) : NULL;
        if (n && !e->job_list[k])
            rc = cudaErrorMemoryAllocation;
        else
            build(e, u, nu, e->job_list[k]);
    }
    free(u);
    lmc_wpipe_reset(e, false);
    return rc;
}

void lmc_wpipe_free(lm_engine *e) {
    for (int i = 0; i < 2; i++) {
        if (e->ev_ready[i]) cudaEventDestroy(e->ev_ready[i]);
        if (e->ev_free[i]) cudaEventDestroy(e->ev_free[i]);
    }
    if (e->st2) cudaStreamDestroy(e->st2);
    cudaFree(e->hbuf);
    free(e->job_list[0]);
    free(e->job_list[1]);
}

void lmc_wpipe_reset(lm_engine *e, bool qglu) {
    const int k = qglu && e->qglu;
    e->jobs = e->job_list[k], e->n_jobs = e->n_job_list[k];
    e->jn = e->jc = 0;
}

static uint16_t *tile(lm_engine *e, int b) {
    return e->wh + (size_t)b * tile_elems(e);
}

/* Issues dequantisations until two tiles (both halves) are ahead. */
static bool issue(lm_engine *e) {
    while (e->jn < e->n_jobs && e->jn < e->jc + 2) {
        const lmc_wjob *j = &e->jobs[e->jn];
        int b = e->jn & 1;
        const uint8_t *w = (const uint8_t *)j->m->w + (size_t)j->r0 * j->m->row_bytes;
        if (cudaStreamWaitEvent(e->st2, e->ev_free[b], 0) != cudaSuccess ||
            !lmc_dequant_f16(e->st2, j->m->type, w, j->nr, j->m->n_in, tile(e, b)) ||
            (j->m2 && !lmc_dequant_f16(e->st2, j->m2->type, j->m2->w, j->m2->rows, j->m2->n_in,
                                       tile(e, b) + (size_t)j->nr * j->m->n_in)) ||
            cudaEventRecord(e->ev_ready[b], e->st2) != cudaSuccess)
            return false;
        e->jn++;
    }
    return true;
}

static bool gemm_tile(lm_engine *e, const lmc_mat *m, const uint16_t *w, int nr, const uint16_t *xh,
                      int n, void *y, int ldy, float beta, bool half_out) {
    const float alpha = 1.0f;
    return cublasGemmEx(e->blas, CUBLAS_OP_T, CUBLAS_OP_N, nr, n, m->n_in, &alpha, w, CUDA_R_16F,
                        m->n_in, xh, CUDA_R_16F, m->n_in, &beta, y,
                        half_out ? CUDA_R_16F : CUDA_R_32F, ldy, CUBLAS_COMPUTE_32F,
                        CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS;
}

/* The GEMM of the pipeline's next tile (nr rows of m, y its first output
 * row), after which the tile's half is free for the dequantisation two ahead. */
static bool gemm_next(lm_engine *e, const lmc_mat *m, int nr, const uint16_t *xh, int n, void *y,
                      int ldy, float beta, bool half_out) {
    int b = e->jc & 1;
    if (!issue(e) || cudaStreamWaitEvent(e->st, e->ev_ready[b], 0) != cudaSuccess ||
        !gemm_tile(e, m, tile(e, b), nr, xh, n, y, ldy, beta, half_out) ||
        cudaEventRecord(e->ev_free[b], e->st) != cudaSuccess)
        return false;
    e->jc++;
    return issue(e);
}

bool lmc_gemm(lm_engine *e, const lmc_mat *m, const uint16_t *xh, int n, void *y, int ldy,
              float beta, bool half_out) {
    size_t ysz = half_out ? 2 : 4;
    if (m->type == LM_TYPE_F16)
        return gemm_tile(e, m, m->w, m->rows, xh, n, y, ldy, beta, half_out);
    if (m->h) return gemm_tile(e, m, m->h, m->rows, xh, n, y, ldy, beta, half_out);
    int per = tile_rows(e, m);
    if (per < 1) return false;
    if (e->overlap && e->jc < e->n_jobs && e->jobs[e->jc].m == m && !e->jobs[e->jc].m2) {
        for (int r0 = 0; r0 < m->rows; r0 += per) {
            const lmc_wjob *j = &e->jobs[e->jc];
            if (j->m != m || j->r0 != r0 ||
                !gemm_next(e, m, j->nr, xh, n, (uint8_t *)y + (size_t)r0 * ysz, ldy, beta,
                           half_out))
                return false;
        }
        return true;
    }
    /* In line: both halves must be done with the pipeline's writes first, and
     * are marked free again after this GEMM's last read; tiles issued ahead
     * are overwritten, so they are issued again. */
    e->jn = e->jc;
    for (int b = 0; b < 2; b++)
        if (cudaStreamWaitEvent(e->st, e->ev_ready[b], 0) != cudaSuccess) return false;
    for (int r0 = 0; r0 < m->rows; r0 += per) {
        int nr = m->rows - r0 < per ? m->rows - r0 : per;
        const uint8_t *w = (const uint8_t *)m->w + (size_t)r0 * m->row_bytes;
        if (!lmc_dequant_f16(e->st, m->type, w, nr, m->n_in, e->wh) ||
            !gemm_tile(e, m, e->wh, nr, xh, n, (uint8_t *)y + (size_t)r0 * ysz, ldy, beta,
                       half_out))
            return false;
    }
    for (int b = 0; b < 2; b++)
        if (cudaEventRecord(e->ev_free[b], e->st) != cudaSuccess) return false;
    return true;
}

bool lmc_gemm2(lm_engine *e, const lmc_mat *a, const lmc_mat *b, const uint16_t *xh, int n,
               float *y, int ldy) {
    if (a->h && b->h == a->h + (size_t)a->rows * (size_t)a->n_in) /* adjacent copies */
        return gemm_tile(e, a, a->h, a->rows + b->rows, xh, n, y, ldy, 0.0f, false);
    const lmc_wjob *j = e->overlap && e->jc < e->n_jobs ? &e->jobs[e->jc] : NULL;
    if (!j || j->m != a || j->m2 != b)
        return lmc_gemm(e, a, xh, n, y, ldy, 0.0f, false) &&
               lmc_gemm(e, b, xh, n, y + a->rows, ldy, 0.0f, false);
    return gemm_next(e, a, a->rows + b->rows, xh, n, y, ldy, 0.0f, false);
}
