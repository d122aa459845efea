// labels: unit asan
/* test_status.c — status names/messages are complete and lm_fail formats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "base/checked.h"
#include "base/err.h"
#include "format/ggml_types.h"

static void every_status_has_name_and_message(void **state) {
    (void)state;
    for (int s = 0; s < LM_STATUS_COUNT; s++) {
        assert_string_not_equal(lm_status_name((lm_status)s), "LM_UNKNOWN_STATUS");
        assert_string_not_equal(lm_status_message((lm_status)s), "unknown status");
    }
    assert_string_equal(lm_status_name(LM_ERR_MODEL_FORMAT), "LM_ERR_MODEL_FORMAT");
    assert_string_equal(lm_status_name((lm_status)9999), "LM_UNKNOWN_STATUS");
}

static void fail_records_detail(void **state) {
    (void)state;
    lm_err e = {0};
    lm_status s = lm_fail(&e, LM_ERR_IO, "file %s: %d", "x.gguf", 7);
    assert_int_equal(s, LM_ERR_IO);
    assert_int_equal(e.code, LM_ERR_IO);
    assert_string_equal(e.msg, "file x.gguf: 7");
    lm_err_prefix(&e, "loading %s", "m");
    assert_string_equal(e.msg, "loading m: file x.gguf: 7");
    assert_int_equal(lm_fail(NULL, LM_ERR_JSON, "ignored"), LM_ERR_JSON);
}

static void checked_arithmetic(void **state) {
    (void)state;
    uint64_t r;
    assert_true(lm_add_u64(1, 2, &r) && r == 3);
    assert_false(lm_add_u64(UINT64_MAX, 1, &r));
    assert_false(lm_mul_u64(UINT64_MAX / 2, 3, &r));
    assert_true(lm_range_ok(10, 5, 15));
    assert_false(lm_range_ok(10, 6, 15));
    assert_false(lm_range_ok(UINT64_MAX, 2, UINT64_MAX));
}

static void type_geometry(void **state) {
    (void)state;
    uint64_t b;
    assert_true(lm_type_row_bytes(LM_TYPE_Q4_0, 64, &b) && b == 36);
    assert_true(lm_type_row_bytes(LM_TYPE_Q4_K, 512, &b) && b == 288);
    assert_true(lm_type_row_bytes(LM_TYPE_Q6_K, 256, &b) && b == 210);
    assert_false(lm_type_row_bytes(LM_TYPE_Q4_K, 100, &b));
    assert_false(lm_type_row_bytes(4, 32, &b)); /* 4 and 5 were removed types */
    assert_int_equal(lm_type_from_name("q8_0"), LM_TYPE_Q8_0);
    assert_int_equal(lm_type_from_name("nope"), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_status_has_name_and_message),
        cmocka_unit_test(fail_records_detail),
        cmocka_unit_test(checked_arithmetic),
        cmocka_unit_test(type_geometry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
