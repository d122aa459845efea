/* channel.c — producer/consumer byte pipe for streamed HTTP responses. */
#include "server/channel.h"
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct lm_channel {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *buf;
    size_t len, cap, head;
    bool closed, dropped;
    int refs;
};

lm_channel *lm_channel_create(void) {
    lm_channel *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->refs = 2;
    return c;
}

static void unref_locked_and_unlock(lm_channel *c) {
    int left = --c->refs;
    pthread_mutex_unlock(&c->mu);
    if (left == 0) {
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
        free(c->buf);
        free(c);
    }
}

bool lm_channel_write(lm_channel *c, const char *data, size_t len) {
    pthread_mutex_lock(&c->mu);
    if (c->dropped) {
        pthread_mutex_unlock(&c->mu);
        return false;
    }
    if (c->head > 0 && c->head == c->len) c->head = c->len = 0;
    if (c->len + len > c->cap) {
        size_t ncap = c->cap ? c->cap : 4096;
        while (ncap < c->len + len)
            ncap *= 2;
        char *nb = realloc(c->buf, ncap);
        if (!nb) {
            pthread_mutex_unlock(&c->mu);
            return false;
        }
        c->buf = nb;
        c->cap = ncap;
    }
    memcpy(c->buf + c->len, data, len);
    c->len += len;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return true;
}

bool lm_channel_printf(lm_channel *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char small[1024];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return false;
    if ((size_t)n < sizeof small) return lm_channel_write(c, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big) return false;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    bool ok = lm_channel_write(c, big, (size_t)n);
    free(big);
    return ok;
}

void lm_channel_close(lm_channel *c) {
    pthread_mutex_lock(&c->mu);
    c->closed = true;
    pthread_cond_broadcast(&c->cv);
    unref_locked_and_unlock(c);
}

bool lm_channel_cancelled(lm_channel *c) {
    pthread_mutex_lock(&c->mu);
    bool d = c->dropped;
    pthread_mutex_unlock(&c->mu);
    return d;
}

long lm_channel_read(lm_channel *c, char *buf, size_t max, int timeout_ms) {
    pthread_mutex_lock(&c->mu);
    if (c->head == c->len && !c->closed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += timeout_ms / 1000;
        ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (c->head == c->len && !c->closed)
            if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT) break;
    }
    long n;
    if (c->head < c->len) {
        size_t k = c->len - c->head;
        if (k > max) k = max;
        memcpy(buf, c->buf + c->head, k);
        c->head += k;
        n = (long)k;
    } else {
        n = c->closed ? -1 : 0;
    }
    pthread_mutex_unlock(&c->mu);
    return n;
}

void lm_channel_drop(lm_channel *c) {
    pthread_mutex_lock(&c->mu);
    c->dropped = true;
    pthread_cond_broadcast(&c->cv);
    unref_locked_and_unlock(c);
}
