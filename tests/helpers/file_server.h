/* file_server.h — a local HTTP server (libmicrohttpd) for download tests. It
 * serves one body at every path, honouring Range, except that a path
 * containing "/missing" answers 404, "/slow" never sends a byte, "/cut" drops
 * the connection after a random number of bytes and "/delay" waits 200 ms. */
#ifndef LM_TESTS_FILE_SERVER_H
#define LM_TESTS_FILE_SERVER_H
#include <stddef.h>

typedef struct lm_file_server lm_file_server;
lm_file_server *lm_file_server_start(const unsigned char *body, size_t len);
int lm_file_server_port(const lm_file_server *s);
int lm_file_server_requests(const lm_file_server *s); /* requests served so far */
void lm_file_server_stop(lm_file_server *s);
#endif
