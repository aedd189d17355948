/*
 * Returning freed heap memory to the system.
 *
 * glibc keeps what a program frees for later reuse.  After a join storm
 * or a fan-out burst the output buffers are drained and freed, but the
 * heap keeps the pages: most of them are free, yet the heap's top is
 * held by a live allocation, so the heap cannot shrink and RSS stays
 * at the peak.  malloc_trim(0) hands every whole free page back
 * (madvise).  It walks the free lists, so it runs only when the free
 * bytes grew well above their lowest point since the last trim (pages
 * it returned still count as free), or when what is in use fell since
 * the last look (a wave of disconnections).  mallinfo2 and malloc_trim cover
 * every arena: the main loop's and each echo worker thread's.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "../common/log.h"
#include "memtrim.h"

/* A trim is worth its walk when this much came free, or a quarter of
   what is in use but at least MEMTRIM_MIN_PART. */
#define MEMTRIM_MIN_DROP (1024 * 1024)
#define MEMTRIM_MIN_PART (256 * 1024)

/* libevent's small blocks come from zones of this many slots. */
#define MEMTRIM_SLOT 32
#define MEMTRIM_ZONE_SLOTS 2048
#define MEMTRIM_ZONES_MAX 64

struct memtrim {
	struct event *tick;
	size_t low;  /* free heap bytes, lowest since the last trim */
	size_t used; /* bytes in use at the last tick */
};

static void memtrim_tick(evutil_socket_t, short, void *);
static void *memtrim_ev_malloc(size_t);
static void *memtrim_ev_realloc(void *, size_t);
static void memtrim_ev_free(void *);
static int memtrim_in_zone(const void *);

/*
 * libevent keeps a small record for every descriptor number it has
 * seen (its I/O map), allocated when the number is first used and kept
 * for the life of the event base.  In a burst of new connections each
 * lands between that connection's buffers, and after they close these
 * few bytes hold every page they sit on: 10,000 connections that came
 * and went kept 19 MiB.  Blocks this small come from zones of their
 * own instead, where they pack together; zones are never returned.
 */
static struct {
	pthread_mutex_t lock;
	char *zone[MEMTRIM_ZONES_MAX];
	size_t nzones;
	size_t used;    /* slots handed out of the newest zone */
	void *freelist; /* slots given back */
} memtrim_small = { .lock = PTHREAD_MUTEX_INITIALIZER };

void
memtrim_libevent(void)
{
	event_set_mem_functions(memtrim_ev_malloc, memtrim_ev_realloc,
	    memtrim_ev_free);
}

/* Returns 1 if a zone holds p; the caller holds the lock. */
static int
memtrim_in_zone(const void *p)
{
	uintptr_t a = (uintptr_t)p;

	for (size_t i = 0; i < memtrim_small.nzones; i++) {
		uintptr_t z = (uintptr_t)memtrim_small.zone[i];
		if (a >= z && a < z + MEMTRIM_SLOT * MEMTRIM_ZONE_SLOTS)
			return 1;
	}
	return 0;
}

static void *
memtrim_ev_malloc(size_t size)
{
	void *p = NULL;

	if (size > MEMTRIM_SLOT)
		return malloc(size);
	pthread_mutex_lock(&memtrim_small.lock);
	if (memtrim_small.freelist != NULL) {
		p = memtrim_small.freelist;
		memcpy(&memtrim_small.freelist, p, sizeof(void *));
	} else if (memtrim_small.nzones > 0 &&
	    memtrim_small.used < MEMTRIM_ZONE_SLOTS) {
		p = memtrim_small.zone[memtrim_small.nzones - 1] +
		    MEMTRIM_SLOT * memtrim_small.used++;
	} else if (memtrim_small.nzones < MEMTRIM_ZONES_MAX &&
	    (p = malloc(MEMTRIM_SLOT * MEMTRIM_ZONE_SLOTS)) != NULL) {
		memtrim_small.zone[memtrim_small.nzones++] = p;
		memtrim_small.used = 1;
	}
	pthread_mutex_unlock(&memtrim_small.lock);
	return p != NULL ? p : malloc(size);
}

static void
memtrim_ev_free(void *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&memtrim_small.lock);
	if (memtrim_in_zone(p)) {
		memcpy(p, &memtrim_small.freelist, sizeof(void *));
		memtrim_small.freelist = p;
		p = NULL;
	}
	pthread_mutex_unlock(&memtrim_small.lock);
	free(p);
}

static void *
memtrim_ev_realloc(void *p, size_t size)
{
	void *q;
	int zoned;

	if (p == NULL)
		return memtrim_ev_malloc(size);
	pthread_mutex_lock(&memtrim_small.lock);
	zoned = memtrim_in_zone(p);
	pthread_mutex_unlock(&memtrim_small.lock);
	if (!zoned)
		return realloc(p, size);
	if (size <= MEMTRIM_SLOT)
		return p;
	if ((q = malloc(size)) == NULL)
		return NULL;
	memcpy(q, p, MEMTRIM_SLOT);
	memtrim_ev_free(p);
	return q;
}

struct memtrim *
memtrim_new(struct event_base *base, unsigned interval_ms)
{
	struct memtrim *t = calloc(1, sizeof(*t));
	struct timeval tv = { interval_ms / 1000, (interval_ms % 1000) * 1000 };

	if (t == NULL)
		return NULL;
	t->low = (size_t)-1;
	t->tick = event_new(base, -1, EV_PERSIST, memtrim_tick, t);
	if (t->tick == NULL || event_add(t->tick, &tv) == -1) {
		memtrim_free(t);
		return NULL;
	}
	return t;
}

void
memtrim_free(struct memtrim *t)
{
	if (t == NULL)
		return;
	if (t->tick != NULL)
		event_free(t->tick);
	free(t);
}

#ifdef __GLIBC__
/* glibc's per-thread cache: up to this many freed blocks of each size
   class up to this size, which malloc_trim does not look into. */
#define MEMTRIM_TCACHE_COUNT 7
#define MEMTRIM_TCACHE_LARGEST 1032

/*
 * After a burst, the blocks glibc keeps in this thread's cache (seven
 * of each small size) lie scattered over the heap, each holding its
 * page: after a 10,000-client join storm and everyone quitting they
 * kept 1.4 MiB resident that malloc_trim could not return.  Taking
 * them out, putting blocks just made in their place, and freeing them
 * hands them to the free lists malloc_trim does return.
 */
static void
memtrim_tcache_cycle(void)
{
	/* volatile: a compiler may drop a malloc whose block is only
	   freed, and this one is for its side effects. */
	void *volatile held[MEMTRIM_TCACHE_COUNT];
	void *volatile fresh[MEMTRIM_TCACHE_COUNT];

	for (size_t size = 24; size <= MEMTRIM_TCACHE_LARGEST; size += 16) {
		for (int i = 0; i < MEMTRIM_TCACHE_COUNT; i++)
			held[i] = malloc(size);
		for (int i = 0; i < MEMTRIM_TCACHE_COUNT; i++)
			fresh[i] = malloc(size);
		for (int i = 0; i < MEMTRIM_TCACHE_COUNT; i++)
			free(fresh[i]);
		for (int i = 0; i < MEMTRIM_TCACHE_COUNT; i++)
			free(held[i]);
	}
}
#endif

static void
memtrim_tick(evutil_socket_t fd, short what, void *arg)
{
	struct memtrim *t = arg;

	(void)fd;
	(void)what;
#ifdef __GLIBC__
	{
		struct mallinfo2 mi = mallinfo2();
		size_t grew, fell = 0;

		if (mi.fordblks < t->low)
			t->low = mi.fordblks;
		grew = mi.fordblks - t->low;
		if (mi.uordblks < t->used)
			fell = t->used - mi.uordblks;
		t->used = mi.uordblks;
		/* Freed since the last tick, or free beyond the low mark:
		   pages freed after a trim count as free already, so both. */
		if (fell < MEMTRIM_MIN_PART && grew < MEMTRIM_MIN_DROP &&
		    (grew < MEMTRIM_MIN_PART || grew < mi.uordblks / 4))
			return;
		malloc_trim(0);
		memtrim_tcache_cycle();
		malloc_trim(0);
		log_debug("returned free heap memory: %zu KiB free, %zu KiB in "
		          "use",
		    mi.fordblks / 1024, mi.uordblks / 1024);
		t->low = mi.fordblks;
	}
#else
	(void)t;
#endif
}
