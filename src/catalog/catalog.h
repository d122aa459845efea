/* catalog.h — the curated model list (catalog/models.json, embedded in the
 * binary): per model its name, architecture, size, context, license, GGUF
 * files per quantization and which backends run it, in which order. A
 * catalog reference is "ID" (default quantization) or "ID:QUANT". */
#ifndef LM_CATALOG_CATALOG_H
#define LM_CATALOG_CATALOG_H
#include "backend/select.h"
#include "localm.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LM_CATALOG_MAX_FILES 8
#define LM_CATALOG_MAX_BACKENDS 8

typedef struct lm_catalog_file {
    char quant[16];      /* "Q4_K_M" */
    char repo[128];      /* Hugging Face repository "bartowski/Llama-3.2-1B-Instruct-GGUF" */
    char file[160];      /* file name in the repository */
    uint64_t size_bytes; /* 0 when not recorded */
    char sha256[65];     /* "" when not recorded */
    bool embedded;       /* built into the binary (the demo model): no repo, nothing to fetch */
} lm_catalog_file;

typedef struct lm_catalog_backend {
    char name[32];
    bool supported;
    int priority; /* smaller first */
    uint64_t min_ram_mb, min_vram_mb;
    char notes[200];
} lm_catalog_backend;

typedef struct lm_catalog_model {
    char id[64];
    char name[96];
    char architecture[32];
    char license[64];
    uint64_t parameters;
    uint32_t context_length;
    char description[640]; /* what it is, can and cannot do; "" when absent */
    char default_quant[16];
    lm_catalog_file files[LM_CATALOG_MAX_FILES];
    int n_files;
    lm_catalog_backend backends[LM_CATALOG_MAX_BACKENDS];
    int n_backends;
} lm_catalog_model;

typedef struct lm_catalog {
    lm_catalog_model *models;
    int n_models;
} lm_catalog;

/* Checks the JSON against the catalog schema (required fields, types, value
 * ranges, unique ids, known quantizations, sha256 shape) and names the first
 * violation ("models[3].files.Q8_0.size_bytes: must be a positive integer"). */
lm_status lm_catalog_check_schema(const char *json, size_t len, lm_err *err);
/* Schema check + parse. */
lm_status lm_catalog_parse(const char *json, size_t len, lm_catalog **out, lm_err *err);
void lm_catalog_free(lm_catalog *c);

/* The embedded catalog, parsed once (thread-safe); NULL with err on failure. */
const lm_catalog *lm_catalog_builtin(lm_err *err);

const lm_catalog_model *lm_catalog_find(const lm_catalog *c, const char *id);
/* The file of a quantization ("Q8_0", case-insensitive; NULL = default). */
const lm_catalog_file *lm_catalog_file_for(const lm_catalog_model *m, const char *quant);

/* Splits "ID[:QUANT]" and finds it in the built-in catalog. */
lm_status lm_catalog_lookup(const char *ref, const lm_catalog_model **model,
                            const lm_catalog_file **file, lm_err *err);

/* Resolves a catalog reference to its file in the disk cache. Fails with
 * LM_ERR_NOT_FOUND when it is not a catalog id, or when it is one but the
 * file is not downloaded (the message says how to get it). */
lm_status lm_catalog_resolve(const char *ref, char *path, size_t cap, lm_err *err);

/* Whether the file of m/f is on disk (or built in): its path ("(built in)"
 * for the embedded model) and size. Writes nothing. */
bool lm_catalog_file_present(const lm_catalog_model *m, const lm_catalog_file *f, char *path,
                             size_t cap, uint64_t *size);

/* Selection hints for a model reference: a catalog id, or a path whose file
 * name is one of the catalog's files. Returns how many (0: unknown model).
 * The strings point into the built-in catalog. */
int lm_catalog_hints(const char *ref, lm_select_hint *out, int max);
#endif
