// labels: unit data
/* test_cli_run.c — `localm run` end to end on the reference tiny-llama3 model:
 * greedy text equals the decoded reference continuation, the backend line
 * explains why cuda is not used, LOCALM_FAULT=forward:5 fails over and prints
 * the same text, and Ctrl-C still prints the stats. Skips without data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers/testdata.h"
#include "model/model_desc.h"
#include "model/tokenizer.h"

static char g_home[64];

static int setup(void **state) {
    (void)state;
    /* Keep the bandwidth figure the CLI caches out of the user's cache. */
    snprintf(g_home, sizeof g_home, "/tmp/localm-run-XXXXXX");
    if (!mkdtemp(g_home)) return -1;
    setenv("LOCALM_HOME", g_home, 1);
    unsetenv("LOCALM_BACKEND");
    unsetenv("LOCALM_FAULT");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_home);
    return system(cmd) == 0 ? 0 : -1;
}

/* The reference continuation of "The jury said" as text: greedy ids up to
 * the first step whose margin is below 1e-3 (where fp rounding may pick the
 * other token), decoded with the model's tokenizer. */
static char *expected_text(const char *model) {
    size_t len;
    char *json = lm_test_read(lm_test_path("refs/tiny-llama3.json"), &len);
    assert_non_null(json);
    cJSON *root = cJSON_Parse(json);
    free(json);
    const cJSON *p0 = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "prompts"), 0);
    assert_string_equal(cJSON_GetObjectItem(p0, "prompt")->valuestring, "The jury said");
    const cJSON *greedy = cJSON_GetObjectItem(p0, "greedy");
    const cJSON *margins = cJSON_GetObjectItem(p0, "greedy_margins");
    lm_model_desc *d;
    lm_err err = {0};
    assert_int_equal(lm_model_open(model, &d, &err), LM_OK);
    int32_t ids[16];
    int n = 0;
    for (; n < 16; n++) {
        ids[n] = cJSON_GetArrayItem(greedy, n)->valueint;
        if (cJSON_GetArrayItem(margins, n)->valuedouble < 1e-3 ||
            lm_tokenizer_is_eog(d->tokenizer, ids[n]))
            break;
    }
    assert_true(n >= 8); /* enough to mean something */
    char *text;
    size_t tl;
    assert_int_equal(lm_detokenize(d->tokenizer, ids, (size_t)n, true, &text, &tl, &err), LM_OK);
    lm_model_free(d);
    cJSON_Delete(root);
    return text;
}

static char *slurp(const char *path) {
    size_t len;
    char *t = lm_test_read(path, &len);
    assert_non_null(t);
    return t;
}

static void greedy_run_and_failover_print_the_same_text(void **state) {
    (void)state;
    if (!lm_test_data_dir()) skip();
    const char *model = lm_test_path("models/tiny-llama3-f16.gguf");
    char *want = expected_text(model);
    char args[2048], errf[128];
    snprintf(errf, sizeof errf, "%s/clean.err", g_home);
    snprintf(args, sizeof args, "run -m '%s' -p 'The jury said' -n 16 --temp 0 2>'%s'", model,
             errf);
    char *clean = NULL;
    assert_int_equal(lm_test_run_cli(args, &clean), 0);
    assert_non_null(clean);
    if (strncmp(clean, want, strlen(want)) != 0)
        fail_msg("run printed '%s', the reference continuation is '%s'", clean, want);
    char *err = slurp(errf);
    /* No GPU here (or no CUDA engine in this build): cuda declines, loudly. */
    assert_non_null(strstr(err, "backend: cpu (cuda: declined — "));
    assert_non_null(strstr(err, "prompt 6 tokens"));
    assert_non_null(strstr(err, "decode "));
    free(err);

    snprintf(errf, sizeof errf, "%s/fault.err", g_home);
    snprintf(args, sizeof args,
             "run -m '%s' -p 'The jury said' -n 16 --temp 0 2>'%s'", model, errf);
    setenv("LOCALM_FAULT", "forward:5", 1);
    char *faulted = NULL;
    assert_int_equal(lm_test_run_cli(args, &faulted), 0);
    unsetenv("LOCALM_FAULT");
    assert_string_equal(faulted, clean);
    err = slurp(errf);
    assert_non_null(strstr(err, "cpu: failed — forward failed after 4 generated tokens"));
    assert_non_null(strstr(err, "fault injected by LOCALM_FAULT"));
    free(err);
    free(faulted);
    free(clean);
    free(want);
}

static void ctrl_c_stops_and_prints_stats(void **state) {
    (void)state;
    if (!lm_test_data_dir()) skip();
    const char *model = lm_test_path("models/tiny-llama3-f16.gguf");
    const char *bin = getenv("LOCALM_BIN");
    char cmd[3000];
    /* Interrupt a long generation once text is streaming. */
    snprintf(cmd, sizeof cmd,
             "'%s' run -m '%s' -p 'The jury said' -n 100000 --temp 0 >'%s/out' 2>'%s/err' & "
             "pid=$!; for i in $(seq 100); do [ -s '%s/out' ] && break; sleep 0.1; done; "
             "kill -INT $pid; wait $pid; echo $? >'%s/rc'",
             bin, model, g_home, g_home, g_home, g_home);
    assert_int_equal(system(cmd), 0);
    char path[128];
    snprintf(path, sizeof path, "%s/rc", g_home);
    char *rc = slurp(path);
    assert_int_equal(atoi(rc), 130);
    snprintf(path, sizeof path, "%s/err", g_home);
    char *err = slurp(path);
    assert_non_null(strstr(err, "[cancelled]"));
    assert_non_null(strstr(err, "generated, decode"));
    free(err);
    free(rc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(greedy_run_and_failover_print_the_same_text, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(ctrl_c_stops_and_prints_stats, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
