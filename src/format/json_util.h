/* json_util.h — typed reads of cJSON values with range checks, shared by the
 * readers of JSON model metadata (safetensors headers, config.json). */
#ifndef LM_FORMAT_JSON_UTIL_H
#define LM_FORMAT_JSON_UTIL_H
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

/* True when item is a number holding an exact integer in [0, 2^53]. */
bool lm_json_as_u64(const cJSON *item, uint64_t *out);
/* True when item is a number holding an exact integer in [INT32_MIN, INT32_MAX]. */
bool lm_json_as_i32(const cJSON *item, int32_t *out);
#endif
