/* fuzz_catalog.c — libFuzzer target: the catalog schema check and parser on
 * arbitrary bytes. */
#include "catalog/catalog.h"
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lm_err err = {0};
    lm_catalog *c = NULL;
    if (lm_catalog_parse((const char *)data, size, &c, &err) == LM_OK) {
        for (int i = 0; i < c->n_models; i++)
            lm_catalog_file_for(&c->models[i], NULL);
        lm_catalog_free(c);
    }
    return 0;
}
