/* bigalloc.c — 2 MiB-aligned weight buffers advised as transparent huge
 * pages: a decode step streams every weight once, and with 4 KiB pages it
 * takes a TLB miss (and a hardware-prefetch restart) every 4 KiB. */
#include "base/bigalloc.h"
#include <stdint.h>
#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

enum { HUGE_BYTES = 2 << 20 };

void lm_advise_huge(const void *p, size_t n) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    /* madvise wants a page-aligned start: round inwards */
    uintptr_t a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095, e = (uintptr_t)p + n;
    if (e > a) (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
#else
    (void)p, (void)n;
#endif
}

void *lm_big_alloc(size_t n) {
    if (n < HUGE_BYTES) return malloc(n ? n : 1);
    size_t rounded = (n + HUGE_BYTES - 1) & ~(size_t)(HUGE_BYTES - 1);
    void *p = NULL;
    if (posix_memalign(&p, HUGE_BYTES, rounded) != 0) return NULL;
    lm_advise_huge(p, rounded);
    return p;
}

void lm_big_free(void *p) {
    free(p);
}
