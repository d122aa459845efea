/* mapfile.h — read-only memory mapping of a whole file, plus its identity
 * (device, inode, size, mtime) used as a cache key. With LOCALM_MMAP=0 the
 * file is read into huge-page memory instead (llama.cpp's --no-mmap): the
 * page cache maps files with 4 KiB pages, which costs decode bandwidth. */
#ifndef LM_BASE_MAPFILE_H
#define LM_BASE_MAPFILE_H
#include "localm.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct lm_file_id {
    uint64_t dev, ino, size;
    int64_t mtime_ns;
} lm_file_id;

typedef struct lm_mapfile {
    const uint8_t *data; /* NULL for an empty file */
    size_t size;
    lm_file_id id;
    bool copied; /* data is a read copy (LOCALM_MMAP=0), not a mapping */
} lm_mapfile;

lm_status lm_mapfile_open(lm_mapfile *m, const char *path, lm_err *err);
void lm_mapfile_close(lm_mapfile *m); /* safe on a zeroed or closed map */

/* Reads a whole (small) file into a NUL-terminated malloc'd buffer, at most
 * max_bytes; *len excludes the NUL. */
lm_status lm_read_file(const char *path, size_t max_bytes, char **out, size_t *len, lm_err *err);
#endif
