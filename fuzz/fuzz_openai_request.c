/* fuzz_openai_request.c — libFuzzer target for the OpenAI request validator
 * (bytes straight from the network): chat and completion bodies, plus the
 * error body it produces. */
#include "server/openai_request.h"
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    for (int chat = 0; chat < 2; chat++) {
        lm_gen_request r;
        lm_api_error e;
        if (!lm_gen_request_parse((const char *)data, size, chat, &r, &e)) {
            char *body = lm_api_error_json(&e);
            free(body);
        }
        lm_gen_request_free(&r);
    }
    return 0;
}
