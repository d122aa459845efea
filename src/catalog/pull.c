/* pull.c — model references to verified files in the disk cache. */
#include "catalog/pull.h"
#include "base/err.h"
#include "catalog/catalog.h"
#include "catalog/disk_cache.h"
#include "catalog/download.h"
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

bool lm_offline(void) {
    const char *v = getenv("LOCALM_OFFLINE");
    return v && *v && strcmp(v, "0") != 0;
}

/* Where one reference comes from and where it goes. */
typedef struct pull_target {
    char id[128], quant[64];
    char source[768]; /* hf://... or the URL */
    char url[1024];
    char file[256]; /* file name in the cache folder */
    const char *sha256;
    uint64_t size;
} pull_target;

static const char *hf_endpoint(char *buf, size_t cap) {
    const char *e = getenv("LOCALM_HF_ENDPOINT");
    snprintf(buf, cap, "%s", e && *e ? e : "https://huggingface.co");
    size_t n = strlen(buf);
    while (n && buf[n - 1] == '/')
        buf[--n] = 0;
    return buf;
}

/* Folder-name-safe copy: letters, digits, '.', '_' and '-'; others become '-'. */
static void safe_name(char *dst, size_t cap, const char *src, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[k++] = isalnum(c) || c == '.' || c == '_' || c == '-' ? (char)c : '-';
    }
    dst[k] = 0;
}

static void stem_of(const char *file, char *quant, size_t cap) {
    const char *b = strrchr(file, '/');
    b = b ? b + 1 : file;
    size_t n = strlen(b);
    if (n > 5 && !strcmp(b + n - 5, ".gguf")) n -= 5;
    safe_name(quant, cap, b, n);
}

static lm_status hf_target(const char *ref, pull_target *t, lm_err *err) {
    const char *p = ref + 5; /* after hf:// */
    const char *s1 = strchr(p, '/');
    const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    if (!s1 || !s2 || s1 == p || s2 == s1 + 1 || !s2[1] || strstr(p, "..") || strlen(ref) > 600)
        return lm_fail(err, LM_ERR_INVALID_ARG, "'%s' is not of the form hf://OWNER/REPO/FILE.gguf",
                       ref);
    char owner_repo[100], ep[512];
    safe_name(owner_repo, sizeof owner_repo, p, (size_t)(s2 - p));
    snprintf(t->id, sizeof t->id, "hf--%s", owner_repo);
    for (char *c = t->id; *c; c++)
        if (*c == '/') *c = '-';
    stem_of(s2 + 1, t->quant, sizeof t->quant);
    const char *b = strrchr(s2 + 1, '/');
    safe_name(t->file, sizeof t->file, b ? b + 1 : s2 + 1, strlen(b ? b + 1 : s2 + 1));
    snprintf(t->source, sizeof t->source, "%s", ref);
    snprintf(t->url, sizeof t->url, "%s/%.*s/resolve/main/%s", hf_endpoint(ep, sizeof ep),
             (int)(s2 - p), p, s2 + 1);
    return LM_OK;
}

static lm_status url_target(const char *ref, pull_target *t, lm_err *err) {
    const char *host = strstr(ref, "://") + 3;
    const char *slash = strchr(host, '/');
    if (!slash || !slash[1] || strlen(ref) > 900)
        return lm_fail(err, LM_ERR_INVALID_ARG, "'%s' does not name a file", ref);
    char h[100];
    safe_name(h, sizeof h, host, (size_t)(slash - host));
    snprintf(t->id, sizeof t->id, "url--%s", h);
    const char *q = strpbrk(slash, "?#");
    size_t plen = q ? (size_t)(q - slash) : strlen(slash);
    char pathpart[512];
    snprintf(pathpart, sizeof pathpart, "%.*s", (int)plen, slash);
    const char *b = strrchr(pathpart, '/');
    stem_of(b + 1, t->quant, sizeof t->quant);
    safe_name(t->file, sizeof t->file, b + 1, strlen(b + 1));
    if (!t->file[0] || !t->quant[0])
        return lm_fail(err, LM_ERR_INVALID_ARG, "'%s' does not name a file", ref);
    snprintf(t->source, sizeof t->source, "%s", ref);
    snprintf(t->url, sizeof t->url, "%s", ref);
    return LM_OK;
}

static lm_status target_for(const char *ref, pull_target *t, lm_err *err) {
    memset(t, 0, sizeof *t);
    if (!strncmp(ref, "hf://", 5)) return hf_target(ref, t, err);
    if (!strncmp(ref, "https://", 8) || !strncmp(ref, "http://", 7)) return url_target(ref, t, err);
    const lm_catalog_model *m;
    const lm_catalog_file *f;
    lm_status st = lm_catalog_lookup(ref, &m, &f, err);
    if (st) return st;
    if (f->embedded)
        return lm_fail(err, LM_ERR_INVALID_ARG,
                       "%s is built into LocalM: there is nothing to download or remove", m->id);
    char ep[512];
    snprintf(t->id, sizeof t->id, "%s", m->id);
    snprintf(t->quant, sizeof t->quant, "%s", f->quant);
    snprintf(t->file, sizeof t->file, "%s", f->file);
    snprintf(t->source, sizeof t->source, "hf://%s/%s", f->repo, f->file);
    snprintf(t->url, sizeof t->url, "%s/%s/resolve/main/%s", hf_endpoint(ep, sizeof ep), f->repo,
             f->file);
    t->sha256 = f->sha256[0] ? f->sha256 : NULL;
    t->size = f->size_bytes;
    return LM_OK;
}

static lm_status target_path(const pull_target *t, char *dir, size_t dcap, char *path, size_t pcap,
                             lm_err *err) {
    lm_status st = lm_disk_cache_model_dir(t->id, t->quant, dir, dcap, err);
    if (st) return st;
    int n = snprintf(path, pcap, "%s/%s", dir, t->file);
    if (n < 0 || (size_t)n >= pcap) return lm_fail(err, LM_ERR_INVALID_ARG, "cache path too long");
    return LM_OK;
}

lm_status lm_pull(const char *ref, bool offline, lm_progress_fn fn, void *user, lm_pull_result *out,
                  lm_err *err) {
    memset(out, 0, sizeof *out);
    pull_target t;
    char dir[1024];
    lm_status st = target_for(ref, &t, err);
    if (!st) st = target_path(&t, dir, sizeof dir, out->path, sizeof out->path, err);
    if (st) return st;
    if (fn) {
        lm_progress ev = {LM_PHASE_RESOLVE, 0, 0, t.url};
        if (fn(&ev, user)) return lm_fail(err, LM_ERR_CANCELLED, "pull cancelled");
    }
    struct stat sb;
    if (offline) {
        if (stat(out->path, &sb) != 0)
            return lm_fail(err, LM_ERR_NETWORK,
                           "offline (LOCALM_OFFLINE / --offline): %s is not downloaded", ref);
        lm_manifest man;
        if (lm_manifest_read(dir, &man, NULL) == LM_OK) {
            snprintf(out->sha256, sizeof out->sha256, "%s", man.sha256);
            out->size = man.size;
        }
        out->already_present = true;
        return LM_OK;
    }
    if ((st = lm_disk_cache_mkdirs(dir, err))) return st;
    lm_download_opts o;
    lm_download_opts_default(&o);
    o.url = t.url;
    o.dest = out->path;
    o.expected_sha256 = t.sha256;
    o.expected_size = t.size;
    o.bearer_token = getenv("HF_TOKEN");
    o.progress = fn;
    o.user = user;
    const char *tmo = getenv("LOCALM_DOWNLOAD_TIMEOUT");
    if (tmo && atol(tmo) > 0) o.stall_timeout_s = atol(tmo);
    lm_download_result r;
    st = lm_download(&o, &r, err);
    if (st) return st;
    snprintf(out->sha256, sizeof out->sha256, "%s", r.sha256);
    out->size = r.size;
    out->resumed_from = r.resumed_from;
    out->already_present = r.already_present;
    lm_manifest man = {0};
    snprintf(man.id, sizeof man.id, "%s", t.id);
    snprintf(man.quant, sizeof man.quant, "%s", t.quant);
    snprintf(man.source, sizeof man.source, "%s", t.source);
    snprintf(man.file, sizeof man.file, "%s", t.file);
    man.size = r.size;
    snprintf(man.sha256, sizeof man.sha256, "%s", r.sha256);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(man.date, sizeof man.date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return lm_manifest_write(dir, &man, err);
}

lm_status lm_model_ref_resolve(const char *ref, bool download, lm_progress_fn fn, void *user,
                               char *path, size_t cap, lm_err *err) {
    struct stat sb;
    bool remote =
        !strncmp(ref, "hf://", 5) || !strncmp(ref, "https://", 8) || !strncmp(ref, "http://", 7);
    if (!remote && stat(ref, &sb) == 0) {
        snprintf(path, cap, "%s", ref);
        return LM_OK;
    }
    pull_target t;
    char dir[1024], p[1024];
    lm_status st = target_for(ref, &t, err);
    if (st) {
        if (!remote && (strchr(ref, '/') || strstr(ref, ".gguf")))
            return lm_fail(err, LM_ERR_NOT_FOUND, "%s: no such file or folder", ref);
        return st;
    }
    if ((st = target_path(&t, dir, sizeof dir, p, sizeof p, err))) return st;
    if (stat(p, &sb) != 0) {
        if (!download || lm_offline())
            return lm_fail(err, LM_ERR_NOT_FOUND, "%s is not downloaded%s; run `localm pull %s`",
                           ref, lm_offline() ? " and LOCALM_OFFLINE is set" : "", ref);
        lm_pull_result r;
        if ((st = lm_pull(ref, false, fn, user, &r, err))) return st;
    }
    snprintf(path, cap, "%s", p);
    return LM_OK;
}

lm_status lm_pull_remove(const char *ref, char *removed, size_t cap, lm_err *err) {
    pull_target t;
    char dir[1024], p[1024];
    lm_status st = target_for(ref, &t, err);
    if (!st) st = target_path(&t, dir, sizeof dir, p, sizeof p, err);
    if (st) return st;
    struct stat sb;
    if (stat(p, &sb) != 0 && stat(dir, &sb) != 0)
        return lm_fail(err, LM_ERR_NOT_FOUND, "%s is not downloaded", ref);
    const char *suffixes[] = {"", ".partial", ".lock"};
    char f[1100];
    for (int i = 0; i < 3; i++) {
        snprintf(f, sizeof f, "%s%s", p, suffixes[i]);
        if (unlink(f) != 0 && errno != ENOENT)
            return lm_fail(err, LM_ERR_IO, "%s: %s", f, strerror(errno));
    }
    snprintf(f, sizeof f, "%s/manifest.json", dir);
    unlink(f);
    rmdir(dir); /* only when empty */
    snprintf(removed, cap, "%s", p);
    return LM_OK;
}
