/*
 * Reference-counted messages: formatted once, queued to many
 * connections (chat fan-out).  A connection's output that holds a
 * message by reference holds one reference, dropped by msg_unref_cb
 * when libevent no longer needs the bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "server-int.h"

struct evs_msg {
	size_t refcnt;
	size_t len;
	char data[];
};

struct evs_msg *
evs_msg_new(const void *data, size_t len)
{
	struct evs_msg *m = malloc(sizeof(*m) + len);

	if (m == NULL)
		return NULL;
	m->refcnt = 1;
	m->len = len;
	memcpy(m->data, data, len);
	return m;
}

const char *
evs_msg_data(const struct evs_msg *m, size_t *len)
{
	if (len != NULL)
		*len = m->len;
	return m->data;
}

void
evs_msg_unref(struct evs_msg *m)
{
	if (m != NULL && --m->refcnt == 0)
		free(m);
}

struct evs_msg *
msg_ref(struct evs_msg *m)
{
	m->refcnt++;
	return m;
}

void
msg_unref_cb(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	evs_msg_unref(arg);
}
