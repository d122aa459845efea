/* json_util.c — exact-integer reads of JSON numbers (which cJSON keeps as doubles). */
#include "format/json_util.h"

bool lm_json_as_u64(const cJSON *item, uint64_t *out) {
    if (!cJSON_IsNumber(item)) return false;
    double d = item->valuedouble;
    /* 2^53: beyond it doubles no longer hold every integer exactly. */
    if (!(d >= 0 && d <= 9007199254740992.0)) return false;
    uint64_t u = (uint64_t)d;
    if ((double)u != d) return false;
    *out = u;
    return true;
}

bool lm_json_as_i32(const cJSON *item, int32_t *out) {
    if (!cJSON_IsNumber(item)) return false;
    double d = item->valuedouble;
    if (!(d >= -2147483648.0 && d <= 2147483647.0)) return false;
    int32_t i = (int32_t)d;
    if ((double)i != d) return false;
    *out = i;
    return true;
}
