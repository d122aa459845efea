/* demo_model.h — the small model embedded in the library (models/localm-demo.gguf,
 * trained by tools/train-demo-model), so LocalM runs offline on the first run. */
#ifndef LM_MODEL_DEMO_MODEL_H
#define LM_MODEL_DEMO_MODEL_H
#include "localm.h"
#include <stdbool.h>
#include <stddef.h>

/* The catalog id of the embedded model. */
#define LM_DEMO_MODEL_ID "localm-demo"

/* Whether this build embeds the demo model. */
bool lm_demo_model_available(void);
/* The embedded GGUF bytes (NULL, 0 when not embedded). */
const unsigned char *lm_demo_model_bytes(size_t *len);

/* Writes the embedded GGUF once into the disk cache, as
 * HOME/models/localm-demo-<first 12 hex of its sha256>.gguf (HOME: see
 * lm_disk_cache_home), so the mmap-based reader can open it, and puts that
 * path in out. An existing file of the right size is reused; a new one is
 * written under a temporary name and renamed into place, so concurrent
 * callers never see a partial file. */
lm_status lm_demo_model_path(char *out, size_t cap, lm_err *err);
#endif
