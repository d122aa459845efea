/* catalog.c — the curated model catalog: schema check, parsing, look-ups,
 * resolution to the disk cache, and selection hints. */
#include "catalog/catalog.h"
#include "base/err.h"
#include "catalog/disk_cache.h"
#include <cjson/cJSON.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* The embedded catalog/models.json (tools/embed.cmake, listed in embed.cmake). */
extern const unsigned char lm_catalog_json[];
extern const size_t lm_catalog_json_len;

static const char *const k_quants[] = {"F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S",
                                       "Q5_0", "Q5_1", "Q4_K_M", "Q4_K_S", "Q4_0", "Q4_1"};

static int known_quant(const char *q) {
    for (size_t i = 0; i < sizeof k_quants / sizeof k_quants[0]; i++)
        if (!strcmp(q, k_quants[i])) return 1;
    return 0;
}

/* ---- schema check ------------------------------------------------------ */

static lm_status need_str(const cJSON *o, const char *key, size_t max, bool required,
                          const char *where, lm_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) return required ? lm_fail(err, LM_ERR_JSON, "%s.%s: missing", where, key) : LM_OK;
    if (!cJSON_IsString(v) || !*v->valuestring)
        return lm_fail(err, LM_ERR_JSON, "%s.%s: must be a non-empty string", where, key);
    if (strlen(v->valuestring) >= max)
        return lm_fail(err, LM_ERR_JSON, "%s.%s: longer than %zu bytes", where, key, max - 1);
    return LM_OK;
}

static bool is_uint(const cJSON *v, double max) {
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= max &&
           v->valuedouble == (double)(uint64_t)v->valuedouble;
}

static lm_status need_uint(const cJSON *o, const char *key, double min, double max, bool required,
                           const char *where, lm_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) return required ? lm_fail(err, LM_ERR_JSON, "%s.%s: missing", where, key) : LM_OK;
    if (!is_uint(v, max) || v->valuedouble < min)
        return lm_fail(err, LM_ERR_JSON, "%s.%s: must be an integer in [%.0f, %.0f]", where, key,
                       min, max);
    return LM_OK;
}

static lm_status check_file(const cJSON *f, const char *where, lm_err *err) {
    if (!cJSON_IsObject(f)) return lm_fail(err, LM_ERR_JSON, "%s: must be an object", where);
    lm_status st = need_str(f, "repo", sizeof(((lm_catalog_file *)0)->repo), true, where, err);
    if (st == LM_OK) st = need_str(f, "file", sizeof(((lm_catalog_file *)0)->file), true, where, err);
    if (st != LM_OK) return st;
    const char *repo = cJSON_GetObjectItemCaseSensitive(f, "repo")->valuestring;
    const char *slash = strchr(repo, '/');
    if (!slash || slash == repo || !slash[1] || strchr(slash + 1, '/'))
        return lm_fail(err, LM_ERR_JSON, "%s.repo: must be \"owner/name\"", where);
    const char *file = cJSON_GetObjectItemCaseSensitive(f, "file")->valuestring;
    size_t fl = strlen(file);
    if (fl < 6 || strcmp(file + fl - 5, ".gguf") || strchr(file, '/'))
        return lm_fail(err, LM_ERR_JSON, "%s.file: must be a .gguf file name", where);
    st = need_uint(f, "size_bytes", 1, 9007199254740992.0, false, where, err);
    if (st != LM_OK) return st;
    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(f, "sha256");
    if (sha) {
        if (!cJSON_IsString(sha) || strlen(sha->valuestring) != 64)
            return lm_fail(err, LM_ERR_JSON, "%s.sha256: must be 64 hex digits", where);
        for (const char *p = sha->valuestring; *p; p++)
            if (!isxdigit((unsigned char)*p) || isupper((unsigned char)*p))
                return lm_fail(err, LM_ERR_JSON, "%s.sha256: must be lower-case hex", where);
    }
    for (const cJSON *k = f->child; k; k = k->next)
        if (strcmp(k->string, "repo") && strcmp(k->string, "file") &&
            strcmp(k->string, "size_bytes") && strcmp(k->string, "sha256"))
            return lm_fail(err, LM_ERR_JSON, "%s: unknown field \"%s\"", where, k->string);
    return LM_OK;
}

static lm_status check_backend(const cJSON *b, const char *where, lm_err *err) {
    if (!cJSON_IsObject(b)) return lm_fail(err, LM_ERR_JSON, "%s: must be an object", where);
    const cJSON *sup = cJSON_GetObjectItemCaseSensitive(b, "supported");
    if (!cJSON_IsBool(sup)) return lm_fail(err, LM_ERR_JSON, "%s.supported: must be true or false", where);
    lm_status st = need_uint(b, "priority", 0, 1000, true, where, err);
    if (st == LM_OK) st = need_uint(b, "min_ram_mb", 1, 1 << 24, false, where, err);
    if (st == LM_OK) st = need_uint(b, "min_vram_mb", 1, 1 << 24, false, where, err);
    if (st == LM_OK) st = need_str(b, "notes", sizeof(((lm_catalog_backend *)0)->notes), false, where, err);
    if (st != LM_OK) return st;
    if (cJSON_IsTrue(sup) && !cJSON_GetObjectItemCaseSensitive(b, "min_ram_mb") &&
        !cJSON_GetObjectItemCaseSensitive(b, "min_vram_mb"))
        return lm_fail(err, LM_ERR_JSON, "%s: a supported backend needs min_ram_mb or min_vram_mb",
                       where);
    for (const cJSON *k = b->child; k; k = k->next)
        if (strcmp(k->string, "supported") && strcmp(k->string, "priority") &&
            strcmp(k->string, "min_ram_mb") && strcmp(k->string, "min_vram_mb") &&
            strcmp(k->string, "notes"))
            return lm_fail(err, LM_ERR_JSON, "%s: unknown field \"%s\"", where, k->string);
    return LM_OK;
}

static lm_status check_model(const cJSON *m, const char *where, lm_err *err) {
    if (!cJSON_IsObject(m)) return lm_fail(err, LM_ERR_JSON, "%s: must be an object", where);
    lm_status st = need_str(m, "id", sizeof(((lm_catalog_model *)0)->id), true, where, err);
    if (st == LM_OK) st = need_str(m, "name", sizeof(((lm_catalog_model *)0)->name), true, where, err);
    if (st == LM_OK)
        st = need_str(m, "architecture", sizeof(((lm_catalog_model *)0)->architecture), true, where, err);
    if (st == LM_OK) st = need_str(m, "license", sizeof(((lm_catalog_model *)0)->license), true, where, err);
    if (st == LM_OK) st = need_uint(m, "parameters", 1e6, 1e13, true, where, err);
    if (st == LM_OK) st = need_uint(m, "context_length", 128, 1 << 24, true, where, err);
    if (st == LM_OK) st = need_str(m, "default_quant", 16, true, where, err);
    if (st != LM_OK) return st;
    for (const char *p = cJSON_GetObjectItemCaseSensitive(m, "id")->valuestring; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '.' || *p == '-'))
            return lm_fail(err, LM_ERR_JSON, "%s.id: only a-z, 0-9, '.' and '-' are allowed", where);
    char w[160];
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(m, "files");
    if (!cJSON_IsObject(files) || !files->child)
        return lm_fail(err, LM_ERR_JSON, "%s.files: must be a non-empty object", where);
    int nf = 0;
    for (const cJSON *f = files->child; f; f = f->next, nf++) {
        snprintf(w, sizeof w, "%s.files.%s", where, f->string);
        if (!known_quant(f->string))
            return lm_fail(err, LM_ERR_JSON, "%s: unknown quantization", w);
        if ((st = check_file(f, w, err)) != LM_OK) return st;
    }
    if (nf > LM_CATALOG_MAX_FILES) return lm_fail(err, LM_ERR_JSON, "%s.files: too many", where);
    const char *dq = cJSON_GetObjectItemCaseSensitive(m, "default_quant")->valuestring;
    if (!cJSON_GetObjectItemCaseSensitive(files, dq))
        return lm_fail(err, LM_ERR_JSON, "%s.default_quant: %s is not in files", where, dq);
    const cJSON *bs = cJSON_GetObjectItemCaseSensitive(m, "backends");
    if (!cJSON_IsObject(bs) || !bs->child)
        return lm_fail(err, LM_ERR_JSON, "%s.backends: must be a non-empty object", where);
    int nb = 0;
    for (const cJSON *b = bs->child; b; b = b->next, nb++) {
        snprintf(w, sizeof w, "%s.backends.%s", where, b->string);
        if (strlen(b->string) >= sizeof(((lm_catalog_backend *)0)->name))
            return lm_fail(err, LM_ERR_JSON, "%s: backend name too long", w);
        if ((st = check_backend(b, w, err)) != LM_OK) return st;
    }
    if (nb > LM_CATALOG_MAX_BACKENDS)
        return lm_fail(err, LM_ERR_JSON, "%s.backends: too many", where);
    return LM_OK;
}

static lm_status check_root(const cJSON *root, lm_err *err) {
    if (!cJSON_IsObject(root)) return lm_fail(err, LM_ERR_JSON, "catalog: must be a JSON object");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "schema_version");
    if (!cJSON_IsNumber(ver) || ver->valuedouble != 1)
        return lm_fail(err, LM_ERR_JSON, "catalog.schema_version: must be 1");
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(root, "models");
    if (!cJSON_IsArray(models) || cJSON_GetArraySize(models) == 0)
        return lm_fail(err, LM_ERR_JSON, "catalog.models: must be a non-empty array");
    int i = 0;
    for (const cJSON *m = models->child; m; m = m->next, i++) {
        char w[48];
        snprintf(w, sizeof w, "models[%d]", i);
        lm_status st = check_model(m, w, err);
        if (st != LM_OK) return st;
        const char *id = cJSON_GetObjectItemCaseSensitive(m, "id")->valuestring;
        int j = 0;
        for (const cJSON *o = models->child; o != m; o = o->next, j++)
            if (!strcmp(cJSON_GetObjectItemCaseSensitive(o, "id")->valuestring, id))
                return lm_fail(err, LM_ERR_JSON, "%s.id: \"%s\" repeats models[%d]", w, id, j);
    }
    return LM_OK;
}

lm_status lm_catalog_check_schema(const char *json, size_t len, lm_err *err) {
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return lm_fail(err, LM_ERR_JSON, "catalog: not valid JSON");
    lm_status st = check_root(root, err);
    cJSON_Delete(root);
    return st;
}

/* ---- parsing (after the schema check, so fields are known to be valid) -- */

static void copy_str(char *dst, size_t cap, const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    snprintf(dst, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static uint64_t get_u64(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? (uint64_t)v->valuedouble : 0;
}

lm_status lm_catalog_parse(const char *json, size_t len, lm_catalog **out, lm_err *err) {
    *out = NULL;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return lm_fail(err, LM_ERR_JSON, "catalog: not valid JSON");
    lm_status st = check_root(root, err);
    lm_catalog *c = NULL;
    if (st == LM_OK) {
        const cJSON *models = cJSON_GetObjectItemCaseSensitive(root, "models");
        int n = cJSON_GetArraySize(models);
        c = calloc(1, sizeof *c);
        if (c) c->models = calloc((size_t)n, sizeof *c->models);
        if (!c || !c->models) {
            st = lm_fail(err, LM_ERR_NO_MEMORY, "catalog: out of memory");
        } else {
            for (const cJSON *m = models->child; m; m = m->next) {
                lm_catalog_model *cm = &c->models[c->n_models++];
                copy_str(cm->id, sizeof cm->id, m, "id");
                copy_str(cm->name, sizeof cm->name, m, "name");
                copy_str(cm->architecture, sizeof cm->architecture, m, "architecture");
                copy_str(cm->license, sizeof cm->license, m, "license");
                copy_str(cm->default_quant, sizeof cm->default_quant, m, "default_quant");
                cm->parameters = get_u64(m, "parameters");
                cm->context_length = (uint32_t)get_u64(m, "context_length");
                const cJSON *files = cJSON_GetObjectItemCaseSensitive(m, "files");
                for (const cJSON *f = files->child; f; f = f->next) {
                    lm_catalog_file *cf = &cm->files[cm->n_files++];
                    snprintf(cf->quant, sizeof cf->quant, "%s", f->string);
                    copy_str(cf->repo, sizeof cf->repo, f, "repo");
                    copy_str(cf->file, sizeof cf->file, f, "file");
                    copy_str(cf->sha256, sizeof cf->sha256, f, "sha256");
                    cf->size_bytes = get_u64(f, "size_bytes");
                }
                const cJSON *bs = cJSON_GetObjectItemCaseSensitive(m, "backends");
                for (const cJSON *b = bs->child; b; b = b->next) {
                    lm_catalog_backend *cb = &cm->backends[cm->n_backends++];
                    snprintf(cb->name, sizeof cb->name, "%s", b->string);
                    cb->supported = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "supported"));
                    cb->priority = (int)get_u64(b, "priority");
                    cb->min_ram_mb = get_u64(b, "min_ram_mb");
                    cb->min_vram_mb = get_u64(b, "min_vram_mb");
                    copy_str(cb->notes, sizeof cb->notes, b, "notes");
                }
            }
        }
    }
    cJSON_Delete(root);
    if (st != LM_OK) {
        lm_catalog_free(c);
        return st;
    }
    *out = c;
    return LM_OK;
}

void lm_catalog_free(lm_catalog *c) {
    if (!c) return;
    free(c->models);
    free(c);
}

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static lm_catalog *g_builtin;
static lm_err g_builtin_err;

static void load_builtin(void) {
    lm_catalog_parse((const char *)lm_catalog_json, lm_catalog_json_len, &g_builtin,
                     &g_builtin_err);
}

const lm_catalog *lm_catalog_builtin(lm_err *err) {
    pthread_once(&g_once, load_builtin);
    if (!g_builtin && err) *err = g_builtin_err;
    return g_builtin;
}

const lm_catalog_model *lm_catalog_find(const lm_catalog *c, const char *id) {
    for (int i = 0; c && id && i < c->n_models; i++)
        if (!strcasecmp(c->models[i].id, id)) return &c->models[i];
    return NULL;
}

const lm_catalog_file *lm_catalog_file_for(const lm_catalog_model *m, const char *quant) {
    const char *q = quant && *quant ? quant : m->default_quant;
    for (int i = 0; i < m->n_files; i++)
        if (!strcasecmp(m->files[i].quant, q)) return &m->files[i];
    return NULL;
}

lm_status lm_catalog_lookup(const char *ref, const lm_catalog_model **model,
                            const lm_catalog_file **file, lm_err *err) {
    *model = NULL;
    *file = NULL;
    const lm_catalog *c = lm_catalog_builtin(err);
    if (!c) return err ? err->code : LM_ERR_NOT_FOUND;
    char id[128];
    snprintf(id, sizeof id, "%s", ref ? ref : "");
    char *colon = strchr(id, ':');
    const char *quant = NULL;
    if (colon) {
        *colon = 0;
        quant = colon + 1;
    }
    const lm_catalog_model *m = lm_catalog_find(c, id);
    if (!m) return lm_fail(err, LM_ERR_NOT_FOUND, "'%s' is not a file, a folder or a catalog id "
                                                  "(see `localm ls`)", ref ? ref : "");
    const lm_catalog_file *f = lm_catalog_file_for(m, quant);
    if (!f) {
        char have[128] = "";
        for (int i = 0; i < m->n_files; i++) {
            strncat(have, i ? ", " : "", sizeof have - strlen(have) - 1);
            strncat(have, m->files[i].quant, sizeof have - strlen(have) - 1);
        }
        return lm_fail(err, LM_ERR_NOT_FOUND, "%s has no %s file (available: %s)", m->id, quant,
                       have);
    }
    *model = m;
    *file = f;
    return LM_OK;
}

/* Pull is a later issue; until `localm pull` is built in, say so. */
int lm_cmd_pull(int argc, char **argv);

lm_status lm_catalog_resolve(const char *ref, char *path, size_t cap, lm_err *err) {
    const lm_catalog_model *m;
    const lm_catalog_file *f;
    lm_status st = lm_catalog_lookup(ref, &m, &f, err);
    if (st != LM_OK) return st;
    char dir[1024];
    st = lm_disk_cache_model_dir(m->id, f->quant, dir, sizeof dir, err);
    if (st != LM_OK) return st;
    int n = snprintf(path, cap, "%s/%s", dir, f->file);
    if (n < 0 || (size_t)n >= cap) return lm_fail(err, LM_ERR_INVALID_ARG, "path too long");
    struct stat sb;
    if (stat(path, &sb) == 0) return LM_OK;
    return lm_fail(err, LM_ERR_NOT_FOUND, "%s (%s) is not downloaded; run `localm pull %s:%s`",
                   m->id, f->quant, m->id, f->quant);
}

int lm_catalog_hints(const char *ref, lm_select_hint *out, int max) {
    const lm_catalog *c = lm_catalog_builtin(NULL);
    if (!c || !ref) return 0;
    const lm_catalog_model *m = NULL;
    const lm_catalog_file *f = NULL;
    if (lm_catalog_lookup(ref, &m, &f, NULL) != LM_OK) {
        /* A path: match its file name against the catalog's files. */
        const char *base = strrchr(ref, '/');
        base = base ? base + 1 : ref;
        for (int i = 0; i < c->n_models && !m; i++)
            for (int j = 0; j < c->models[i].n_files; j++)
                if (!strcmp(c->models[i].files[j].file, base)) m = &c->models[i];
    }
    if (!m) return 0;
    int n = 0;
    for (int i = 0; i < m->n_backends && n < max; i++, n++) {
        out[n].backend = m->backends[i].name;
        out[n].supported = m->backends[i].supported;
        out[n].priority = m->backends[i].priority;
        out[n].notes = m->backends[i].notes;
    }
    return n;
}
