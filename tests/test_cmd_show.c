// labels: unit
/* test_cmd_show.c — `localm show`: the JSON description of the reference
 * models carries their README hyper-parameters, tensor types and tokenizer. */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/testdata.h"

static cJSON *show_json(const char *rel) {
    char args[1400], *out = NULL;
    snprintf(args, sizeof args, "show '%s' --json", lm_test_path(rel));
    int rc = lm_test_run_cli(args, &out);
    if (rc != 0) fail_msg("localm %s exited %d", args, rc);
    cJSON *j = cJSON_Parse(out);
    if (!j) fail_msg("not JSON: %s", out);
    free(out);
    return j;
}

static double num(const cJSON *o, const char *path1, const char *path2) {
    const cJSON *x = cJSON_GetObjectItem(o, path1);
    if (path2) x = cJSON_GetObjectItem(x, path2);
    assert_true(cJSON_IsNumber(x));
    return x->valuedouble;
}

static void show_reference_models(void **state) {
    (void)state;
    if (!lm_test_data_dir()) skip();
    cJSON *j = show_json("models/tiny-llama3-q4_k_m.gguf");
    assert_string_equal(cJSON_GetObjectItem(j, "architecture")->valuestring, "llama");
    assert_int_equal(num(j, "hparams", "n_layer"), 2);
    assert_int_equal(num(j, "hparams", "n_embd"), 256);
    assert_int_equal(num(j, "hparams", "n_ff"), 512);
    assert_int_equal(num(j, "hparams", "n_head_kv"), 2);
    assert_int_equal(num(j, "hparams", "n_vocab"), 1024);
    assert_true(
        cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "hparams"), "rope_freq_factors")));
    /* README: Q4_K_M files also hold Q6_K tensors */
    assert_true(num(j, "types", "Q4_K") > 0);
    assert_true(num(j, "types", "Q6_K") > 0);
    assert_int_equal(num(j, "n_tensors", NULL), 22);
    assert_int_equal(num(j, "tokenizer", "vocab_size"), 1024);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "chat_template")));
    cJSON_Delete(j);

    j = show_json("models/tiny-qwen2");
    assert_string_equal(cJSON_GetObjectItem(j, "source")->valuestring, "hf");
    assert_int_equal(num(j, "hparams", "n_vocab"), 1040);
    assert_true(
        cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "hparams"), "tied_embeddings")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "hparams"), "qkv_bias")));
    assert_int_equal(num(j, "types", "F16"), 26);
    cJSON_Delete(j);

    j = show_json("models/tiny-llama3-q4_0.gguf");
    /* README: the Q4_0 file holds a Q6_K output matrix */
    assert_int_equal(num(j, "types", "Q6_K"), 1);
    cJSON_Delete(j);
}

static void show_usage_and_errors(void **state) {
    (void)state;
    char *out = NULL;
    assert_int_equal(lm_test_run_cli("show --help", &out), 0);
    assert_non_null(strstr(out, "usage: localm show MODEL [--json]"));
    free(out);
    assert_int_equal(lm_test_run_cli("show /nonexistent/x.gguf 2>&1", &out), 1);
    assert_non_null(strstr(out, "LM_ERR_NOT_FOUND"));
    assert_non_null(strstr(out, "/nonexistent/x.gguf"));
    free(out);
    assert_int_equal(lm_test_run_cli("show 2>/dev/null", NULL), 2);
    assert_int_equal(lm_test_run_cli("show a b 2>/dev/null", NULL), 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(show_reference_models),
        cmocka_unit_test(show_usage_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
