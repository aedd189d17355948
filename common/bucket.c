/* A token bucket for per-client command rates; see bucket.h. */
#include "bucket.h"

void
bucket_init(struct bucket *b, double burst, const struct timeval *now)
{
	b->tokens = burst;
	b->last = *now;
}

void
bucket_refill(struct bucket *b, double rate, double burst,
    const struct timeval *now)
{
	double dt = (double)(now->tv_sec - b->last.tv_sec) +
	    (double)(now->tv_usec - b->last.tv_usec) / 1e6;

	if (dt > 0)
		b->tokens += dt * rate;
	if (b->tokens > burst)
		b->tokens = burst;
	b->last = *now;
}

int
bucket_take(struct bucket *b, double rate, double burst,
    const struct timeval *now)
{
	bucket_refill(b, rate, burst, now);
	if (b->tokens < 1)
		return 0;
	b->tokens -= 1;
	return 1;
}

void
bucket_spend(struct bucket *b, double rate, double burst,
    const struct timeval *now)
{
	bucket_refill(b, rate, burst, now);
	b->tokens -= 1;
}

void
bucket_wait(const struct bucket *b, double rate, struct timeval *tv)
{
	double wait = b->tokens >= 1 ? 0 : (1 - b->tokens) / rate;

	tv->tv_sec = (time_t)wait;
	/* One microsecond more, so the timer never fires a hair early. */
	tv->tv_usec = (suseconds_t)((wait - (double)tv->tv_sec) * 1e6) + 1;
}
