/* download.h — fetching one file over HTTP(S) so that users can trust it:
 * resume with Range, sha256 check, write to a temporary name and rename only
 * when complete and verified, and a lock so two pulls of one file don't collide. */
#ifndef LM_CATALOG_DOWNLOAD_H
#define LM_CATALOG_DOWNLOAD_H
#include "base/progress.h"
#include "localm.h"
#include <stdint.h>

typedef struct lm_download_opts {
    const char *url;
    const char *dest;            /* final path; DEST.partial and DEST.lock beside it */
    const char *expected_sha256; /* 64 hex chars, or NULL to record what arrives */
    uint64_t expected_size;      /* 0 = unknown */
    const char *bearer_token;    /* sent as Authorization: Bearer (HF_TOKEN), or NULL */
    long connect_timeout_s;      /* 0 = 20 s */
    long stall_timeout_s;        /* no byte for this long = timeout; 0 = 30 s */
    lm_progress_fn progress;     /* phases download then verify; may be NULL */
    void *user;
} lm_download_opts;

void lm_download_opts_default(lm_download_opts *o);

typedef struct lm_download_result {
    char sha256[65]; /* hex of the complete file */
    uint64_t size;
    uint64_t resumed_from; /* bytes already present in DEST.partial */
    int already_present;   /* DEST existed and verified: nothing downloaded */
} lm_download_result;

/* Downloads opts->url to opts->dest. On success DEST is complete and matches
 * the expected sha256/size. On failure DEST is untouched and at most a
 * DEST.partial remains (deleted on checksum mismatch). */
lm_status lm_download(const lm_download_opts *opts, lm_download_result *res, lm_err *err);

/* sha256 of a whole file as 64 hex chars. */
lm_status lm_sha256_file(const char *path, char hex[65], lm_progress_fn fn, void *user,
                         lm_err *err);
#endif
