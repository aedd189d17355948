/* The echo service (RFC 862): every byte back, in order. */
#include <stdio.h>

#include <evsock/services.h>

static void echo_data(struct evs_conn *, struct evbuffer *, void *);
static void echo_shutdown(struct evs_conn *, void *);
static size_t echo_refuse(struct evs_conn *, char *, size_t, const char *,
    void *);

static const struct evs_service echo_service = {
	.name = "echo",
	.framing = EVS_FRAMING_RAW,
	.data = echo_data,
	.shutdown = echo_shutdown,
	.refuse = echo_refuse,
};

const struct evs_service *
evs_echo_service(void)
{
	return &echo_service;
}

static void
echo_data(struct evs_conn *c, struct evbuffer *in, void *arg)
{
	(void)arg;
	evs_conn_send_buffer(c, in);
}

/*
 * On shutdown an echo connection keeps echoing until its peer
 * half-closes, so nothing it already sent is lost; the server's
 * shutdown deadline bounds the wait.
 */
static void
echo_shutdown(struct evs_conn *c, void *arg)
{
	(void)c;
	(void)arg;
}

static size_t
echo_refuse(struct evs_conn *c, char *buf, size_t len, const char *reason,
    void *arg)
{
	int n;

	(void)c;
	(void)arg;
	n = snprintf(buf, len, "evsockd: %s\r\n", reason);
	return n < 0 ? 0 : (size_t)n;
}
