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

/* A chunk is held by its spool while it is the pass's, and by every
   range of it that waits in a bufferevent (evbuffer_add_reference);
   the last holder frees it. */
struct spool_chunk {
	struct spool_chunk *next;
	size_t size, used;
	size_t refs;
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
	k->refs = 1;
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

/* An evbuffer_ref_cleanup_cb: a range of the chunk `arg` was written
   or dropped. */
static void
spool_chunk_unref(const void *data, size_t len, void *arg)
{
	struct spool_chunk *k = arg;

	(void)data;
	(void)len;
	if (--k->refs == 0)
		free(k);
}

/* Returns the chunk of s that holds p. */
static struct spool_chunk *
spool_chunk_of(const struct spool *s, const char *p)
{
	struct spool_chunk *k;

	for (k = s->head; k != NULL; k = k->next)
		if (p >= k->data && p < k->data + k->size)
			return k;
	return NULL;
}

void
spool_reset(struct spool *s)
{
	struct spool_chunk *k, *next, *keep = NULL;

	/* The first chunk is kept for the next pass unless a bufferevent
	   still holds part of it, or it was made bigger for one large
	   write; the others go, or live on until their ranges are
	   written. */
	for (k = s->head; k != NULL; k = next) {
		next = k->next;
		k->next = NULL;
		if (k == s->head && k->refs == 1 && k->size == SPOOL_CHUNK) {
			keep = k;
			keep->used = 0;
		} else {
			spool_chunk_unref(NULL, 0, k);
		}
	}
	s->head = s->tail = keep;
	s->used = 0;
	s->gen++;
}

void
spool_free(struct spool *s)
{
	struct spool_chunk *k, *next;

	for (k = s->head; k != NULL; k = next) {
		next = k->next;
		k->next = NULL;
		spool_chunk_unref(NULL, 0, k);
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

/* Appends g's bytes past the first `skip` to out, by reference to
   s's chunks, and clears g. */
static int
spool_segs_append(const struct spool *s, struct spool_segs *g, size_t skip,
    struct evbuffer *out)
{
	int rc = 0;

	for (unsigned i = 0; i < g->n && rc == 0; i++) {
		const char *p = (const char *)g->v[i].iov_base;
		size_t len = g->v[i].iov_len;
		struct spool_chunk *k;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		p += skip;
		len -= skip;
		skip = 0;
		/* Shared, not copied: when many connections fall behind on
		   the same messages they hold one copy of them. */
		if ((k = spool_chunk_of(s, p)) == NULL) {
			rc = evbuffer_add(out, p, len);
			continue;
		}
		k->refs++;
		if (evbuffer_add_reference(out, p, len, spool_chunk_unref, k) !=
		    0) {
			k->refs--;
			rc = -1;
		}
	}
	spool_segs_clear(g);
	return rc;
}

int
spool_segs_write(const struct spool *s, struct spool_segs *g,
    evutil_socket_t fd, struct evbuffer *out)
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
	return spool_segs_append(s, g, (size_t)n, out) == 0 ? 0 :
	                                                      SOCKIO_NO_MEMORY;
}

int
spool_segs_queue(const struct spool *s, struct spool_segs *g,
    struct evbuffer *out)
{
	return spool_segs_append(s, g, 0, out);
}

int
spool_segs_copy(struct spool_segs *g, struct evbuffer *out)
{
	int rc = 0;

	for (unsigned i = 0; i < g->n && rc == 0; i++)
		rc = evbuffer_add(out, g->v[i].iov_base, g->v[i].iov_len);
	spool_segs_clear(g);
	return rc;
}
