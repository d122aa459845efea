/* testdata.h — locating ../shared/testdata (or $LOCALM_TESTDATA) and running
 * the localm binary from tests. */
#ifndef LM_TESTS_TESTDATA_H
#define LM_TESTS_TESTDATA_H
#include <stddef.h>

/* The reference data folder, or NULL when absent (tests then print
 * "skipped: reference data not found" and skip). */
const char *lm_test_data_dir(void);
/* dir/rel into a static buffer (one of 8 rotating buffers). */
const char *lm_test_path(const char *rel);
/* Reads a whole file (gzip-compressed when it ends in .gz); NULL on failure. */
char *lm_test_read(const char *path, size_t *len);
/* Runs `$LOCALM_BIN ARGS` through the shell, captures stdout (malloc'd) and
 * returns the exit status (-1 if it could not run). */
int lm_test_run_cli(const char *args, char **out);
#endif
