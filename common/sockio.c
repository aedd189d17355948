#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "sockio.h"

#define SOCKIO_IOV_MAX 64

ssize_t
sockio_write_evbuffer(evutil_socket_t fd, struct evbuffer *buf)
{
	struct evbuffer_iovec v[SOCKIO_IOV_MAX];
	struct iovec iov[SOCKIO_IOV_MAX];
	struct msghdr mh;
	ssize_t n;
	int nv;

	nv = evbuffer_peek(buf, -1, NULL, v, SOCKIO_IOV_MAX);
	if (nv <= 0)
		return 0;
	if (nv > SOCKIO_IOV_MAX)
		nv = SOCKIO_IOV_MAX;
	for (int i = 0; i < nv; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
	}
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = (size_t)nv;
	n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK ||
		           errno == EINTR) ?
		    0 :
		    -1;
	evbuffer_drain(buf, (size_t)n);
	return n;
}

ssize_t
sockio_write(evutil_socket_t fd, const void *data, size_t len)
{
	ssize_t n = send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK ||
		           errno == EINTR) ?
		    0 :
		    -1;
	return n;
}

size_t
sockio_out_len(const struct sockio_out *o)
{
	return o->buf != NULL ? evbuffer_get_length(o->buf) : o->len;
}

void
sockio_discard(struct sockio_out *o)
{
	if (o->buf != NULL)
		evbuffer_drain(o->buf, evbuffer_get_length(o->buf));
	else if (o->cleanup != NULL)
		o->cleanup(o->data, o->len, o->arg);
}

/* Appends o to dst past its first `skip` bytes (already written). */
static int
sockio_append(struct evbuffer *dst, struct sockio_out *o, size_t skip)
{
	const char *p = (const char *)o->data + skip;
	size_t n = o->len - skip;

	if (o->buf != NULL) {
		if (evbuffer_get_length(o->buf) == 0 ||
		    evbuffer_add_buffer(dst, o->buf) == 0)
			return 0;
	} else if (n == 0) {
		/* All of it was written: nothing holds a reference. */
		if (o->cleanup != NULL)
			o->cleanup(o->data, o->len, o->arg);
		return 0;
	} else if (o->cleanup == NULL ?
	        evbuffer_add(dst, p, n) == 0 :
	        evbuffer_add_reference(dst, p, n, o->cleanup, o->arg) == 0) {
		return 0;
	}
	/* A failed evbuffer_add_reference does not run the cleanup. */
	sockio_discard(o);
	return SOCKIO_NO_MEMORY;
}

int
sockio_queue(struct evbuffer *dst, struct sockio_out *o)
{
	return sockio_append(dst, o, 0);
}

int
sockio_write_through(evutil_socket_t fd, struct evbuffer *out,
    struct sockio_out *o)
{
	ssize_t n = 0;
	int err;

	if (evbuffer_get_length(out) == 0) {
		if (o->buf != NULL)
			n = sockio_write_evbuffer(fd, o->buf);
		else
			n = sockio_write(fd, o->data, o->len);
		if (n < 0) {
			err = errno;
			sockio_discard(o);
			errno = err;
			return SOCKIO_WRITE_ERROR;
		}
	}
	return sockio_append(out, o, o->buf != NULL ? 0 : (size_t)n);
}
