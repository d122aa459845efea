/* mapfile.c — mmap of model files and bounded whole-file reads. */
#include "base/mapfile.h"
#include "base/bigalloc.h"
#include "base/err.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void fill_id(lm_file_id *id, const struct stat *st) {
    id->dev = (uint64_t)st->st_dev;
    id->ino = (uint64_t)st->st_ino;
    id->size = (uint64_t)st->st_size;
    id->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
}

/* Reads the whole file into huge-page memory (the LOCALM_MMAP=0 path). */
static lm_status read_copy(lm_mapfile *m, int fd, const char *path, lm_err *err) {
    uint8_t *buf = lm_big_alloc(m->size);
    if (!buf) return lm_fail(err, LM_ERR_NO_MEMORY, "%s: cannot allocate %zu bytes", path, m->size);
    for (size_t got = 0; got < m->size;) {
        ssize_t n = pread(fd, buf + got, m->size - got, (off_t)got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            lm_big_free(buf);
            return lm_fail(err, LM_ERR_IO, "%s: read: %s", path,
                           n < 0 ? strerror(e) : "file shorter than its size");
        }
        got += (size_t)n;
    }
    m->data = buf;
    m->copied = true;
    return LM_OK;
}

lm_status lm_mapfile_open(lm_mapfile *m, const char *path, lm_err *err) {
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lm_fail(err, errno == ENOENT ? LM_ERR_NOT_FOUND : LM_ERR_IO, "%s: %s", path,
                       strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return lm_fail(err, LM_ERR_IO, "%s: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return lm_fail(err, LM_ERR_IO, "%s: is a directory, expected a file", path);
    }
    fill_id(&m->id, &st);
    m->size = (size_t)st.st_size;
    const char *mm = getenv("LOCALM_MMAP");
    if (m->size > 0 && mm && mm[0] == '0') {
        lm_status s = read_copy(m, fd, path, err);
        close(fd);
        return s;
    }
    if (m->size > 0) {
        void *p = mmap(NULL, m->size, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return lm_fail(err, LM_ERR_IO, "%s: mmap: %s", path, strerror(e));
        }
        m->data = p;
        /* decode streams every weight once per token: huge pages (where the
         * kernel maps files with them) save a TLB miss every 4 KiB */
        lm_advise_huge(p, m->size);
    }
    close(fd);
    return LM_OK;
}

void lm_mapfile_close(lm_mapfile *m) {
    if (m && m->data && m->copied)
        lm_big_free((void *)m->data);
    else if (m && m->data)
        munmap((void *)m->data, m->size);
    if (m) memset(m, 0, sizeof *m);
}

lm_status lm_read_file(const char *path, size_t max_bytes, char **out, size_t *len, lm_err *err) {
    *out = NULL;
    if (len) *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lm_fail(err, errno == ENOENT ? LM_ERR_NOT_FOUND : LM_ERR_IO, "%s: %s", path,
                       strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        close(fd);
        return lm_fail(err, LM_ERR_IO, "%s: not a readable file", path);
    }
    if ((uint64_t)st.st_size > max_bytes) {
        close(fd);
        return lm_fail(err, LM_ERR_IO, "%s: %lld bytes is larger than the limit of %zu", path,
                       (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        return lm_fail(err, LM_ERR_NO_MEMORY, "%s: cannot allocate %zu bytes", path, n + 1);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            free(buf);
            close(fd);
            return lm_fail(err, LM_ERR_IO, "%s: short read", path);
        }
        got += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return LM_OK;
}
