/* channel.h — a byte pipe from a producer thread (the worker's event callback)
 * to an HTTP response being streamed by libmicrohttpd. The consumer blocks
 * until bytes arrive or the producer closes; when the client goes away the
 * consumer side is dropped and the producer sees `cancelled`. */
#ifndef LM_SERVER_CHANNEL_H
#define LM_SERVER_CHANNEL_H
#include <stdbool.h>
#include <stddef.h>

typedef struct lm_channel lm_channel;

lm_channel *lm_channel_create(void); /* one reference for each side */
/* Producer side. Returns false once the consumer is gone (client disconnected). */
bool lm_channel_write(lm_channel *c, const char *data, size_t len);
bool lm_channel_printf(lm_channel *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lm_channel_close(lm_channel *c); /* producer done; drops its reference */
bool lm_channel_cancelled(lm_channel *c);

/* Consumer side: copies up to max bytes; blocks up to timeout_ms. Returns the
 * byte count, 0 on timeout, -1 when closed and drained. */
long lm_channel_read(lm_channel *c, char *buf, size_t max, int timeout_ms);
void lm_channel_drop(lm_channel *c); /* consumer gone; drops its reference */
#endif
