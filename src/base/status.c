/* status.c — names and messages of lm_status codes. */
#include "localm.h"

static const struct {
    const char *name;
    const char *message;
} k_status[LM_STATUS_COUNT] = {
    [LM_OK] = {"LM_OK", "success"},
    [LM_ERR_INVALID_ARG] = {"LM_ERR_INVALID_ARG", "invalid argument"},
    [LM_ERR_NO_MEMORY] = {"LM_ERR_NO_MEMORY", "out of memory"},
    [LM_ERR_IO] = {"LM_ERR_IO", "input/output error"},
    [LM_ERR_NOT_FOUND] = {"LM_ERR_NOT_FOUND", "not found"},
    [LM_ERR_MODEL_FORMAT] = {"LM_ERR_MODEL_FORMAT", "malformed model file"},
    [LM_ERR_UNSUPPORTED] = {"LM_ERR_UNSUPPORTED", "not supported"},
    [LM_ERR_TOKENIZER] = {"LM_ERR_TOKENIZER", "tokenizer error"},
    [LM_ERR_TEMPLATE] = {"LM_ERR_TEMPLATE", "chat template error"},
    [LM_ERR_BACKEND] = {"LM_ERR_BACKEND", "engine failure"},
    [LM_ERR_DECLINED] = {"LM_ERR_DECLINED", "engine declined the model"},
    [LM_ERR_CONTEXT_FULL] = {"LM_ERR_CONTEXT_FULL", "context is full"},
    [LM_ERR_CANCELLED] = {"LM_ERR_CANCELLED", "cancelled"},
    [LM_ERR_FAULT_INJECTED] = {"LM_ERR_FAULT_INJECTED", "injected fault"},
    [LM_ERR_NETWORK] = {"LM_ERR_NETWORK", "network error"},
    [LM_ERR_CHECKSUM] = {"LM_ERR_CHECKSUM", "checksum mismatch"},
    [LM_ERR_TIMEOUT] = {"LM_ERR_TIMEOUT", "timed out"},
    [LM_ERR_BUSY] = {"LM_ERR_BUSY", "busy"},
    [LM_ERR_JSON] = {"LM_ERR_JSON", "malformed JSON"},
    [LM_ERR_DEVICE] = {"LM_ERR_DEVICE", "device unavailable"},
    [LM_ERR_INTERNAL] = {"LM_ERR_INTERNAL", "internal error"},
};

const char *lm_status_name(lm_status s) {
    if ((unsigned)s >= LM_STATUS_COUNT || !k_status[s].name) return "LM_UNKNOWN_STATUS";
    return k_status[s].name;
}

const char *lm_status_message(lm_status s) {
    if ((unsigned)s >= LM_STATUS_COUNT || !k_status[s].message) return "unknown status";
    return k_status[s].message;
}
