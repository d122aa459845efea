/* testdata.c — test helpers: reference data location, file reads, CLI runs. */
#include "testdata.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

const char *lm_test_data_dir(void) {
    static char dir[1024];
    const char *env = getenv("LOCALM_TESTDATA");
    if (env && *env) {
        snprintf(dir, sizeof dir, "%s", env);
    } else {
        const char *src = getenv("LOCALM_SOURCE_DIR");
        snprintf(dir, sizeof dir, "%s/../shared/testdata", src ? src : LOCALM_SOURCE_DIR);
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "skipped: reference data not found (%s)\n", dir);
        return NULL;
    }
    return dir;
}

const char *lm_test_path(const char *rel) {
    static char bufs[8][1200];
    static int k;
    const char *d = lm_test_data_dir();
    char *b = bufs[k++ & 7];
    snprintf(b, sizeof bufs[0], "%s/%s", d ? d : ".", rel);
    return b;
}

char *lm_test_read(const char *path, size_t *len) {
    size_t pl = strlen(path);
    FILE *f;
    char cmd[1300];
    int is_gz = pl > 3 && !strcmp(path + pl - 3, ".gz");
    if (is_gz) {
        snprintf(cmd, sizeof cmd, "gzip -dc '%s'", path);
        f = popen(cmd, "r");
    } else {
        f = fopen(path, "rb");
    }
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n < 2) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) { free(buf); buf = NULL; }
            else buf = nb;
        }
    }
    if (is_gz) pclose(f);
    else fclose(f);
    if (!buf) return NULL;
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

int lm_test_run_cli(const char *args, char **out) {
    const char *bin = getenv("LOCALM_BIN");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' %s", bin ? bin : "localm", args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t cap = 1 << 16, n = 0, r;
    char *buf = malloc(cap);
    while (buf && (r = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += r;
        if (cap - n < 2) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) { free(buf); buf = NULL; }
            else buf = nb;
        }
    }
    int st = pclose(p);
    if (buf) buf[n] = 0;
    if (out) *out = buf;
    else free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
