/*
 * The per-client command rate.  The arithmetic is common/bucket.c;
 * this holds a line back while the bucket is short, stops reading
 * from the client, and runs the line when a token is there again, so
 * a flooding client slows itself down instead of being cut off.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "chat-int.h"

static void
chat_flood_now(struct chat_user *u, struct timeval *now)
{
	event_base_gettimeofday_cached(evs_server_base(u->chat->srv), now);
}

static void
chat_flood_cb(evutil_socket_t fd, short what, void *arg)
{
	struct chat_user *u = arg;
	struct evs_chat *chat = u->chat;
	char *line = u->pending;
	size_t len = u->pendinglen;
	struct timeval now;

	(void)fd;
	(void)what;
	chat_flood_now(u, &now);
	bucket_spend(&u->flood, chat->flood_rate, chat->flood_burst, &now);
	u->pending = NULL;
	if (!(u->flags & U_CLOSING) && !evs_conn_closing(u->c))
		chat_dispatch(u, line, len);
	free(line);
	/* A nick claim the line started holds input until it answers. */
	if (!(u->flags & U_HOLD))
		evs_conn_resume(u->c);
}

int
chat_flood_take(struct chat_user *u, const char *line, size_t len)
{
	struct evs_chat *chat = u->chat;
	struct timeval now, tv;

	if (chat->flood_rate <= 0)
		return 1;
	chat_flood_now(u, &now);
	if (bucket_take(&u->flood, chat->flood_rate, chat->flood_burst, &now))
		return 1;
	if (u->flood_timer == NULL) {
		u->flood_timer = evtimer_new(evs_server_base(chat->srv),
		    chat_flood_cb, u);
		if (u->flood_timer == NULL)
			return 1;
	}
	if ((u->pending = malloc(len + 1)) == NULL)
		return 1;
	memcpy(u->pending, line, len);
	u->pending[len] = '\0';
	u->pendinglen = len;
	bucket_wait(&u->flood, chat->flood_rate, &tv);
	evs_conn_pause(u->c);
	evtimer_add(u->flood_timer, &tv);
	return 0;
}

void
chat_flood_clear(struct chat_user *u)
{
	if (u->flood_timer != NULL)
		event_free(u->flood_timer);
	u->flood_timer = NULL;
	free(u->pending);
	u->pending = NULL;
}
