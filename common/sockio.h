/* Socket output helpers shared by the server and client engines. */
#ifndef EVSOCK_COMMON_SOCKIO_H
#define EVSOCK_COMMON_SOCKIO_H

#include <sys/types.h>

#include <event2/buffer.h>
#include <event2/util.h>

/*
 * Writes as much of buf as the socket takes now, without blocking and
 * without SIGPIPE, and drains what was written.  Returns the number of
 * bytes written (0 when the socket is full), or -1 with errno on a hard
 * error.
 */
ssize_t sockio_write_evbuffer(evutil_socket_t fd, struct evbuffer *buf);

/* Like sockio_write_evbuffer for a plain array. */
ssize_t sockio_write(evutil_socket_t fd, const void *data, size_t len);

#endif
