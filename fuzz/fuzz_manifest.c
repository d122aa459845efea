/* fuzz_manifest.c — libFuzzer target: disk-cache manifest parsing on
 * arbitrary bytes, and the round trip of what parses. */
#include "catalog/disk_cache.h"
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lm_manifest m;
    lm_err err = {0};
    if (lm_manifest_parse((const char *)data, size, &m, &err) != LM_OK) return 0;
    char *json = lm_manifest_to_json(&m);
    if (!json) return 0;
    lm_manifest back;
    if (lm_manifest_parse(json, strlen(json), &back, &err) != LM_OK || back.size != m.size ||
        strcmp(back.file, m.file) != 0)
        abort(); /* what we write must read back the same */
    free(json);
    return 0;
}
