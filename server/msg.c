/*
 * Reference-counted messages: formatted once, queued to many
 * connections (chat fan-out).  A connection's output that holds a
 * message by reference holds one reference, dropped by msg_unref_cb
 * when libevent no longer needs the bytes.
 */
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "server-int.h"

struct evs_msg {
	size_t refcnt;
	size_t len;
	const struct spool *spool; /* the spool holding a copy, and in */
	uint64_t spool_gen;        /* which of its generations */
	struct spool_at spool_at;  /* where */
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
	m->spool = NULL;
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

const struct spool_at *
msg_spool(struct evs_msg *m, struct spool *s)
{
	if (m->spool != s || m->spool_gen != s->gen) {
		if (spool_put(s, m->data, m->len, &m->spool_at) == -1)
			return NULL;
		m->spool = s;
		m->spool_gen = s->gen;
	}
	return &m->spool_at;
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
