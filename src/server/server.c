/* server.c — the libmicrohttpd daemon: reads bounded request bodies, checks
 * the API key, hands requests to the routes and sends their answers, streamed
 * from a channel for Server-Sent Events. */
#include "server/server.h"
#include "base/err.h"
#include "server/routes.h"
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lm_server_opts_default(lm_server_opts *o) {
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 8080;
    o->max_body = 1u << 20;
    o->max_queue = 16;
    o->keep_alive_s = 300;
}

typedef struct conn_state {
    char *body;
    size_t len, cap;
    bool too_large;
} conn_state;

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    long n = lm_channel_read(cls, buf, max, 1000);
    if (n < 0) return MHD_CONTENT_READER_END_OF_STREAM;
    return (ssize_t)n;
}

static void stream_free(void *cls) {
    lm_channel_drop(cls); /* the client is gone or the stream ended */
}

static enum MHD_Result send_response(struct MHD_Connection *c, lm_http_response *r) {
    struct MHD_Response *mr;
    if (r->stream) {
        mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_reader, r->stream,
                                               stream_free);
        MHD_add_response_header(mr, "Cache-Control", "no-cache");
        MHD_add_response_header(mr, "X-Accel-Buffering", "no");
    } else if (r->body_static) {
        mr = MHD_create_response_from_buffer(r->body_len, (void *)r->body_static,
                                             MHD_RESPMEM_PERSISTENT);
    } else {
        mr = MHD_create_response_from_buffer(r->body_len, r->body ? r->body : (char *)"",
                                             r->body ? MHD_RESPMEM_MUST_FREE
                                                     : MHD_RESPMEM_PERSISTENT);
        r->body = NULL;
    }
    if (!mr) return MHD_NO;
    if (r->content_type) MHD_add_response_header(mr, "Content-Type", r->content_type);
    for (int i = 0; i < r->n_headers; i++)
        MHD_add_response_header(mr, r->headers[i][0], r->headers[i][1]);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
    (void)version;
    lm_server *s = cls;
    conn_state *st = *con_cls;
    if (!st) {
        st = calloc(1, sizeof *st);
        if (!st) return MHD_NO;
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_size) {
        /* Bodies over the limit are read and discarded, then refused with 413. */
        if (!st->too_large) {
            if (st->len + *upload_size > s->opts.max_body) {
                st->too_large = true;
                free(st->body);
                st->body = NULL;
                st->len = st->cap = 0;
            } else {
                if (st->len + *upload_size + 1 > st->cap) {
                    size_t ncap = st->cap ? st->cap : 4096;
                    while (ncap < st->len + *upload_size + 1)
                        ncap *= 2;
                    char *nb = realloc(st->body, ncap);
                    if (!nb) return MHD_NO;
                    st->body = nb;
                    st->cap = ncap;
                }
                memcpy(st->body + st->len, upload, *upload_size);
                st->len += *upload_size;
                st->body[st->len] = 0;
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    atomic_fetch_add(&s->metrics.requests_total, 1);
    lm_http_response resp = {0};
    if (st->too_large) {
        lm_api_error e;
        lm_api_fail(&e, 413, "invalid_request_error", NULL, "request_too_large",
                    "the request body is larger than the limit of %zu bytes", s->opts.max_body);
        lm_http_set_error(&resp, &e);
    } else {
        lm_http_request req = {
            .method = method,
            .path = url,
            .body = st->body ? st->body : "",
            .body_len = st->len,
            .authorization = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"),
        };
        lm_server_route(s, &req, &resp);
    }
    if (resp.status >= 400) atomic_fetch_add(&s->metrics.requests_failed, 1);
    enum MHD_Result r = send_response(c, &resp);
    free(resp.body);
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)c, (void)toe;
    conn_state *st = *con_cls;
    if (st) {
        free(st->body);
        free(st);
    }
    *con_cls = NULL;
}

lm_status lm_server_start(const lm_server_opts *o, lm_server **out, lm_err *err) {
    *out = NULL;
    lm_server *s = calloc(1, sizeof *s);
    if (!s) return lm_fail(err, LM_ERR_NO_MEMORY, "server: out of memory");
    s->opts = *o;
    snprintf(s->host, sizeof s->host, "%s", o->host ? o->host : "127.0.0.1");
    if (o->api_key) snprintf(s->api_key, sizeof s->api_key, "%s", o->api_key);
    s->opts.host = s->host;
    s->opts.api_key = s->api_key[0] ? s->api_key : NULL;
    if (!s->opts.max_body) s->opts.max_body = 1u << 20;
    if (s->opts.max_queue <= 0) s->opts.max_queue = 16;
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)o->port);
    if (inet_pton(AF_INET, s->host, &sa.sin_addr) != 1) {
        free(s);
        return lm_fail(err, LM_ERR_INVALID_ARG, "--host %s is not an IPv4 address", o->host);
    }
    lm_status st = lm_routes_create(s, err);
    if (st) {
        free(s);
        return st;
    }
    s->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                                  MHD_USE_ERROR_LOG,
                              (uint16_t)o->port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
                              (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600, MHD_OPTION_END);
    if (!s->mhd) {
        lm_routes_free(s);
        free(s);
        return lm_fail(err, LM_ERR_IO, "cannot listen on %s:%d (address in use?)", o->host,
                       o->port);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : o->port;
    *out = s;
    return LM_OK;
}

int lm_server_port(const lm_server *s) {
    return s->port;
}

void lm_server_stop(lm_server *s) {
    if (!s) return;
    atomic_store(&s->stopping, true);
    lm_routes_shutdown(s); /* cancels generation; streams get their final event */
    MHD_stop_daemon(s->mhd);
    lm_routes_free(s);
    free(s);
}
