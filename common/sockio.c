#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "sockio.h"

#define SOCKIO_IOV_MAX 16

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
		    errno == EINTR) ? 0 : -1;
	evbuffer_drain(buf, (size_t)n);
	return n;
}

ssize_t
sockio_write(evutil_socket_t fd, const void *data, size_t len)
{
	ssize_t n = send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR) ? 0 : -1;
	return n;
}
