/* persist.c — whether a loaded model decodes through the persistent step
 * (persist.h, k_persist.cu), its tiled copy of the layer weights (and of the
 * output matrix where its type has tiles), its buffers and task lists, and
 * the step itself (else with the engine's output norm and matrix after it). */
#include "backend/cuda/persist.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/engine_cuda_impl.h"
#include "backend/cuda/env_switch.h"
#include "backend/cuda/graph_capture.h"
#include "format/ggml_types.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lmc_persist {
    lmc_pargs a;
    uint8_t *tiles; /* the layer weights, tiled */
    uint8_t *buf;   /* the flagged vectors, partials, tables and task lists */
    size_t bytes;   /* VRAM of both */
    int step;       /* the last step's number */
    cudaGraphExec_t graph;
    bool no_graph; /* capture failed once: direct launches */
    /* LOCALM_CUDA_PERSIST_TRACE=file: the timeline of step trace_step
     * (LOCALM_CUDA_PERSIST_TRACE_STEP, default 100) written there */
    const char *trace_path;
    int trace_step;
    unsigned long long *trace; /* device: n_tasks x 8 stamps + nsm x 2 */
    lmc_ptask *h_tasks;        /* host copies of the lists, for the file */
    int *h_toff, n_tasks;
};

enum { NCH_MAX = LMC_PNCH_MAX };

/* Bytes of the tiles of a matrix: 32-row groups of n_in / 256 tiles. */
static size_t mat_tiles(const lmc_mat *m) {
    return (size_t)(m->rows / 32) * (size_t)(m->n_in / 256) * lmc_persist_tile_bytes(m->type);
}

/* A layer's tiles: wq, wk, wv (QKV's row groups), wo, gate and up (16 rows
 * of each a row group), down. */
static size_t layer_bytes(const lmc_layer *L) {
    return mat_tiles(&L->wq) + mat_tiles(&L->wk) + mat_tiles(&L->wv) + mat_tiles(&L->wo) +
           mat_tiles(&L->gate) + mat_tiles(&L->up) + mat_tiles(&L->down);
}

static int wt_of(uint32_t type) {
    return type == LM_TYPE_Q4_0 ? LMC_PW_Q4_0 : type == LM_TYPE_Q4_K ? LMC_PW_Q4_K : LMC_PW_Q6_K;
}

/* Row groups of a phase. */
static int phase_groups(const lm_engine *e, int kind) {
    return kind == LMC_P_QKV ? e->qkv_dim / 32 : kind == LMC_P_GU ? e->n_ff / 16 : e->n_embd / 32;
}

/* Row group g of a phase of layer L (tiles from base; OUT's: the output
 * matrix's, after the last layer's): where its tiles are, how many, of which
 * type. */
static lmc_ptask group_task(const lm_engine *e, const lmc_layer *L, size_t base, int kind, int g) {
    const int QG = e->nh * e->hd / 32, KG = e->nkv * e->hd / 32;
    const lmc_mat *m;
    size_t off = base;
    int r = g; /* the row group within m */
    if (kind == LMC_P_OUT) {
        m = &e->out;
    } else if (kind == LMC_P_QKV) {
        m = g < QG ? &L->wq : g < QG + KG ? &L->wk : &L->wv;
        if (g >= QG) off += mat_tiles(&L->wq), r -= QG;
        if (g >= QG + KG) off += mat_tiles(&L->wk), r -= KG;
    } else {
        off += mat_tiles(&L->wq) + mat_tiles(&L->wk) + mat_tiles(&L->wv);
        if (kind != LMC_P_WO) off += mat_tiles(&L->wo);
        if (kind == LMC_P_DOWN) off += mat_tiles(&L->gate) + mat_tiles(&L->up);
        m = kind == LMC_P_WO ? &L->wo : kind == LMC_P_GU ? &L->gate : &L->down;
    }
    const int nt = m->n_in / 256;
    lmc_ptask t = {
        (const uint8_t *)(uintptr_t)(off + (size_t)r * nt * lmc_persist_tile_bytes(m->type)),
        nt,
        kind,
        0,
        g,
        wt_of(m->type)};
    return t;
}

/* Query heads an attention task takes (G) for this head size and group, 0
 * when no kernel is built for it: the 1.1B's eight a KV head go as four
 * tasks of two, the 8B's four as one task (pass 22). Only the kernels the
 * tests run are built. */
static int heads_a_task(int hd, int group) {
    if (hd == 64) return group % 2 == 0 ? 2 : 0;
    if (hd == 128) return group % 4 == 0 ? 4 : 0;
    return 0;
}

/* Why this model cannot take the persistent step, or NULL. */
static const char *why_not(const lm_engine *e, int *kq) {
    const int E = e->n_embd, F = e->n_ff, QD = e->nh * e->hd;
    if (!lmc_persist_device_ok(e->device)) return "needs sm_90a code and cooperative launches";
    if (e->nkv <= 0 || e->nh % e->nkv || !heads_a_task(e->hd, e->nh / e->nkv))
        return "no kernel for this head size and grouping";
    if (E % 256 || F % 256 || QD % 256 || E > LMC_PKMAX || F > LMC_PKMAX || QD > LMC_PKMAX)
        return "vector lengths outside the tiles";
    if (e->n_layer > LMC_PLMAX) return "too many layers";
    if (e->hp.qk_norm) return "q / k norms"; /* (a head's rows span tasks) */
    /* every layer matrix Q4_0, or every one Q4_K or Q6_K (gate and up of
     * one type: they share row groups) */
    const bool q40 = e->layers[0].wq.type == LM_TYPE_Q4_0;
    for (int l = 0; l < e->n_layer; l++) {
        const lmc_layer *L = &e->layers[l];
        const lmc_mat *m[7] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->gate, &L->up, &L->down};
        for (int i = 0; i < 7; i++) {
            uint32_t t = m[i]->type;
            if (!m[i]->w || (q40 ? t != LM_TYPE_Q4_0 : t != LM_TYPE_Q4_K && t != LM_TYPE_Q6_K))
                return "layer weights other than all Q4_0 or all Q4_K / Q6_K";
        }
        if (L->gate.type != L->up.type) return "gate and up of two types";
    }
    *kq = !q40;
    return NULL;
}

/* Whether the output matrix takes the OUT phase: a type with tiles that
 * the kernel of the layers' type has (its 4-bit type, or Q6_K), whole row
 * groups. LOCALM_CUDA_PERSIST_OUT=0 leaves it to the engine's kernels. */
static bool out_takes(const lm_engine *e, int kq) {
    const lmc_mat *o = &e->out;
    return lmc_switch("LOCALM_CUDA_PERSIST_OUT", true) && o->w && o->n_in == e->n_embd &&
           o->rows % 32 == 0 &&
           (o->type == LM_TYPE_Q6_K || o->type == (kq ? LM_TYPE_Q4_K : LM_TYPE_Q4_0));
}

/* ---- task lists --------------------------------------------------------- */

typedef struct sched {
    lmc_ptask *tasks; /* host, in block order */
    int *blk;         /* each task's block before the sort */
    int *toff;        /* [nsm + 1] */
    int n;
} sched;

/* A block and its bytes so far, ordered by bytes (equal ones in block order). */
typedef struct bload {
    double load;
    int b;
} bload;
static int by_load(const void *x, const void *y) {
    const bload *a = x, *b = y;
    if (a->load != b->load) return a->load < b->load ? -1 : 1;
    return a->b - b->b;
}

/* One chunk count's lists: each phase's tasks spread over the blocks first
 * (at most ceil(tasks / blocks) a block: a phase ends with its busiest
 * block), the blocks with the fewest bytes so far taking the extra ones (an
 * attention chunk counted as the K / V bytes it reads); QKV's row groups by
 * KV head (its K, V, then its query heads' q), so that the first heads'
 * attention can start while the rest run. */
static bool build_sched(const lm_engine *e, const lmc_pargs *a, int nch, sched *s) {
    const int nsm = a->nsm, gh = e->hd / 32;
    int per_layer = 0;
    for (int k = 0; k <= LMC_P_DOWN; k++)
        per_layer += k == LMC_P_ATT ? a->NKV * a->QS * nch : phase_groups(e, k);
    const int out_groups = a->logits ? e->out.rows / 32 : 0;
    s->n = per_layer * e->n_layer + out_groups;
    lmc_ptask *raw = malloc(sizeof *raw * (size_t)s->n);
    s->tasks = malloc(sizeof *s->tasks * (size_t)s->n);
    s->blk = malloc(sizeof *s->blk * (size_t)s->n);
    s->toff = calloc((size_t)nsm + 1, sizeof *s->toff);
    bload *load = calloc((size_t)nsm, sizeof *load); /* by block */
    bload *order = malloc(sizeof *order * (size_t)nsm);
    int *rg = malloc(sizeof *rg * (size_t)(per_layer > out_groups ? per_layer : out_groups));
    bool ok = raw && s->tasks && s->blk && s->toff && load && order && rg;
    int n = 0;
    size_t base = 0; /* the layer's tiles (the output matrix's after the last) */
    for (int l = 0; ok && l <= e->n_layer; l++) {
        for (int k = 0; k <= LMC_P_OUT; k++) {
            if ((l == e->n_layer) != (k == LMC_P_OUT) || (k == LMC_P_OUT && !out_groups)) continue;
            const int groups = k == LMC_P_ATT   ? a->NKV * a->QS * nch
                               : k == LMC_P_OUT ? out_groups
                                                : phase_groups(e, k);
            for (int b = 0; b < nsm; b++)
                order[b] = (bload){load[b].load, b};
            qsort(order, (size_t)nsm, sizeof *order, by_load);
            int ng = 0;
            if (k == LMC_P_QKV) {
                for (int h = 0; h < e->nkv; h++) {
                    for (int j = 0; j < gh; j++)
                        rg[ng++] = (e->nh + h) * gh + j;
                    for (int j = 0; j < gh; j++)
                        rg[ng++] = (e->nh + e->nkv + h) * gh + j;
                    for (int j = 0; j < a->G * a->QS * gh; j++)
                        rg[ng++] = h * a->G * a->QS * gh + j;
                }
            } else if (k == LMC_P_ATT) {
                /* the flagged merge (k_persist.cu): each slot's last chunk
                 * waits for its others, so it comes after every other chunk
                 * on any block, and no wait closes a cycle */
                for (int last = 0; last < 2; last++)
                    for (int hs = 0; hs < a->NKV * a->QS; hs++)
                        for (int c = 0; c < nch; c++)
                            if ((c == nch - 1) == last) rg[ng++] = hs * nch + c;
            } else {
                for (int i = 0; i < groups; i++)
                    rg[ng++] = i;
            }
            for (int i = 0; i < ng; i++) {
                /* the tiles' offset for now: their address once allocated */
                lmc_ptask t = {NULL, 0, k, l, rg[i], 0};
                double cost = 4.0 * a->ch * e->hd;
                if (k != LMC_P_ATT) {
                    t = group_task(e, l < e->n_layer ? &e->layers[l] : NULL, base, k, rg[i]);
                    t.layer = l;
                    cost = (double)t.ntiles * (t.wt == LMC_PW_Q6_K ? LMC_PTILE6 : LMC_PTILE);
                }
                int b = order[i % nsm].b;
                raw[n] = t;
                s->blk[n++] = b;
                load[b].load += cost;
            }
        }
        if (l < e->n_layer) base += layer_bytes(&e->layers[l]);
    }
    if (ok) { /* counting sort by block, order kept within a block */
        for (int i = 0; i < n; i++)
            s->toff[s->blk[i] + 1]++;
        for (int b = 0; b < nsm; b++)
            s->toff[b + 1] += s->toff[b];
        for (int b = 0; b < nsm; b++) /* load[].b reused: the next free index of each */
            load[b].b = s->toff[b];
        for (int i = 0; i < n; i++)
            s->tasks[load[s->blk[i]].b++] = raw[i];
    }
    free(raw), free(load), free(order), free(rg);
    return ok;
}

/* ---- set-up ------------------------------------------------------------- */

/* Carves aligned pieces from one allocation (dst NULL: only counts). */
typedef struct carver {
    uint8_t *base;
    size_t off;
} carver;
static void *carve(carver *c, size_t bytes) {
    c->off = (c->off + 255) & ~(size_t)255;
    void *p = c->base ? c->base + c->off : NULL;
    c->off += bytes;
    return p;
}
static lmc_pll carve_ll(carver *c, int n) {
    lmc_pll l = {carve(c, sizeof(uint64_t) * (size_t)(n / 4)),
                 carve(c, sizeof(uint64_t) * 4 * (size_t)(n / 32))};
    return l;
}

/* The buffers of a (device pointers into c's base; sizes only when NULL). */
static void layout_buffers(const lm_engine *e, lmc_pargs *a, carver *c, int n_tasks) {
    const int E = e->n_embd, QD = e->nh * e->hd, L = e->n_layer;
    const size_t parts = (size_t)a->NKV * a->QS * NCH_MAX * a->G;
    a->lx = carve(c, sizeof(uint64_t) * E);
    a->lxa = carve_ll(c, E), a->lxf = carve_ll(c, E), a->la = carve_ll(c, QD);
    a->lh = carve_ll(c, e->n_ff);
    a->lq = carve(c, sizeof(uint64_t) * QD);
    a->lkv = carve(c, sizeof(uint64_t) * 2 * a->NKV * e->hd);
    a->plo = carve(c, sizeof(uint64_t) * parts * e->hd);
    a->pml = carve(c, sizeof(uint64_t) * parts * 2);
    a->g_att = carve(c, sizeof(float) * (size_t)L * E);
    a->g_ffn = carve(c, sizeof(float) * (size_t)L * E);
    a->g_out = carve(c, sizeof(float) * E);
    a->bqkv = e->hp.qkv_bias ? carve(c, sizeof(float) * (size_t)L * e->qkv_dim) : NULL;
    a->kc = carve(c, sizeof(uint16_t *) * L), a->vc = carve(c, sizeof(uint16_t *) * L);
    a->tasks = carve(c, sizeof(lmc_ptask) * (size_t)n_tasks);
    a->toff = carve(c, sizeof(int) * NCH_MAX * ((size_t)a->nsm + 1));
}

static cudaError_t copy_tables(lm_engine *e, lmc_pargs *a) {
    const int E = e->n_embd, L = e->n_layer;
    uint16_t **kv = malloc(sizeof *kv * 2 * (size_t)L);
    if (!kv) return cudaErrorMemoryAllocation;
    cudaError_t rc = cudaSuccess;
    for (int l = 0; l < L && !rc; l++) {
        const lmc_layer *Ly = &e->layers[l];
        kv[l] = Ly->k_cache, kv[L + l] = Ly->v_cache;
        rc = cudaMemcpyAsync((float *)a->g_att + (size_t)l * E, Ly->attn_norm, sizeof(float) * E,
                             cudaMemcpyDeviceToDevice, e->st);
        if (!rc && a->bqkv) { /* a layer without biases adds zeros */
            float *dst = (float *)a->bqkv + (size_t)l * e->qkv_dim;
            rc = Ly->bqkv ? cudaMemcpyAsync(dst, Ly->bqkv, sizeof(float) * e->qkv_dim,
                                            cudaMemcpyDeviceToDevice, e->st)
                          : cudaMemsetAsync(dst, 0, sizeof(float) * e->qkv_dim, e->st);
        }
        if (!rc)
            rc = cudaMemcpyAsync((float *)a->g_ffn + (size_t)l * E, Ly->ffn_norm, sizeof(float) * E,
                                 cudaMemcpyDeviceToDevice, e->st);
    }
    if (!rc)
        rc = cudaMemcpyAsync((float *)a->g_out, e->out_norm, sizeof(float) * E,
                             cudaMemcpyDeviceToDevice, e->st);
    if (!rc) rc = cudaMemcpyAsync((void *)a->kc, kv, sizeof *kv * L, cudaMemcpyHostToDevice, e->st);
    if (!rc)
        rc = cudaMemcpyAsync((void *)a->vc, kv + L, sizeof *kv * L, cudaMemcpyHostToDevice, e->st);
    if (!rc) rc = cudaStreamSynchronize(e->st);
    free(kv);
    return rc;
}

/* Matrix m's tiles at *p in its plain order (K-tile kt of a row group as its
 * tile kt; half_hd as lmc_persist_tile's), *p then past them. */
static bool tile_mat(cudaStream_t st, const lmc_mat *m, int half_hd, uint8_t **p) {
    bool ok = lmc_persist_tile(st, m->type, m->w, m->rows, m->n_in, *p, 0, half_hd);
    *p += mat_tiles(m);
    return ok;
}

/* Every layer's matrices into their tiles (group_task's order), then the
 * output matrix's when out. */
static cudaError_t make_tiles(lm_engine *e, uint8_t *tiles, bool out) {
    const int E = e->n_embd, F = e->n_ff;
    const int half = e->hp.rope_layout == LM_ROPE_HALF ? e->hd : 0; /* wq and wk's pairs */
    cudaStream_t st = e->st;
    uint8_t *p = tiles;
    for (int l = 0; l < e->n_layer; l++) {
        const lmc_layer *L = &e->layers[l];
        bool ok = tile_mat(st, &L->wq, half, &p) && tile_mat(st, &L->wk, half, &p) &&
                  tile_mat(st, &L->wv, 0, &p) && tile_mat(st, &L->wo, 0, &p);
        /* gate and up in the same row groups, 16 rows of each */
        ok = ok && lmc_persist_tile(st, L->gate.type, L->gate.w, F, E, p, 1, 0) &&
             lmc_persist_tile(st, L->up.type, L->up.w, F, E, p, 2, 0);
        p += mat_tiles(&L->gate) + mat_tiles(&L->up);
        if (!ok || !tile_mat(st, &L->down, 0, &p)) return cudaErrorInvalidValue;
    }
    if (out && !tile_mat(st, &e->out, 0, &p)) return cudaErrorInvalidValue;
    return cudaStreamSynchronize(st);
}

void lmc_persist_free(lm_engine *e) {
    lmc_persist *p = e->persist;
    if (!p) return;
    if (p->graph) cudaGraphExecDestroy(p->graph);
    cudaFree(p->trace);
    free(p->h_tasks), free(p->h_toff);
    cudaFree(p->tiles);
    cudaFree(p->buf);
    free(p);
    e->persist = NULL;
}

cudaError_t lmc_persist_setup(lm_engine *e) {
    /* LOCALM_CUDA_PERSIST=0 keeps the graph of kernels; =1 says why a model
     * does not take the step */
    if (!lmc_switch("LOCALM_CUDA_PERSIST", true)) return cudaSuccess;
    const char *forced = getenv("LOCALM_CUDA_PERSIST");
    bool loud = forced && forced[0] == '1';
    int kq = 0;
    const char *why = why_not(e, &kq);
    lmc_pargs a = {0};
    int nsm = 0;
    if (!why && cudaDeviceGetAttribute(&nsm, cudaDevAttrMultiProcessorCount, e->device)) {
        (void)cudaGetLastError();
        why = "no multiprocessor count";
    }
    sched s[NCH_MAX] = {{0}};
    int n_tasks = 0;
    size_t tile_bytes = 0, buf_bytes = 0;
    if (!why) {
        a.H = e->n_embd, a.NQ = e->nh, a.NKV = e->nkv, a.HD = e->hd, a.F = e->n_ff;
        a.L = e->n_layer, a.n_ctx = e->n_ctx, a.nsm = nsm;
        a.G = heads_a_task(e->hd, e->nh / e->nkv), a.QS = e->nh / e->nkv / a.G;
        a.kq = kq, a.ch = lmc_persist_chunk(e->hd), a.half = e->hp.rope_layout == LM_ROPE_HALF;
        /* the output rows straight into the pinned host buffer the caller
         * reads (mapped: every pinned allocation is, with unified
         * addressing), so no copy follows the kernel */
        a.logits = NULL;
        if (out_takes(e, kq) &&
            cudaHostGetDevicePointer((void **)&a.logits, e->h_logits, 0) != cudaSuccess)
            a.logits = NULL, (void)cudaGetLastError();
        a.eps = e->hp.norm_eps, a.inv_freq = e->inv_freq, a.x = e->x, a.d_in = e->d_in;
        for (int c = 0; c < LMC_PPOS / a.ch && !why; c++) {
            if (!build_sched(e, &a, c + 1, &s[c])) why = "out of host memory";
            n_tasks += s[c].n;
        }
        carver cv = {NULL, 0};
        layout_buffers(e, &a, &cv, n_tasks);
        buf_bytes = cv.off;
        for (int l = 0; l < e->n_layer; l++)
            tile_bytes += layer_bytes(&e->layers[l]);
        if (a.logits) tile_bytes += mat_tiles(&e->out);
    }
    if (!why) { /* (e->persist is still NULL: its own bytes are not counted) */
        size_t room = 0;
        (void)lmc_vram_room(e, &room, NULL);
        if (tile_bytes + buf_bytes > room) why = "no VRAM for the tiled copy of the weights";
    }
    cudaError_t rc = cudaSuccess;
    lmc_persist *p = NULL;
    if (!why) {
        p = calloc(1, sizeof *p);
        if (!p) why = "out of host memory";
    }
    if (!why) {
        if ((rc = cudaMalloc((void **)&p->tiles, tile_bytes)) ||
            (rc = cudaMalloc((void **)&p->buf, buf_bytes)) ||
            (rc = cudaMemsetAsync(p->buf, 0, buf_bytes, e->st))) {
            (void)cudaGetLastError();
            rc = cudaSuccess;
            why = "no VRAM for the tiled copy of the weights";
        }
    }
    if (!why) {
        carver cv = {p->buf, 0};
        layout_buffers(e, &a, &cv, n_tasks);
        /* the task lists with their weights' addresses, all chunk counts */
        lmc_ptask *all = malloc(sizeof *all * (size_t)n_tasks);
        int *toff = calloc(NCH_MAX * ((size_t)nsm + 1), sizeof *toff);
        if (!all || !toff) {
            why = "out of host memory";
        } else {
            int at = 0;
            for (int c = 0; c < LMC_PPOS / a.ch; c++) {
                for (int i = 0; i < s[c].n; i++) {
                    lmc_ptask t = s[c].tasks[i];
                    if (t.kind != LMC_P_ATT) t.w = p->tiles + (uintptr_t)t.w;
                    all[at + i] = t;
                }
                for (int b = 0; b <= nsm; b++)
                    toff[c * (nsm + 1) + b] = at + s[c].toff[b];
                at += s[c].n;
            }
            if (!(rc = cudaMemcpyAsync((void *)a.tasks, all, sizeof *all * (size_t)n_tasks,
                                       cudaMemcpyHostToDevice, e->st)) &&
                !(rc = cudaMemcpyAsync((void *)a.toff, toff, sizeof *toff * NCH_MAX * (nsm + 1),
                                       cudaMemcpyHostToDevice, e->st)) &&
                !(rc = copy_tables(e, &a)))
                rc = make_tiles(e, p->tiles, a.logits != NULL);
        }
        p->trace_path = getenv("LOCALM_CUDA_PERSIST_TRACE");
        if (!rc && !why && p->trace_path && p->trace_path[0]) {
            const char *ts = getenv("LOCALM_CUDA_PERSIST_TRACE_STEP");
            size_t tb = sizeof(unsigned long long) * ((size_t)n_tasks * 8 + 2 * (size_t)nsm);
            p->trace_step = ts ? atoi(ts) : 100;
            p->h_tasks = all, p->h_toff = toff, p->n_tasks = n_tasks;
            all = NULL, toff = NULL;
            if ((rc = cudaMalloc((void **)&p->trace, tb)) == cudaSuccess)
                rc = cudaMemset(p->trace, 0, tb);
        } else {
            p->trace_path = NULL;
        }
        free(all), free(toff);
    }
    for (int c = 0; c < NCH_MAX; c++)
        free(s[c].tasks), free(s[c].blk), free(s[c].toff);
    if (p && (why || rc)) {
        e->persist = p;
        lmc_persist_free(e);
        p = NULL;
    }
    if (rc) return rc;
    if (why) {
        if (loud) fprintf(stderr, "cuda: LOCALM_CUDA_PERSIST: not taken: %s\n", why);
        return cudaSuccess;
    }
    p->a = a;
    p->bytes = tile_bytes + buf_bytes;
    e->persist = p;
    return cudaSuccess;
}

size_t lmc_persist_bytes(const lm_engine *e) {
    return e->persist ? e->persist->bytes : 0;
}

bool lmc_persist_takes(const lm_engine *e, int pos) {
    return e->persist && pos < LMC_PPOS;
}

bool lmc_persist_logits_on_host(const lm_engine *e) {
    return e->persist && e->persist->a.logits;
}

int lmc_persist_next_step(lm_engine *e) {
    lmc_persist *p = e->persist;
    p->step = p->step >= LMC_PSTEP ? 1 : p->step + 1;
    return p->step;
}

/* The step's kernels: embedding row, the persistent layers (and output
 * matrix), else the output norm and matrix (logits row 0). Only launches,
 * so it can be captured. */
static bool run_step(lm_engine *e) {
    lmc_persist *p = e->persist;
    const int E = e->n_embd;
    cudaStream_t st = e->st;
    bool ok = lmc_get_rows(st, e->tok.type, e->tok.w, E, e->d_in, 1, e->x) &&
              lmc_persist_init(st, &p->a, e->x) && lmc_persist_launch(st, &p->a);
    /* the kernel's OUT phase wrote them, or the engine's kernels do */
    return ok && (p->a.logits || lmc_logits_small(e, 1));
}

static bool step_body(void *e) {
    return run_step(e);
}

/* The traced step: run directly with the timeline on, then its file (the
 * format tools/persist_trace.py reads: a line a task, "block kind layer idx"
 * and 8 stamps in ns from the first start, 0 where none; a line a block, "P
 * block producer-stall end"). */
static bool run_traced(lm_engine *e) {
    lmc_persist *p = e->persist;
    lmc_pargs keep = p->a;
    p->a.trace = p->trace;
    bool ok = run_step(e) && cudaStreamSynchronize(e->st) == cudaSuccess;
    p->a = keep;
    const int nsm = p->a.nsm, pos = e->h_in[1], c = pos / p->a.ch;
    const int *to = p->h_toff + (size_t)c * (nsm + 1);
    size_t n = (size_t)p->n_tasks * 8 + 2 * (size_t)nsm;
    unsigned long long *h = malloc(sizeof *h * n);
    FILE *f = ok && h ? fopen(p->trace_path, "w") : NULL;
    if (f && cudaMemcpy(h, p->trace, sizeof *h * n, cudaMemcpyDeviceToHost) == cudaSuccess) {
        unsigned long long t0 = ~0ull;
        for (int i = to[0]; i < to[nsm]; i++)
            if (h[(size_t)i * 8] && h[(size_t)i * 8] < t0) t0 = h[(size_t)i * 8];
        for (int b = 0; b < nsm; b++) {
            for (int i = to[b]; i < to[b + 1]; i++) {
                const lmc_ptask *t = &p->h_tasks[i];
                fprintf(f, "%d %d %d %d", b, t->kind, t->layer, t->idx);
                for (int j = 0; j < 8; j++) {
                    unsigned long long v = h[(size_t)i * 8 + j];
                    fprintf(f, " %llu", v ? v - t0 : 0);
                }
                fprintf(f, "\n");
            }
            const unsigned long long *pr = h + (size_t)to[nsm] * 8 + 2 * (size_t)b;
            fprintf(f, "P %d %llu %llu\n", b, pr[0], pr[1] - t0);
        }
        fprintf(stderr, "cuda: LOCALM_CUDA_PERSIST_TRACE: step %d (position %d) in %s\n", p->step,
                pos, p->trace_path);
    }
    if (f) fclose(f);
    free(h);
    return ok;
}

/* As a CUDA graph (captured on the second step: the first runs directly)
 * unless LOCALM_CUDA_GRAPH=0 or capturing failed. */
bool lmc_persist_run(lm_engine *e) {
    lmc_persist *p = e->persist;
    static int use_graph = -1;
    if (use_graph < 0) use_graph = lmc_switch("LOCALM_CUDA_GRAPH", true);
    if (p->trace_path && p->step == p->trace_step) return run_traced(e);
    if (p->graph) return cudaGraphLaunch(p->graph, e->st) == cudaSuccess;
    if (!use_graph || p->no_graph || p->step < 2) return run_step(e);
    if (!lmc_graph_capture(e->st, step_body, e, &p->graph)) {
        p->no_graph = true;
        return run_step(e); /* nothing ran while capturing */
    }
    return cudaGraphLaunch(p->graph, e->st) == cudaSuccess;
}
