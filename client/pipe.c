/*
 * Pipe mode, nc-like: copies stdin to the socket and the socket to
 * stdout on one event loop, with bounded buffers in both directions.
 * stdin EOF half-closes the socket; the program ends when both
 * directions are done (or at the first error).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include <evsock/client.h>
#include <evsock/tls.h>

#include "../common/opt.h"
#include "pipe.h"
#include "stdfd.h"

#define PIPE_CHUNK (64 * 1024)
#define PIPE_HIGH (1024 * 1024) /* pause the source above this */
#define PIPE_LOW (256 * 1024)   /* resume it at or below this */

struct pipe_state {
	struct event_base *base;
	struct evs_client *cl;
	struct evs_tls *tls;     /* --tls settings, or NULL */
	struct event *in_ev;     /* stdin readable (or a regular file) */
	struct event *out_ev;    /* stdout writable */
	struct evbuffer *outq;   /* socket bytes waiting for stdout */
	int in_file;             /* stdin is a regular file: always ready */
	int out_file;            /* stdout is a regular file: blocking */
	int in_flags, out_flags; /* fcntl flags to restore */
	int in_paused;
	int stdin_eof;
	int sock_eof;
	int tx_done, rx_done;
	int status;
	int quiet;
};

/* enum values of the long options without a short one */
#define PIPE_OPT_TLS 1000
#define PIPE_OPT_CA_FILE 1001
#define PIPE_OPT_INSECURE 1002

static void pipe_in_cb(evutil_socket_t, short, void *);
static void pipe_out_cb(evutil_socket_t, short, void *);
static void pipe_connected(struct evs_client *, void *);
static void pipe_data(struct evs_client *, struct evbuffer *, void *);
static void pipe_drained(struct evs_client *, void *);
static void pipe_eof(struct evs_client *, void *);
static void pipe_closed(struct evs_client *, int, const char *, void *);
static void pipe_check_done(struct pipe_state *);
static void pipe_fail(struct pipe_state *, const char *, int);

static const struct evs_client_callbacks pipe_callbacks = {
	.connected = pipe_connected,
	.data = pipe_data,
	.drained = pipe_drained,
	.eof = pipe_eof,
	.closed = pipe_closed,
};

static const char pipe_usage_text[] =
    "usage: evsock [options] HOST:PORT\n"
    "       evsock chat [options] HOST:PORT     (evsock chat --help)\n"
    "       evsock load [options] HOST:PORT     (evsock load --help)\n"
    "\n"
    "Copies stdin to a TCP connection and the connection to stdout.\n"
    "EOF on stdin half-closes the connection; evsock exits when both\n"
    "directions are done.  HOST may be a name, an IPv4 address or an\n"
    "IPv6 address in brackets: [::1]:7007.\n"
    "\n"
    "  -w, --connect-timeout DUR  give up connecting after DUR (default 10s;\n"
    "                             0 = never)\n"
    "      --tls                  speak TLS; the server's certificate must\n"
    "                             verify against the system's CA store\n"
    "                             and name HOST\n"
    "      --ca-file FILE         verify against the CA certificates in FILE\n"
    "      --insecure             TLS without any verification\n"
    "  -q, --quiet                no error messages\n"
    "  -h, --help                 this text\n"
    "  -V, --version              the version\n"
    "\n"
    "Exit status: 0 when both directions finished cleanly, 1 on a\n"
    "connection or I/O error, 2 on a usage error.\n";

static void
pipe_fail(struct pipe_state *ps, const char *msg, int err)
{
	if (!ps->quiet) {
		if (err != 0)
			fprintf(stderr, "evsock: %s: %s\n", msg, strerror(err));
		else
			fprintf(stderr, "evsock: %s\n", msg);
	}
	ps->status = 1;
	event_base_loopexit(ps->base, NULL);
}

static void
pipe_check_done(struct pipe_state *ps)
{
	if (!ps->tx_done && ps->stdin_eof && ps->cl != NULL &&
	    evs_client_pending(ps->cl) == 0)
		ps->tx_done = 1;
	if (!ps->rx_done && ps->sock_eof && evbuffer_get_length(ps->outq) == 0)
		ps->rx_done = 1;
	if (ps->tx_done && ps->rx_done)
		evs_client_close(ps->cl);
}

static void
pipe_in_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pipe_state *ps = arg;
	struct evbuffer *buf;
	ssize_t n;

	(void)what;
	if ((buf = evbuffer_new()) == NULL) {
		pipe_fail(ps, "out of memory", 0);
		return;
	}
	(void)fd;
	n = evbuffer_read(buf, STDIN_FILENO, PIPE_CHUNK);
	if (n < 0) {
		evbuffer_free(buf);
		if (errno == EAGAIN || errno == EINTR)
			return;
		pipe_fail(ps, "stdin", errno);
		return;
	}
	if (n == 0) {
		evbuffer_free(buf);
		event_del(ps->in_ev);
		ps->stdin_eof = 1;
		evs_client_shutdown_write(ps->cl);
		pipe_check_done(ps);
		return;
	}
	evs_client_send_buffer(ps->cl, buf);
	evbuffer_free(buf);
	if (evs_client_pending(ps->cl) > PIPE_HIGH) {
		ps->in_paused = 1;
		event_del(ps->in_ev);
	} else if (ps->in_file) {
		event_active(ps->in_ev, EV_READ, 0);
	}
}

static void
pipe_in_start(struct pipe_state *ps)
{
	if (ps->stdin_eof)
		return;
	stdfd_start(ps->in_ev, ps->in_file);
}

static void
pipe_flush_out(struct pipe_state *ps)
{
	while (evbuffer_get_length(ps->outq) > 0) {
		int n = evbuffer_write(ps->outq, STDOUT_FILENO);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				event_add(ps->out_ev, NULL);
				return;
			}
			pipe_fail(ps, "stdout", errno);
			return;
		}
		if (!ps->out_file) {
			if (evbuffer_get_length(ps->outq) > 0)
				event_add(ps->out_ev, NULL);
			break;
		}
	}
	if (evbuffer_get_length(ps->outq) <= PIPE_LOW)
		evs_client_resume(ps->cl);
	pipe_check_done(ps);
}

static void
pipe_out_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pipe_flush_out(arg);
}

static void
pipe_connected(struct evs_client *cl, void *arg)
{
	struct pipe_state *ps = arg;

	(void)cl;
	evs_client_set_drain_level(cl, PIPE_LOW);
	pipe_in_start(ps);
}

static void
pipe_data(struct evs_client *cl, struct evbuffer *in, void *arg)
{
	struct pipe_state *ps = arg;

	evbuffer_add_buffer(ps->outq, in);
	if (evbuffer_get_length(ps->outq) > PIPE_HIGH)
		evs_client_pause(cl);
	if (!event_pending(ps->out_ev, EV_WRITE, NULL))
		pipe_flush_out(ps);
}

static void
pipe_drained(struct evs_client *cl, void *arg)
{
	struct pipe_state *ps = arg;

	(void)cl;
	if (ps->in_paused) {
		ps->in_paused = 0;
		pipe_in_start(ps);
	}
	pipe_check_done(ps);
}

static void
pipe_eof(struct evs_client *cl, void *arg)
{
	struct pipe_state *ps = arg;

	(void)cl;
	ps->sock_eof = 1;
	pipe_check_done(ps);
}

static void
pipe_closed(struct evs_client *cl, int error, const char *reason, void *arg)
{
	struct pipe_state *ps = arg;

	(void)cl;
	if (error != 0) {
		pipe_fail(ps, reason, 0);
		return;
	}
	event_base_loopexit(ps->base, NULL);
}

int
pipe_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "connect-timeout", required_argument, NULL, 'w' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "tls", no_argument, NULL, PIPE_OPT_TLS },
		{ "ca-file", required_argument, NULL, PIPE_OPT_CA_FILE },
		{ "insecure", no_argument, NULL, PIPE_OPT_INSECURE },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 }
	};
	struct pipe_state ps;
	uint64_t timeout_ms = 10000;
	const char *err, *ca_file = NULL;
	char why[256];
	int ch, tls = 0, insecure = 0;

	memset(&ps, 0, sizeof(ps));
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":w:qhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'w':
			if (opt_parse_duration(optarg, 86400000ULL, &timeout_ms,
			        &err) == -1) {
				fprintf(stderr,
				    "evsock: --connect-timeout "
				    "'%s': %s\n",
				    optarg, err);
				return 2;
			}
			break;
		case 'q':
			ps.quiet = 1;
			break;
		case PIPE_OPT_TLS:
			tls = 1;
			break;
		case PIPE_OPT_CA_FILE:
			ca_file = optarg;
			tls = 1;
			break;
		case PIPE_OPT_INSECURE:
			insecure = 1;
			tls = 1;
			break;
		case 'h':
			fputs(pipe_usage_text, stdout);
			return 0;
		case 'V':
			printf("evsock %s\n", evs_version());
			return 0;
		case ':':
			fprintf(stderr, "evsock: option %s needs a value\n",
			    argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr,
			    "evsock: unknown option %s (see "
			    "--help)\n",
			    argv[optind - 1]);
			return 2;
		}
	}
	if (argc - optind != 1) {
		fputs(pipe_usage_text, stderr);
		return 2;
	}
	if (tls &&
	    (ps.tls = evs_tls_client_new(ca_file, insecure, why,
	         sizeof(why))) == NULL) {
		fprintf(stderr, "evsock: %s\n", why);
		return 1;
	}

	ps.in_file = stdfd_is_file(STDIN_FILENO);
	ps.out_file = stdfd_is_file(STDOUT_FILENO);
	ps.in_flags = fcntl(STDIN_FILENO, F_GETFL);
	ps.out_flags = fcntl(STDOUT_FILENO, F_GETFL);
	if (!ps.in_file && ps.in_flags != -1)
		(void)fcntl(STDIN_FILENO, F_SETFL, ps.in_flags | O_NONBLOCK);
	if (!ps.out_file && ps.out_flags != -1)
		(void)fcntl(STDOUT_FILENO, F_SETFL, ps.out_flags | O_NONBLOCK);

	ps.base = event_base_new();
	ps.outq = evbuffer_new();
	if (ps.base == NULL || ps.outq == NULL) {
		fprintf(stderr, "evsock: cannot start the event loop\n");
		return 1;
	}
	ps.in_ev = stdfd_event_new(ps.base, STDIN_FILENO, ps.in_file,
	    pipe_in_cb, &ps);
	ps.out_ev = event_new(ps.base, STDOUT_FILENO, EV_WRITE, pipe_out_cb,
	    &ps);
	ps.cl = evs_client_new(ps.base, NULL, &pipe_callbacks, &ps);
	if (ps.in_ev == NULL || ps.out_ev == NULL || ps.cl == NULL) {
		fprintf(stderr, "evsock: out of memory\n");
		return 1;
	}
	if (ps.tls != NULL)
		evs_client_set_tls(ps.cl, ps.tls, NULL);
	if (evs_client_connect(ps.cl, argv[optind], (unsigned)timeout_ms) ==
	    -1) {
		fprintf(stderr,
		    "evsock: %s: expected HOST:PORT with a port "
		    "from 1 to 65535\n",
		    argv[optind]);
		ps.status = 2;
	} else {
		event_base_dispatch(ps.base);
	}

	evs_client_free(ps.cl);
	evs_tls_free(ps.tls);
	event_free(ps.in_ev);
	event_free(ps.out_ev);
	evbuffer_free(ps.outq);
	event_base_free(ps.base);
	if (ps.in_flags != -1)
		(void)fcntl(STDIN_FILENO, F_SETFL, ps.in_flags);
	if (ps.out_flags != -1)
		(void)fcntl(STDOUT_FILENO, F_SETFL, ps.out_flags);
	return ps.status;
}
