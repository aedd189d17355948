/*
 * The output spool of the loop's passes: the bytes corked connections
 * are sent, each stored once, and per connection the list of ranges of
 * it that connection is to write.
 *
 * A message fanned out to a channel's members is copied into the spool
 * once, and each member's cork only records (or extends) a range: the
 * messages of a busy pass lie one after the other, so a member that is
 * sent all of them holds one range, written with one sendmsg when the
 * pass ends.  The spool's chunks are counted references: the spool
 * holds the chunks it is filling, each range holds the chunk it lies
 * in, and the last holder frees it, so a cork that waits for a later
 * pass, or bytes the kernel did not take, keep only what they need.
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
	struct spool_chunk *head; /* the chunks filled since the last reset */
	struct spool_chunk *tail; /* where bytes go next */
	uint64_t gen;             /* this filling's number, unique in the
	                             process (spool_init, spool_reset) */
	size_t used;              /* bytes stored since the last reset */
};

/* Where stored bytes are: their chunk and their address. */
struct spool_at {
	struct spool_chunk *chunk;
	const char *p;
};

/* A connection's ranges in the spool, in the order they are due. */
struct spool_segs {
	struct iovec *v;
	struct spool_chunk **k; /* the chunk of each range, held by it */
	unsigned n, cap;
	size_t len; /* their bytes in all */
};

/* The most ranges one cork holds before it is written out early. */
#define SPOOL_SEGS_MAX 64

/* Makes a zeroed s ready, with a generation no other spool had. */
void spool_init(struct spool *s);

/* Starts s afresh, with a new generation: what was stored stays for
   the ranges that hold it; the first chunk is reused when none does. */
void spool_reset(struct spool *s);

/* Lets go of what s holds (chunks that ranges hold live on until those
   are written); s can be used again as a zeroed spool. */
void spool_free(struct spool *s);

/* Copies len bytes into s and says where in *at (valid while a range
   holds its chunk, or until the next spool_reset).  Returns 0, or -1
   when out of memory. */
int spool_put(struct spool *s, const void *data, size_t len,
    struct spool_at *at);

/* Like spool_put for all of buf's bytes, which it drains. */
int spool_put_buffer(struct spool *s, struct evbuffer *buf,
    struct spool_at *at);

/* Appends the range of len bytes at *at to g, extending the last range
   when it follows it, else taking a hold on its chunk.  Returns 0, or
   -1 when g is full (SPOOL_SEGS_MAX) or out of memory; g is unchanged
   then. */
int spool_segs_add(struct spool_segs *g, const struct spool_at *at, size_t len);

/* Forgets g's ranges, letting go of their chunks; g keeps a small
   array for the next pass. */
void spool_segs_clear(struct spool_segs *g);

/* Clears g and frees its arrays. */
void spool_segs_free(struct spool_segs *g);

/* Writes g's ranges to fd, as far as the socket takes them now (one
   sendmsg, never blocking, never raising SIGPIPE), and queues what it
   did not take to out by reference.  g is cleared.  Returns 0,
   SOCKIO_WRITE_ERROR with errno (nothing queued) or SOCKIO_NO_MEMORY
   (common/sockio.h). */
int spool_segs_write(struct spool_segs *g, evutil_socket_t fd,
    struct evbuffer *out);

/* Queues g's ranges to out by reference and clears g.  Returns 0 or -1
   (out of memory; g is cleared all the same). */
int spool_segs_queue(struct spool_segs *g, struct evbuffer *out);

/* Copies g's bytes to out and clears g.  Returns 0 or -1 (out of
   memory; g is cleared all the same). */
int spool_segs_copy(struct spool_segs *g, struct evbuffer *out);

#endif
