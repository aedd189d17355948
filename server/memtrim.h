/* evsockd's memory policy: heap memory that a burst of traffic or a
   wave of disconnections leaves free goes back to the system once the
   burst is over, from every malloc arena (the main loop's and the echo
   workers').  Outside glibc the watcher does nothing. */
#ifndef EVSOCK_SERVER_MEMTRIM_H
#define EVSOCK_SERVER_MEMTRIM_H

struct event_base;
struct memtrim;

/* Gives libevent an allocator that keeps its long-lived small blocks
   apart from connection memory; call first in main(), before any
   libevent call. */
void memtrim_libevent(void);

/* Returns a watcher that checks the heap every interval_ms on base and
   trims it when the free bytes grew or the bytes in use fell since it
   last looked; NULL if out of memory.  The caller frees it with
   memtrim_free. */
struct memtrim *memtrim_new(struct event_base *base, unsigned interval_ms);

/* Stops and frees the watcher; NULL is a no-op. */
void memtrim_free(struct memtrim *t);

#endif
