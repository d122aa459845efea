/* k_persist.cu — the persistent decode step (persist.h): one block per SM
 * runs a fixed list of tasks, 32 output rows of a mat-vec or one chunk of
 * the attention; its producer warp copies the weight tiles of its next tasks
 * into a ring of shared-memory slots by bulk copies, at most two chunks in
 * flight, while the eight compute warps wait for the task's inputs. Inputs
 * between phases are flagged words (NCCL's "LL" idea): an aligned 8-byte
 * store of 4 data bytes and a flag (step, layer, phase) is seen whole or not
 * at all, so a reader spins on the words themselves and a phase boundary
 * costs one store-to-load trip, no release, counter or second load. The phase
 * that adds into the residual also quantises x * g of the next norm and keeps
 * each unit's sum of squares, so no block requantises the whole vector.
 *
 * Per layer: QKV (+ RoPE, K / V into the cache), ATT (a KV head x
 * ch positions x a slot of G of its query heads a task; a slot's last
 * chunk merges and quantises), WO (+ residual), GU (16 rows of gate and 16
 * of up a task, SwiGLU, quantised in halves of units), DOWN (+ residual);
 * then OUT, the output matrix's rows, where its type has tiles (else the
 * engine's kernels), written straight into the caller's pinned host buffer.
 * A mat-vec task's threads each read an input unit once for several rows
 * (the products are bound by shared-memory reads), and its end runs in warp
 * 0 while the other warps go on. Measured and chosen standalone first
 * (NOTES-cuda.md pass 22; the prototype, tools/decode_persist_test.cu, is in
 * the history at 14e75b6), then in the engine (passes 23-25). */
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/persist.h"
#include "backend/cuda/quant.cuh"
#include "backend/cuda/tma.cuh"
#include "format/ggml_types.h"
#include <cuda_fp16.h>

using namespace lmc;

namespace {

constexpr int NCW = 8, NCT = NCW * 32, NT = NCT + 32; /* + the producer warp */
constexpr int TILE = LMC_PTILE, SLOT_TILES = 4, SLOT = TILE * SLOT_TILES, NSLOT = 11;
constexpr int TILE6 = LMC_PTILE6;                            /* Q6_K's */
constexpr int CHX = 128, KMAX = LMC_PKMAX, QMAX = LMC_PQMAX; /* CHX: ch at most */
constexpr size_t SMEM = (size_t)NSLOT * SLOT + KMAX + 2 * (KMAX / 32) * 8 + 8 * CHX * 4 + QMAX * 4 +
                        160 * 4 + 256 * 4 + 2 * NSLOT * 8;

__host__ __device__ inline int ll_flag(int step, int layer, int phase) {
    return step * 4096 + (layer + 1) * 8 + phase + 1;
}

__device__ __forceinline__ void st_ll(uint64_t *p, uint32_t v, int flag) {
    asm volatile("st.volatile.global.v2.u32 [%0], {%1, %2};" ::"l"(p), "r"(v), "r"(flag)
                 : "memory");
}

/* W elements quantised to int8 on their own, as flagged words (lane l holds
 * element l): W 32, unit u (lanes 0-7 a word of four quants each, lanes
 * 8-11 its scale, sum of quants, sum of squares of sq, the next norm's
 * share, and a pad word); W 16, half hf of unit u (lanes 16-31's values not
 * written): its four words of quants, and its scale and sum of quants as the
 * unit's words 2 hf, 2 hf + 1 (DOWN's input: a gate|up task makes 16 of its
 * elements, NOTES-cuda.md pass 25). */
template <int W>
__device__ void ll_quant(float v, const lmc_pll &o, int u, int hf, int lane, float sq, int flag) {
    float mx = fabsf(v);
    for (int m = W / 2; m; m >>= 1) /* within each W lanes */
        mx = fmaxf(mx, __shfl_xor_sync(~0u, mx, m));
    const float d = mx / 127.f;
    const int q = __float2int_rn(v * (d > 0.f ? 1.f / d : 0.f));
    int s = q;
    for (int m = W / 2; m; m >>= 1)
        s += __shfl_xor_sync(~0u, s, m);
    const float t = W == 32 ? warp_sum(sq) : 0.f;
    uint32_t w = 0;
#pragma unroll
    for (int j = 0; j < 4; j++)
        w |= (uint32_t)(__shfl_sync(~0u, q, 4 * (lane & (W / 4 - 1)) + j) & 0xff) << (8 * j);
    uint64_t *m = o.m + u * 4 + (W == 16 ? 2 * hf : 0);
    if (lane < W / 4)
        st_ll(o.q + u * 8 + (W == 16 ? hf * 4 : 0) + lane, w, flag);
    else if (lane == W / 4)
        st_ll(m, __float_as_uint(d), flag);
    else if (lane == W / 4 + 1)
        st_ll(m + 1, (uint32_t)s, flag);
    else if (W == 32 && lane == 10)
        st_ll(m + 2, __float_as_uint(t), flag);
    else if (W == 32 && lane == 11)
        st_ll(m + 3, 0u, flag);
}
__device__ __forceinline__ void ll_unit(float v, const lmc_pll &o, int u, int lane, float sq,
                                        int flag) {
    ll_quant<32>(v, o, u, 0, lane, sq, flag);
}

#if LMC_WGMMA /* the step's own code: Hopper's bulk copies and barriers */
/* Chunks requested and not landed, at most: more only queues every other
 * load of the SM behind them; Q6_K's (two tiles, 13 KB) three. */
constexpr int INFLIGHT = 2, INFLIGHT6 = 3;
constexpr int SLOT_TILES6 = SLOT / TILE6;

__device__ __forceinline__ void bulk_g2s(void *dst, const void *src, int bytes, uint64_t *bar) {
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], "
                 "%2, [%3];" ::"r"(smem_u32(dst)),
                 "l"(src), "r"(bytes), "r"(smem_u32(bar))
                 : "memory");
}
__device__ __forceinline__ void prefetch_l2(const void *p, int bytes) {
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p), "r"(bytes) : "memory");
}
/* The GPU's nanosecond clock, for the timeline (lmc_pargs.trace). */
__device__ __forceinline__ unsigned long long gtime() {
    unsigned long long v;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(v));
    return v;
}
/* The compute warps' own barrier (the producer warp never joins it). */
__device__ __forceinline__ void cbar() {
    asm volatile("bar.sync 1, %0;" ::"n"(NCT) : "memory");
}
__device__ __forceinline__ uint2 ld_ll(const uint64_t *p) {
    uint2 v;
    asm volatile("ld.volatile.global.v2.u32 {%0, %1}, [%2];"
                 : "=r"(v.x), "=r"(v.y)
                 : "l"(p)
                 : "memory");
    return v;
}
__device__ __forceinline__ uint4 ld_ll2(const uint64_t *p) {
    uint4 v;
    asm volatile("ld.volatile.global.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p)
                 : "memory");
    return v;
}

/* Two flagged words in one 16-byte store. */
__device__ __forceinline__ void st_ll2(uint64_t *p, float2 v, int flag) {
    asm volatile("st.volatile.global.v4.u32 [%0], {%1, %2, %3, %4};" ::"l"(p),
                 "r"(__float_as_uint(v.x)), "r"(flag), "r"(__float_as_uint(v.y)), "r"(flag)
                 : "memory");
}

/* The compute warps read n flagged words into shared memory, two a load:
 * each thread requests all of its words at once, and again while any is not
 * current. MW loads a thread: more than four spill registers (pass 22). */
template <int MW>
__device__ __forceinline__ void ll_round(const uint64_t *src, int n, int flag, int2 *dst) {
    const int t = threadIdx.x;
    for (;;) {
        uint4 v[MW];
        bool ok = true;
#pragma unroll
        for (int i = 0; i < MW; i++)
            if (t + i * NCT < n) v[i] = ld_ll2(src + 2 * (t + i * NCT));
#pragma unroll
        for (int i = 0; i < MW; i++)
            if (t + i * NCT < n) ok &= (int)v[i].y == flag && (int)v[i].w == flag;
        if (ok) {
#pragma unroll
            for (int i = 0; i < MW; i++)
                if (t + i * NCT < n) dst[t + i * NCT] = make_int2((int)v[i].x, (int)v[i].z);
            return;
        }
    }
}
__device__ void ll_load(const lmc_pll &in, int K, int flag, int4 *sxq, int2 *smeta) {
    for (int b = 0; b < K / 8; b += 4 * NCT)
        ll_round<4>(in.q + 2 * b, min(K / 8 - b, 4 * NCT), flag, (int2 *)sxq + b);
    for (int b = 0; b < 2 * (K / 32); b += 4 * NCT)
        ll_round<4>(in.m + 2 * b, min(2 * (K / 32) - b, 4 * NCT), flag, smeta + b);
}
__device__ __forceinline__ float ll_float(const uint64_t *p, int flag) {
    uint2 v = ld_ll(p);
    while ((int)v.y != flag)
        v = ld_ll(p);
    return __uint_as_float(v.x);
}

/* dp4a of unsigned bytes a and signed bytes b. */
__device__ __forceinline__ int dp4a_us(uint32_t a, int b, int c) {
    int d;
    asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}
/* Unit t of a tile against the input unit (xa, xc): the integer sums of
 * products of the weight nibbles and the input's quants, of the unit's first
 * 16 elements (the low nibbles) and of its last 16. The high nibbles are
 * summed in place (16 q) and shifted once, in a second chain. */
__device__ __forceinline__ int2 usum2(const uint8_t *tile, int t, int4 xa, int4 xc) {
    const int4 w = ((const int4 *)(tile + 512))[t];
    const int M = 0x0F0F0F0F;
    const uint32_t HM = 0xF0F0F0F0u;
    int s = __dp4a(w.x & M, xa.x, 0);
    int h = dp4a_us(w.x & HM, xc.x, 0);
    s = __dp4a(w.y & M, xa.y, s);
    h = dp4a_us(w.y & HM, xc.y, h);
    s = __dp4a(w.z & M, xa.z, s);
    h = dp4a_us(w.z & HM, xc.z, h);
    s = __dp4a(w.w & M, xa.w, s);
    h = dp4a_us(w.w & HM, xc.w, h);
    return make_int2(s, h >> 4);
}
__device__ __forceinline__ int usum(const uint8_t *tile, int t, int4 xa, int4 xc) {
    const int2 s = usum2(tile, t, xa, xc);
    return s.x + s.y;
}
/* A Q4_K tile's row scales (d, dmin) and unit t's 6-bit scale and minimum,
 * without branching (a warp's lanes hold both halves of the packing). */
struct Q4kScale {
    float2 dm;
    int sc, mn;
};
__device__ __forceinline__ Q4kScale q4k_scale(const uint8_t *tile, int t) {
    const int r = t >> 3, b = t & 7, sh = 8 * (b & 3);
    const uint32_t *sw = (const uint32_t *)(tile + 128 + 12 * r);
    const uint32_t w0 = sw[0] >> sh, w1 = sw[1] >> sh, w2 = sw[2] >> sh;
    const bool lo = b < 4;
    return {__half22float2(((const __half2 *)tile)[r]),
            lo ? (int)(w0 & 63) : (int)((w2 & 0xf) | (w0 >> 6 & 3) << 4),
            lo ? (int)(w1 & 63) : (int)((w2 >> 4 & 0xf) | (w1 >> 6 & 3) << 4)};
}
/* The unit's value from its integer sum s, the input unit's scale dx and sum
 * of quants xs. Q4_0: w = d (q - 8). Q4_K: w = d sc q - dmin mn, so the
 * value is dx (d sc s - dmin mn xs), with two conversions (pass 22: 2,237 ->
 * 1,922 us on the 8B shape). */
template <int WT>
__device__ __forceinline__ float unit_val(const uint8_t *tile, int t, int s, float dx, int xs) {
    if constexpr (WT == 0) {
        return __half2float(((const __half *)tile)[t]) * dx * (float)(s - 8 * xs);
    } else {
        const Q4kScale q = q4k_scale(tile, t);
        return dx * (q.dm.x * (float)(q.sc * s) - q.dm.y * (float)(q.mn * xs));
    }
}
/* The same against an input quantised in 16-element halves (DOWN's: a
 * gate|up task makes half a unit of it): s the halves' sums, dx their
 * scales, xsd their sums of quants times their scales. */
template <int WT>
__device__ __forceinline__ float unit_val2(const uint8_t *tile, int t, int2 s, float2 dx,
                                           float xsd) {
    const float S = dx.x * (float)s.x + dx.y * (float)s.y;
    if constexpr (WT == 0) {
        return __half2float(((const __half *)tile)[t]) * (S - 8.f * xsd);
    } else {
        const Q4kScale q = q4k_scale(tile, t);
        return q.dm.x * (float)q.sc * S - q.dm.y * (float)q.mn * xsd;
    }
}

/* Unit t of a Q6_K tile against the input unit (xa, xc) of scale dx (H2:
 * dx.x, dx.y of its halves, else dx.x): w = d sc (q - 32), a scale a
 * half-unit of 16; the quants unpacked by quant.cuh's q6r_word, as the
 * engine's other Q6_K kernels do. */
template <bool H2>
__device__ __forceinline__ float unit6(const uint8_t *tile, int t, int4 xa, int4 xc, float2 dx) {
    const uint4 lo = ((const uint4 *)(tile + 576))[t];
    const uint2 hi = ((const uint2 *)(tile + 4672))[t];
    const uint32_t l[4] = {lo.x, lo.y, lo.z, lo.w}, h[2] = {hi.x, hi.y};
    const int x[8] = {xa.x, xa.y, xa.z, xa.w, xc.x, xc.y, xc.z, xc.w};
    int sa = 0, sb = 0;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        const int qs = (int)__vsub4(q6r_word(l, h, i), 0x20202020u);
        if (i < 4)
            sa = __dp4a(qs, x[i], sa);
        else
            sb = __dp4a(qs, x[i], sb);
    }
    const int r = t >> 3, b = t & 7;
    const unsigned short sw = *(const unsigned short *)(tile + 64 + 16 * r + 2 * b);
    const float d = __half2float(((const __half *)tile)[r]);
    if constexpr (H2)
        return d * (dx.x * (float)((int)(int8_t)(sw & 0xFF) * sa) +
                    dx.y * (float)((int)(int8_t)(sw >> 8) * sb));
    else
        return d * dx.x * (float)((int)(int8_t)(sw & 0xFF) * sa + (int)(int8_t)(sw >> 8) * sb);
}

/* 1 / rms from the units' sums of squares (unit u's at ss[u * stride]). */
__device__ float rms_scale(const float *ss, int stride, int H, float eps, int lane) {
    float t = 0.f;
    for (int u = lane; u < H / 32; u += 32)
        t += ss[u * stride];
    t = warp_sum(t);
    return rsqrtf(t / H + eps);
}

/* Where this step is: position, sequence, step number (d_in). */
struct Step {
    int pos, seq, step;
};

/* A chunk's output element i: its warps' partials (at the chunk's maximum)
 * summed; its (max, sum) of query head g: its warps' combined. */
template <int N> __device__ __forceinline__ float chunk_out(const float *wacc, int i) {
    float o = 0.f;
    for (int w = 0; w < NCW; w++)
        o += wacc[w * N + i];
    return o;
}
template <int G>
__device__ __forceinline__ float2 chunk_ml(const float *wm, const float *wl, int g) {
    float M = -INFINITY, L = 0.f;
    for (int w = 0; w < NCW; w++)
        M = fmaxf(M, wm[w * G + g]);
    for (int w = 0; w < NCW; w++)
        if (wm[w * G + g] != -INFINITY) L += wl[w * G + g] * __expf(wm[w * G + g] - M);
    return make_float2(M, L);
}

/* One chunk of CH positions of one KV head for a slot of G of its query
 * heads. Warp w owns PW = CH / 8 positions from PW w: its K rows (8 lanes a
 * position) and V rows (lanes over dims) are requested before the wait, q (in
 * registers, HD / 8 dims a lane) after it; each warp keeps its own maximum,
 * and the warps are combined once. The partial (max, sum, output) goes out
 * as flagged words and the slot's last chunk merges all of them and
 * quantises the slot's output for WO. */
template <int HD, int G, int CH>
__device__ void attn_task(const lmc_pargs &a, int layer, int idx, const Step &S, float *ssc,
                          float *so, float *stmp, float *wacc, unsigned long long *tt) {
    const int t = threadIdx.x, lane = t & 31, warp = t >> 5, sub = lane & 7, grp = lane >> 3;
    const int P = S.pos + 1, nch = (P + CH - 1) / CH, hs = idx / nch, h = hs / a.QS, c = idx % nch;
    const int p0 = c * CH;
    const int n = min(CH, P - p0);
    constexpr int DS = HD / 8, PW = CH / NCW, DL = HD / 32;
    constexpr int RW = PW / 4; /* rounds of 4 positions a warp */
    static_assert(PW % 4 == 0, "whole rounds");
    const size_t RS = (size_t)a.NKV * HD; /* a position's row of every KV head */
    const size_t base = (size_t)S.seq * a.n_ctx * RS + (size_t)h * HD;
    const __half *K = (const __half *)a.kc[layer] + base, *V = (const __half *)a.vc[layer] + base;
    const int pw = warp * PW;
    /* the chunk's K and V rows, requested before waiting for the phase: only
     * this step's row depends on it, replaced after the wait from its
     * flagged copy */
    int4 kk[RW][DS / 8];
#pragma unroll
    for (int r = 0; r < RW; r++) {
        const int p = pw + r * 4 + grp;
        const int4 *kr = (const int4 *)(K + (size_t)(p0 + min(p, n - 1)) * RS + sub * DS);
#pragma unroll
        for (int i = 0; i < DS / 8; i++)
            kk[r][i] = __ldcg(kr + i);
    }
    uint32_t vv[PW][DL / 2];
#pragma unroll
    for (int j = 0; j < PW; j++) {
        const uint32_t *vr =
            (const uint32_t *)(V + (size_t)(p0 + min(pw + j, n - 1)) * RS + lane * DL);
#pragma unroll
        for (int i = 0; i < DL / 2; i++)
            vv[j][i] = __ldcg(vr + i);
    }
    const int flag = ll_flag(S.step, layer, LMC_P_QKV), cur = P - 1 - p0;
    float *sq = so, *skv = wacc + NCW * G * HD; /* past the warps' partials */
    cbar(); /* warp 0 may still be storing QKV rows (as before a mat-vec phase's input) */
    ll_round<(G * HD / 2 + NCT - 1) / NCT>(a.lq + hs * G * HD, G * HD / 2, flag, (int2 *)sq);
    if (cur < n) ll_round<1>(a.lkv + h * 2 * HD, HD, flag, (int2 *)skv);
    cbar();
    if (tt && t == 0) tt[1] = gtime();
#pragma unroll
    for (int r = 0; r < RW; r++)
        if (pw + r * 4 + grp == cur) {
#pragma unroll
            for (int i = 0; i < DS / 8; i++) {
                __half2 k2[4];
#pragma unroll
                for (int j = 0; j < 4; j++)
                    k2[j] = __floats2half2_rn(skv[sub * DS + 8 * i + 2 * j],
                                              skv[sub * DS + 8 * i + 2 * j + 1]);
                kk[r][i] = *(int4 *)k2;
            }
        }
#pragma unroll
    for (int j = 0; j < PW; j++)
        if (pw + j == cur) {
#pragma unroll
            for (int i = 0; i < DL / 2; i++) {
                const __half2 v2 =
                    __floats2half2_rn(skv[HD + lane * DL + 2 * i], skv[HD + lane * DL + 2 * i + 1]);
                vv[j][i] = *(const uint32_t *)&v2;
            }
        }
    float qr[G][DS];
#pragma unroll
    for (int g = 0; g < G; g++)
#pragma unroll
        for (int i = 0; i < DS; i++)
            qr[g][i] = sq[(g * HD) + sub * DS + i];
    cbar(); /* sq is so, written again below */

    const float sc = rsqrtf((float)HD);
    float s[RW][G];
#pragma unroll
    for (int r = 0; r < RW; r++) {
#pragma unroll
        for (int g = 0; g < G; g++)
            s[r][g] = 0.f;
#pragma unroll
        for (int i = 0; i < DS / 8; i++) {
            const __half2 *k2 = (const __half2 *)&kk[r][i];
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const float2 f = __half22float2(k2[j]);
#pragma unroll
                for (int g = 0; g < G; g++)
                    s[r][g] += qr[g][8 * i + 2 * j] * f.x + qr[g][8 * i + 2 * j + 1] * f.y;
            }
        }
#pragma unroll
        for (int g = 0; g < G; g++) {
            for (int o = 1; o < 8; o <<= 1)
                s[r][g] += __shfl_xor_sync(~0u, s[r][g], o);
            s[r][g] = pw + r * 4 + grp < n ? s[r][g] * sc : -INFINITY;
        }
    }
    float mw[G], lw[G];
#pragma unroll
    for (int g = 0; g < G; g++) {
        float mx = s[0][g];
#pragma unroll
        for (int r = 1; r < RW; r++)
            mx = fmaxf(mx, s[r][g]);
        mx = fmaxf(mx, __shfl_xor_sync(~0u, mx, 8));
        mx = fmaxf(mx, __shfl_xor_sync(~0u, mx, 16));
        mw[g] = mx;
        float l = 0.f;
#pragma unroll
        for (int r = 0; r < RW; r++) {
            const float e = mx == -INFINITY ? 0.f : __expf(s[r][g] - mx);
            s[r][g] = e;
            l += e;
        }
        l += __shfl_xor_sync(~0u, l, 8);
        l += __shfl_xor_sync(~0u, l, 16);
        lw[g] = l;
    }
    float *pw_s = ssc + warp * PW * G; /* the weights, for the P V loop's broadcasts */
    if (sub == 0)
#pragma unroll
        for (int r = 0; r < RW; r++)
#pragma unroll
            for (int g = 0; g < G; g++)
                pw_s[(r * 4 + grp) * G + g] = s[r][g];
    __syncwarp();
    float acc[G][DL] = {};
#pragma unroll
    for (int j = 0; j < PW; j++) {
        float vf[DL];
#pragma unroll
        for (int i = 0; i < DL / 2; i++) {
            const float2 f = __half22float2(*(const __half2 *)&vv[j][i]);
            vf[2 * i] = f.x, vf[2 * i + 1] = f.y;
        }
#pragma unroll
        for (int g = 0; g < G; g++) {
            const float pg = pw_s[j * G + g];
#pragma unroll
            for (int d = 0; d < DL; d++)
                acc[g][d] += pg * vf[d];
        }
    }
    if (tt && t == 0) tt[4] = gtime();
    /* the warps combined at the chunk's maximum */
    float *wm = stmp, *wl = stmp + NCW * G; /* [warp][g] */
    if (lane == 0)
#pragma unroll
        for (int g = 0; g < G; g++)
            wm[warp * G + g] = mw[g], wl[warp * G + g] = lw[g];
    cbar();
#pragma unroll
    for (int g = 0; g < G; g++) {
        float M = -INFINITY;
        for (int w = 0; w < NCW; w++)
            M = fmaxf(M, wm[w * G + g]);
        const float f = mw[g] == -INFINITY ? 0.f : __expf(mw[g] - M);
#pragma unroll
        for (int d = 0; d < DL; d++)
            wacc[warp * G * HD + g * HD + lane * DL + d] = acc[g][d] * f;
    }
    cbar();
    /* The flagged merge: the slot's other chunks store their partials as
     * flagged words and go on; its last chunk (the lists put it after every
     * other chunk on its block, so no wait closes a cycle) keeps its own and
     * spins on theirs: no counter's round trip before the loads (1.1B:
     * NOTES-cuda.md pass 24; 8B: pass 27). */
    constexpr int NCM = LMC_PPOS / CH; /* chunks at most */
    const int fa = ll_flag(S.step, layer, LMC_P_ATT);
    const bool merger = c == nch - 1;
    uint64_t *plo = a.plo + (size_t)hs * NCM * G * HD, *pml = a.pml + (size_t)hs * NCM * 2 * G;
    if constexpr (HD == 64) {
        /* a few chunks of 128 outputs: every thread's loads at once, staged
         * in shared memory (the register merge below: 1.1B -2 %) */
        float *own = ssc; /* [G * HD] output, then (max, sum) a query head */
        for (int i = t; i < G * HD; i += NCT) {
            const float o = chunk_out<G * HD>(wacc, i);
            if (merger)
                own[i] = o;
            else
                st_ll(plo + (size_t)c * G * HD + i, __float_as_uint(o), fa);
        }
        if (t < G) {
            const float2 ml = chunk_ml<G>(wm, wl, t);
            const float M = ml.x, L = ml.y;
            if (merger) {
                own[G * HD + 2 * t] = M, own[G * HD + 2 * t + 1] = L;
            } else {
                st_ll(pml + (c * G + t) * 2, __float_as_uint(M), fa);
                st_ll(pml + (c * G + t) * 2 + 1, __float_as_uint(L), fa);
            }
        }
        cbar(); /* wacc is the next task's input buffer */
        if (tt && t == 0) tt[5] = tt[6] = gtime();
        if (!merger) return;
        float *X = wacc, *Y = wacc + (NCM - 1) * G * HD; /* the others' outputs, (max, sum) */
        ll_round<((NCM - 1) * G * HD / 2 + NCT - 1) / NCT>(plo, (nch - 1) * G * HD / 2, fa,
                                                           (int2 *)X);
        ll_round<((NCM - 1) * G + NCT - 1) / NCT>(pml, (nch - 1) * G, fa, (int2 *)Y);
        cbar();
        for (int i = t; i < G * HD; i += NCT) {
            const int g = i / HD;
            const float m0 = own[G * HD + 2 * g];
            float M = m0;
            for (int k = 0; k < nch - 1; k++)
                M = fmaxf(M, Y[(k * G + g) * 2]);
            float w = __expf(m0 - M), Ls = w * own[G * HD + 2 * g + 1], O = w * own[i];
            for (int k = 0; k < nch - 1; k++) {
                w = __expf(Y[(k * G + g) * 2] - M);
                Ls += w * Y[(k * G + g) * 2 + 1], O += w * X[k * G * HD + i];
            }
            so[i] = O / Ls;
        }
        cbar();
        for (int u = warp; u < G * HD / 32; u += NCW)
            ll_unit(so[u * 32 + lane], a.la, hs * G * HD / 32 + u, lane, 0.f, fa);
        cbar();
        if (tt && t == 0) tt[7] = gtime();
    } else {
        /* head size 128: up to 16 chunks of 512 outputs, too many to stage;
         * thread t keeps output pair t of every chunk in registers */
        constexpr int NP = G * HD / 2; /* output pairs */
        static_assert(NP == NCT, "a pair a thread");
        float2 *ml = (float2 *)ssc; /* every chunk's (max, sum) a query head, chunk-major */
        /* (the guards on t, always true here, stay: the same source without
         * them compiled to an 8B step 2-3 % slower, NOTES-cuda.md pass 27) */
        float2 o = make_float2(0.f, 0.f);
        if (t < NP) {
            o = make_float2(chunk_out<G * HD>(wacc, 2 * t), chunk_out<G * HD>(wacc, 2 * t + 1));
            if (!merger) st_ll2(plo + (size_t)c * G * HD + 2 * t, o, fa);
        }
        if (t < G) {
            const float2 m = chunk_ml<G>(wm, wl, t);
            if (merger)
                ml[(nch - 1) * G + t] = m;
            else
                st_ll2(pml + (c * G + t) * 2, m, fa);
        }
        cbar(); /* wacc is the next task's input buffer */
        if (tt && t == 0) tt[5] = tt[6] = gtime();
        if (!merger) return;
        if (nch > 1) ll_round<((NCM - 1) * G + NCT - 1) / NCT>(pml, (nch - 1) * G, fa, (int2 *)ml);
        float2 oo[NCM - 1];
        if (t < NP)
            for (;;) {
                uint4 v[NCM - 1];
                bool ok = true;
#pragma unroll
                for (int k = 0; k < NCM - 1; k++)
                    if (k < nch - 1) v[k] = ld_ll2(plo + (size_t)k * G * HD + 2 * t);
#pragma unroll
                for (int k = 0; k < NCM - 1; k++)
                    if (k < nch - 1) ok &= (int)v[k].y == fa && (int)v[k].w == fa;
                if (ok) {
#pragma unroll
                    for (int k = 0; k < NCM - 1; k++)
                        if (k < nch - 1)
                            oo[k] = make_float2(__uint_as_float(v[k].x), __uint_as_float(v[k].z));
                    break;
                }
            }
        cbar();
        if (t < NP) {
            const int g = 2 * t / HD;
            float M = -INFINITY;
            for (int k = 0; k < nch; k++)
                M = fmaxf(M, ml[k * G + g].x);
            float w = __expf(ml[(nch - 1) * G + g].x - M), Ls = w * ml[(nch - 1) * G + g].y;
            float2 O = make_float2(w * o.x, w * o.y);
#pragma unroll
            for (int k = 0; k < NCM - 1; k++)
                if (k < nch - 1) {
                    w = __expf(ml[k * G + g].x - M);
                    Ls += w * ml[k * G + g].y, O.x += w * oo[k].x, O.y += w * oo[k].y;
                }
            so[2 * t] = O.x / Ls, so[2 * t + 1] = O.y / Ls;
        }
        cbar();
        for (int u = warp; u < G * HD / 32; u += NCW)
            ll_unit(so[u * 32 + lane], a.la, hs * G * HD / 32 + u, lane, 0.f, fa);
        cbar();
        if (tt && t == 0) tt[7] = gtime();
    }
}

/* Tile row R of QKV to its row in the file's order: a half-split file's
 * rotary pair (d, d + HD / 2) of a q / k head is tile rows 2d, 2d + 1
 * (tile_kernel's order, its inverse); v's rows and other files' as they are. */
template <int HD> __device__ __forceinline__ int file_row(const lmc_pargs &a, int R) {
    const int qk = (a.NQ + a.NKV) * HD, d = R % HD;
    return R < qk && a.half ? R - d + ((d & 1) ? d / 2 + HD / 2 : d / 2) : R;
}

/* What a mat-vec task's end reads from global memory, requested by warp 0
 * before the products so that its latency is hidden behind them: the
 * residual row (WO, DOWN: flagged), the next norm's weight, the rotary
 * frequency and the q/k/v bias (QKV). Lane l: row l of the task. */
struct Pre {
    float x, g, f, b;
};
template <int HD>
__device__ __forceinline__ Pre pre_load(const lmc_pargs &a, const lmc_ptask &k, const Step &S,
                                        int lane) {
    Pre p = {0.f, 0.f, 0.f, 0.f};
    const int R = k.idx * 32 + lane;
    if (k.kind == LMC_P_WO || k.kind == LMC_P_DOWN) {
        p.x = ll_float(a.lx + R, k.kind == LMC_P_WO ? ll_flag(S.step, k.layer - 1, LMC_P_DOWN)
                                                    : ll_flag(S.step, k.layer, LMC_P_WO));
        const float *g = k.kind == LMC_P_WO  ? a.g_ffn + (size_t)k.layer * a.H
                         : k.layer + 1 < a.L ? a.g_att + (size_t)(k.layer + 1) * a.H
                                             : a.g_out;
        p.g = g[R];
    } else if (k.kind == LMC_P_QKV) {
        const int qk = (a.NQ + a.NKV) * HD;
        if (R < qk) p.f = a.inv_freq[(R % HD) >> 1];
        if (a.bqkv) p.b = a.bqkv[(size_t)k.layer * (qk + a.NKV * HD) + file_row<HD>(a, R)];
    }
    return p;
}

/* A mat-vec task's end, in warp 0 alone (the other warps go on to the next
 * task): lane l holds row l (y0), already scaled by the norm; the rows go
 * where the phase puts them, as flagged words where a later phase reads
 * them. */
template <int HD>
__device__ void epilogue(const lmc_pargs &a, const lmc_ptask &k, float y0, const Pre &p,
                         const Step &S, int lane) {
    const int R = k.idx * 32 + lane;
    const int flag = ll_flag(S.step, k.layer, k.kind);
    switch (k.kind) {
    case LMC_P_QKV: {
        /* R in tile order, Ro in the file's */
        const int QD = a.NQ * HD, qk = QD + a.NKV * HD, d = R % HD, Ro = file_row<HD>(a, R);
        float y = y0 + p.b;
        const float other = __shfl_xor_sync(~0u, y, 1); /* row R ^ 1, its rotary pair */
        if (R < qk) {
            float sn, cs;
            sincosf((float)S.pos * p.f, &sn, &cs);
            y = (d & 1) ? other * sn + y * cs : y * cs - other * sn;
        }
        if (Ro < QD) {
            st_ll(a.lq + Ro, __float_as_uint(y), flag);
        } else {
            const int kr = Ro < qk ? Ro - QD : Ro - qk, hk = kr / HD, dd = kr % HD;
            const __half yh = __float2half(y);
            __half *cache = (__half *)(Ro < qk ? a.kc : a.vc)[k.layer];
            cache[(((size_t)S.seq * a.n_ctx + S.pos) * a.NKV + hk) * HD + dd] = yh;
            st_ll(a.lkv + (hk * 2 + (Ro >= qk)) * HD + dd, __float_as_uint(__half2float(yh)), flag);
        }
        break;
    }
    case LMC_P_WO:
    case LMC_P_DOWN: {
        const float xn = p.x + y0;
        st_ll(a.lx + R, __float_as_uint(xn), flag);
        if (k.kind == LMC_P_DOWN && k.layer + 1 == a.L) a.x[R] = xn; /* the output norm's */
        ll_unit(xn * p.g, k.kind == LMC_P_WO ? a.lxf : a.lxa, k.idx, lane, xn * xn, flag);
        break;
    }
    case LMC_P_OUT:
        a.logits[R] = y0;
        break;
    default: { /* GU: rows 16 idx + l of gate (lane l < 16) and of up (l + 16) */
        const float up = __shfl_down_sync(~0u, y0, 16);
        ll_quant<16>(y0 / (1.f + expf(-y0)) * up, a.lh, k.idx >> 1, k.idx & 1, lane, 0.f, flag);
    }
    }
}

/* G: the query heads of one attention task; WT: the 4-bit tiles are Q4_0 (0)
 * or Q4_K (1); tasks of Q6_K tiles can come with either (a task's wt). TR:
 * the timeline's build (lmc_pargs.trace), apart because its stamps' branches
 * cost the untraced step 4-8 % when they were only tested at run time. */
template <int HD, int G, int WT, int CH, bool TR>
__global__ void __launch_bounds__(NT, 1) persist_kernel(const lmc_pargs a) {
    extern __shared__ __align__(128) uint8_t sm[];
    uint8_t *ring = sm;
    int4 *sxq = (int4 *)(sm + NSLOT * SLOT);
    int2 *smeta =
        (int2 *)((uint8_t *)sxq + KMAX); /* a unit's (scale, sum), (sum of squares, pad) */
    float *ssc = (float *)(smeta + 2 * (KMAX / 32));
    float *so = ssc + 8 * CHX;
    float *stmp = so + QMAX;
    float *sred = stmp + 160; /* the products' two reduction buffers */
    uint64_t *full = (uint64_t *)(sred + 256), *empty = full + NSLOT;
    const int t = threadIdx.x, lane = t & 31, warp = t >> 5;
    const Step S = {a.d_in[1], a.d_in[2], a.d_in[4]};
    if (t == 0) {
        for (int i = 0; i < NSLOT; i++)
            mb_init(full + i, 1), mb_init(empty + i, NCW);
        mb_init_fence();
    }
    __syncthreads();
    const int P = S.pos + 1, nch = (P + CH - 1) / CH;
    const int *toff = a.toff + (size_t)(nch - 1) * (a.nsm + 1);
    const lmc_ptask *my = a.tasks + toff[blockIdx.x];
    const int nt = toff[blockIdx.x + 1] - toff[blockIdx.x];
    if (warp == NCW) {
        /* The producer: every weight tile of this block's tasks, in order, as
         * fast as slots free up; it never waits for another block. */
        if (lane == 0) {
            int slot = 0, ph = 0, issued = 0, landed = 0;
            unsigned long long stall = 0; /* the timeline's: waiting for a free slot */
            for (int i = 0; i < nt; i++) {
                const lmc_ptask k = my[i];
                if (k.kind == LMC_P_ATT) {
                    /* a share of the chunk's K and V rows (every head's) into
                     * L2 well before the tasks that read them */
                    const int c = k.idx % nch, hs = k.idx / nch, ns = a.NKV * a.QS;
                    const size_t RS = (size_t)a.NKV * a.HD * 2;
                    const size_t bytes = (size_t)min(CH, P - c * CH) * RS;
                    const size_t b0 = (bytes * hs / ns) & ~(size_t)15;
                    const size_t b1 = hs + 1 == ns ? bytes : (bytes * (hs + 1) / ns) & ~(size_t)15;
                    const size_t off = ((size_t)S.seq * a.n_ctx + (size_t)c * CH) * RS + b0;
                    if (b1 > b0) {
                        prefetch_l2((const uint8_t *)a.kc[k.layer] + off, (int)(b1 - b0));
                        prefetch_l2((const uint8_t *)a.vc[k.layer] + off, (int)(b1 - b0));
                    }
                    continue;
                }
                const bool six = k.wt == LMC_PW_Q6_K;
                const int spc = six ? SLOT_TILES6 : SLOT_TILES, tb = six ? TILE6 : TILE;
                for (int c = 0; c < k.ntiles; c += spc) {
                    const int n = min(spc, k.ntiles - c) * tb;
                    const unsigned long long w0 = TR ? gtime() : 0;
                    mb_wait(empty + slot, ph ^ 1);
                    if (TR) stall += gtime() - w0;
                    for (const int lim = six ? INFLIGHT6 : INFLIGHT; issued - landed >= lim;
                         landed++)
                        mb_wait(full + landed % NSLOT, (landed / NSLOT) & 1);
                    mb_expect(full + slot, n);
                    bulk_g2s(ring + slot * SLOT, k.w + (size_t)c * tb, n, full + slot);
                    issued++;
                    if (++slot == NSLOT) slot = 0, ph ^= 1;
                }
            }
            if (TR) { /* after every list's tasks: (stall, end) a block */
                unsigned long long *pr = a.trace + (size_t)toff[a.nsm] * 8 + blockIdx.x * 2;
                pr[0] = stall, pr[1] = gtime();
            }
        }
        return;
    }
    int slot = 0, ph = 0, cur = -1;
    float srms = 1.f;
    bool rms = false; /* srms to be taken from this phase's input */
    for (int i = 0; i < nt; i++) {
        const lmc_ptask k = my[i];
        /* the timeline: start, inputs in, products done, epilogue done (the
         * attention's own stamps in 1 and 4-7) */
        unsigned long long *tt = TR ? a.trace + (size_t)(toff[blockIdx.x] + i) * 8 : nullptr;
        if (tt && t == 0) tt[0] = gtime();
        if (k.kind * 65536 + k.layer != cur) {
            cur = k.kind * 65536 + k.layer;
            if (k.kind != LMC_P_ATT) {
                /* the phase's input, spun on until current; by value: the
                 * address of a kernel parameter copies it to the stack */
                lmc_pll in = a.lxa;
                int K = a.H, fl = ll_flag(S.step, k.layer - 1, LMC_P_DOWN);
                const bool norm = k.kind == LMC_P_QKV || k.kind == LMC_P_GU || k.kind == LMC_P_OUT;
                if (k.kind == LMC_P_WO)
                    in = a.la, K = a.NQ * HD, fl = ll_flag(S.step, k.layer, LMC_P_ATT);
                else if (k.kind == LMC_P_GU)
                    in = a.lxf, fl = ll_flag(S.step, k.layer, LMC_P_WO);
                else if (k.kind == LMC_P_DOWN)
                    in = a.lh, K = a.F, fl = ll_flag(S.step, k.layer, LMC_P_GU);
                /* warp 0 may still be at the last task's end, whose rows can
                 * be part of this input: the other warps wait for it rather
                 * than spin on the input beside its stores (the 8B's phases
                 * after a norm had their inputs 2 us after the last task's
                 * end, WO 0.5 us after the merges all warps store; 8B
                 * 490-496 -> 500-503 t/s, NOTES-cuda.md pass 26) */
                cbar();
                ll_load(in, K, fl, sxq, smeta);
                cbar();
                /* the norm's scale is the epilogue's alone: warp 0 takes it
                 * after its first products of the phase, while the other
                 * warps may still be at theirs */
                srms = 1.f, rms = norm;
            }
        }
        if (k.kind == LMC_P_ATT) {
            attn_task<HD, G, CH>(a, k.layer, k.idx, S, ssc, so, stmp, (float *)sxq, tt);
            if (tt && t == 0) tt[2] = tt[3] = gtime();
            continue;
        }
        if (tt && t == 0) tt[1] = gtime();
        /* DOWN's input comes in 16-element halves, each with its scale */
        const bool h2 = k.kind == LMC_P_DOWN;
        /* what the task's end reads, requested before the products */
        Pre pre = {0.f, 0.f, 0.f, 0.f};
        if (warp == 0) pre = pre_load<HD>(a, k, S, lane);
        /* Thread t keeps unit b = t & 7 of several rows of one tile of the
         * slot (Q4: rows r, r+8, r+16, r+24 of tile t >> 6; Q6_K: rows r,
         * r+16 of tile t >> 7), so each input unit is read once for several
         * rows: the products were bound by shared-memory reads, most of them
         * the input's (one unit a row: 1.1B Q4_0 1,873 -> 1,986 t/s,
         * NOTES-cuda.md pass 24). A slot holds four Q4 tiles or two Q6_K
         * ones; a task's tiles are of one type (branches uniform over the
         * block); a slot's tiles past the task's last are computed on its
         * last tile's inputs and dropped. */
        const bool six = k.wt == LMC_PW_Q6_K;
        const int spt = six ? SLOT_TILES6 : SLOT_TILES, b8 = t & 7;
        float acc[4] = {0.f, 0.f, 0.f, 0.f};
        for (int c = 0; c < k.ntiles; c += spt) {
            mb_wait(full + slot, ph);
            const uint8_t *sp = ring + slot * SLOT;
            if (!six) {
                const int g = t >> 6, j = c + g, jc = min(j, k.ntiles - 1);
                const int xb = jc * 8 + b8, idx = t & 63;
                const int4 xa = sxq[xb * 2], xc = sxq[xb * 2 + 1];
                const int2 md = smeta[2 * xb];
                const uint8_t *tp = sp + g * TILE;
                if (!h2) {
#pragma unroll
                    for (int i = 0; i < 4; i++) {
                        const int id = idx + 64 * i;
                        const float v =
                            unit_val<WT>(tp, id, usum(tp, id, xa, xc), __int_as_float(md.x), md.y);
                        acc[i] += j < k.ntiles ? v : 0.f;
                    }
                } else {
                    const int2 mh = smeta[2 * xb + 1];
                    const float2 dx = make_float2(__int_as_float(md.x), __int_as_float(mh.x));
                    const float xsd = dx.x * (float)md.y + dx.y * (float)mh.y;
#pragma unroll
                    for (int i = 0; i < 4; i++) {
                        const int id = idx + 64 * i;
                        const float v = unit_val2<WT>(tp, id, usum2(tp, id, xa, xc), dx, xsd);
                        acc[i] += j < k.ntiles ? v : 0.f;
                    }
                }
            } else {
                const int g = t >> 7, j = c + g, jc = min(j, k.ntiles - 1);
                const int xb = jc * 8 + b8, idx = t & 127;
                const int4 xa = sxq[xb * 2], xc = sxq[xb * 2 + 1];
                const float d0 = __int_as_float(smeta[2 * xb].x);
                const uint8_t *tp = sp + g * TILE6;
#pragma unroll
                for (int i = 0; i < 2; i++) {
                    const float v =
                        h2 ? unit6<true>(tp, idx + 128 * i, xa, xc,
                                         make_float2(d0, __int_as_float(smeta[2 * xb + 1].x)))
                           : unit6<false>(tp, idx + 128 * i, xa, xc, make_float2(d0, d0));
                    acc[i] += j < k.ntiles ? v : 0.f;
                }
            }
            __syncwarp();
            if (lane == 0) mb_arrive(empty + slot);
            if (++slot == NSLOT) slot = 0, ph ^= 1;
        }
        /* each row's units (lanes t ^ 1, 2, 4), then its tiles through
         * shared memory (one of two buffers a task: warp 0 may still read
         * the last task's while the others write this one's; none can be
         * two ahead, as every task passes this barrier) into warp 0, lane l
         * row l, for the epilogue */
#pragma unroll
        for (int q = 0; q < 4; q++)
            for (int o = 1; o < 8; o <<= 1)
                acc[q] += __shfl_xor_sync(~0u, acc[q], o);
        if (rms && warp == 0) /* a unit's sum of squares: the first word of its second pair */
            srms = rms_scale((const float *)smeta + 2, 4, a.H, a.eps, lane), rms = false;
        float *red = sred + (i & 1) * 128; /* [tile][row] */
        if (b8 == 0) {
            const int r = t >> 3;
            if (!six) {
                const int g = t >> 6, r0 = r & 7;
#pragma unroll
                for (int q = 0; q < 4; q++)
                    red[g * 32 + r0 + 8 * q] = acc[q];
            } else {
                const int g = t >> 7, r0 = r & 15;
                red[g * 32 + r0] = acc[0], red[g * 32 + r0 + 16] = acc[1];
            }
        }
        cbar();
        if (tt && t == 0) tt[2] = gtime();
        if (warp != 0) continue;
        const float y0 = six ? red[lane] + red[32 + lane]
                             : red[lane] + red[32 + lane] + red[64 + lane] + red[96 + lane];
        epilogue<HD>(a, k, y0 * srms, pre, S, lane);
        if (tt && t == 0) tt[3] = gtime();
    }
}
#else
/* Without sm_90a code the launcher never runs it (lmc_persist_device_ok). */
template <int HD, int G, int WT, int CH, bool TR>
__global__ void persist_kernel(const lmc_pargs a) {
    (void)a;
}
#endif

/* The step's start: the residual and its first norm's input as flagged
 * words of this step (the flag a finished previous layer would have left). */
__global__ void persist_init_kernel(const lmc_pargs a, const float *x) {
    const int u = blockIdx.x, l = threadIdx.x;
    const float v = x[u * 32 + l];
    const int flag = ll_flag(a.d_in[4], -1, LMC_P_DOWN);
    st_ll(a.lx + u * 32 + l, __float_as_uint(v), flag);
    ll_unit(v * a.g_att[u * 32 + l], a.lxa, u, l, v * v, flag);
}

/* Source row s of a matrix to its tile row (see lmc_persist_tile), one thread
 * a (row, K-tile): 32 rows of 8 units. */
__global__ void tile_kernel(uint32_t type, const uint8_t *src, int rows, int n_in, uint8_t *dst,
                            int gu, int half_hd) {
    const int nk = n_in / 256;
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)rows * nk) return;
    const int s = (int)(i / nk), kt = (int)(i % nk);
    int R = s;
    if (half_hd) { /* rotary pair (d, d + hd / 2) of a head as rows 2d, 2d + 1 */
        const int d = s % half_hd, h2 = half_hd / 2;
        R = s - d + (d < h2 ? 2 * d : 2 * (d - h2) + 1);
    }
    if (gu) /* gate's rows 16 g + j as row j of group g, up's as row 16 + j */
        R = (s >> 4) * 32 + (s & 15) + (gu == 2 ? 16 : 0);
    const int r = R % 32;
    const int tb = type == LM_TYPE_Q6_K ? TILE6 : TILE;
    uint8_t *tile = dst + ((size_t)(R / 32) * nk + (size_t)kt) * tb;
    if (type == LM_TYPE_Q4_0) { /* 18-byte blocks, 2-byte aligned */
        const uint8_t *row = src + (size_t)s * (n_in / 32) * 18 + (size_t)kt * 8 * 18;
        for (int b = 0; b < 8; b++) {
            const uint8_t *blk = row + 18 * b;
            tile[2 * (r * 8 + b)] = blk[0];
            tile[2 * (r * 8 + b) + 1] = blk[1];
            for (int j = 0; j < 16; j++)
                tile[512 + 16 * (r * 8 + b) + j] = blk[2 + j];
        }
    } else if (type == LM_TYPE_Q4_K) { /* (d, dmin), 12 bytes of scales, 8 units of 16 */
        const uint8_t *blk = src + ((size_t)s * nk + kt) * 144;
        for (int j = 0; j < 4; j++)
            tile[4 * r + j] = blk[j];
        for (int j = 0; j < 12; j++)
            tile[128 + 12 * r + j] = blk[4 + j];
        for (int u = 0; u < 8; u++)
            for (int j = 0; j < 16; j++)
                tile[512 + 16 * (r * 8 + u) + j] = blk[16 + 16 * u + j];
    } else { /* Q6_K, rearranged at upload (quant.cuh): filler around the quants */
        const uint8_t *blk = src + ((size_t)s * nk + kt) * 210;
        const int pre = q6r_pre((uintptr_t)blk);
        tile[2 * r] = blk[q6r_fill(0, pre)];
        tile[2 * r + 1] = blk[q6r_fill(1, pre)];
        for (int j = 0; j < 16; j++)
            tile[64 + 16 * r + j] = blk[q6r_fill(2 + j, pre)];
        for (int u = 0; u < 8; u++) {
            for (int j = 0; j < 16; j++)
                tile[576 + 16 * (r * 8 + u) + j] = blk[pre + 16 * u + j];
            for (int j = 0; j < 8; j++)
                tile[4672 + 8 * (r * 8 + u) + j] = blk[pre + 128 + 8 * u + j];
        }
    }
}

template <int HD, int G, int WT, int CH, bool TR> void *kernel_of() {
    static bool set = false;
    void *k = (void *)persist_kernel<HD, G, WT, CH, TR>;
    if (!set) {
        if (cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)SMEM))
            return nullptr;
        set = true;
    }
    return k;
}
/* The kernel for a head size and slot, with its attention chunk (64
 * positions for head size 128: 2,068 -> 1,978 us on the 8B shape, slower on
 * the 1.1B; NOTES-cuda.md pass 22); NULL where none is built. */
template <int WT, bool TR> void *pick(int HD, int G) {
    if (HD == 64 && G == 2) return kernel_of<64, 2, WT, 128, TR>();
    if (HD == 128 && G == 4) return kernel_of<128, 4, WT, 64, TR>();
    return nullptr;
}

} // namespace

extern "C" int lmc_persist_chunk(int hd) {
    return hd == 128 ? 64 : 128;
}

extern "C" bool lmc_persist_device_ok(int device) {
    int coop = 0, smem = 0;
    /* the kernel's body exists only in sm_90a code (a Blackwell running the
     * compute_90 PTX gets the empty stub): ask whether that code runs */
    return lmc_wgmma_loaded() &&
           cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, device) == cudaSuccess &&
           coop &&
           cudaDeviceGetAttribute(&smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) ==
               cudaSuccess &&
           (size_t)smem >= SMEM;
}

extern "C" int lmc_persist_tile_bytes(uint32_t type) {
    return type == LM_TYPE_Q4_0 || type == LM_TYPE_Q4_K ? TILE : type == LM_TYPE_Q6_K ? TILE6 : 0;
}

extern "C" bool lmc_persist_tile(cudaStream_t st, uint32_t type, const void *src, int rows,
                                 int n_in, uint8_t *dst, int gu, int half_hd) {
    if (!lmc_persist_tile_bytes(type) || n_in % 256 || rows <= 0 || rows % (gu ? 16 : 32))
        return false;
    const long long n = (long long)rows * (n_in / 256);
    tile_kernel<<<(unsigned)((n + 127) / 128), 128, 0, st>>>(type, (const uint8_t *)src, rows, n_in,
                                                             dst, gu, half_hd);
    return cudaGetLastError() == cudaSuccess;
}

extern "C" bool lmc_persist_init(cudaStream_t st, const lmc_pargs *a, const float *x) {
    persist_init_kernel<<<a->H / 32, 32, 0, st>>>(*a, x);
    return cudaGetLastError() == cudaSuccess;
}

extern "C" bool lmc_persist_launch(cudaStream_t st, const lmc_pargs *a) {
    void *k = a->trace ? a->kq ? pick<1, true>(a->HD, a->G) : pick<0, true>(a->HD, a->G)
              : a->kq ? pick<1, false>(a->HD, a->G)
                       : pick<0, false>(a->HD, a->G);
    if (!k || a->ch != lmc_persist_chunk(a->HD)) return false;
    void *args[] = {(void *)a};
    return cudaLaunchCooperativeKernel(k, a->nsm, NT, args, SMEM, st) == cudaSuccess;
}
