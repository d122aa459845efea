/* bigalloc.h — allocation of large read-mostly buffers (model weights) backed
 * by transparent huge pages where the kernel offers them. */
#ifndef LM_BASE_BIGALLOC_H
#define LM_BASE_BIGALLOC_H
#include <stddef.h>

/* Like malloc(n), aligned to 2 MiB and advised as huge-page memory; free
 * with lm_big_free. NULL on failure. */
void *lm_big_alloc(size_t n);
void lm_big_free(void *p);
/* Advises that [p, p+n) be backed by huge pages (a file mmap or anonymous
 * memory); a kernel that declines changes nothing. */
void lm_advise_huge(const void *p, size_t n);
#endif
