// labels: unit asan
/* test_download.c — lm_download against a local HTTP server started by the
 * test: resume after cuts, checksum mismatch, 404, stalls, a size-limited
 * disk and two concurrent pulls of one file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "catalog/download.h"
#include "helpers/file_server.h"
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define BODY_LEN (300 * 1024 + 17)
static unsigned char g_body[BODY_LEN];
static char g_body_sha[65];
static lm_file_server *g_srv;
static int g_port;
static char g_dir[256];

static int setup(void **state) {
    (void)state;
    unsigned s = 7;
    for (size_t i = 0; i < BODY_LEN; i++) g_body[i] = (unsigned char)(rand_r(&s) >> 7);
    snprintf(g_dir, sizeof g_dir, "/tmp/lm-dl-XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    char p[300];
    snprintf(p, sizeof p, "%s/ref", g_dir);
    FILE *f = fopen(p, "wb");
    fwrite(g_body, 1, BODY_LEN, f);
    fclose(f);
    if (lm_sha256_file(p, g_body_sha, NULL, NULL, NULL) != LM_OK) return -1;
    unlink(p);
    g_srv = lm_file_server_start(g_body, BODY_LEN);
    if (!g_srv) return -1;
    g_port = lm_file_server_port(g_srv);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    lm_file_server_stop(g_srv);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void opts_for(lm_download_opts *o, const char *path, const char *name, char *url,
                     char *dest) {
    lm_download_opts_default(o);
    sprintf(url, "http://127.0.0.1:%d%s", g_port, path);
    sprintf(dest, "%s/%s", g_dir, name);
    o->url = url;
    o->dest = dest;
    o->stall_timeout_s = 2;
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static void cut_downloads_resume_to_identical_sha(void **state) {
    (void)state;
    char url[128], dest[300], partial[320];
    lm_download_opts o;
    opts_for(&o, "/cut", "cut.bin", url, dest);
    o.expected_sha256 = g_body_sha;
    snprintf(partial, sizeof partial, "%s.partial", dest);
    lm_download_result r;
    lm_err e = {0};
    lm_status s = LM_ERR_NETWORK;
    int calls = 0;
    while (s != LM_OK && calls < 200) {
        s = lm_download(&o, &r, &e);
        calls++;
        if (s != LM_OK) {
            assert_int_equal(s, LM_ERR_NETWORK); /* a cut, never a bad file */
            assert_false(exists(dest));
        }
    }
    assert_int_equal(s, LM_OK);
    assert_true(calls > 1); /* at least one cut happened and was resumed */
    assert_string_equal(r.sha256, g_body_sha);
    assert_int_equal(r.size, BODY_LEN);
    assert_false(exists(partial));
    /* A second pull finds it complete and verified. */
    assert_int_equal(lm_download(&o, &r, &e), LM_OK);
    assert_true(r.already_present);
}

static void checksum_mismatch_deletes_partial(void **state) {
    (void)state;
    char url[128], dest[300], partial[320];
    lm_download_opts o;
    opts_for(&o, "/file", "bad.bin", url, dest);
    o.expected_sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
    snprintf(partial, sizeof partial, "%s.partial", dest);
    lm_download_result r;
    lm_err e = {0};
    assert_int_equal(lm_download(&o, &r, &e), LM_ERR_CHECKSUM);
    assert_non_null(strstr(e.msg, "sha256 mismatch"));
    assert_non_null(strstr(e.msg, "partial file deleted"));
    assert_non_null(strstr(e.msg, g_body_sha));
    assert_false(exists(dest));
    assert_false(exists(partial));
}

static void not_found_is_clear(void **state) {
    (void)state;
    char url[128], dest[300];
    lm_download_opts o;
    opts_for(&o, "/missing", "missing.bin", url, dest);
    lm_download_result r;
    lm_err e = {0};
    assert_int_equal(lm_download(&o, &r, &e), LM_ERR_NOT_FOUND);
    assert_non_null(strstr(e.msg, "404"));
    assert_false(exists(dest));
}

static void stalled_server_times_out(void **state) {
    (void)state;
    char url[128], dest[300];
    lm_download_opts o;
    opts_for(&o, "/slow", "slow.bin", url, dest);
    o.stall_timeout_s = 1;
    lm_download_result r;
    lm_err e = {0};
    assert_int_equal(lm_download(&o, &r, &e), LM_ERR_TIMEOUT);
    assert_non_null(strstr(e.msg, "no data for 1 s"));
    assert_false(exists(dest));
}

/* A full disk is simulated with RLIMIT_FSIZE in a child process: writes past
 * the limit fail with EFBIG exactly as they would with ENOSPC. */
static void full_disk_leaves_nothing_complete(void **state) {
    (void)state;
    char url[128], dest[300];
    lm_download_opts o;
    opts_for(&o, "/file", "full.bin", url, dest);
    o.expected_sha256 = g_body_sha;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {64 * 1024, 64 * 1024};
        setrlimit(RLIMIT_FSIZE, &rl);
        lm_download_result r;
        lm_err e = {0};
        lm_status s = lm_download(&o, &r, &e);
        _exit(s == LM_ERR_IO && strstr(e.msg, "writing") && strstr(e.msg, "too large") ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_false(exists(dest));
}

typedef struct pull_arg {
    lm_download_opts *o;
    lm_status s;
    lm_download_result r;
} pull_arg;

static void *pull_thread(void *p) {
    pull_arg *a = p;
    lm_err e = {0};
    a->s = lm_download(a->o, &a->r, &e);
    return NULL;
}

static void concurrent_pulls_make_one_good_file(void **state) {
    (void)state;
    char url[128], dest[300];
    lm_download_opts o;
    opts_for(&o, "/delay", "twice.bin", url, dest);
    o.expected_sha256 = g_body_sha;
    pull_arg a = {&o, LM_ERR_INTERNAL, {{0}, 0, 0, 0}}, b = a;
    pthread_t ta, tb;
    pthread_create(&ta, NULL, pull_thread, &a);
    pthread_create(&tb, NULL, pull_thread, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.s, LM_OK);
    assert_int_equal(b.s, LM_OK);
    assert_int_equal(a.r.already_present + b.r.already_present, 1);
    char sha[65];
    assert_int_equal(lm_sha256_file(dest, sha, NULL, NULL, NULL), LM_OK);
    assert_string_equal(sha, g_body_sha);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cut_downloads_resume_to_identical_sha),
        cmocka_unit_test(checksum_mismatch_deletes_partial),
        cmocka_unit_test(not_found_is_clear),
        cmocka_unit_test(stalled_server_times_out),
        cmocka_unit_test(full_disk_leaves_nothing_complete),
        cmocka_unit_test(concurrent_pulls_make_one_good_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
