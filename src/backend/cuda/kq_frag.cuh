/* kq_frag.cuh — a warpgroup product's A operand built in registers from
 * K-quant blocks (RS wgmma): the prompt GEMMs that read Q4_K and Q6_K blocks
 * (k_qgemm.cu) and the measurement tool they came from
 * (tools/qgemm_rs_test.cu) share it. Q4_K weight stages hold super-blocks of
 * 144 bytes a row in the upload layout, their scales decoded once into a
 * table of half2 (s, -m) a sub-block; Q6_K stages hold each row's 210-byte
 * super-block in a 224-byte window and are read as they are. */
#ifndef LM_BACKEND_CUDA_KQ_FRAG_CUH
#define LM_BACKEND_CUDA_KQ_FRAG_CUH
#include "backend/cuda/wgmma.cuh"
#include <cuda_fp16.h>
#include <stdint.h>

namespace lmc {

/* s * q - m for nibble bytes i and j of n as one half2 (SEL picks them):
 * 0x64 above a nibble makes the half 1024 + q exactly; the subtraction is
 * exact too, so only the fma rounds. */
template <int SEL>
__device__ __forceinline__ uint32_t nib_pair(uint32_t n, __half2 s2, __half2 m2) {
    const uint32_t h = __byte_perm(n, 0x64646464u, SEL);
    const __half2 q = __hsub2(*(const __half2 *)&h, __half2half2(__ushort_as_half(0x6400)));
    const __half2 w = __hfma2(q, s2, m2);
    return *(const uint32_t *)&w;
}

/* The 6-bit scale and min of sub-block j, times d and dmin, from the header
 * words h (h.x: d and dmin; h.y .. h.w: the 12 scale bytes); selects rather
 * than quant.cuh's branches (k_scales_of), as one warp decodes mixed
 * sub-blocks. */
__device__ __forceinline__ float2 k_scales(uint4 h, int j) {
    const int sh = 8 * (j & 3);
    const int b0 = (int)(h.y >> sh) & 0xFF, b1 = (int)(h.z >> sh) & 0xFF,
              b2 = (int)(h.w >> sh) & 0xFF;
    const int sc = j < 4 ? b0 & 63 : (b2 & 15) | ((b0 >> 6) << 4);
    const int mn = j < 4 ? b1 & 63 : (b2 >> 4) | ((b1 >> 6) << 4);
    const float2 dd = __half22float2(*(const __half2 *)&h.x);
    return make_float2(dd.x * (float)sc, dd.y * (float)mn);
}

/* A weight stage's scale table: for each of its rows' 8 sub-blocks, half2
 * (d * sc, -dmin * m), entry 8 row + j; this thread takes entries i0, i0 +
 * step, ... (the stage: rows super-blocks of 144 bytes). */
__device__ __forceinline__ void stage_scales(const uint8_t *w, uint32_t *tb, int rows, int i0,
                                             int step) {
    for (int i = i0; i < rows * 8; i += step) {
        const float2 f = k_scales(*(const uint4 *)(w + (i >> 3) * 144), i & 7);
        const __half2 h = __floats2half2_rn(f.x, -f.y);
        tb[i] = *(const uint32_t *)&h;
    }
}

/* The A fragments of chunk c (sub-blocks 2 (c & 3) and + 1 of its
 * super-block) for rows ra and ra + 8 of the weight stage ws, with that
 * stage's scales tb; a[s] for k16 step s. Q4_K blocks are in the upload
 * layout (quant.cuh): sub-block j's 16 bytes at 16 + 16 j, byte i holding
 * element i (low nibble) and i + 16. Lane t needs elements 2t, 2t + 1,
 * 2t + 8, 2t + 9 of each 16 (the mma.m16n8k16 A layout). */
__device__ __forceinline__ void build_a(const uint8_t *ws, const uint32_t *tb, int ra, int c, int t,
                                        uint32_t (&a)[4][4]) {
    const int jj = c & 3;
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int row = ra + 8 * r;
        const uint2 sp = *(const uint2 *)(tb + row * 8 + 2 * jj);
#pragma unroll
        for (int u = 0; u < 2; u++) {
            const uint32_t sm = u ? sp.y : sp.x;
            const uint32_t sx = __byte_perm(sm, 0, 0x1010), mx = __byte_perm(sm, 0, 0x3232);
            const __half2 s2 = *(const __half2 *)&sx, m2 = *(const __half2 *)&mx;
            const uint16_t *q = (const uint16_t *)(ws + row * 144 + 16 + 16 * (2 * jj + u));
            const uint32_t v = (uint32_t)q[t] | (uint32_t)q[t + 4] << 16;
            const uint32_t lo = v & 0x0F0F0F0Fu, hi = (v >> 4) & 0x0F0F0F0Fu;
            a[2 * u][r] = nib_pair<0x4140>(lo, s2, m2);
            a[2 * u][2 + r] = nib_pair<0x4342>(lo, s2, m2);
            a[2 * u + 1][r] = nib_pair<0x4140>(hi, s2, m2);
            a[2 * u + 1][2 + r] = nib_pair<0x4342>(hi, s2, m2);
        }
    }
}

/* Q6_K: the stage row of a super-block sb holds the 224 bytes from the block's
 * start rounded down to 16 (rows are whole 16-byte words: 8 super-blocks
 * make 1,680 bytes), so the block sits at b0 = (210 sb) & 15 in it. In the
 * upload layout (quant.cuh, q6r_*) its quants start 16-byte aligned, after
 * pre = (16 - b0) & 15 bytes of its d and scales, the rest of which follow
 * them. */
__device__ __forceinline__ int q6_b0(int sb) {
    return (210 * sb) & 15;
}

/* The A fragments of chunk c (32-element units 2 (c & 3) and + 1) of Q6_K
 * stage ws (row pitch 224, block at b0) for rows ra and ra + 8. Unit j's low
 * nibbles are laid out as Q4_K's (byte i: elements i and i + 16), its high
 * bits at 128 + 8 j, byte b of word a holding the two bits of element
 * 4 (a + 2 s) + b at bits 2 s: lane t's halfword t there holds those of its
 * elements 2t, 2t + 1 (s = 0), + 8 (s = 1), + 16 (s = 2) and + 24 (s = 3).
 * Scales are int8, one a 16 elements (one a k16 step), times d; the weight
 * is (q - 32) s with q the 6-bit value, made as q s + (-32 s) in one fma. */
__device__ __forceinline__ void build_a_q6(const uint8_t *ws, int b0, int ra, int c, int t,
                                           uint32_t (&a)[4][4]) {
    const int pre = (16 - b0) & 15, qo = b0 + pre, jj = c & 3;
    const __half2 m32 = __half2half2(__float2half(-32.0f));
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const uint8_t *row = ws + (ra + 8 * r) * 224;
        const __half2 d2 = __half2half2(*(const __half *)(row + b0 + (pre > 0 ? 0 : 192)));
#pragma unroll
        for (int u = 0; u < 2; u++) {
            const int j = 2 * jj + u, f = 2 + 2 * j;
            const uint32_t sc = *(const uint16_t *)(row + b0 + (f < pre ? f : f + 192));
            /* 1024 + (sc + 128) as halves, exactly, then sc * d rounded once */
            const uint32_t hb = __byte_perm(sc ^ 0x8080u, 0x64646464u, 0x4140);
            const __half2 s2 =
                __hmul2(__hsub2(*(const __half2 *)&hb, __half2half2(__ushort_as_half(0x6480))), d2);
            const uint32_t sw = *(const uint32_t *)&s2;
            const uint32_t sx0 = __byte_perm(sw, 0, 0x1010), sx1 = __byte_perm(sw, 0, 0x3232);
            const __half2 s0 = *(const __half2 *)&sx0, s1 = *(const __half2 *)&sx1;
            const __half2 m0 = __hmul2(s0, m32), m1 = __hmul2(s1, m32);
            const uint16_t *q = (const uint16_t *)(row + qo + 16 * j);
            const uint32_t v = (uint32_t)q[t] | (uint32_t)q[t + 4] << 16;
            const uint32_t hw = ((const uint16_t *)(row + qo + 128 + 8 * j))[t];
            /* bytes: the high bits of elements 2t, 2t + 1, 2t + 8, 2t + 9 at
             * bits 0-1 and of the same + 16 at bits 4-5 */
            const uint32_t x = hw | hw << 14;
            const uint32_t lo = (v & 0x0F0F0F0Fu) | ((x << 4) & 0x30303030u);
            const uint32_t hi = ((v >> 4) & 0x0F0F0F0Fu) | (x & 0x30303030u);
            a[2 * u][r] = nib_pair<0x4140>(lo, s0, m0);
            a[2 * u][2 + r] = nib_pair<0x4342>(lo, s0, m0);
            a[2 * u + 1][r] = nib_pair<0x4140>(hi, s1, m1);
            a[2 * u + 1][2 + r] = nib_pair<0x4342>(hi, s1, m1);
        }
    }
}

/* The consumers' loop over a unit's nc chunks (nc even: whole super-blocks)
 * with two A buffers in turn: chunk c's products are issued (issue(c, a):
 * fences, wgmmas, commit) while chunk c - 1's are still in flight; once those
 * are done (wait 1) their stages are released (release(c - 1)) and chunk c +
 * 1's fragments are built (build(c + 1, a)) while chunk c's products run.
 * The buffers are two named arrays used in turn, not a copy moved after the
 * wait: NVVM once built the next fragments straight into the registers an
 * in-flight wgmma was reading (NOTES-cuda.md, pass 17). */
template <int N, class Issue, class Build, class Release>
__device__ __forceinline__ void rs_chunks(int nc, float (&acc)[N], Issue &&issue, Build &&build,
                                          Release &&release) {
    uint32_t a0[4][4], a1[4][4];
    auto step = [&](int c, uint32_t(&ac)[4][4], uint32_t(&an)[4][4]) {
        issue(c, ac);
        wg_wait<1>();
        wg_fence_acc(acc);
        if (c > 0) release(c - 1);
        if (c + 1 < nc) build(c + 1, an);
    };
    build(0, a0);
    for (int c = 0; c < nc; c += 2) {
        step(c, a0, a1);
        step(c + 1, a1, a0);
    }
    wg_wait<0>();
    wg_fence_acc(acc);
    release(nc - 1);
}

} // namespace lmc
#endif
