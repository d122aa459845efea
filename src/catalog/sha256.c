/* sha256.c — streaming sha256 of files with OpenSSL's EVP interface. */
#include "base/err.h"
#include "catalog/download.h"
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

lm_status lm_sha256_file(const char *path, char hex[65], lm_progress_fn fn, void *user,
                         lm_err *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return lm_fail(err, LM_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    uint64_t total = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    lm_status s = LM_OK;
    if (!ctx || !buf || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        s = lm_fail(err, LM_ERR_NO_MEMORY, "sha256: cannot initialise");
        goto done;
    }
    uint64_t done_bytes = 0;
    for (;;) {
        ssize_t r = read(fd, buf, CHUNK);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            s = lm_fail(err, LM_ERR_IO, "%s: read: %s", path, strerror(errno));
            goto done;
        }
        if (r == 0) break;
        EVP_DigestUpdate(ctx, buf, (size_t)r);
        done_bytes += (uint64_t)r;
        if (fn) {
            lm_progress ev = {LM_PHASE_VERIFY, done_bytes, total, "sha256"};
            if (fn(&ev, user)) {
                s = lm_fail(err, LM_ERR_CANCELLED, "sha256 of %s cancelled", path);
                goto done;
            }
        }
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    for (unsigned i = 0; i < mdlen && i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    hex[64] = 0;
done:
    free(buf);
    EVP_MD_CTX_free(ctx);
    close(fd);
    return s;
}
