/* show_catalog.c — `localm show ID`: the catalog entry of a model id. */
#include "cli/show_catalog.h"
#include "backend/select.h"
#include "catalog/catalog.h"
#include "catalog/disk_cache.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool cached_path(const lm_catalog_model *m, const lm_catalog_file *f, char *path,
                        size_t cap) {
    char dir[1024];
    if (lm_disk_cache_model_dir(m->id, f->quant, dir, sizeof dir, NULL) != LM_OK) return false;
    if (snprintf(path, cap, "%s/%s", dir, f->file) >= (int)cap) return false;
    struct stat st;
    return stat(path, &st) == 0;
}

static void print_json(const lm_catalog_model *m, const lm_catalog_file *chosen, bool have,
                       const char *path) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", m->id);
    cJSON_AddStringToObject(o, "name", m->name);
    cJSON_AddStringToObject(o, "architecture", m->architecture);
    cJSON_AddNumberToObject(o, "parameters", (double)m->parameters);
    cJSON_AddNumberToObject(o, "context_length", m->context_length);
    cJSON_AddStringToObject(o, "license", m->license);
    cJSON_AddStringToObject(o, "quant", chosen->quant);
    cJSON_AddStringToObject(o, "repo", chosen->repo);
    cJSON_AddStringToObject(o, "file", chosen->file);
    if (chosen->size_bytes) cJSON_AddNumberToObject(o, "size_bytes", (double)chosen->size_bytes);
    if (*chosen->sha256) cJSON_AddStringToObject(o, "sha256", chosen->sha256);
    cJSON_AddBoolToObject(o, "on_disk", have);
    if (have) cJSON_AddStringToObject(o, "path", path);
    cJSON *bs = cJSON_AddObjectToObject(o, "backends");
    for (int i = 0; i < m->n_backends; i++) {
        const lm_catalog_backend *b = &m->backends[i];
        cJSON *bo = cJSON_AddObjectToObject(bs, b->name);
        cJSON_AddBoolToObject(bo, "supported", b->supported);
        cJSON_AddNumberToObject(bo, "priority", b->priority);
        if (b->min_ram_mb) cJSON_AddNumberToObject(bo, "min_ram_mb", (double)b->min_ram_mb);
        if (b->min_vram_mb) cJSON_AddNumberToObject(bo, "min_vram_mb", (double)b->min_vram_mb);
        if (*b->notes) cJSON_AddStringToObject(bo, "notes", b->notes);
    }
    char *s = cJSON_Print(o);
    if (s) printf("%s\n", s);
    free(s);
    cJSON_Delete(o);
}

int lm_cli_show_catalog(const char *ref, bool json, char *path, size_t cap) {
    const lm_catalog_model *m;
    const lm_catalog_file *f;
    if (lm_catalog_lookup(ref, &m, &f, NULL) != LM_OK) return -1;
    bool have = cached_path(m, f, path, cap);
    if (json) {
        print_json(m, f, have, path);
        return have ? 1 : 0;
    }
    printf("catalog id     %s (%s)\n", m->id, m->name);
    printf("parameters     %.2f B, context %u, license %s\n", (double)m->parameters / 1e9,
           m->context_length, m->license);
    for (int i = 0; i < m->n_files; i++) {
        const lm_catalog_file *x = &m->files[i];
        char sz[32] = "size not recorded";
        if (x->size_bytes) lm_format_bytes(x->size_bytes, sz, sizeof sz);
        char p[1400];
        printf("file %-9s hf://%s/%s (%s)%s%s\n", x->quant, x->repo, x->file, sz,
               x == f ? " <- selected" : "", cached_path(m, x, p, sizeof p) ? ", downloaded" : "");
    }
    for (int i = 0; i < m->n_backends; i++) {
        const lm_catalog_backend *b = &m->backends[i];
        printf("backend %-6s %s, priority %d", b->name, b->supported ? "supported" : "not supported",
               b->priority);
        if (b->min_ram_mb) printf(", needs %llu MiB RAM", (unsigned long long)b->min_ram_mb);
        if (b->min_vram_mb) printf(", needs %llu MiB VRAM", (unsigned long long)b->min_vram_mb);
        printf("%s%s\n", *b->notes ? "; " : "", b->notes);
    }
    if (!have) printf("on disk        no; run `localm pull %s:%s`\n", m->id, f->quant);
    else printf("on disk        %s\n\n", path);
    return have ? 1 : 0;
}
