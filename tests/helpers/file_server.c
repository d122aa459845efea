/* file_server.c — the local HTTP server used by download tests. */
#include "file_server.h"
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct lm_file_server {
    struct MHD_Daemon *mhd;
    const unsigned char *body;
    size_t len;
    unsigned seed;
    atomic_int requests;
};

/* Per-response state: serves [pos, end) and fails after `budget` bytes. */
typedef struct reader {
    const lm_file_server *s;
    size_t pos, end, budget;
    int slow;
} reader;

static ssize_t read_body(void *cls, uint64_t off, char *buf, size_t max) {
    (void)off;
    reader *r = cls;
    if (r->slow) {
        usleep(100 * 1000);
        if (++r->slow > 60) return MHD_CONTENT_READER_END_WITH_ERROR;
        return 0;
    }
    if (r->pos >= r->end) return MHD_CONTENT_READER_END_OF_STREAM;
    if (r->budget == 0) return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = r->end - r->pos;
    if (n > max) n = max;
    if (n > r->budget) n = r->budget;
    memcpy(buf, r->s->body + r->pos, n);
    r->pos += n;
    r->budget -= n;
    return (ssize_t)n;
}

static enum MHD_Result simple(struct MHD_Connection *c, unsigned status, const char *text) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls) {
    (void)method, (void)version, (void)upload, (void)upload_size, (void)con_cls;
    lm_file_server *s = cls;
    atomic_fetch_add(&s->requests, 1);
    if (strstr(url, "/missing")) return simple(c, MHD_HTTP_NOT_FOUND, "not found");
    reader *r = calloc(1, sizeof *r);
    r->s = s;
    r->end = s->len;
    r->budget = (size_t)-1;
    if (strstr(url, "/slow")) r->slow = 1;
    if (strstr(url, "/cut")) r->budget = 1 + (size_t)(rand_r(&s->seed) % (s->len / 3 + 1));
    if (strstr(url, "/delay")) usleep(200 * 1000);
    const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range");
    unsigned status = MHD_HTTP_OK;
    if (range && !strncmp(range, "bytes=", 6)) {
        size_t from = strtoull(range + 6, NULL, 10);
        if (from >= s->len) {
            free(r);
            return simple(c, MHD_HTTP_RANGE_NOT_SATISFIABLE, "");
        }
        r->pos = from;
        status = MHD_HTTP_PARTIAL_CONTENT;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_callback(r->end - r->pos, 16 * 1024, read_body, r, free);
    if (status == MHD_HTTP_PARTIAL_CONTENT) {
        char cr[96];
        snprintf(cr, sizeof cr, "bytes %zu-%zu/%zu", r->pos, s->len - 1, s->len);
        MHD_add_response_header(resp, "Content-Range", cr);
    }
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

lm_file_server *lm_file_server_start(const unsigned char *body, size_t len) {
    lm_file_server *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->body = body;
    s->len = len;
    s->seed = 12345;
    s->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                              NULL, NULL, handler, s, MHD_OPTION_END);
    if (!s->mhd) {
        free(s);
        return NULL;
    }
    return s;
}

int lm_file_server_port(const lm_file_server *s) {
    return MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT)->port;
}

int lm_file_server_requests(const lm_file_server *s) {
    return atomic_load(&((lm_file_server *)s)->requests);
}

void lm_file_server_stop(lm_file_server *s) {
    if (!s) return;
    MHD_stop_daemon(s->mhd);
    free(s);
}
