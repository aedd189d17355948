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

/*
 * One piece of output: all of `buf`'s contents when buf is set, else
 * `len` bytes at `data`.  Bytes at `data` that must wait are copied, or,
 * when `cleanup` is set, queued by reference: cleanup(data, len, arg)
 * then runs exactly once, when nothing needs the bytes any more.
 */
struct sockio_out {
	struct evbuffer *buf;
	const void *data;
	size_t len;
	evbuffer_ref_cleanup_cb cleanup;
	void *arg;
};

/* What sockio_queue and sockio_write_through return besides 0. */
#define SOCKIO_WRITE_ERROR (-1) /* the socket failed; errno says why */
#define SOCKIO_NO_MEMORY (-2)   /* the destination could not grow */

/* Returns the number of bytes o holds. */
size_t sockio_out_len(const struct sockio_out *o);

/* Lets o go unsent: buf is drained, a reference's cleanup runs. */
void sockio_discard(struct sockio_out *o);

/* Appends o to dst.  Takes o whatever the outcome (buf is left empty,
   a reference belongs to dst or is released).  Returns 0 or
   SOCKIO_NO_MEMORY. */
int sockio_queue(struct evbuffer *dst, struct sockio_out *o);

/*
 * The write-through both engines use: while `out` (a bufferevent's
 * output) is empty, o goes straight to fd as far as the kernel takes it
 * now, and only the rest is appended to out.  Takes o like sockio_queue.
 * Returns 0, SOCKIO_WRITE_ERROR (nothing queued; errno kept) or
 * SOCKIO_NO_MEMORY.
 */
int sockio_write_through(evutil_socket_t fd, struct evbuffer *out,
    struct sockio_out *o);

#endif
