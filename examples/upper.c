/*
 * upper: a line service of its own, written with struct evs_service.
 * Every line a client sends comes back upper-cased.
 *
 *     upper [-v] [ADDR]
 *
 * ADDR defaults to 127.0.0.1:7008 (port 0 picks one); the bound address
 * is printed on stdout as "upper 127.0.0.1:41234".  A client idle for
 * 60 seconds is told so and closed.  SIGINT or SIGTERM says goodbye to
 * every client, flushes, and exits 0.  The library's own messages are
 * routed through this program's logging; -v adds one per connection.
 *
 * Build against an installed libevsock:
 *     cc -o upper upper.c $(pkg-config --cflags --libs evsock)
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <evsock/evsock.h>

/* Per-connection state: owned by the service, freed in upper_close. */
struct upper_conn {
	unsigned long lines;
};

static int upper_open(struct evs_conn *, void *);
static void upper_line(struct evs_conn *, char *, size_t, void *);
static void upper_overlong(struct evs_conn *, void *);
static void upper_timeout(struct evs_conn *, void *);
static void upper_shutdown(struct evs_conn *, void *);
static void upper_close(struct evs_conn *, const char *, void *);
static void upper_signal(evutil_socket_t, short, void *);
static void upper_done(struct evs_server *, void *);
static void upper_log(enum evs_log_level, const char *, void *);

/* The service table: the engine frames lines, the callbacks answer. */
static const struct evs_service upper_service = {
	.name = "upper",
	.framing = EVS_FRAMING_LINE,
	.open = upper_open,
	.line = upper_line,
	.overlong = upper_overlong,
	.timeout = upper_timeout,
	.shutdown = upper_shutdown,
	.close = upper_close,
};

int
main(int argc, char **argv)
{
	int verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
	const char *addr = argc > 1 + verbose ? argv[1 + verbose] :
	                                        "127.0.0.1:7008";
	struct event_base *base = NULL;
	struct event *sigint = NULL, *sigterm = NULL;
	struct evs_server *srv = NULL;
	struct evs_listener *l;
	char err[256] = "", bound[64];
	int rc = 1;

	/* Process-wide, so before any loop runs. */
	evs_log_set_handler(upper_log, NULL);
	if (verbose)
		evs_log_set_level(EVS_LOG_DEBUG);

	if ((base = event_base_new()) == NULL ||
	    (srv = evs_server_new(base)) == NULL) {
		fprintf(stderr, "upper: %s\n", strerror(errno));
		goto out;
	}
	/* Lines up to 1024 bytes with their terminator; 60 s idle limit. */
	evs_server_set(srv, EVS_OPT_MAX_LINE, 1024);
	evs_server_set(srv, EVS_OPT_IDLE_TIMEOUT_MS, 60000);

	/* The service's arg is unused here; a real one passes its state. */
	l = evs_server_listen(srv, addr, &upper_service, NULL, err,
	    sizeof(err));
	if (l == NULL) {
		fprintf(stderr, "upper: %s\n", err);
		goto out;
	}
	printf("upper %s\n", evs_listener_addr_str(l, bound, sizeof(bound)));
	fflush(stdout);

	sigint = evsignal_new(base, SIGINT, upper_signal, srv);
	sigterm = evsignal_new(base, SIGTERM, upper_signal, srv);
	if (sigint == NULL || sigterm == NULL ||
	    event_add(sigint, NULL) == -1 || event_add(sigterm, NULL) == -1) {
		fprintf(stderr, "upper: cannot add signal events\n");
		goto out;
	}
	if (event_base_dispatch(base) == 0)
		rc = 0;

out:
	evs_server_free(srv);
	if (sigint != NULL)
		event_free(sigint);
	if (sigterm != NULL)
		event_free(sigterm);
	if (base != NULL)
		event_base_free(base);
	return rc;
}

static int
upper_open(struct evs_conn *c, void *arg)
{
	struct upper_conn *uc;

	(void)arg;
	if ((uc = calloc(1, sizeof(*uc))) == NULL)
		return -1; /* the engine closes the connection */
	evs_conn_set_data(c, uc);
	return 0;
}

/* `line` is the engine's scratch buffer, ours to modify during the call. */
static void
upper_line(struct evs_conn *c, char *line, size_t len, void *arg)
{
	struct upper_conn *uc = evs_conn_data(c);

	(void)arg;
	uc->lines++;
	for (size_t i = 0; i < len; i++)
		line[i] = (char)toupper((unsigned char)line[i]);
	/* Both sends queue in order; the second is skipped only if the
	   first ended the connection (a write error). */
	if (evs_conn_send(c, line, len) == 0)
		evs_conn_send(c, "\n", 1);
}

static void
upper_overlong(struct evs_conn *c, void *arg)
{
	(void)arg;
	evs_conn_printf(c, "error: line longer than %lld bytes\n",
	    evs_server_get(evs_conn_server(c), EVS_OPT_MAX_LINE));
}

static void
upper_timeout(struct evs_conn *c, void *arg)
{
	(void)arg;
	evs_conn_printf(c, "idle for too long, bye\n");
	evs_conn_close(c, "Idle timeout");
}

static void
upper_shutdown(struct evs_conn *c, void *arg)
{
	(void)arg;
	evs_conn_printf(c, "server going down, bye\n");
	evs_conn_close(c, "Server shutting down");
}

/* The last callback for c: free what open() made.  c is freed after. */
static void
upper_close(struct evs_conn *c, const char *reason, void *arg)
{
	struct upper_conn *uc = evs_conn_data(c);

	(void)arg;
	fprintf(stderr, "upper: %s closed after %lu line%s: %s\n",
	    evs_conn_peer_host(c), uc->lines, uc->lines == 1 ? "" : "s",
	    reason);
	free(uc);
}

static void
upper_signal(evutil_socket_t sig, short what, void *arg)
{
	struct evs_server *srv = arg;

	(void)sig;
	(void)what;
	/* A second signal: the shutdown is already under way; end now. */
	if (evs_server_shutdown(srv, 2000, upper_done, NULL) == -1)
		event_base_loopbreak(evs_server_base(srv));
}

static void
upper_done(struct evs_server *srv, void *arg)
{
	(void)arg;
	fprintf(stderr, "upper: all clients gone\n");
	/* The signal events are still pending: end the loop explicitly. */
	event_base_loopexit(evs_server_base(srv), NULL);
}

/* The library's messages, in this program's voice. */
static void
upper_log(enum evs_log_level level, const char *msg, void *arg)
{
	(void)arg;
	fprintf(stderr, "upper: %s%s\n",
	    level <= EVS_LOG_WARN ? "warning: " : "", msg);
}
