/* disk_cache.c — the on-disk model cache: paths and per-model manifests. */
#include "catalog/disk_cache.h"
#include "base/err.h"
#include "base/mapfile.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

lm_status lm_disk_cache_home(char *buf, size_t cap, lm_err *err) {
    const char *h = getenv("LOCALM_HOME");
    int n;
    if (h && *h) {
        n = snprintf(buf, cap, "%s", h);
    } else if ((h = getenv("XDG_CACHE_HOME")) && *h) {
        n = snprintf(buf, cap, "%s/localm", h);
    } else if ((h = getenv("HOME")) && *h) {
        n = snprintf(buf, cap, "%s/.cache/localm", h);
    } else {
        return lm_fail(err, LM_ERR_NOT_FOUND,
                       "no cache folder: set LOCALM_HOME (or XDG_CACHE_HOME or HOME)");
    }
    if (n < 0 || (size_t)n >= cap) return lm_fail(err, LM_ERR_INVALID_ARG, "cache path too long");
    return LM_OK;
}

/* Ids and quantization names become folder names: no separators, no dots
 * at the start, nothing outside a conservative character set. */
static int safe_name(const char *s) {
    if (!s || !*s || s[0] == '.' || strlen(s) > 100) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '-' || *s == '_'))
            return 0;
    return 1;
}

lm_status lm_disk_cache_model_dir(const char *id, const char *quant, char *buf, size_t cap,
                                  lm_err *err) {
    if (!safe_name(id) || !safe_name(quant))
        return lm_fail(err, LM_ERR_INVALID_ARG, "'%s:%s' is not a valid model id", id ? id : "",
                       quant ? quant : "");
    char home[1024];
    lm_status st = lm_disk_cache_home(home, sizeof home, err);
    if (st != LM_OK) return st;
    int n = snprintf(buf, cap, "%s/models/%s/%s", home, id, quant);
    if (n < 0 || (size_t)n >= cap) return lm_fail(err, LM_ERR_INVALID_ARG, "cache path too long");
    return LM_OK;
}

lm_status lm_disk_cache_mkdirs(const char *dir, lm_err *err) {
    char p[1024];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p)
        return lm_fail(err, LM_ERR_INVALID_ARG, "path too long");
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            return lm_fail(err, LM_ERR_IO, "mkdir %s: %s", p, strerror(errno));
        *s = '/';
    }
    if (mkdir(p, 0755) != 0 && errno != EEXIST)
        return lm_fail(err, LM_ERR_IO, "mkdir %s: %s", p, strerror(errno));
    return LM_OK;
}

static lm_status get_str(const cJSON *o, const char *key, char *dst, size_t cap, int required,
                         lm_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        dst[0] = 0;
        return required ? lm_fail(err, LM_ERR_JSON, "manifest: missing \"%s\"", key) : LM_OK;
    }
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap)
        return lm_fail(err, LM_ERR_JSON, "manifest: \"%s\" must be a string under %zu bytes", key,
                       cap);
    memcpy(dst, v->valuestring, strlen(v->valuestring) + 1);
    return LM_OK;
}

lm_status lm_manifest_parse(const char *json, size_t len, lm_manifest *out, lm_err *err) {
    memset(out, 0, sizeof *out);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return lm_fail(err, LM_ERR_JSON, "manifest: not valid JSON");
    lm_status st = LM_OK;
    if (!cJSON_IsObject(root)) st = lm_fail(err, LM_ERR_JSON, "manifest: not a JSON object");
    if (st == LM_OK) st = get_str(root, "id", out->id, sizeof out->id, 0, err);
    if (st == LM_OK) st = get_str(root, "quant", out->quant, sizeof out->quant, 0, err);
    if (st == LM_OK) st = get_str(root, "source", out->source, sizeof out->source, 1, err);
    if (st == LM_OK) st = get_str(root, "file", out->file, sizeof out->file, 1, err);
    if (st == LM_OK) st = get_str(root, "sha256", out->sha256, sizeof out->sha256, 0, err);
    if (st == LM_OK) st = get_str(root, "date", out->date, sizeof out->date, 0, err);
    if (st == LM_OK) {
        const cJSON *sz = cJSON_GetObjectItemCaseSensitive(root, "size");
        /* Exactly representable integers only (doubles hold 2^53). */
        if (!cJSON_IsNumber(sz) || sz->valuedouble < 0 || sz->valuedouble > 9007199254740992.0 ||
            sz->valuedouble != (double)(uint64_t)sz->valuedouble)
            st = lm_fail(err, LM_ERR_JSON, "manifest: \"size\" must be a non-negative integer");
        else
            out->size = (uint64_t)sz->valuedouble;
    }
    if (st == LM_OK && (strchr(out->file, '/') || !strcmp(out->file, "..") || !*out->file))
        st = lm_fail(err, LM_ERR_JSON, "manifest: \"file\" must be a plain file name");
    cJSON_Delete(root);
    return st;
}

char *lm_manifest_to_json(const lm_manifest *m) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "id", m->id);
    cJSON_AddStringToObject(o, "quant", m->quant);
    cJSON_AddStringToObject(o, "source", m->source);
    cJSON_AddStringToObject(o, "file", m->file);
    /* Written as an exact integer: cJSON prints doubles with 15 significant
     * digits when that compares equal within an epsilon, which drops the last
     * digit of sizes above 10^15 (found by fuzz_manifest). */
    char num[32];
    snprintf(num, sizeof num, "%llu", (unsigned long long)m->size);
    cJSON_AddRawToObject(o, "size", num);
    cJSON_AddStringToObject(o, "sha256", m->sha256);
    cJSON_AddStringToObject(o, "date", m->date);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

lm_status lm_manifest_read(const char *dir, lm_manifest *out, lm_err *err) {
    char path[1100];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    char *text = NULL;
    size_t len = 0;
    lm_status st = lm_read_file(path, 1 << 20, &text, &len, err);
    if (st != LM_OK) return st;
    st = lm_manifest_parse(text, len, out, err);
    free(text);
    if (st != LM_OK) lm_err_prefix(err, "%s", path);
    return st;
}

static lm_status write_atomic(const char *path, const char *text, lm_err *err) {
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return lm_fail(err, LM_ERR_IO, "open %s: %s", tmp, strerror(errno));
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return lm_fail(err, LM_ERR_IO, "write %s: %s", path, strerror(errno));
    }
    return LM_OK;
}

lm_status lm_manifest_write(const char *dir, const lm_manifest *m, lm_err *err) {
    lm_status st = lm_disk_cache_mkdirs(dir, err);
    if (st != LM_OK) return st;
    char *text = lm_manifest_to_json(m);
    if (!text) return lm_fail(err, LM_ERR_NO_MEMORY, "manifest: out of memory");
    char path[1100];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    st = write_atomic(path, text, err);
    free(text);
    return st;
}

lm_status lm_disk_cache_state_get(const char *name, char *buf, size_t cap, lm_err *err) {
    if (!safe_name(name)) return lm_fail(err, LM_ERR_INVALID_ARG, "bad state name");
    char home[1024], path[1200];
    lm_status st = lm_disk_cache_home(home, sizeof home, err);
    if (st != LM_OK) return st;
    snprintf(path, sizeof path, "%s/state/%s", home, name);
    char *text = NULL;
    size_t len = 0;
    st = lm_read_file(path, cap > 1 ? cap - 1 : 1, &text, &len, err);
    if (st != LM_OK) return st;
    snprintf(buf, cap, "%s", text);
    free(text);
    return LM_OK;
}

lm_status lm_disk_cache_state_put(const char *name, const char *value, lm_err *err) {
    if (!safe_name(name)) return lm_fail(err, LM_ERR_INVALID_ARG, "bad state name");
    char home[1024], dir[1100], path[1200];
    lm_status st = lm_disk_cache_home(home, sizeof home, err);
    if (st != LM_OK) return st;
    snprintf(dir, sizeof dir, "%s/state", home);
    st = lm_disk_cache_mkdirs(dir, err);
    if (st != LM_OK) return st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return write_atomic(path, value, err);
}
