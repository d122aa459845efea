// labels: unit asan
/* test_progress_bar.c — progress rendering: bar on a TTY (colour only
 * without NO_COLOR), plain lines otherwise, one plain line per 25% step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The CLI's helpers are not in the library; compile the unit here. */
#include "../src/cli/progress_bar.c"

static void formats(void **state) {
    (void)state;
    char buf[256];
    lm_progress p = {LM_PHASE_DOWNLOAD, 50, 200, "model.gguf"};
    assert_string_equal(lm_progress_format(&p, false, false, 0, buf, sizeof buf),
                        "download: 25% model.gguf");
    assert_string_equal(lm_progress_format(&p, true, false, 8, buf, sizeof buf),
                        "download [##------]  25%  model.gguf");
    assert_non_null(strstr(lm_progress_format(&p, true, true, 8, buf, sizeof buf), "\033[36m"));
    lm_progress u = {LM_PHASE_LOAD, 3, 0, "reading"};
    assert_string_equal(lm_progress_format(&u, false, false, 0, buf, sizeof buf), "load: reading");
    lm_progress over = {LM_PHASE_VERIFY, 9, 4, NULL};
    assert_string_equal(lm_progress_format(&over, false, false, 0, buf, sizeof buf),
                        "verify: 100%");
}

static void plain_lines_are_throttled(void **state) {
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    lm_progress_bar b;
    lm_progress_bar_init(&b, f);
    assert_false(b.tty);
    for (uint64_t i = 0; i <= 100; i++) {
        lm_progress p = {LM_PHASE_DOWNLOAD, i, 100, NULL};
        lm_progress_bar_update(&b, &p);
    }
    lm_progress v = {LM_PHASE_VERIFY, 1, 1, NULL};
    lm_progress_bar_update(&b, &v);
    lm_progress_bar_finish(&b);
    fclose(f);
    assert_string_equal(text, "download: 0%\ndownload: 25%\ndownload: 50%\ndownload: 75%\n"
                              "download: 100%\nverify: 100%\n");
    free(text);
}

static void no_color_is_honoured(void **state) {
    (void)state;
    assert_true(lm_progress_use_color(true, NULL));
    assert_true(lm_progress_use_color(true, ""));
    assert_false(lm_progress_use_color(true, "1"));
    assert_false(lm_progress_use_color(false, NULL));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(formats),
        cmocka_unit_test(plain_lines_are_throttled),
        cmocka_unit_test(no_color_is_honoured),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
