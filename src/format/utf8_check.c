/* utf8_check.c — strict UTF-8 validation (RFC 3629 well-formed sequences). */
#include "format/utf8_check.h"
#include <stdint.h>

bool lm_utf8_valid(const char *s, size_t n, size_t *bad) {
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        size_t k;
        uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            if (c == 0xe0) lo = 0xa0; /* overlong */
            if (c == 0xed) hi = 0x9f; /* surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            if (c == 0xf0) lo = 0x90; /* overlong */
            if (c == 0xf4) hi = 0x8f; /* above U+10FFFF */
        } else {
            goto fail;
        }
        if (n - i <= k) goto fail;
        if (p[i + 1] < lo || p[i + 1] > hi) goto fail;
        for (size_t j = 2; j <= k; j++)
            if ((p[i + j] & 0xc0) != 0x80) goto fail;
        i += k + 1;
    }
    return true;
fail:
    if (bad) *bad = i;
    return false;
}
