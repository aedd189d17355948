/*
 * The output spool of one pass (spool.h): chunks of bytes stored once,
 * and the ranges of them each corked connection writes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../common/sockio.h"
#include "spool.h"

/* A chunk's size unless one write needs more; the first chunk stays
   allocated between passes, so an idle server holds one. */
#define SPOOL_CHUNK (64 * 1024)

/* A cork's array of ranges starts this long; a longer one is freed
   once written, so idle connections hold only the small one. */
#define SPOOL_SEGS_KEEP 4

struct spool_chunk {
	struct spool_chunk *next;
	size_t size, used;
	char data[];
};

static struct spool_chunk *
spool_chunk_new(size_t need)
{
	size_t size = need > SPOOL_CHUNK ? need : SPOOL_CHUNK;
	struct spool_chunk *k = malloc(sizeof(*k) + size);

	if (k == NULL)
		return NULL;
	k->next = NULL;
	k->size = size;
	k->used = 0;
	return k;
}

/* Returns room for len bytes at the spool's end, counted as used. */
static char *
spool_room(struct spool *s, size_t len)
{
	struct spool_chunk *k = s->tail;
	char *p;

	if (k == NULL || k->size - k->used < len) {
		if ((k = spool_chunk_new(len)) == NULL)
			return NULL;
		if (s->tail != NULL)
			s->tail->next = k;
		else
			s->head = k;
		s->tail = k;
	}
	p = k->data + k->used;
	k->used += len;
	s->used += len;
	return p;
}

const char *
spool_put(struct spool *s, const void *data, size_t len)
{
	char *p = spool_room(s, len);

	if (p != NULL && len > 0)
		memcpy(p, data, len);
	return p;
}

const char *
spool_put_buffer(struct spool *s, struct evbuffer *buf)
{
	size_t len = evbuffer_get_length(buf);
	char *p = spool_room(s, len);

	if (p == NULL)
		return NULL;
	evbuffer_remove(buf, p, len);
	return p;
}

void
spool_reset(struct spool *s)
{
	struct spool_chunk *k, *next;

	if (s->head == NULL)
		return;
	/* A chunk made bigger for one large write is not kept. */
	if (s->head->size > SPOOL_CHUNK) {
		spool_free(s);
		s->gen++;
		return;
	}
	for (k = s->head->next; k != NULL; k = next) {
		next = k->next;
		free(k);
	}
	s->head->next = NULL;
	s->head->used = 0;
	s->tail = s->head;
	s->used = 0;
	s->gen++;
}

void
spool_free(struct spool *s)
{
	struct spool_chunk *k, *next;

	for (k = s->head; k != NULL; k = next) {
		next = k->next;
		free(k);
	}
	s->head = s->tail = NULL;
	s->used = 0;
}

int
spool_segs_add(struct spool_segs *g, const char *p, size_t len)
{
	struct iovec *v;

	if (g->n > 0) {
		v = &g->v[g->n - 1];
		if ((const char *)v->iov_base + v->iov_len == p) {
			v->iov_len += len;
			g->len += len;
			return 0;
		}
	}
	if (g->n == g->cap) {
		unsigned cap = g->cap == 0 ? SPOOL_SEGS_KEEP : g->cap * 2;

		if (g->n >= SPOOL_SEGS_MAX)
			return -1;
		if (cap > SPOOL_SEGS_MAX)
			cap = SPOOL_SEGS_MAX;
		if ((v = realloc(g->v, cap * sizeof(*v))) == NULL)
			return -1;
		g->v = v;
		g->cap = cap;
	}
	g->v[g->n].iov_base = (void *)(uintptr_t)p;
	g->v[g->n].iov_len = len;
	g->n++;
	g->len += len;
	return 0;
}

void
spool_segs_clear(struct spool_segs *g)
{
	g->n = 0;
	g->len = 0;
	if (g->cap > SPOOL_SEGS_KEEP) {
		free(g->v);
		g->v = NULL;
		g->cap = 0;
	}
}

void
spool_segs_free(struct spool_segs *g)
{
	free(g->v);
	g->v = NULL;
	g->n = g->cap = 0;
	g->len = 0;
}

/* Appends g's bytes past the first `skip` to out, and clears g. */
static int
spool_segs_append(struct spool_segs *g, size_t skip, struct evbuffer *out)
{
	int rc = 0;

	for (unsigned i = 0; i < g->n && rc == 0; i++) {
		size_t len = g->v[i].iov_len;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		if (evbuffer_add(out, (char *)g->v[i].iov_base + skip,
		        len - skip) != 0)
			rc = -1;
		skip = 0;
	}
	spool_segs_clear(g);
	return rc;
}

int
spool_segs_write(struct spool_segs *g, evutil_socket_t fd, struct evbuffer *out)
{
	struct msghdr mh;
	ssize_t n;

	if (g->n == 0)
		return 0;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = g->v;
	mh.msg_iovlen = g->n;
	n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			int err = errno;

			spool_segs_clear(g);
			errno = err;
			return SOCKIO_WRITE_ERROR;
		}
		n = 0;
	}
	if ((size_t)n == g->len) {
		spool_segs_clear(g);
		return 0;
	}
	return spool_segs_append(g, (size_t)n, out) == 0 ? 0 : SOCKIO_NO_MEMORY;
}

int
spool_segs_copy(struct spool_segs *g, struct evbuffer *out)
{
	return spool_segs_append(g, 0, out);
}
