/* download.c — resumable, verified, locked downloads with libcurl. */
#include "catalog/download.h"
#include "base/err.h"
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

void lm_download_opts_default(lm_download_opts *o) {
    memset(o, 0, sizeof *o);
    o->connect_timeout_s = 20;
    o->stall_timeout_s = 30;
}

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

typedef struct xfer {
    FILE *f;
    int write_errno;
    uint64_t base; /* bytes already in the partial file */
    const lm_download_opts *o;
    int cancelled;
} xfer;

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *user) {
    xfer *x = user;
    size_t n = size * nmemb;
    if (fwrite(ptr, 1, n, x->f) != n || fflush(x->f) != 0) {
        x->write_errno = errno ? errno : EIO;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    return n;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ult,
                       curl_off_t uln) {
    (void)ult;
    (void)uln;
    xfer *x = user;
    if (!x->o->progress) return 0;
    uint64_t total = x->o->expected_size;
    if (!total && dltotal > 0) total = x->base + (uint64_t)dltotal;
    const char *name = strrchr(x->o->dest, '/');
    lm_progress ev = {LM_PHASE_DOWNLOAD, x->base + (uint64_t)dlnow, total,
                      name ? name + 1 : x->o->dest};
    if (x->o->progress(&ev, x->o->user)) {
        x->cancelled = 1;
        return 1;
    }
    return 0;
}

static uint64_t file_size(const char *path, int *exists) {
    struct stat st;
    if (stat(path, &st) != 0) {
        *exists = 0;
        return 0;
    }
    *exists = 1;
    return (uint64_t)st.st_size;
}

/* Checks a complete file against the expected size and sha256. */
static lm_status verify(const lm_download_opts *o, const char *path, lm_download_result *res,
                        lm_err *err) {
    int exists;
    uint64_t size = file_size(path, &exists);
    if (o->expected_size && size != o->expected_size)
        return lm_fail(err, LM_ERR_CHECKSUM, "%s: size %llu, expected %llu bytes", path,
                       (unsigned long long)size, (unsigned long long)o->expected_size);
    lm_status s = lm_sha256_file(path, res->sha256, o->progress, o->user, err);
    if (s) return s;
    res->size = size;
    if (o->expected_sha256 && strcasecmp(o->expected_sha256, res->sha256) != 0)
        return lm_fail(err, LM_ERR_CHECKSUM, "sha256 mismatch for %s: expected %s, got %s", o->url,
                       o->expected_sha256, res->sha256);
    return LM_OK;
}

/* One HTTP transfer appending to the partial file. Returns LM_OK when the
 * server says the body is complete (or the range is already satisfied). */
static lm_status transfer(const lm_download_opts *o, const char *partial, lm_download_result *res,
                          int *retryable, lm_err *err) {
    int exists;
    uint64_t have = file_size(partial, &exists);
    if (o->expected_size && have > o->expected_size) {
        if (truncate(partial, 0) != 0)
            return lm_fail(err, LM_ERR_IO, "%s: %s", partial, strerror(errno));
        have = 0;
    }
    if (o->expected_size && have == o->expected_size) return LM_OK;
    if (!res->resumed_from) res->resumed_from = have;
    FILE *f = fopen(partial, "ab");
    if (!f) return lm_fail(err, LM_ERR_IO, "%s: %s", partial, strerror(errno));
    xfer x = {f, 0, have, o, 0};
    CURL *c = curl_easy_init();
    if (!c) {
        fclose(f);
        return lm_fail(err, LM_ERR_NO_MEMORY, "cannot create a curl handle");
    }
    struct curl_slist *hdrs = NULL;
    char auth[1100];
    if (o->bearer_token && *o->bearer_token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", o->bearer_token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, o->url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "localm/" LOCALM_VERSION);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, o->connect_timeout_s ? o->connect_timeout_s : 20L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, o->stall_timeout_s ? o->stall_timeout_s : 30L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (have) curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)have);
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    int close_failed = fclose(f) != 0;
    *retryable = 0;
    if (rc == CURLE_OK) {
        if (close_failed) return lm_fail(err, LM_ERR_IO, "%s: %s", partial, strerror(errno));
        return LM_OK;
    }
    if (x.cancelled) return lm_fail(err, LM_ERR_CANCELLED, "download of %s cancelled", o->url);
    if (rc == CURLE_WRITE_ERROR && x.write_errno)
        return lm_fail(err, LM_ERR_IO, "writing %s: %s", partial, strerror(x.write_errno));
    if (rc == CURLE_HTTP_RETURNED_ERROR) {
        if (code == 416 && have) return LM_OK; /* partial already holds the whole file */
        if (code == 404)
            return lm_fail(err, LM_ERR_NOT_FOUND, "%s: HTTP 404 (no such file on the server)",
                           o->url);
        if (code == 401 || code == 403)
            return lm_fail(err, LM_ERR_NETWORK,
                           "%s: HTTP %ld (access denied; gated repositories need HF_TOKEN)", o->url,
                           code);
        *retryable = code >= 500;
        return lm_fail(err, LM_ERR_NETWORK, "%s: HTTP %ld", o->url, code);
    }
    if (rc == CURLE_RANGE_ERROR) {
        /* The server ignored Range: start again from zero. */
        if (truncate(partial, 0) != 0)
            return lm_fail(err, LM_ERR_IO, "%s: %s", partial, strerror(errno));
        res->resumed_from = 0;
        *retryable = 1;
        return lm_fail(err, LM_ERR_NETWORK, "%s: server does not support resuming", o->url);
    }
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return lm_fail(err, LM_ERR_TIMEOUT, "%s: no data for %ld s (%s)", o->url,
                       o->stall_timeout_s ? o->stall_timeout_s : 30L, ebuf[0] ? ebuf : "timeout");
    *retryable = rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING ||
                 rc == CURLE_SEND_ERROR;
    return lm_fail(err, LM_ERR_NETWORK, "%s: %s", o->url, ebuf[0] ? ebuf : curl_easy_strerror(rc));
}

lm_status lm_download(const lm_download_opts *o, lm_download_result *res, lm_err *err) {
    memset(res, 0, sizeof *res);
    if (!o || !o->url || !o->dest) return lm_fail(err, LM_ERR_INVALID_ARG, "download: no url/dest");
    pthread_once(&g_curl_once, curl_init_once);
    size_t dl = strlen(o->dest);
    char *partial = malloc(dl + 16), *lockp = malloc(dl + 16);
    if (!partial || !lockp) {
        free(partial);
        free(lockp);
        return lm_fail(err, LM_ERR_NO_MEMORY, "download: out of memory");
    }
    snprintf(partial, dl + 16, "%s.partial", o->dest);
    snprintf(lockp, dl + 16, "%s.lock", o->dest);
    lm_status s = LM_OK;
    int lfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lfd < 0) {
        s = lm_fail(err, LM_ERR_IO, "%s: %s", lockp, strerror(errno));
        goto out;
    }
    /* A second pull of the same file waits here, then finds it complete. */
    while (flock(lfd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            s = lm_fail(err, LM_ERR_IO, "lock %s: %s", lockp, strerror(errno));
            goto out;
        }
    }
    int exists;
    file_size(o->dest, &exists);
    if (exists) {
        lm_err verr = {0};
        if (verify(o, o->dest, res, &verr) == LM_OK) {
            res->already_present = 1;
            goto out;
        }
        unlink(o->dest); /* a damaged final file is no better than none */
    }
    int retries = 3;
    for (;;) {
        int retryable = 0;
        s = transfer(o, partial, res, &retryable, err);
        if (s == LM_OK) break;
        if (!retryable || retries-- <= 0) goto out;
    }
    s = verify(o, partial, res, err);
    if (s == LM_ERR_CHECKSUM) {
        unlink(partial);
        lm_err_prefix(err, "download rejected, partial file deleted");
        goto out;
    }
    if (s) goto out;
    if (rename(partial, o->dest) != 0) {
        s = lm_fail(err, LM_ERR_IO, "rename %s -> %s: %s", partial, o->dest, strerror(errno));
        goto out;
    }
out:
    if (lfd >= 0) close(lfd); /* releases the lock */
    free(partial);
    free(lockp);
    return s;
}
