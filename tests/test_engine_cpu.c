// labels: unit
/* test_engine_cpu.c — the CPU engine's contract around the forward pass:
 * probe reports the machine, check declines with a reason (memory budget,
 * architecture), bad batches are refused with the right status, and the
 * LOCALM_FAULT hook fails exactly the N-th forward call. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/engine_cpu.h"
#include "base/err.h"
#include "helpers/testdata.h"

static lm_model_desc *open_tiny(void) {
    lm_model_desc *m = NULL;
    lm_err err = {0};
    if (lm_model_open(lm_test_path("models/tiny-llama3-f16.gguf"), &m, &err) != LM_OK)
        fail_msg("open: %s", lm_err_text(&err));
    return m;
}

static void probe_reports_machine(void **state) {
    (void)state;
    lm_backend_info info;
    assert_int_equal(lm_backend_cpu()->probe(&info), LM_OK);
    assert_true(info.usable);
    assert_int_equal(info.n_devices, 1);
    assert_true(info.threads >= 1);
    assert_true(info.devices[0].mem_total > 0);
    assert_true(info.devices[0].mem_free <= info.devices[0].mem_total);
    assert_string_equal(lm_backend_cpu()->name, "cpu");
    assert_int_equal(lm_backend_cpu()->abi_version, LM_BACKEND_ABI_VERSION);
}

static void check_declines_with_reason(void **state) {
    (void)state;
    if (!lm_test_data_dir()) skip();
    lm_model_desc *m = open_tiny();
    lm_load_opts o;
    lm_load_opts_default(&o);
    lm_support s;
    assert_int_equal(lm_backend_cpu()->check(m, &o, &s), LM_OK);
    assert_true(s.ok);
    /* weights + KV at context 2048: 2 layers * 2048 * 128 * 2 (K,V) * 2 bytes */
    assert_int_equal(s.bytes_kv, 2ull * 2048 * 128 * 2 * 2);
    assert_true(s.bytes_needed > s.bytes_weights + s.bytes_kv);
    o.mem_budget = m->weight_bytes / 2;
    assert_int_equal(lm_backend_cpu()->check(m, &o, &s), LM_OK);
    assert_false(s.ok);
    assert_non_null(strstr(s.reason, "GiB"));
    lm_model_desc copy = *m;
    copy.hp.arch = LM_ARCH_UNKNOWN;
    snprintf(copy.hp.arch_name, sizeof copy.hp.arch_name, "gpt9");
    lm_load_opts_default(&o);
    assert_int_equal(lm_backend_cpu()->check(&copy, &o, &s), LM_OK);
    assert_false(s.ok);
    assert_non_null(strstr(s.reason, "gpt9"));
    lm_engine *e = NULL;
    lm_err err = {0};
    assert_int_equal(lm_backend_cpu()->load(&copy, &o, NULL, NULL, &e, &err), LM_ERR_UNSUPPORTED);
    assert_null(e);
    lm_model_free(m);
}

static void bad_batches_and_fault_hook(void **state) {
    (void)state;
    if (!lm_test_data_dir()) skip();
    lm_model_desc *m = open_tiny();
    lm_load_opts o;
    lm_load_opts_default(&o);
    o.n_ctx = 8;
    lm_engine *e = NULL;
    lm_err err = {0};
    assert_int_equal(lm_backend_cpu()->load(m, &o, NULL, NULL, &e, &err), LM_OK);
    const lm_backend_ops *be = lm_backend_cpu();
    int nv = (int)m->output->ne[1];
    float *lg = malloc(sizeof(float) * (size_t)nv * 2);
    lm_logits out = {.data = lg, .capacity = 1};
    int32_t tok[2] = {5, 6}, pos[2] = {0, 1};
    lm_batch b = {.n_tokens = 2, .tokens = tok, .pos = pos};

    /* forward call 1 (LOCALM_FAULT=forward:2 is set in main) */
    assert_int_equal(be->forward(e, &b, &out, &err), LM_OK);
    assert_int_equal(out.n_rows, 1);
    /* call 2 fails by injection, call 3 runs again */
    assert_int_equal(be->forward(e, &b, &out, &err), LM_ERR_FAULT_INJECTED);
    assert_int_equal(be->kv_seq(e, LM_KV_CLEAR, -1, 0, -1), LM_OK);
    assert_int_equal(be->forward(e, &b, &out, &err), LM_OK);

    /* more logit rows than the buffer holds */
    int8_t all[2] = {1, 1};
    lm_batch b2 = {.n_tokens = 2, .tokens = tok, .pos = (int32_t[]){2, 3}, .logits = all};
    assert_int_equal(be->forward(e, &b2, &out, &err), LM_ERR_INVALID_ARG);
    /* token id outside the vocabulary, sequence id outside n_seq_max */
    lm_batch b3 = {.n_tokens = 1, .tokens = (int32_t[]){nv}, .pos = (int32_t[]){2}};
    assert_int_equal(be->forward(e, &b3, &out, &err), LM_ERR_INVALID_ARG);
    lm_batch b4 = {.n_tokens = 1, .tokens = tok, .pos = (int32_t[]){2}, .seq = (int32_t[]){1}};
    assert_int_equal(be->forward(e, &b4, &out, &err), LM_ERR_INVALID_ARG);
    /* past the context of 8 */
    lm_batch b5 = {.n_tokens = 1, .tokens = tok, .pos = (int32_t[]){8}};
    assert_int_equal(be->forward(e, &b5, &out, &err), LM_ERR_CONTEXT_FULL);
    /* a hole in the middle of a sequence cannot be removed; a tail can */
    assert_int_equal(be->kv_seq(e, LM_KV_REMOVE, 0, 0, 1), LM_ERR_UNSUPPORTED);
    assert_int_equal(be->kv_seq(e, LM_KV_REMOVE, 0, 1, -1), LM_OK);
    lm_batch b6 = {.n_tokens = 1, .tokens = tok, .pos = (int32_t[]){1}};
    assert_int_equal(be->forward(e, &b6, &out, &err), LM_OK);
    be->unload(e);
    free(lg);
    lm_model_free(m);
}

int main(void) {
    setenv("LOCALM_FAULT", "forward:2", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(probe_reports_machine),
        cmocka_unit_test(check_declines_with_reason),
        cmocka_unit_test(bad_batches_and_fault_hook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
