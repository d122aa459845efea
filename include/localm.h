/* localm.h — the public C API of LocalM: status codes, and (through the
 * headers under localm/) models, tokenizers, engines and generation. */
#ifndef LOCALM_H
#define LOCALM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LOCALM_VERSION "0.1.0"

/* Status codes. APPEND-ONLY: a code's number and name never change, new codes
 * go at the end (before LM_STATUS_COUNT). Each has a stable machine name
 * (lm_status_name) and a short human message (lm_status_message); the detailed
 * message of one failure lives in the handle or lm_err that reported it. */
typedef enum lm_status {
    LM_OK = 0,
    LM_ERR_INVALID_ARG = 1,     /* a caller passed something meaningless */
    LM_ERR_NO_MEMORY = 2,       /* an allocation failed */
    LM_ERR_IO = 3,              /* reading or writing a file failed */
    LM_ERR_NOT_FOUND = 4,       /* file, model, tensor or key does not exist */
    LM_ERR_MODEL_FORMAT = 5,    /* a model file is malformed or inconsistent */
    LM_ERR_UNSUPPORTED = 6,     /* well-formed but not supported (arch, type) */
    LM_ERR_TOKENIZER = 7,       /* tokenizer data is malformed or unusable */
    LM_ERR_TEMPLATE = 8,        /* chat template error (syntax or runtime) */
    LM_ERR_BACKEND = 9,         /* an engine failed while running */
    LM_ERR_DECLINED = 10,       /* an engine declined the model (check()) */
    LM_ERR_CONTEXT_FULL = 11,   /* the sequence does not fit in the context */
    LM_ERR_CANCELLED = 12,      /* the caller cancelled the operation */
    LM_ERR_FAULT_INJECTED = 13, /* a test fault hook fired (LOCALM_FAULT) */
    LM_ERR_NETWORK = 14,        /* a download or connection failed */
    LM_ERR_CHECKSUM = 15,       /* data does not match its expected sha256 */
    LM_ERR_TIMEOUT = 16,        /* an operation took longer than allowed */
    LM_ERR_BUSY = 17,           /* a queue is full or a resource is locked */
    LM_ERR_JSON = 18,           /* malformed JSON or a JSON value of wrong type */
    LM_ERR_DEVICE = 19,         /* no usable device, driver or device memory */
    LM_ERR_INTERNAL = 20,       /* a bug in LocalM */
    LM_STATUS_COUNT
} lm_status;

/* "LM_ERR_MODEL_FORMAT"; "LM_UNKNOWN_STATUS" for out-of-range values. */
const char *lm_status_name(lm_status s);
/* "malformed model file"; never NULL. */
const char *lm_status_message(lm_status s);

/* Detailed error of one failure: the code and a message naming exactly what is
 * wrong ("tensor blk.3.attn_q.weight: offset 123 + size 456 is past the end of
 * the file (789 bytes)"). Handles embed one; functions without a handle take a
 * pointer to one (which may be NULL). */
typedef struct lm_err {
    lm_status code;
    char msg[512];
} lm_err;

#ifdef __cplusplus
}
#endif
#endif
