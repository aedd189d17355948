/*
 * The output spool of one pass of the loop: the bytes corked
 * connections are sent during a pass, each stored once, and per
 * connection the list of ranges of it that connection is to write.
 *
 * A message fanned out to a channel's members is copied into the spool
 * once, and each member's cork only records (or extends) a range: the
 * messages of a busy pass lie one after the other, so a member that is
 * sent all of them holds one range, written with one sendmsg when the
 * pass ends.  The spool is emptied once every cork was written.
 */
#ifndef EVSOCK_SERVER_SPOOL_H
#define EVSOCK_SERVER_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/util.h>

struct spool_chunk;

struct spool {
	struct spool_chunk *head; /* kept across passes */
	struct spool_chunk *tail; /* where bytes go next */
	uint64_t gen;             /* passes emptied so far */
	size_t used;              /* bytes stored since the last reset */
};

/* A connection's ranges in the spool, in the order they are due. */
struct spool_segs {
	struct iovec *v;
	unsigned n, cap;
	size_t len; /* their bytes in all */
};

/* The most ranges one cork holds before it is written out early. */
#define SPOOL_SEGS_MAX 64

/* Empties s for the next pass: no cork may hold ranges of it any more
   (ranges queued with spool_segs_write/_queue keep their chunk alive
   on their own); the first chunk is reused when nothing holds it. */
void spool_reset(struct spool *s);

/* Lets go of what s holds (chunks still queued somewhere live on until
   written); s can be used again as a zeroed spool. */
void spool_free(struct spool *s);

/* Copies len bytes into s.  Returns where they are, valid until the
   next spool_reset, or NULL when out of memory. */
const char *spool_put(struct spool *s, const void *data, size_t len);

/* Like spool_put for all of buf's bytes, which it drains. */
const char *spool_put_buffer(struct spool *s, struct evbuffer *buf);

/* Appends the range (p, len) to g, extending the last range when p
   follows it.  Returns 0, or -1 when g is full (SPOOL_SEGS_MAX) or out
   of memory; g is unchanged then. */
int spool_segs_add(struct spool_segs *g, const char *p, size_t len);

/* Forgets g's ranges; g keeps a small array for the next pass. */
void spool_segs_clear(struct spool_segs *g);

/* Frees g's array. */
void spool_segs_free(struct spool_segs *g);

/* Writes g's ranges (of s) to fd, as far as the socket takes them now
   (one sendmsg, never blocking, never raising SIGPIPE), and queues
   what it did not take to out by reference.  g is cleared.  Returns 0,
   SOCKIO_WRITE_ERROR with errno (nothing queued) or SOCKIO_NO_MEMORY
   (common/sockio.h). */
int spool_segs_write(const struct spool *s, struct spool_segs *g,
    evutil_socket_t fd, struct evbuffer *out);

/* Queues g's ranges (of s) to out by reference and clears g.  Returns
   0 or -1 (out of memory; g is cleared all the same). */
int spool_segs_queue(const struct spool *s, struct spool_segs *g,
    struct evbuffer *out);

/* Copies g's bytes to out and clears g.  Returns 0 or -1 (out of
   memory; g is cleared all the same). */
int spool_segs_copy(struct spool_segs *g, struct evbuffer *out);

#endif
