/*
 * embed: a program that owns its event loop and serves evsock's echo
 * and chat services from it, next to a timer of its own.
 *
 *     embed [ECHO_ADDR [CHAT_ADDR]]
 *
 * The addresses default to 127.0.0.1:7007 and 127.0.0.1:6667; port 0
 * picks a free port.  The bound addresses are printed on stdout, one
 * line each ("echo 127.0.0.1:41234").  SIGINT or SIGTERM starts a
 * graceful shutdown (chat clients are told, output is flushed); a
 * second signal ends the loop at once.
 *
 * Build against an installed libevsock:
 *     cc -o embed embed.c $(pkg-config --cflags --libs evsock)
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <evsock/evsock.h>

struct app {
	struct event_base *base;
	struct event *tick; /* the program's own work */
	struct event *sigint;
	struct event *sigterm;
	struct evs_server *srv;
	struct evs_chat *chat;
	struct evs_server_stats last;
	int stopping;
};

static void app_tick(evutil_socket_t, short, void *);
static void app_signal(evutil_socket_t, short, void *);
static void app_done(struct evs_server *, void *);
static int app_listen(struct app *, const char *, const char *,
    const struct evs_service *, void *);

int
main(int argc, char **argv)
{
	const char *echo_addr = argc > 1 ? argv[1] : "127.0.0.1:7007";
	const char *chat_addr = argc > 2 ? argv[2] : "127.0.0.1:6667";
	struct timeval second = { 1, 0 };
	struct app app;
	int rc = 1;

	memset(&app, 0, sizeof(app));
	if ((app.base = event_base_new()) == NULL) {
		fprintf(stderr, "embed: cannot create the event loop\n");
		return 1;
	}

	/* The program's own events live on the same base as the server. */
	app.tick = event_new(app.base, -1, EV_PERSIST, app_tick, &app);
	app.sigint = evsignal_new(app.base, SIGINT, app_signal, &app);
	app.sigterm = evsignal_new(app.base, SIGTERM, app_signal, &app);
	if (app.tick == NULL || app.sigint == NULL || app.sigterm == NULL ||
	    event_add(app.tick, &second) == -1 ||
	    event_add(app.sigint, NULL) == -1 ||
	    event_add(app.sigterm, NULL) == -1) {
		fprintf(stderr, "embed: cannot add events\n");
		goto out;
	}

	/* evsock attaches to that base; it creates no loop or thread. */
	if ((app.srv = evs_server_new(app.base)) == NULL ||
	    (app.chat = evs_chat_new(app.srv)) == NULL) {
		fprintf(stderr, "embed: %s\n", strerror(errno));
		goto out;
	}
	evs_chat_set_server_name(app.chat, "embed.example");
	evs_chat_set_motd(app.chat, "Served from inside another program.");
	if (app_listen(&app, "echo", echo_addr, evs_echo_service(), NULL) ==
	        -1 ||
	    app_listen(&app, "chat", chat_addr, evs_chat_service(), app.chat) ==
	        -1)
		goto out;
	fflush(stdout);

	if (event_base_dispatch(app.base) == -1) {
		fprintf(stderr, "embed: event loop failed\n");
		goto out;
	}
	rc = 0;

out:
	/* The server first: it closes whatever connections are left
	   (none after a finished shutdown) without callbacks, then the
	   chat drops its state for them.  The base goes last. */
	evs_server_free(app.srv);
	evs_chat_free(app.chat);
	if (app.tick != NULL)
		event_free(app.tick);
	if (app.sigint != NULL)
		event_free(app.sigint);
	if (app.sigterm != NULL)
		event_free(app.sigterm);
	event_base_free(app.base);
	return rc;
}

/* Listens for svc on addr and prints "NAME HOST:PORT"; returns 0 or -1. */
static int
app_listen(struct app *app, const char *name, const char *addr,
    const struct evs_service *svc, void *arg)
{
	struct evs_listener *l;
	char err[256] = "", bound[64];

	l = evs_server_listen(app->srv, addr, svc, arg, err, sizeof(err));
	if (l == NULL) {
		fprintf(stderr, "embed: %s: %s\n", name, err);
		return -1;
	}
	printf("%s %s\n", name, evs_listener_addr_str(l, bound, sizeof(bound)));
	return 0;
}

/* Once a second: report the server's counters when they changed. */
static void
app_tick(evutil_socket_t fd, short what, void *arg)
{
	struct app *app = arg;
	struct evs_server_stats st;

	(void)fd;
	(void)what;
	evs_server_stats(app->srv, &st);
	if (st.accepted == app->last.accepted && st.closed == app->last.closed)
		return;
	fprintf(stderr, "embed: %llu open, %llu accepted, %llu closed\n",
	    (unsigned long long)st.current, (unsigned long long)st.accepted,
	    (unsigned long long)st.closed);
	app->last = st;
}

static void
app_signal(evutil_socket_t sig, short what, void *arg)
{
	struct app *app = arg;

	(void)what;
	if (app->stopping++ > 0) {
		fprintf(stderr, "embed: second signal, stopping now\n");
		event_base_loopbreak(app->base);
		return;
	}
	fprintf(stderr, "embed: %s, shutting down\n",
	    sig == SIGINT ? "SIGINT" : "SIGTERM");
	/* Stop listening, let chat say goodbye, flush, then app_done. */
	if (evs_server_shutdown(app->srv, 3000, app_done, app) == -1)
		event_base_loopbreak(app->base);
}

/* Every connection is gone: end the loop; main frees everything. */
static void
app_done(struct evs_server *srv, void *arg)
{
	struct app *app = arg;
	struct evs_server_stats st;

	evs_server_stats(srv, &st);
	fprintf(stderr,
	    "embed: shutdown complete (%llu connections "
	    "served)\n",
	    (unsigned long long)st.accepted);
	event_base_loopexit(app->base, NULL);
}
