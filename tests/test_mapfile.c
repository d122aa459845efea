// labels: unit asan
/* test_mapfile.c — model files mapped (default) and read into memory
 * (LOCALM_MMAP=0) give the same bytes, size and identity; errors are clean. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/mapfile.h"

static void write_file(const char *path, const uint8_t *p, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static void mapped_and_copied_agree(void **state) {
    (void)state;
    char path[] = "/tmp/localm-mapfile-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    size_t n = (3u << 20) + 12345; /* over one huge page, not a multiple of it */
    uint8_t *src = malloc(n);
    for (size_t i = 0; i < n; i++)
        src[i] = (uint8_t)(i * 2654435761u >> 13);
    write_file(path, src, n);
    lm_mapfile a, b;
    lm_err err = {0};
    unsetenv("LOCALM_MMAP");
    assert_int_equal(lm_mapfile_open(&a, path, &err), LM_OK);
    setenv("LOCALM_MMAP", "0", 1);
    assert_int_equal(lm_mapfile_open(&b, path, &err), LM_OK);
    unsetenv("LOCALM_MMAP");
    assert_false(a.copied);
    assert_true(b.copied);
    assert_int_equal(a.size, n);
    assert_int_equal(b.size, n);
    assert_memory_equal(a.data, src, n);
    assert_memory_equal(b.data, src, n);
    assert_memory_equal(&a.id, &b.id, sizeof a.id);
    lm_mapfile_close(&a);
    lm_mapfile_close(&b);
    assert_null(b.data);
    /* an empty file has no data either way */
    write_file(path, src, 0);
    setenv("LOCALM_MMAP", "0", 1);
    assert_int_equal(lm_mapfile_open(&b, path, &err), LM_OK);
    assert_null(b.data);
    assert_int_equal(b.size, 0);
    lm_mapfile_close(&b);
    /* a missing file is NOT_FOUND with its name */
    unlink(path);
    assert_int_equal(lm_mapfile_open(&b, path, &err), LM_ERR_NOT_FOUND);
    assert_non_null(strstr(lm_err_text(&err), "localm-mapfile"));
    unsetenv("LOCALM_MMAP");
    free(src);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(mapped_and_copied_agree)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
