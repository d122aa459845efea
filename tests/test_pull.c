// labels: unit asan
/* test_pull.c — `localm pull` semantics against a local server standing in for
 * the hub (LOCALM_HF_ENDPOINT): hf:// references land in the disk cache with a
 * manifest, resume after cuts, offline never touches the network, a catalog
 * file whose bytes do not match is rejected, and rm deletes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "catalog/catalog.h"
#include "catalog/disk_cache.h"
#include "catalog/download.h"
#include "catalog/pull.h"
#include "helpers/file_server.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BODY_LEN (200 * 1024 + 3)
static unsigned char g_body[BODY_LEN];
static char g_sha[65], g_home[256];
static lm_file_server *g_srv;

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static int setup(void **state) {
    (void)state;
    unsigned s = 99;
    for (size_t i = 0; i < BODY_LEN; i++) g_body[i] = (unsigned char)(rand_r(&s) >> 5);
    snprintf(g_home, sizeof g_home, "/tmp/lm-pull-XXXXXX");
    if (!mkdtemp(g_home)) return -1;
    char p[300];
    snprintf(p, sizeof p, "%s/ref.bin", g_home);
    FILE *f = fopen(p, "wb");
    fwrite(g_body, 1, BODY_LEN, f);
    fclose(f);
    lm_sha256_file(p, g_sha, NULL, NULL, NULL);
    remove(p);
    g_srv = lm_file_server_start(g_body, BODY_LEN);
    if (!g_srv) return -1;
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", lm_file_server_port(g_srv));
    setenv("LOCALM_HF_ENDPOINT", ep, 1);
    setenv("LOCALM_HOME", g_home, 1);
    unsetenv("LOCALM_OFFLINE");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    lm_file_server_stop(g_srv);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_home);
    return system(cmd) == 0 ? 0 : -1;
}

static void hf_reference_lands_in_cache_with_manifest(void **state) {
    (void)state;
    lm_pull_result r;
    lm_err e = {0};
    assert_int_equal(lm_pull("hf://owner/repo/model-Q4_K_M.gguf", false, NULL, NULL, &r, &e), LM_OK);
    assert_false(r.already_present);
    assert_string_equal(r.sha256, g_sha);
    assert_int_equal(r.size, BODY_LEN);
    assert_non_null(strstr(r.path, g_home));
    assert_true(exists(r.path));
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", r.path);
    *strrchr(dir, '/') = 0;
    lm_manifest m;
    assert_int_equal(lm_manifest_read(dir, &m, &e), LM_OK);
    assert_string_equal(m.source, "hf://owner/repo/model-Q4_K_M.gguf");
    assert_string_equal(m.sha256, g_sha);
    assert_int_equal(m.size, BODY_LEN);
    /* Again: verified in place, nothing downloaded. */
    int before = lm_file_server_requests(g_srv);
    lm_pull_result r2;
    assert_int_equal(lm_pull("hf://owner/repo/model-Q4_K_M.gguf", false, NULL, NULL, &r2, &e), LM_OK);
    assert_true(r2.already_present);
    assert_int_equal(lm_file_server_requests(g_srv), before);
    /* The reference resolves to the cached file everywhere. */
    char path[1024];
    assert_int_equal(lm_model_ref_resolve("hf://owner/repo/model-Q4_K_M.gguf", false, NULL, NULL,
                                          path, sizeof path, &e),
                     LM_OK);
    assert_string_equal(path, r.path);
}

static void cut_transfers_resume(void **state) {
    (void)state;
    lm_pull_result r;
    lm_err e = {0};
    lm_status s = LM_ERR_NETWORK;
    int tries = 0;
    while (s != LM_OK && tries++ < 200) s = lm_pull("hf://owner/cut/m.gguf", false, NULL, NULL, &r, &e);
    assert_int_equal(s, LM_OK);
    assert_string_equal(r.sha256, g_sha);
}

static void offline_never_touches_the_network(void **state) {
    (void)state;
    int before = lm_file_server_requests(g_srv);
    lm_pull_result r;
    lm_err e = {0};
    assert_int_equal(lm_pull("hf://owner/repo/other.gguf", true, NULL, NULL, &r, &e), LM_ERR_NETWORK);
    assert_non_null(strstr(e.msg, "offline"));
    setenv("LOCALM_OFFLINE", "1", 1);
    char path[1024];
    assert_int_equal(lm_model_ref_resolve("hf://owner/repo/other.gguf", true, NULL, NULL, path,
                                          sizeof path, &e),
                     LM_ERR_NOT_FOUND);
    assert_non_null(strstr(e.msg, "LOCALM_OFFLINE"));
    unsetenv("LOCALM_OFFLINE");
    assert_int_equal(lm_file_server_requests(g_srv), before);
}

static void missing_file_is_a_clear_404(void **state) {
    (void)state;
    lm_pull_result r;
    lm_err e = {0};
    assert_int_equal(lm_pull("hf://owner/repo/missing.gguf", false, NULL, NULL, &r, &e),
                     LM_ERR_NOT_FOUND);
    assert_non_null(strstr(e.msg, "404"));
    assert_false(exists(r.path));
}

static void bad_references_are_refused(void **state) {
    (void)state;
    lm_pull_result r;
    lm_err e = {0};
    assert_int_equal(lm_pull("hf://owner", false, NULL, NULL, &r, &e), LM_ERR_INVALID_ARG);
    assert_int_equal(lm_pull("hf://owner/repo/../../etc/passwd", false, NULL, NULL, &r, &e),
                     LM_ERR_INVALID_ARG);
    assert_int_equal(lm_pull("no-such-catalog-id", false, NULL, NULL, &r, &e), LM_ERR_NOT_FOUND);
}

/* A catalog id is fetched from {endpoint}/REPO/resolve/main/FILE into the
 * catalog's cache folder, where lm_catalog_resolve then finds it; when the
 * catalog records a size or sha256 that the bytes do not match, they are
 * rejected and nothing is kept. */
static void catalog_id_lands_where_the_catalog_looks(void **state) {
    (void)state;
    const lm_catalog *c = lm_catalog_builtin(NULL);
    assert_non_null(c);
    const lm_catalog_model *m = NULL;
    for (int i = 0; i < c->n_models && !m; i++)
        if (!c->models[i].files[0].embedded) m = &c->models[i];
    assert_non_null(m);
    const lm_catalog_file *f = lm_catalog_file_for(m, NULL);
    assert_non_null(f);
    char ref[128];
    snprintf(ref, sizeof ref, "%s:%s", m->id, f->quant);
    lm_pull_result r;
    lm_err e = {0};
    lm_status st = lm_pull(ref, false, NULL, NULL, &r, &e);
    if (f->size_bytes || f->sha256[0]) {
        assert_int_equal(st, LM_ERR_CHECKSUM);
        assert_false(exists(r.path));
        return;
    }
    assert_int_equal(st, LM_OK);
    assert_string_equal(r.sha256, g_sha);
    char path[1024];
    assert_int_equal(lm_catalog_resolve(ref, path, sizeof path, &e), LM_OK);
    assert_string_equal(path, r.path);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", r.path);
    *strrchr(dir, '/') = 0;
    lm_manifest man;
    assert_int_equal(lm_manifest_read(dir, &man, &e), LM_OK);
    char src[512];
    snprintf(src, sizeof src, "hf://%s/%s", f->repo, f->file);
    assert_string_equal(man.source, src);
    assert_string_equal(man.id, m->id);
}

static void rm_deletes(void **state) {
    (void)state;
    lm_pull_result r;
    lm_err e = {0};
    assert_int_equal(lm_pull("hf://owner/repo/gone.gguf", false, NULL, NULL, &r, &e), LM_OK);
    char removed[1024];
    assert_int_equal(lm_pull_remove("hf://owner/repo/gone.gguf", removed, sizeof removed, &e), LM_OK);
    assert_string_equal(removed, r.path);
    assert_false(exists(r.path));
    char path[1024];
    assert_int_equal(lm_model_ref_resolve("hf://owner/repo/gone.gguf", false, NULL, NULL, path,
                                          sizeof path, &e),
                     LM_ERR_NOT_FOUND);
    assert_int_equal(lm_pull_remove("hf://owner/repo/gone.gguf", removed, sizeof removed, &e),
                     LM_ERR_NOT_FOUND);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hf_reference_lands_in_cache_with_manifest),
        cmocka_unit_test(cut_transfers_resume),
        cmocka_unit_test(offline_never_touches_the_network),
        cmocka_unit_test(missing_file_is_a_clear_404),
        cmocka_unit_test(bad_references_are_refused),
        cmocka_unit_test(catalog_id_lands_where_the_catalog_looks),
        cmocka_unit_test(rm_deletes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
