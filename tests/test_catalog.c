// labels: unit asan
/* test_catalog.c — the catalog schema check (on the shipped catalog and on
 * broken variants), the embedded copy equals catalog/models.json, id
 * resolution against a disk cache, selection hints, manifests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "catalog/disk_cache.h"
#include "helpers/testdata.h"

static char *source_catalog(size_t *len) {
    const char *src = getenv("LOCALM_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/catalog/models.json", src ? src : LOCALM_SOURCE_DIR);
    char *t = lm_test_read(path, len);
    assert_non_null(t);
    return t;
}

static void shipped_catalog_passes_schema(void **state) {
    (void)state;
    size_t len;
    char *json = source_catalog(&len);
    lm_err err = {0};
    if (lm_catalog_check_schema(json, len, &err) != LM_OK) fail_msg("%s", err.msg);
    lm_catalog *c;
    assert_int_equal(lm_catalog_parse(json, len, &c, &err), LM_OK);
    assert_true(c->n_models >= 12);
    const char *must[] = {"smollm2-135m-instruct", "qwen2.5-0.5b-instruct", "qwen3-0.6b",
                          "llama-3.2-1b-instruct", "llama-3.1-8b-instruct",
                          "mistral-7b-instruct-v0.3", "tinyllama-1.1b-chat"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++) {
        const lm_catalog_model *m = lm_catalog_find(c, must[i]);
        assert_non_null(m);
        assert_non_null(lm_catalog_file_for(m, "Q4_K_M"));
        assert_non_null(lm_catalog_file_for(m, "q8_0"));
        assert_true(m->n_backends >= 1);
    }
    /* The binary carries exactly this file. */
    const lm_catalog *b = lm_catalog_builtin(&err);
    assert_non_null(b);
    assert_int_equal(b->n_models, c->n_models);
    for (int i = 0; i < c->n_models; i++) assert_string_equal(b->models[i].id, c->models[i].id);
    lm_catalog_free(c);
    free(json);
}

static const char k_ok[] =
    "{\"schema_version\":1,\"models\":[{\"id\":\"m-1\",\"name\":\"M\",\"architecture\":\"llama\","
    "\"parameters\":1000000,\"context_length\":2048,\"license\":\"mit\",\"default_quant\":"
    "\"Q8_0\",\"files\":{\"Q8_0\":{\"repo\":\"o/r\",\"file\":\"m.gguf\"%s}},\"backends\":{\"cpu\":"
    "{\"supported\":true,\"priority\":1,\"min_ram_mb\":10%s}}}%s]}";

static lm_status check_variant(const char *file_extra, const char *backend_extra,
                               const char *more_models, lm_err *err) {
    char buf[2048];
    snprintf(buf, sizeof buf, k_ok, file_extra, backend_extra, more_models);
    return lm_catalog_check_schema(buf, strlen(buf), err);
}

static void schema_rejects_violations(void **state) {
    (void)state;
    lm_err err = {0};
    assert_int_equal(check_variant("", "", "", &err), LM_OK);
    assert_int_equal(check_variant(",\"size_bytes\":123", "", "", &err), LM_OK);
    assert_int_equal(check_variant(",\"size_bytes\":-1", "", "", &err), LM_ERR_JSON);
    assert_string_equal(err.msg, "models[0].files.Q8_0.size_bytes: must be an integer in [1, "
                                 "9007199254740992]");
    assert_int_equal(check_variant(",\"size_bytes\":1.5", "", "", &err), LM_ERR_JSON);
    assert_int_equal(check_variant(",\"sha256\":\"abc\"", "", "", &err), LM_ERR_JSON);
    assert_non_null(strstr(err.msg, "sha256: must be 64 hex digits"));
    assert_int_equal(check_variant(",\"sha\":\"x\"", "", "", &err), LM_ERR_JSON);
    assert_non_null(strstr(err.msg, "unknown field \"sha\""));
    assert_int_equal(check_variant("", ",\"min_vram_mb\":0", "", &err), LM_ERR_JSON);
    assert_int_equal(check_variant("", "", ",{\"id\":\"m-1\"}", &err), LM_ERR_JSON);
    assert_non_null(strstr(err.msg, "models[1]"));
    /* Duplicate id: a full second model with the same id. */
    char dup[2048], one[1024];
    snprintf(one, sizeof one, k_ok, "", "", "");
    const char *m0 = strchr(one, '[') + 1;
    size_t mlen = strlen(m0) - 2; /* without "]}" */
    snprintf(dup, sizeof dup, "%.*s,%.*s]}", (int)(m0 - one + mlen), one, (int)mlen, m0);
    assert_int_equal(lm_catalog_check_schema(dup, strlen(dup), &err), LM_ERR_JSON);
    assert_non_null(strstr(err.msg, "repeats models[0]"));
    const char *bad_quant = "{\"schema_version\":1,\"models\":[{\"id\":\"x\",\"name\":\"x\","
                            "\"architecture\":\"llama\",\"parameters\":1000000,\"context_length\":"
                            "512,\"license\":\"x\",\"default_quant\":\"Q9\",\"files\":{\"Q9\":{}},"
                            "\"backends\":{}}]}";
    assert_int_equal(lm_catalog_check_schema(bad_quant, strlen(bad_quant), &err), LM_ERR_JSON);
    assert_non_null(strstr(err.msg, "unknown quantization"));
    assert_int_equal(lm_catalog_check_schema("[", 1, &err), LM_ERR_JSON);
}

static void resolves_to_disk_cache(void **state) {
    (void)state;
    char home[] = "/tmp/localm-cat-XXXXXX";
    assert_non_null(mkdtemp(home));
    setenv("LOCALM_HOME", home, 1);
    char path[1024];
    lm_err err = {0};
    assert_int_equal(lm_catalog_resolve("qwen2.5-0.5b-instruct:q8_0", path, sizeof path, &err),
                     LM_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "qwen2.5-0.5b-instruct (Q8_0) is not downloaded"));
    assert_non_null(strstr(err.msg, "localm pull qwen2.5-0.5b-instruct:Q8_0"));
    assert_int_equal(lm_catalog_resolve("no-such-model", path, sizeof path, &err), LM_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "not a file, a folder or a catalog id"));
    assert_int_equal(lm_catalog_resolve("qwen3-0.6b:Q2_K", path, sizeof path, &err),
                     LM_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "available: Q4_K_M, Q8_0"));
    /* Put the file where the cache keeps it, with its manifest. */
    char dir[1024];
    assert_int_equal(lm_disk_cache_model_dir("qwen3-0.6b", "Q4_K_M", dir, sizeof dir, &err), LM_OK);
    lm_manifest m = {0};
    snprintf(m.id, sizeof m.id, "qwen3-0.6b");
    snprintf(m.quant, sizeof m.quant, "Q4_K_M");
    snprintf(m.source, sizeof m.source, "hf://bartowski/Qwen_Qwen3-0.6B-GGUF/Qwen_Qwen3-0.6B-Q4_K_M.gguf");
    snprintf(m.file, sizeof m.file, "Qwen_Qwen3-0.6B-Q4_K_M.gguf");
    m.size = 4;
    snprintf(m.date, sizeof m.date, "2026-01-01T00:00:00Z");
    assert_int_equal(lm_manifest_write(dir, &m, &err), LM_OK);
    char fpath[1400];
    snprintf(fpath, sizeof fpath, "%s/%s", dir, m.file);
    FILE *f = fopen(fpath, "wb");
    fputs("GGUF", f);
    fclose(f);
    assert_int_equal(lm_catalog_resolve("qwen3-0.6b", path, sizeof path, &err), LM_OK);
    assert_string_equal(path, fpath);
    lm_manifest back;
    assert_int_equal(lm_manifest_read(dir, &back, &err), LM_OK);
    assert_string_equal(back.source, m.source);
    assert_true(back.size == 4);
    assert_string_equal(back.date, m.date);
    /* Hints by id and by the file name of a path. */
    lm_select_hint h[8];
    int n = lm_catalog_hints("qwen3-0.6b", h, 8);
    assert_int_equal(n, 2);
    n = lm_catalog_hints(fpath, h, 8);
    assert_int_equal(n, 2);
    assert_string_equal(h[0].backend, "cuda");
    assert_int_equal(lm_catalog_hints("/x/unknown.gguf", h, 8), 0);
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
    assert_int_equal(system(cmd), 0);
    unsetenv("LOCALM_HOME");
}

static void home_defaults(void **state) {
    (void)state;
    char buf[1024];
    unsetenv("LOCALM_HOME");
    setenv("XDG_CACHE_HOME", "/x/cache", 1);
    assert_int_equal(lm_disk_cache_home(buf, sizeof buf, NULL), LM_OK);
    assert_string_equal(buf, "/x/cache/localm");
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", "/home/u", 1);
    assert_int_equal(lm_disk_cache_home(buf, sizeof buf, NULL), LM_OK);
    assert_string_equal(buf, "/home/u/.cache/localm");
    lm_err err = {0};
    assert_int_equal(lm_disk_cache_model_dir("../etc", "Q8_0", buf, sizeof buf, &err),
                     LM_ERR_INVALID_ARG);
    lm_manifest m;
    const char *evil = "{\"source\":\"x\",\"file\":\"../../x\",\"size\":1}";
    assert_int_equal(lm_manifest_parse(evil, strlen(evil), &m, &err), LM_ERR_JSON);
    const char *neg = "{\"source\":\"x\",\"file\":\"a.gguf\",\"size\":-3}";
    assert_int_equal(lm_manifest_parse(neg, strlen(neg), &m, &err), LM_ERR_JSON);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shipped_catalog_passes_schema),
        cmocka_unit_test(schema_rejects_violations),
        cmocka_unit_test(resolves_to_disk_cache),
        cmocka_unit_test(home_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
