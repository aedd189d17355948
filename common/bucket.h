/* A token bucket: `rate` tokens a second up to `burst`, one token a
   command.  Pure arithmetic on the times it is given, so it can be
   tested without a clock or an event loop. */
#ifndef EVSOCK_BUCKET_H
#define EVSOCK_BUCKET_H

#include <sys/time.h>

struct bucket {
	double tokens;
	struct timeval last; /* when tokens was last brought up to date */
};

/* Starts b full (`burst` tokens) at `now`. */
void bucket_init(struct bucket *b, double burst, const struct timeval *now);
/* Adds what `rate` earned since the last call, at most `burst` in all. */
void bucket_refill(struct bucket *b, double rate, double burst,
    const struct timeval *now);
/* Refills, then takes one token if there is one.  Returns 1 if it took
   one, 0 if the bucket is short. */
int bucket_take(struct bucket *b, double rate, double burst,
    const struct timeval *now);
/* Refills, then takes one token even when short (the debt is paid back
   by later refills); for a command whose wait is over. */
void bucket_spend(struct bucket *b, double rate, double burst,
    const struct timeval *now);
/* Sets *tv to how long until one whole token is there (rate > 0). */
void bucket_wait(const struct bucket *b, double rate, struct timeval *tv);

#endif
