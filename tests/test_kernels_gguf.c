// labels: unit data
/* test_kernels_gguf.c — the block layouts, checked against real files: each
 * tensor that llama.cpp's llama-quantize wrote into the reference Q4_0,
 * Q4_K_M and Q8_0 models must dequantise to the F16 model's values within
 * that type's quantisation noise, and the SIMD matmul on those real blocks
 * must match the float reference. (A wrong nibble order, scale packing or
 * high-bit layout gives errors as large as the weights themselves.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/kernels.h"
#include "format/ggml_types.h"
#include "helpers/testdata.h"

/* A minimal, bounded walk of a GGUF v3 header: enough to find tensors. */
typedef struct {
    char name[96];
    uint32_t type;
    uint64_t ne[4];
    uint32_t n_dims;
    const uint8_t *data;
} tensor;

typedef struct {
    const uint8_t *p, *end;
    int ok;
} rd;

static uint64_t rd_u(rd *r, int n) {
    uint64_t v = 0;
    if (!r->ok || (size_t)(r->end - r->p) < (size_t)n) {
        r->ok = 0;
        return 0;
    }
    for (int i = 0; i < n; i++) v |= (uint64_t)r->p[i] << (8 * i);
    r->p += n;
    return v;
}

static void rd_skip(rd *r, uint64_t n) {
    if (!r->ok || (uint64_t)(r->end - r->p) < n) r->ok = 0;
    else r->p += n;
}

static void skip_value(rd *r, uint32_t vt, int depth) {
    static const int sizes[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (vt == 8) rd_skip(r, rd_u(r, 8));
    else if (vt == 9 && depth == 0) {
        uint32_t et = (uint32_t)rd_u(r, 4);
        uint64_t n = rd_u(r, 8);
        for (uint64_t i = 0; i < n && r->ok; i++) skip_value(r, et, 1);
    } else if (vt < 13 && sizes[vt]) rd_skip(r, (uint64_t)sizes[vt]);
    else r->ok = 0;
}

static int load_tensors(const uint8_t *buf, size_t len, tensor *out, int max) {
    rd r = {buf, buf + len, 1};
    if (rd_u(&r, 4) != 0x46554747u || rd_u(&r, 4) != 3) return -1;
    uint64_t nt = rd_u(&r, 8), nkv = rd_u(&r, 8);
    uint64_t align = 32;
    for (uint64_t i = 0; i < nkv && r.ok; i++) {
        uint64_t kl = rd_u(&r, 8);
        const uint8_t *k = r.p;
        rd_skip(&r, kl);
        uint32_t vt = (uint32_t)rd_u(&r, 4);
        if (r.ok && kl == 17 && memcmp(k, "general.alignment", 17) == 0 && vt == 4)
            align = rd_u(&r, 4);
        else skip_value(&r, vt, 0);
    }
    if (nt > (uint64_t)max || align == 0) return -1;
    uint64_t offs[512];
    for (uint64_t i = 0; i < nt && r.ok; i++) {
        uint64_t nl = rd_u(&r, 8);
        if (nl >= sizeof out[i].name) return -1;
        if (r.ok && (uint64_t)(r.end - r.p) >= nl) memcpy(out[i].name, r.p, nl), out[i].name[nl] = 0;
        rd_skip(&r, nl);
        out[i].n_dims = (uint32_t)rd_u(&r, 4);
        if (out[i].n_dims > 4) return -1;
        for (int d = 0; d < 4; d++) out[i].ne[d] = 1;
        for (uint32_t d = 0; d < out[i].n_dims; d++) out[i].ne[d] = rd_u(&r, 8);
        out[i].type = (uint32_t)rd_u(&r, 4);
        offs[i] = rd_u(&r, 8);
    }
    if (!r.ok) return -1;
    uint64_t base = ((uint64_t)(r.p - buf) + align - 1) / align * align;
    for (uint64_t i = 0; i < nt; i++) {
        uint64_t rb, bytes;
        if (!lm_type_row_bytes(out[i].type, out[i].ne[0], &rb)) return -1;
        bytes = rb * out[i].ne[1] * out[i].ne[2] * out[i].ne[3];
        if (base + offs[i] < base || base + offs[i] + bytes > len) return -1;
        out[i].data = buf + base + offs[i];
    }
    return (int)nt;
}

static const tensor *find(const tensor *t, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0) return &t[i];
    return NULL;
}

/* Expected relative RMS error: uniform rounding noise step/sqrt(12) with
 * step ~ block max/8 (Q4_0), range/15 (Q4_K), group max/32 (Q6_K), max/127
 * (Q8_0) for weights of roughly normal shape, with ~1.5x headroom. */
static double rms_limit(uint32_t type) {
    switch (type) {
    case LM_TYPE_Q8_0: return 0.01;
    case LM_TYPE_Q6_K: return 0.035;
    case LM_TYPE_Q5_K: case LM_TYPE_Q5_0: case LM_TYPE_Q5_1: return 0.07;
    default: return 0.14;
    }
}

static void check_file(const char *quant_name, int *n_checked) {
    size_t flen = 0, qlen = 0;
    uint8_t *fbuf = (uint8_t *)lm_test_read(lm_test_path("models/tiny-llama3-f16.gguf"), &flen);
    uint8_t *qbuf = (uint8_t *)lm_test_read(lm_test_path(quant_name), &qlen);
    assert_non_null(fbuf);
    assert_non_null(qbuf);
    static tensor ft[512], qt[512];
    int nf = load_tensors(fbuf, flen, ft, 512), nq = load_tensors(qbuf, qlen, qt, 512);
    assert_true(nf > 0 && nq > 0);
    for (int i = 0; i < nq; i++) {
        const tensor *q = &qt[i], *f = find(ft, nf, q->name);
        if (q->n_dims != 2 || q->type == LM_TYPE_F32 || q->type == LM_TYPE_F16 || !f) continue;
        assert_true(lm_cpu_type_supported(q->type));
        assert_int_equal(f->type, LM_TYPE_F16);
        int64_t n = (int64_t)q->ne[0], rows = (int64_t)q->ne[1];
        uint64_t qrb, frb;
        assert_true(lm_type_row_bytes(q->type, (uint64_t)n, &qrb));
        assert_true(lm_type_row_bytes(f->type, (uint64_t)n, &frb));
        float *a = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)n);
        double se = 0.0, sx = 0.0;
        for (int64_t r = 0; r < rows; r++) {
            lm_cpu_dequant_row(q->type, q->data + qrb * (uint64_t)r, a, n);
            lm_cpu_dequant_row(f->type, f->data + frb * (uint64_t)r, b, n);
            for (int64_t k = 0; k < n; k++) {
                se += (double)(a[k] - b[k]) * (a[k] - b[k]);
                sx += (double)b[k] * b[k];
            }
        }
        double rel = sqrt(se / (sx + 1e-30));
        if (!(rel <= rms_limit(q->type)))
            fail_msg("%s %s (%s): relative rms error %.4f > %.4f", quant_name, q->name,
                     lm_type_name(q->type), rel, rms_limit(q->type));

        /* SIMD matmul on the real blocks vs the float reference (same bound
         * as test_kernels.c: activation rounding amax/254 per block). */
        int nt = 3, rr = rows < 9 ? (int)rows : 9;
        float *x = malloc(sizeof(float) * (size_t)n * (size_t)nt);
        for (int64_t k = 0; k < n * nt; k++) x[k] = (float)((k * 7919) % 2001 - 1000) * 1e-3f;
        size_t ab = lm_cpu_act_row_bytes(q->type, n);
        uint8_t *act = malloc(ab * (size_t)nt);
        float y[27], yr[27];
        for (int t = 0; t < nt; t++) lm_cpu_act_convert(q->type, x + n * t, act + ab * t, n);
        lm_cpu_matmul(q->type, q->data, n, 0, rr, act, ab, nt, y, (size_t)rr);
        lm_cpu_matmul_ref(q->type, q->data, n, 0, rr, x, (size_t)n, nt, yr, (size_t)rr);
        int64_t blk = q->type >= LM_TYPE_Q4_K && q->type <= LM_TYPE_Q6_K ? 256 : 32;
        for (int t = 0; t < nt; t++)
            for (int r = 0; r < rr; r++) {
                lm_cpu_dequant_row(q->type, q->data + qrb * (uint64_t)r, a, n);
                double bound = 0.0, mag = 0.0;
                for (int64_t k0 = 0; k0 < n; k0 += blk) {
                    double amax = 0.0, ws = 0.0;
                    for (int64_t k = k0; k < k0 + blk; k++) {
                        amax = fmax(amax, fabs(x[n * t + k]));
                        ws += fabs(a[k]);
                        mag += fabs(a[k] * x[n * t + k]);
                    }
                    bound += ws * amax / 254.0;
                }
                bound = bound * 1.0001 + 1e-4 * mag;
                double err = fabs((double)y[t * rr + r] - yr[t * rr + r]);
                if (!(err <= bound))
                    fail_msg("%s %s row %d tok %d: %g vs %g", quant_name, q->name, r, t,
                             y[t * rr + r], yr[t * rr + r]);
            }
        free(a), free(b), free(x), free(act);
        (*n_checked)++;
    }
    free(fbuf), free(qbuf);
}

static void quantized_files_match_f16(void **state) {
    (void)state;
    if (!lm_test_data_dir()) {
        printf("skipped: reference data not found\n");
        skip();
    }
    lm_cpu_isa best = lm_cpu_best_isa();
    for (int isa = LM_ISA_SCALAR; isa <= (int)best; isa++) {
        lm_cpu_set_isa((lm_cpu_isa)isa);
        int n = 0;
        check_file("models/tiny-llama3-q4_0.gguf", &n);
        check_file("models/tiny-llama3-q4_k_m.gguf", &n);
        check_file("models/tiny-llama3-q8_0.gguf", &n);
        assert_true(n >= 30); /* 2 layers x 7 matrices x 3 files, and more */
    }
    lm_cpu_set_isa(best);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(quantized_files_match_f16)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
