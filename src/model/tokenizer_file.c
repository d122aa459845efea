/* tokenizer_file.c — lm_tokenizer_from_file: reads tokenizer.json (plain or
 * gzip-compressed) and the tokenizer_config.json beside it. */
#include "base/err.h"
#include "model/tokenizer_impl.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define MAX_JSON_BYTES (1ull << 30)

static lm_status read_all(const char *path, char **buf, size_t *len, lm_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return lm_fail(err, errno == ENOENT ? LM_ERR_NOT_FOUND : LM_ERR_IO, "%s: %s", path,
                       strerror(errno));
    size_t cap = 1 << 16, n = 0, r;
    char *b = malloc(cap);
    while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = cap < MAX_JSON_BYTES ? realloc(b, cap * 2) : NULL;
            if (!nb) {
                free(b);
                b = NULL;
            } else {
                b = nb;
                cap *= 2;
            }
        }
    }
    bool bad = ferror(f);
    fclose(f);
    if (!b || bad) {
        free(b);
        return lm_fail(err, bad ? LM_ERR_IO : LM_ERR_NO_MEMORY, "%s: read failed", path);
    }
    *buf = b;
    *len = n;
    return LM_OK;
}

static lm_status gunzip(const char *path, const char *in, size_t n, char **out, size_t *out_len,
                        lm_err *err) {
    z_stream z = {0};
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return lm_fail(err, LM_ERR_NO_MEMORY, "%s: zlib init", path);
    size_t cap = n * 4 + 1024, len = 0;
    char *b = malloc(cap);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    int rc = Z_OK;
    while (b && rc == Z_OK) {
        if (len == cap) {
            char *nb = cap < MAX_JSON_BYTES ? realloc(b, cap * 2) : NULL;
            if (!nb) break;
            b = nb;
            cap *= 2;
        }
        z.next_out = (Bytef *)b + len;
        z.avail_out = (uInt)(cap - len);
        rc = inflate(&z, Z_NO_FLUSH);
        len = cap - z.avail_out;
        if (rc == Z_BUF_ERROR && z.avail_out > 0) break;
        if (rc == Z_BUF_ERROR) rc = Z_OK;
    }
    inflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(b);
        return lm_fail(err, LM_ERR_TOKENIZER, "%s: gzip data is corrupt or too large", path);
    }
    *out = b;
    *out_len = len;
    return LM_OK;
}

lm_status lm_tokenizer_from_file(const char *path, lm_tokenizer **out, lm_err *err) {
    if (!path || !out) return lm_fail(err, LM_ERR_INVALID_ARG, "lm_tokenizer_from_file: NULL");
    char *buf = NULL, *cfg = NULL;
    size_t len = 0, cfg_len = 0;
    lm_status st = read_all(path, &buf, &len, err);
    if (st != LM_OK) return st;
    size_t pl = strlen(path);
    if (pl > 3 && !strcmp(path + pl - 3, ".gz")) {
        char *plain = NULL;
        size_t plen = 0;
        st = gunzip(path, buf, len, &plain, &plen, err);
        free(buf);
        if (st != LM_OK) return st;
        buf = plain;
        len = plen;
    }
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path) + 1 : 0;
    char *cpath = malloc(dl + 32);
    if (cpath) {
        memcpy(cpath, path, dl);
        strcpy(cpath + dl, "tokenizer_config.json");
        if (read_all(cpath, &cfg, &cfg_len, NULL) != LM_OK) cfg = NULL;
        free(cpath);
    }
    st = lm_tokenizer_from_json(buf, len, cfg, cfg_len, out, err);
    if (st != LM_OK) lm_err_prefix(err, "%s", path);
    free(buf);
    free(cfg);
    return st;
}
