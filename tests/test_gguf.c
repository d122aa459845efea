// labels: unit asan
/* test_gguf.c — the GGUF reader and writer: every metadata type round-trips,
 * arrays iterate, and hostile files fail with a message naming the fault. */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/ggml_types.h"
#include "format/gguf.h"
#include "format/gguf_write.h"
#include "helpers/testdata.h"

/* Parses a private exact-size copy so ASan flags any read past the end. */
static lm_status parse_copy(const uint8_t *buf, size_t len, lm_gguf **g, lm_err *err) {
    uint8_t *c = malloc(len ? len : 1);
    memcpy(c, buf, len);
    lm_status s = lm_gguf_parse(c, len, g, err);
    if (s == LM_OK) {
        /* Keep the copy alive with the handle: re-parse from the original. */
        lm_gguf_free(*g);
        s = lm_gguf_parse(buf, len, g, err);
    }
    free(c);
    return s;
}

static void expect_error(const uint8_t *buf, size_t len, lm_status code, const char *needle) {
    lm_gguf *g = NULL;
    lm_err e = {0};
    lm_status s = parse_copy(buf, len, &g, &e);
    if (s != code || !strstr(e.msg, needle))
        fail_msg("expected %s containing \"%s\", got %s: \"%s\"", lm_status_name(code), needle,
                 lm_status_name(s), e.msg);
    assert_null(g);
}

static uint8_t *build_all_types(size_t *len) {
    lm_gguf_writer *w = lm_gguf_writer_new();
    lm_gguf_writer_add_u8(w, "t.u8", 200);
    lm_gguf_writer_add_i8(w, "t.i8", -100);
    lm_gguf_writer_add_u16(w, "t.u16", 60000);
    lm_gguf_writer_add_i16(w, "t.i16", -30000);
    lm_gguf_writer_add_u32(w, "t.u32", 4000000000u);
    lm_gguf_writer_add_i32(w, "t.i32", -2000000000);
    lm_gguf_writer_add_u64(w, "t.u64", 18000000000000000000ull);
    lm_gguf_writer_add_i64(w, "t.i64", -9000000000000000000ll);
    lm_gguf_writer_add_f32(w, "t.f32", 1.5f);
    lm_gguf_writer_add_f64(w, "t.f64", -2.25);
    lm_gguf_writer_add_bool(w, "t.bool", true);
    lm_gguf_writer_add_str(w, "t.str", "héllo");
    const char *strs[] = {"a", "", "ccc"};
    lm_gguf_writer_add_arr_str(w, "t.arr_str", strs, NULL, 3);
    float fs[] = {0.5f, -1.0f, 3.0f, 4.5f};
    lm_gguf_writer_add_arr(w, "t.arr_f32", LM_GGUF_F32, fs, 4);
    int32_t is[] = {-1, 7};
    lm_gguf_writer_add_arr(w, "t.arr_i32", LM_GGUF_I32, is, 2);
    /* array of 2 arrays: [u8 x2 {1,2}], [u8 x1 {3}] */
    uint8_t raw[64];
    size_t n = 0;
#define U32(v) raw[n++] = (uint8_t)(v), raw[n++] = 0, raw[n++] = 0, raw[n++] = 0
#define U64(v) U32(v), raw[n++] = 0, raw[n++] = 0, raw[n++] = 0, raw[n++] = 0
    U32(LM_GGUF_ARRAY); /* element type of the outer array */
    U64(2);
    U32(LM_GGUF_U8);
    U64(2);
    raw[n++] = 1;
    raw[n++] = 2;
    U32(LM_GGUF_U8);
    U64(1);
    raw[n++] = 3;
    lm_gguf_writer_add_raw(w, "t.nested", LM_GGUF_ARRAY, raw, n);
    uint64_t ne[2] = {32, 3};
    static float tdata[96];
    for (int i = 0; i < 96; i++)
        tdata[i] = (float)i;
    lm_gguf_writer_add_tensor(w, "w.f32", LM_TYPE_F32, 2, ne, tdata);
    uint64_t ne2[1] = {64};
    lm_gguf_writer_add_tensor(w, "w.q4", LM_TYPE_Q4_0, 1, ne2, NULL);
    uint64_t ne3[1] = {256};
    lm_gguf_writer_add_tensor(w, "w.iq2", LM_TYPE_IQ2_XXS, 1, ne3, NULL);
    uint8_t *buf;
    lm_err e = {0};
    assert_int_equal(lm_gguf_writer_to_buffer(w, &buf, len, &e), LM_OK);
    lm_gguf_writer_free(w);
    return buf;
}

static void round_trip_every_type(void **state) {
    (void)state;
    size_t len;
    uint8_t *buf = build_all_types(&len);
    lm_gguf *g;
    lm_err e = {0};
    assert_int_equal(lm_gguf_parse(buf, len, &g, &e), LM_OK);
    assert_int_equal(g->version, 3);
    assert_int_equal(g->alignment, 32);
    int64_t i64;
    uint32_t u32;
    float f;
    bool b;
    assert_int_equal(lm_gguf_get_i64(g, "t.u8", &i64, &e), LM_OK);
    assert_int_equal(i64, 200);
    assert_int_equal(lm_gguf_get_i64(g, "t.i8", &i64, &e), LM_OK);
    assert_int_equal(i64, -100);
    assert_int_equal(lm_gguf_get_i64(g, "t.u16", &i64, &e), LM_OK);
    assert_int_equal(i64, 60000);
    assert_int_equal(lm_gguf_get_i64(g, "t.i16", &i64, &e), LM_OK);
    assert_int_equal(i64, -30000);
    assert_int_equal(lm_gguf_get_u32(g, "t.u32", &u32, &e), LM_OK);
    assert_int_equal(u32, 4000000000u);
    assert_int_equal(lm_gguf_get_i64(g, "t.i32", &i64, &e), LM_OK);
    assert_int_equal(i64, -2000000000);
    /* u64 beyond INT64_MAX and negative values into u32 are range errors */
    assert_int_equal(lm_gguf_get_i64(g, "t.u64", &i64, &e), LM_ERR_MODEL_FORMAT);
    assert_non_null(strstr(e.msg, "t.u64"));
    assert_int_equal(lm_gguf_get_u32(g, "t.i8", &u32, &e), LM_ERR_MODEL_FORMAT);
    assert_int_equal(lm_gguf_get_i64(g, "t.i64", &i64, &e), LM_OK);
    assert_true(i64 == -9000000000000000000ll);
    assert_int_equal(lm_gguf_get_f32(g, "t.f32", &f, &e), LM_OK);
    assert_true(f == 1.5f);
    assert_int_equal(lm_gguf_get_f32(g, "t.f64", &f, &e), LM_OK);
    assert_true(f == -2.25f);
    assert_int_equal(lm_gguf_get_bool(g, "t.bool", &b, &e), LM_OK);
    assert_true(b);
    assert_int_equal(lm_gguf_get_bool(g, "t.u8", &b, &e), LM_ERR_MODEL_FORMAT);
    const char *s;
    uint64_t sl;
    assert_int_equal(lm_gguf_get_str(g, "t.str", &s, &sl, &e), LM_OK);
    assert_int_equal(sl, 6);
    assert_memory_equal(s, "héllo", 6);
    assert_int_equal(lm_gguf_get_str(g, "missing", &s, &sl, &e), LM_ERR_NOT_FOUND);
    assert_string_equal(e.msg, "key missing is missing");

    const lm_gguf_value *a = lm_gguf_get(g, "t.arr_str");
    assert_non_null(a);
    assert_int_equal(a->elem_type, LM_GGUF_STRING);
    assert_int_equal(a->count, 3);
    lm_gguf_value v;
    assert_int_equal(lm_gguf_array_at(a, 2, &v, &e), LM_OK);
    assert_int_equal(v.size, 3);
    assert_memory_equal(v.data, "ccc", 3);
    assert_int_equal(lm_gguf_array_at(a, 3, &v, &e), LM_ERR_INVALID_ARG);
    lm_gguf_iter it;
    lm_gguf_iter_init(&it, a);
    uint64_t total = 0, n = 0;
    while (lm_gguf_iter_next(&it, &v))
        total += v.size, n++;
    assert_int_equal(n, 3);
    assert_int_equal(total, 4);

    a = lm_gguf_get(g, "t.arr_f32");
    double d;
    assert_int_equal(lm_gguf_array_at(a, 3, &v, &e), LM_OK);
    assert_int_equal(lm_gguf_value_f64(&v, "x", &d, &e), LM_OK);
    assert_true(d == 4.5);
    a = lm_gguf_get(g, "t.arr_i32");
    assert_int_equal(lm_gguf_array_at(a, 0, &v, &e), LM_OK);
    assert_int_equal(lm_gguf_value_i64(&v, "x", &i64, &e), LM_OK);
    assert_int_equal(i64, -1);

    a = lm_gguf_get(g, "t.nested");
    assert_int_equal(a->elem_type, LM_GGUF_ARRAY);
    assert_int_equal(a->count, 2);
    lm_gguf_value inner, x;
    assert_int_equal(lm_gguf_array_at(a, 1, &inner, &e), LM_OK);
    assert_int_equal(inner.count, 1);
    assert_int_equal(lm_gguf_array_at(&inner, 0, &x, &e), LM_OK);
    assert_int_equal(x.data[0], 3);
    assert_int_equal(lm_gguf_array_at(a, 0, &inner, &e), LM_OK);
    assert_int_equal(inner.count, 2);
    assert_int_equal(lm_gguf_array_at(&inner, 1, &x, &e), LM_OK);
    assert_int_equal(x.data[0], 2);

    assert_int_equal(g->n_tensors, 3);
    const lm_gguf_tensor *t = lm_gguf_find_tensor(g, "w.f32");
    assert_non_null(t);
    assert_int_equal(t->ne[0], 32);
    assert_int_equal(t->ne[1], 3);
    assert_int_equal(t->nbytes, 384);
    assert_int_equal(t->file_offset % 32, 0);
    assert_true(((const float *)t->data)[95] == 95.0f);
    t = lm_gguf_find_tensor(g, "w.q4");
    assert_int_equal(t->nbytes, 36);
    assert_int_equal(t->offset % 32, 0);
    /* Known-but-not-computable types are accepted by the reader. */
    t = lm_gguf_find_tensor(g, "w.iq2");
    assert_non_null(t);
    assert_int_equal(t->nbytes, 66);
    assert_false(lm_type_get(t->type)->compute);
    assert_true(t->file_offset + t->nbytes <= len);
    lm_gguf_free(g);
    free(buf);
}

static void version2_and_alignment(void **state) {
    (void)state;
    lm_gguf_writer *w = lm_gguf_writer_new();
    lm_gguf_writer_set_version(w, 2);
    assert_int_equal(lm_gguf_writer_set_alignment(w, 64), LM_OK);
    uint64_t ne[1] = {3};
    float d[3] = {1, 2, 3};
    lm_gguf_writer_add_tensor(w, "a", LM_TYPE_F32, 1, ne, d);
    lm_gguf_writer_add_tensor(w, "b", LM_TYPE_F32, 1, ne, d);
    uint8_t *buf;
    size_t len;
    assert_int_equal(lm_gguf_writer_to_buffer(w, &buf, &len, NULL), LM_OK);
    lm_gguf_writer_free(w);
    lm_gguf *g;
    lm_err e = {0};
    assert_int_equal(lm_gguf_parse(buf, len, &g, &e), LM_OK);
    assert_int_equal(g->version, 2);
    assert_int_equal(g->alignment, 64);
    assert_int_equal(g->data_offset % 64, 0);
    assert_int_equal(lm_gguf_find_tensor(g, "b")->offset, 64);
    assert_true(((const float *)lm_gguf_find_tensor(g, "b")->data)[2] == 3.0f);
    lm_gguf_free(g);
    free(buf);
}

/* Writes a file with one kv/tensor and returns it for mutation tests. */
static uint8_t *one_tensor_file(size_t *len, const char *key, const char *tname, uint32_t align) {
    lm_gguf_writer *w = lm_gguf_writer_new();
    if (align) lm_gguf_writer_set_alignment(w, align);
    lm_gguf_writer_add_u32(w, key, 7);
    uint64_t ne[2] = {32, 2};
    lm_gguf_writer_add_tensor(w, tname, LM_TYPE_F32, 2, ne, NULL);
    uint8_t *buf;
    assert_int_equal(lm_gguf_writer_to_buffer(w, &buf, len, NULL), LM_OK);
    lm_gguf_writer_free(w);
    return buf;
}

static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Position of the tensor entry field after the name ("blk.3.attn_q.weight"). */
static uint8_t *after_name(uint8_t *buf, size_t len, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i + n <= len; i++)
        if (!memcmp(buf + i, name, n)) return buf + i + n;
    fail_msg("name %s not found", name);
    return NULL;
}

static void hostile_headers(void **state) {
    (void)state;
    size_t len;
    uint8_t *buf = one_tensor_file(&len, "k", "blk.3.attn_q.weight", 0);
    uint8_t *m = malloc(len);

    memcpy(m, buf, len);
    m[0] = 'X';
    expect_error(m, len, LM_ERR_MODEL_FORMAT, "not a GGUF file");
    expect_error(buf, 3, LM_ERR_MODEL_FORMAT, "not a GGUF file");
    expect_error(buf, 10, LM_ERR_MODEL_FORMAT, "GGUF header");

    memcpy(m, buf, len);
    m[4] = 1;
    expect_error(m, len, LM_ERR_UNSUPPORTED, "version 1");
    m[4] = 9;
    expect_error(m, len, LM_ERR_UNSUPPORTED, "version 9");
    m[4] = 0, m[7] = 3;
    expect_error(m, len, LM_ERR_UNSUPPORTED, "big-endian");

    memcpy(m, buf, len); /* tensor count that cannot fit */
    put64(m + 8, 1ull << 62);
    expect_error(m, len, LM_ERR_MODEL_FORMAT, "tensor count 4611686018427387904 cannot fit");
    memcpy(m, buf, len); /* kv count that cannot fit */
    put64(m + 16, UINT64_MAX);
    expect_error(m, len, LM_ERR_MODEL_FORMAT, "metadata count 18446744073709551615 cannot fit");
    memcpy(m, buf, len); /* one more kv than present: the tensor entry is read as a kv */
    put64(m + 16, 2);
    expect_error(m, len, LM_ERR_MODEL_FORMAT, "tensor #0 name length");
    memcpy(m, buf, len); /* a second tensor that is not there */
    put64(m + 8, 2);
    expect_error(m, len, LM_ERR_MODEL_FORMAT, "tensor");
    memcpy(m, buf, len); /* key length past the end */
    put64(m + 24, 1ull << 40);
    expect_error(m, len, LM_ERR_MODEL_FORMAT, "metadata key #0 length 1099511627776");
    memcpy(m, buf, len); /* invalid value type */
    m[24 + 8 + 1] = 77;
    expect_error(m, len, LM_ERR_MODEL_FORMAT, "metadata key k: value type 77");
    free(m);
    free(buf);
}

static void hostile_tensors(void **state) {
    (void)state;
    size_t len;
    const char *name = "blk.3.attn_q.weight";
    uint8_t *buf = one_tensor_file(&len, "k", name, 0);
    uint8_t *m = malloc(len);
    uint8_t *f;

    memcpy(m, buf, len); /* n_dims */
    f = after_name(m, len, name);
    f[0] = 5;
    expect_error(m, len, LM_ERR_MODEL_FORMAT, "tensor blk.3.attn_q.weight: 5 dimensions");
    memcpy(m, buf, len); /* a zero dimension */
    f = after_name(m, len, name);
    put64(f + 4 + 8, 0);
    expect_error(m, len, LM_ERR_MODEL_FORMAT, "dimension 1 is zero");
    memcpy(m, buf, len); /* huge dimensions whose product overflows */
    f = after_name(m, len, name);
    put64(f + 4, 1ull << 40);
    put64(f + 12, 1ull << 40);
    expect_error(m, len, LM_ERR_MODEL_FORMAT, "dimensions overflow");
    memcpy(m, buf, len); /* huge but non-overflowing: past the end */
    f = after_name(m, len, name);
    put64(f + 4, 1ull << 30);
    expect_error(m, len, LM_ERR_MODEL_FORMAT, "is past the end of the file");
    memcpy(m, buf, len); /* unknown type */
    f = after_name(m, len, name);
    f[4 + 16] = 4;
    expect_error(m, len, LM_ERR_MODEL_FORMAT, "tensor blk.3.attn_q.weight: unknown tensor type 4");
    memcpy(m, buf, len); /* Q4_K needs rows of 256 */
    f = after_name(m, len, name);
    f[4 + 16] = LM_TYPE_Q4_K;
    expect_error(m, len, LM_ERR_MODEL_FORMAT, "row length 32 is not a multiple of the Q4_K block");
    memcpy(m, buf, len); /* offset past the end (aligned) */
    f = after_name(m, len, name);
    put64(f + 4 + 16 + 4, 1024);
    char want[200];
    snprintf(want, sizeof want,
             "tensor blk.3.attn_q.weight: offset 1024 + size 256 is past the end of the file "
             "(%zu bytes)",
             len);
    expect_error(m, len, LM_ERR_MODEL_FORMAT, want);
    memcpy(m, buf, len); /* offset near UINT64_MAX: must not wrap */
    f = after_name(m, len, name);
    put64(f + 4 + 16 + 4, UINT64_MAX - 31);
    expect_error(m, len, LM_ERR_MODEL_FORMAT, "is past the end of the file");
    memcpy(m, buf, len); /* misaligned offset */
    f = after_name(m, len, name);
    put64(f + 4 + 16 + 4, 4);
    expect_error(m, len, LM_ERR_MODEL_FORMAT, "offset 4 is not a multiple of the alignment 32");
    /* data cut off */
    expect_error(buf, len - 1, LM_ERR_MODEL_FORMAT, "is past the end of the file");
    free(m);
    free(buf);
}

static void invalid_names_and_alignment(void **state) {
    (void)state;
    size_t len;
    uint8_t *buf = one_tensor_file(&len, "bad\xff key", "t", 0);
    expect_error(buf, len, LM_ERR_MODEL_FORMAT, "metadata key #0 at byte 24 is not valid UTF-8");
    free(buf);
    buf = one_tensor_file(&len, "k", "over\xc0\xaflong", 0);
    expect_error(buf, len, LM_ERR_MODEL_FORMAT, "tensor #0 name");
    free(buf);
    buf = one_tensor_file(&len, "k", "surrogate\xed\xa0\x80", 0);
    expect_error(buf, len, LM_ERR_MODEL_FORMAT, "not valid UTF-8");
    free(buf);
    buf = one_tensor_file(&len, "k", "ünïcode✓", 0);
    lm_gguf *g;
    assert_int_equal(lm_gguf_parse(buf, len, &g, NULL), LM_OK);
    assert_non_null(lm_gguf_find_tensor(g, "ünïcode✓"));
    lm_gguf_free(g);
    free(buf);
    char longname[200];
    memset(longname, 'x', 150);
    longname[150] = 0;
    buf = one_tensor_file(&len, "k", longname, 0);
    expect_error(buf, len, LM_ERR_MODEL_FORMAT, "has length 150");
    free(buf);

    /* alignment 48 is not a power of two; 0 is not allowed */
    uint32_t bad[] = {48, 0};
    for (int i = 0; i < 2; i++) {
        lm_gguf_writer *w = lm_gguf_writer_new();
        lm_gguf_writer_add_u32(w, "general.alignment", bad[i]);
        uint8_t *b;
        assert_int_equal(lm_gguf_writer_to_buffer(w, &b, &len, NULL), LM_OK);
        lm_gguf_writer_free(w);
        expect_error(b, len, LM_ERR_MODEL_FORMAT, "must be a nonzero power of 2");
        free(b);
    }
    lm_gguf_writer *w = lm_gguf_writer_new();
    lm_gguf_writer_add_str(w, "general.alignment", "32");
    uint8_t *b;
    assert_int_equal(lm_gguf_writer_to_buffer(w, &b, &len, NULL), LM_OK);
    lm_gguf_writer_free(w);
    expect_error(b, len, LM_ERR_MODEL_FORMAT, "general.alignment is a string");
    free(b);

    /* duplicate keys and tensor names */
    w = lm_gguf_writer_new();
    lm_gguf_writer_add_u32(w, "dup", 1);
    lm_gguf_writer_add_u32(w, "dup", 2);
    uint64_t ne[1] = {4};
    lm_gguf_writer_add_tensor(w, "t", LM_TYPE_F32, 1, ne, NULL);
    lm_gguf_writer_add_tensor(w, "t", LM_TYPE_F32, 1, ne, NULL);
    assert_int_equal(lm_gguf_writer_to_buffer(w, &b, &len, NULL), LM_OK);
    lm_gguf_writer_free(w);
    expect_error(b, len, LM_ERR_MODEL_FORMAT, "metadata key dup appears twice");
    free(b);
}

static void hostile_arrays(void **state) {
    (void)state;
    uint8_t raw[160];
    size_t n = 0;
    /* array claiming 2^61 u32 elements */
    U32(LM_GGUF_U32);
    raw[n++] = 0, raw[n++] = 0, raw[n++] = 0, raw[n++] = 0;
    raw[n++] = 0, raw[n++] = 0, raw[n++] = 0, raw[n++] = 0x20;
    lm_gguf_writer *w = lm_gguf_writer_new();
    lm_gguf_writer_add_raw(w, "arr", LM_GGUF_ARRAY, raw, n);
    uint8_t *b;
    size_t len;
    assert_int_equal(lm_gguf_writer_to_buffer(w, &b, &len, NULL), LM_OK);
    lm_gguf_writer_free(w);
    expect_error(b, len, LM_ERR_MODEL_FORMAT, "metadata key arr: array of 2305843009213693952 u32");
    free(b);
    /* array of a million strings in a few bytes */
    n = 0;
    U32(LM_GGUF_STRING);
    U64(0);
    raw[n - 6] = 0x0f; /* count = 0x0f0000 */
    w = lm_gguf_writer_new();
    lm_gguf_writer_add_raw(w, "strs", LM_GGUF_ARRAY, raw, n);
    assert_int_equal(lm_gguf_writer_to_buffer(w, &b, &len, NULL), LM_OK);
    lm_gguf_writer_free(w);
    expect_error(b, len, LM_ERR_MODEL_FORMAT, "cannot fit");
    free(b);
    /* arrays nested 9 deep */
    n = 0;
    for (int i = 0; i < 9; i++) {
        U32(LM_GGUF_ARRAY);
        U64(1);
    }
    w = lm_gguf_writer_new();
    lm_gguf_writer_add_raw(w, "deep", LM_GGUF_ARRAY, raw, n);
    assert_int_equal(lm_gguf_writer_to_buffer(w, &b, &len, NULL), LM_OK);
    lm_gguf_writer_free(w);
    expect_error(b, len, LM_ERR_MODEL_FORMAT, "nested deeper than 8");
    free(b);
}

/* Every prefix at 1/64 steps of a complete file fails cleanly (never crashes). */
static void truncate_everywhere(const uint8_t *buf, size_t len) {
    for (int k = 0; k < 64; k++) {
        size_t cut = len * (size_t)k / 64;
        lm_gguf *g = NULL;
        lm_err e = {0};
        lm_status s = parse_copy(buf, cut, &g, &e);
        if (s == LM_OK) fail_msg("prefix of %zu of %zu bytes parsed", cut, len);
        assert_null(g);
        assert_true(e.msg[0] != 0);
    }
}

static void truncated_files(void **state) {
    (void)state;
    size_t len;
    uint8_t *buf = build_all_types(&len);
    truncate_everywhere(buf, len);
    free(buf);
    const char *dir = lm_test_data_dir();
    if (!dir) return; /* the built file above already covers the logic */
    const char *files[] = {"models/tiny-llama3-q4_k_m.gguf", "models/tiny-llama2-q8_0.gguf"};
    for (int i = 0; i < 2; i++) {
        char *data = lm_test_read(lm_test_path(files[i]), &len);
        assert_non_null(data);
        truncate_everywhere((const uint8_t *)data, len);
        lm_gguf *g;
        assert_int_equal(lm_gguf_parse(data, len, &g, NULL), LM_OK);
        lm_gguf_free(g);
        free(data);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_every_type),
        cmocka_unit_test(version2_and_alignment),
        cmocka_unit_test(hostile_headers),
        cmocka_unit_test(hostile_tensors),
        cmocka_unit_test(invalid_names_and_alignment),
        cmocka_unit_test(hostile_arrays),
        cmocka_unit_test(truncated_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
