/* cmd_ls.c — `localm ls [--json]`: the catalog's models and which of their
 * files are in the disk cache, with sizes. */
#include "backend/select.h"
#include "base/err.h"
#include "catalog/catalog.h"
#include "catalog/disk_cache.h"
#include "cli/commands.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f) {
    fprintf(f, "usage: localm ls [--json]\n\n"
               "Lists the models of the built-in catalog and the files of each that are\n"
               "downloaded (in $LOCALM_HOME, default ~/.cache/localm). --json prints a JSON\n"
               "array of {id, name, architecture, on_disk, size_bytes, backends, files}.\n");
}

/* Bytes of the file of quantization f in the cache, or -1 when absent. */
static long long on_disk(const lm_catalog_model *m, const lm_catalog_file *f) {
    char dir[1024], path[1400];
    if (lm_disk_cache_model_dir(m->id, f->quant, dir, sizeof dir, NULL) != LM_OK) return -1;
    snprintf(path, sizeof path, "%s/%s", dir, f->file);
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static int cmp_backend(const void *a, const void *b) {
    const lm_catalog_backend *x = a, *y = b;
    return (x->priority > y->priority) - (x->priority < y->priority);
}

static cJSON *model_json(const lm_catalog_model *m) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", m->id);
    cJSON_AddStringToObject(o, "name", m->name);
    cJSON_AddStringToObject(o, "architecture", m->architecture);
    cJSON_AddNumberToObject(o, "parameters", (double)m->parameters);
    cJSON_AddNumberToObject(o, "context_length", m->context_length);
    cJSON_AddStringToObject(o, "license", m->license);
    long long total = 0;
    bool any = false;
    cJSON *files = cJSON_AddArrayToObject(o, "files");
    for (int i = 0; i < m->n_files; i++) {
        const lm_catalog_file *f = &m->files[i];
        long long sz = on_disk(m, f);
        cJSON *fo = cJSON_CreateObject();
        cJSON_AddStringToObject(fo, "quant", f->quant);
        cJSON_AddStringToObject(fo, "repo", f->repo);
        cJSON_AddStringToObject(fo, "file", f->file);
        cJSON_AddBoolToObject(fo, "on_disk", sz >= 0);
        if (sz >= 0) cJSON_AddNumberToObject(fo, "size_bytes", (double)sz);
        else if (f->size_bytes) cJSON_AddNumberToObject(fo, "size_bytes", (double)f->size_bytes);
        else cJSON_AddNullToObject(fo, "size_bytes");
        cJSON_AddItemToArray(files, fo);
        if (sz >= 0) {
            any = true;
            total += sz;
        }
    }
    cJSON_AddBoolToObject(o, "on_disk", any);
    cJSON_AddNumberToObject(o, "size_bytes", (double)total);
    lm_catalog_backend bs[LM_CATALOG_MAX_BACKENDS];
    memcpy(bs, m->backends, (size_t)m->n_backends * sizeof bs[0]);
    qsort(bs, (size_t)m->n_backends, sizeof bs[0], cmp_backend);
    cJSON *arr = cJSON_AddArrayToObject(o, "backends");
    for (int i = 0; i < m->n_backends; i++)
        if (bs[i].supported) cJSON_AddItemToArray(arr, cJSON_CreateString(bs[i].name));
    return o;
}

static void print_table(const lm_catalog *c) {
    printf("%-26s %-26s %-7s %7s %7s  %s\n", "ID", "NAME", "ARCH", "PARAMS", "CTX", "ON DISK");
    for (int i = 0; i < c->n_models; i++) {
        const lm_catalog_model *m = &c->models[i];
        char disk[256] = "";
        size_t n = 0;
        for (int j = 0; j < m->n_files; j++) {
            long long sz = on_disk(m, &m->files[j]);
            if (sz < 0) continue;
            char b[32];
            int w = snprintf(disk + n, sizeof disk - n, "%s%s %s", n ? ", " : "", m->files[j].quant,
                             lm_format_bytes((uint64_t)sz, b, sizeof b));
            if (w > 0 && (size_t)w < sizeof disk - n) n += (size_t)w;
        }
        char params[16];
        if (m->parameters >= 1000000000ull)
            snprintf(params, sizeof params, "%.1fB", (double)m->parameters / 1e9);
        else
            snprintf(params, sizeof params, "%.0fM", (double)m->parameters / 1e6);
        printf("%-26s %-26s %-7s %7s %7u  %s\n", m->id, m->name, m->architecture, params,
               m->context_length, n ? disk : "-");
    }
    char home[1024];
    if (lm_disk_cache_home(home, sizeof home, NULL) == LM_OK)
        printf("\nmodels are stored in %s/models; run a model with `localm run -m ID -p TEXT`\n",
               home);
}

int lm_cmd_ls(int argc, char **argv) {
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "localm ls: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    lm_err err = {0};
    const lm_catalog *c = lm_catalog_builtin(&err);
    if (!c) {
        fprintf(stderr, "localm ls: %s\n", lm_err_text(&err));
        return 1;
    }
    if (!json) {
        print_table(c);
        return 0;
    }
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < c->n_models; i++) cJSON_AddItemToArray(arr, model_json(&c->models[i]));
    char *s = cJSON_Print(arr);
    cJSON_Delete(arr);
    if (!s) {
        fprintf(stderr, "localm ls: out of memory\n");
        return 1;
    }
    printf("%s\n", s);
    free(s);
    return 0;
}
