/* disk_cache.h — where downloaded models live: $LOCALM_HOME (default
 * $XDG_CACHE_HOME/localm, else ~/.cache/localm), one folder per model and
 * quantization (models/ID/QUANT/) holding the file and a manifest.json that
 * records its source, size, sha256 and date. Small cached facts (such as the
 * measured memory bandwidth) live in HOME/state/. */
#ifndef LM_CATALOG_DISK_CACHE_H
#define LM_CATALOG_DISK_CACHE_H
#include "localm.h"
#include <stddef.h>
#include <stdint.h>

typedef struct lm_manifest {
    char id[128];
    char quant[64];
    char source[768]; /* "hf://owner/repo/file.gguf" or a URL */
    char file[256];   /* file name inside the folder */
    uint64_t size;
    char sha256[65]; /* lower-case hex, "" when unknown */
    char date[32];   /* ISO 8601 UTC, when it was stored */
} lm_manifest;

/* The cache root (not created). */
lm_status lm_disk_cache_home(char *buf, size_t cap, lm_err *err);
/* HOME/models/ID/QUANT (not created). */
lm_status lm_disk_cache_model_dir(const char *id, const char *quant, char *buf, size_t cap,
                                  lm_err *err);
/* Creates a folder and its parents. */
lm_status lm_disk_cache_mkdirs(const char *dir, lm_err *err);

/* Manifest JSON <-> struct. parse is bounded and takes untrusted bytes. */
lm_status lm_manifest_parse(const char *json, size_t len, lm_manifest *out, lm_err *err);
/* malloc'd JSON text. */
char *lm_manifest_to_json(const lm_manifest *m);
lm_status lm_manifest_read(const char *dir, lm_manifest *out, lm_err *err);
/* Writes dir/manifest.json atomically (temporary file + rename). */
lm_status lm_manifest_write(const char *dir, const lm_manifest *m, lm_err *err);

/* A small text value in HOME/state/NAME (e.g. "bandwidth"), read or written. */
lm_status lm_disk_cache_state_get(const char *name, char *buf, size_t cap, lm_err *err);
lm_status lm_disk_cache_state_put(const char *name, const char *value, lm_err *err);
#endif
