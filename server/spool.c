/*
 * The output spool (spool.h): chunks of bytes stored once, counted
 * references to them, and the ranges of them each corked connection
 * writes.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "../common/sockio.h"
#include "spool.h"

/* A chunk's mapping unless one write needs more; the first chunk stays
   mapped between passes, so an idle server holds one. */
#define SPOOL_CHUNK (64 * 1024)

/* A cork's arrays start this long; longer ones are freed once written,
   so idle connections hold only small ones. */
#define SPOOL_SEGS_KEEP 4

/* Held by its spool while the spool fills it, by every cork range in
   it, and by every piece of it waiting in a bufferevent
   (evbuffer_add_reference); the last holder frees it. */
struct spool_chunk {
	struct spool_chunk *next; /* in its spool, while held by it */
	size_t map;               /* bytes mapped, this header included */
	size_t size, used;
	size_t refs;
	char data[];
};

/*
 * Chunks are mapped, not taken from the heap: they come and go with
 * every busy pass, and in the heap the small records that outlive a
 * burst (a WHOWAS entry, a grown table) landed in their free space and
 * kept its pages: after a 10,000-client join storm and everyone
 * quitting, 1.4 MiB more stayed resident than without the spool.
 */
static struct spool_chunk *
spool_chunk_new(size_t need)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t map = sizeof(struct spool_chunk) + need;
	struct spool_chunk *k;
	void *p;

	map = map < SPOOL_CHUNK ? SPOOL_CHUNK : (map + page - 1) / page * page;
	p = mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	k = p;
	k->next = NULL;
	k->map = map;
	k->size = map - sizeof(*k);
	k->used = 0;
	k->refs = 1;
	return k;
}

/* An evbuffer_ref_cleanup_cb, and the release of any hold on `arg`. */
static void
spool_chunk_unref(const void *data, size_t len, void *arg)
{
	struct spool_chunk *k = arg;

	(void)data;
	(void)len;
	if (--k->refs == 0)
		munmap(k, k->map);
}

/* Finds room for len bytes at the spool's end and counts them used. */
static int
spool_room(struct spool *s, size_t len, struct spool_at *at)
{
	struct spool_chunk *k = s->tail;

	if (k == NULL || k->size - k->used < len) {
		if ((k = spool_chunk_new(len)) == NULL)
			return -1;
		if (s->tail != NULL)
			s->tail->next = k;
		else
			s->head = k;
		s->tail = k;
	}
	at->chunk = k;
	at->p = k->data + k->used;
	k->used += len;
	s->used += len;
	return 0;
}

int
spool_put(struct spool *s, const void *data, size_t len, struct spool_at *at)
{
	if (spool_room(s, len, at) == -1)
		return -1;
	if (len > 0)
		memcpy((char *)(uintptr_t)at->p, data, len);
	return 0;
}

int
spool_put_buffer(struct spool *s, struct evbuffer *buf, struct spool_at *at)
{
	size_t len = evbuffer_get_length(buf);

	if (spool_room(s, len, at) == -1)
		return -1;
	evbuffer_remove(buf, (char *)(uintptr_t)at->p, len);
	return 0;
}

/* Generations are numbered across the process, so that a message
   placed in a spool since freed is never taken for placed in a new
   spool that got the same address. */
static _Atomic uint64_t spool_gens;

void
spool_init(struct spool *s)
{
	s->gen = ++spool_gens;
}

void
spool_reset(struct spool *s)
{
	struct spool_chunk *k, *next, *keep = NULL;

	/* The first chunk is filled again if nothing else holds it and
	   it has the usual size; the spool lets go of the others. */
	for (k = s->head; k != NULL; k = next) {
		next = k->next;
		k->next = NULL;
		if (k == s->head && k->refs == 1 && k->map == SPOOL_CHUNK) {
			keep = k;
			keep->used = 0;
		} else {
			spool_chunk_unref(NULL, 0, k);
		}
	}
	s->head = s->tail = keep;
	s->used = 0;
	s->gen = ++spool_gens;
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

/* Makes room for cap ranges in g; returns 0 or -1. */
static int
spool_segs_grow(struct spool_segs *g, unsigned cap)
{
	struct iovec *v;
	struct spool_chunk **k;

	if ((v = realloc(g->v, cap * sizeof(*v))) == NULL)
		return -1;
	g->v = v;
	if ((k = realloc(g->k, cap * sizeof(*k))) == NULL)
		return -1;
	g->k = k;
	g->cap = cap;
	return 0;
}

int
spool_segs_add(struct spool_segs *g, const struct spool_at *at, size_t len)
{
	struct iovec *v;

	if (g->n > 0) {
		v = &g->v[g->n - 1];
		/* The next bytes of the same chunk: the range grows. */
		if ((const char *)v->iov_base + v->iov_len == at->p &&
		    g->k[g->n - 1] == at->chunk) {
			v->iov_len += len;
			g->len += len;
			return 0;
		}
	}
	if (g->n == g->cap) {
		unsigned cap = g->cap == 0 ? SPOOL_SEGS_KEEP : g->cap * 2;

		if (g->n >= SPOOL_SEGS_MAX)
			return -1;
		if (spool_segs_grow(g,
		        cap > SPOOL_SEGS_MAX ? SPOOL_SEGS_MAX : cap) == -1)
			return -1;
	}
	g->v[g->n].iov_base = (void *)(uintptr_t)at->p;
	g->v[g->n].iov_len = len;
	g->k[g->n] = at->chunk;
	at->chunk->refs++;
	g->n++;
	g->len += len;
	return 0;
}

void
spool_segs_clear(struct spool_segs *g)
{
	for (unsigned i = 0; i < g->n; i++)
		spool_chunk_unref(NULL, 0, g->k[i]);
	g->n = 0;
	g->len = 0;
	if (g->cap > SPOOL_SEGS_KEEP) {
		free(g->v);
		free(g->k);
		g->v = NULL;
		g->k = NULL;
		g->cap = 0;
	}
}

void
spool_segs_free(struct spool_segs *g)
{
	spool_segs_clear(g);
	free(g->v);
	free(g->k);
	g->v = NULL;
	g->k = NULL;
	g->cap = 0;
}

/* Queues g's bytes past the first `skip` to out, by reference to
   their chunks, and clears g. */
static int
spool_segs_append(struct spool_segs *g, size_t skip, struct evbuffer *out)
{
	int rc = 0;

	for (unsigned i = 0; i < g->n && rc == 0; i++) {
		const char *p = (const char *)g->v[i].iov_base;
		size_t len = g->v[i].iov_len;
		struct spool_chunk *k = g->k[i];

		if (skip >= len) {
			skip -= len;
			continue;
		}
		p += skip;
		len -= skip;
		skip = 0;
		/* Shared, not copied: when many connections fall behind on
		   the same messages they hold one copy of them. */
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
spool_segs_queue(struct spool_segs *g, struct evbuffer *out)
{
	return spool_segs_append(g, 0, out);
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
