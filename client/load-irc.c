/*
 * The IRC protocol of evsock load: every client registers and joins
 * the channel; senders PRIVMSG "<tag> <sender> <seq> <due-ns>" at the
 * configured rate; every client counts and times what reaches it,
 * and with several targets, separately, what came from a sender on
 * another target (in a cluster, another instance).
 * Lines are framed by common/line.c and parsed by common/irc.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/irc.h"
#include "load-engine.h"

#define LINE_MAX_LEN 1024
#define NICK_TRIES 5

static int load_irc_worker_init(struct load_worker *w);
static void load_irc_opened(struct load_conn *c);
static void load_irc_register(struct load_conn *c);
static void load_irc_input(struct load_conn *c, char *p, size_t n,
    uint64_t now);
static void load_irc_line(struct load_conn *c, char *line, size_t len,
    uint64_t now);
static void load_irc_refused(struct load_conn *c, const char *cmd,
    const char *rest);
static void load_irc_privmsg(struct load_conn *c, const char *text,
    uint64_t now);
static void load_irc_send(struct load_conn *c, uint64_t due);
static void load_irc_bye(struct load_conn *c);
static void load_irc_conn_free(struct load_conn *c);
static void load_irc_rest(const struct irc_msg *m, char *buf, size_t size);

const struct load_proto load_irc_proto = {
	.paced = 1,
	.worker_init = load_irc_worker_init,
	.opened = load_irc_opened,
	.input = load_irc_input,
	.send = load_irc_send,
	.bye = load_irc_bye,
	.conn_free = load_irc_conn_free,
};

/* The worker's scratch line for the messages it sends. */
static int
load_irc_worker_init(struct load_worker *w)
{
	w->pdata = malloc((size_t)w->conf->size + 256);
	return w->pdata != NULL ? 0 : -1;
}

static void
load_irc_conn_free(struct load_conn *c)
{
	line_reader_clear(&c->u.irc.lines);
}

static void
load_irc_opened(struct load_conn *c)
{
	c->u.irc.lines.max = LINE_MAX_LEN + 2;
	c->state = LOAD_CONN_REGISTERING;
	load_irc_register(c);
}

static void
load_irc_register(struct load_conn *c)
{
	struct load_worker *w = c->w;
	char line[256], idx[16], *p = idx + sizeof(idx) - 1;
	uint64_t v = c->id;
	int n = 0, tries = c->u.irc.nick_tries;

	if (tries == 0 && w->conf->password != NULL)
		n = snprintf(line, sizeof(line), "PASS %s\r\n",
		    w->conf->password);
	/* Nicks stay within 9 characters, the RFC 1459 limit that many
	   servers still apply: 'l', the run tag's first 3, the index in
	   base 36, and a retry letter. */
	*p = '\0';
	do {
		*--p = "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36];
		v /= 36;
	} while (v > 0);
	n += snprintf(line + n, sizeof(line) - (size_t)n,
	    "NICK l%.3s%s%.*s\r\nUSER evl 0 * :evsock load\r\n", w->conf->tag,
	    p, tries > 0 ? 1 : 0, &"abcdefghijklmnopqrstuvwxyz"[tries % 26]);
	load_conn_write(c, line, (size_t)n);
}

static void
load_irc_input(struct load_conn *c, char *p, size_t n, uint64_t now)
{
	char *line;
	size_t used, len;

	/* An overlong line is none of ours; the framer skips it. */
	while (n > 0 && c->state != LOAD_CONN_CLOSED) {
		if (line_read(&c->u.irc.lines, p, n, &used, &line, &len) ==
		    LINE_OK)
			load_irc_line(c, line, len, now);
		p += used;
		n -= used;
	}
}

/* The parameters as they came: space-separated, the trailing one
   after ':'. */
static void
load_irc_rest(const struct irc_msg *m, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < m->nparams && off < size; i++) {
		int r = snprintf(buf + off, size - off, "%s%s%s",
		    i > 0 ? " " : "",
		    i == m->nparams - 1 && m->trailing ? ":" : "",
		    m->params[i]);

		if (r < 0)
			break;
		off += (size_t)r;
	}
}

static void
load_irc_line(struct load_conn *c, char *line, size_t len, uint64_t now)
{
	struct load_worker *w = c->w;
	struct irc_msg m;
	const char *cmd;
	char out[LINE_MAX_LEN + 8];
	int n;

	if (irc_parse(line, len, &m) != IRC_PARSE_OK)
		return;
	cmd = m.command;
	if (strcmp(cmd, "PRIVMSG") == 0) {
		if (m.nparams >= 2 && m.trailing)
			load_irc_privmsg(c, m.params[m.nparams - 1], now);
		return;
	}
	if (strcmp(cmd, "PING") == 0) {
		memcpy(out, "PONG ", 5);
		load_irc_rest(&m, out + 5, sizeof(out) - 7);
		n = (int)strlen(out);
		memcpy(out + n, "\r\n", 2);
		load_conn_write(c, out, (size_t)n + 2);
		return;
	}
	if (strcmp(cmd, "001") == 0 && c->state == LOAD_CONN_REGISTERING) {
		n = snprintf(out, sizeof(out), "JOIN %s\r\n", w->conf->channel);
		c->state = LOAD_CONN_JOINING;
		load_conn_write(c, out, (size_t)n);
		return;
	}
	if (strcmp(cmd, "366") == 0 && c->state == LOAD_CONN_JOINING) {
		load_conn_ready(c, now);
		return;
	}
	if ((strcmp(cmd, "433") == 0 || strcmp(cmd, "436") == 0) &&
	    c->state == LOAD_CONN_REGISTERING &&
	    ++c->u.irc.nick_tries < NICK_TRIES) {
		load_irc_register(c);
		return;
	}
	if (strcmp(cmd, "ERROR") == 0 ||
	    (cmd[0] >= '4' && cmd[0] <= '5' && strlen(cmd) == 3 &&
	        c->state != LOAD_CONN_READY && strcmp(cmd, "422") != 0)) {
		load_irc_rest(&m, out, sizeof(out));
		load_irc_refused(c, cmd, out);
	}
}

/* The server refused or dropped a client. */
static void
load_irc_refused(struct load_conn *c, const char *cmd, const char *rest)
{
	struct load_worker *w = c->w;

	if (c->state == LOAD_CONN_READY)
		load_worker_error(w, LOAD_ERR_PROTOCOL, "client %llu: %s %s",
		    (unsigned long long)c->id, cmd, rest);
	else {
		/* Never got in: a failed connection, as for a refused
		   connect. */
		load_worker_note(w, "client %llu: %s %.120s",
		    (unsigned long long)c->id, cmd, rest);
		w->failed++;
		w->up--;
	}
	load_conn_close(c);
}

/* "<tag> <sender> <seq> <due-ns> ..." from one of our senders. */
static void
load_irc_privmsg(struct load_conn *c, const char *text, uint64_t now)
{
	struct load_worker *w = c->w;
	const struct load_conf *conf = w->conf;
	const char *p;
	char *end;
	uint64_t due = 0, from;

	if (strncmp(text, w->conf->tag, LOAD_TAG_LEN) != 0 ||
	    text[LOAD_TAG_LEN] != ' ')
		return;
	/* Another worker began sending before this one's tick saw the
	   run start: catch up now, so that this message counts. */
	if (w->phase == LOAD_PHASE_SETUP &&
	    atomic_load(&w->sh->phase) >= LOAD_PHASE_RUN)
		load_worker_enter_run(w);
	if (!c->member)
		return;
	/* Read the sender, skip the sequence number, read the due
	   time. */
	from = strtoull(text + LOAD_TAG_LEN + 1, &end, 10);
	p = end != text + LOAD_TAG_LEN + 1 && *end == ' ' ? end : NULL;
	if (p == NULL || (p = strchr(p + 1, ' ')) == NULL) {
		load_worker_error(w, LOAD_ERR_CORRUPT,
		    "client %llu: mangled message \"%.60s\"",
		    (unsigned long long)c->id, text);
		return;
	}
	for (p++; *p >= '0' && *p <= '9'; p++)
		due = due * 10 + (uint64_t)(*p - '0');
	load_worker_record(w, due, now, strlen(text));
	/* The sender is a connection id of this run, and connection i
	   went to target i % ntargets (load_conn_start), as did c. */
	if (conf->ntargets > 1 &&
	    from % conf->ntargets != c->id % conf->ntargets)
		load_worker_record_cross(w, due, now);
}

static void
load_irc_send(struct load_conn *c, uint64_t due)
{
	struct load_worker *w = c->w;
	const struct load_conf *conf = w->conf;
	char *msg = w->pdata;
	size_t head = strlen(conf->channel) + 10, len;

	len = (size_t)snprintf(msg, conf->size + 256,
	    "PRIVMSG %s :%s %llu %llu %llu ", conf->channel, conf->tag,
	    (unsigned long long)c->id, (unsigned long long)c->u.irc.seq++,
	    (unsigned long long)due);
	/* Pad the text (after "PRIVMSG #chan :") up to --size bytes. */
	while (len - head < conf->size)
		msg[len++] = 'x';
	msg[len++] = '\r';
	msg[len++] = '\n';
	w->sent++;
	/* Output still queued: the server is not reading this sender
	   (a flood limit holds it back). */
	if (c->olen > c->ooff)
		w->throttled++;
	load_conn_write(c, msg, len);
}

static void
load_irc_bye(struct load_conn *c)
{
	(void)!write(c->fd, "QUIT :done\r\n", 12);
}
