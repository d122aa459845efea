/* demo_model.c — materialises the embedded demo model in the disk cache. */
#include "model/demo_model.h"
#include "base/err.h"
#include "catalog/disk_cache.h"
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Defined by the file tools/embed.cmake generates from embed.cmake's
 * lm_embed(lm_demo_model_gguf ...). Not weak: a weak reference would not pull
 * that object out of the static library, and the model would silently vanish. */
extern const unsigned char lm_demo_model_gguf[];
extern const size_t lm_demo_model_gguf_len;

bool lm_demo_model_available(void) {
    return lm_demo_model_gguf_len > 0;
}

const unsigned char *lm_demo_model_bytes(size_t *len) {
    if (!lm_demo_model_available()) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = lm_demo_model_gguf_len;
    return lm_demo_model_gguf;
}

/* The hash names the cached file, so a new model in a new build never reuses
 * an old file; it is computed once per process (19 MB take ~50 ms). */
static char g_hex[13];
static int g_hash_ok;
static pthread_once_t g_hash_once = PTHREAD_ONCE_INIT;

static void hash_once(void) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(lm_demo_model_gguf, lm_demo_model_gguf_len, md, &n, EVP_sha256(), NULL) != 1 ||
        n < 6)
        return;
    for (int i = 0; i < 6; i++)
        snprintf(g_hex + 2 * i, 3, "%02x", md[i]);
    g_hash_ok = 1;
}

static lm_status write_all(int fd, const unsigned char *p, size_t n, const char *path,
                           lm_err *err) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return lm_fail(err, LM_ERR_IO, "write %s: %s", path, strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return LM_OK;
}

lm_status lm_demo_model_path(char *out, size_t cap, lm_err *err) {
    if (!out || cap == 0) return lm_fail(err, LM_ERR_INVALID_ARG, "no output buffer");
    if (!lm_demo_model_available())
        return lm_fail(err, LM_ERR_NOT_FOUND, "this build does not embed the demo model");
    pthread_once(&g_hash_once, hash_once);
    if (!g_hash_ok) return lm_fail(err, LM_ERR_INTERNAL, "sha256 of the demo model failed");

    char home[1024], dir[1100];
    lm_status st = lm_disk_cache_home(home, sizeof home, err);
    if (st != LM_OK) return st;
    if (snprintf(dir, sizeof dir, "%s/models", home) >= (int)sizeof dir)
        return lm_fail(err, LM_ERR_INVALID_ARG, "cache path too long: %s", home);
    int n = snprintf(out, cap, "%s/%s-%s.gguf", dir, LM_DEMO_MODEL_ID, g_hex);
    if (n < 0 || (size_t)n >= cap)
        return lm_fail(err, LM_ERR_INVALID_ARG, "path buffer of %zu bytes is too small", cap);

    struct stat sb;
    if (stat(out, &sb) == 0 && S_ISREG(sb.st_mode) &&
        (uint64_t)sb.st_size == lm_demo_model_gguf_len)
        return LM_OK;

    st = lm_disk_cache_mkdirs(dir, err);
    if (st != LM_OK) return st;
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", out, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return lm_fail(err, LM_ERR_IO, "create %s: %s", tmp, strerror(errno));
    st = write_all(fd, lm_demo_model_gguf, lm_demo_model_gguf_len, tmp, err);
    if (close(fd) != 0 && st == LM_OK)
        st = lm_fail(err, LM_ERR_IO, "close %s: %s", tmp, strerror(errno));
    if (st == LM_OK && rename(tmp, out) != 0)
        st = lm_fail(err, LM_ERR_IO, "rename %s to %s: %s", tmp, out, strerror(errno));
    if (st != LM_OK) unlink(tmp);
    return st;
}
