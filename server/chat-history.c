/*
 * The message history CHATHISTORY replays: one ring of the latest
 * messages per target (a channel, or the private conversation of two
 * nicks), each message one allocation holding its strings.  Rings grow
 * to their bound as they fill, so a quiet conversation costs little;
 * the number of rings is bounded too, the least recently written going
 * first.  The store sits behind chat_history_add and
 * chat_history_query so that another source (a shared store between
 * instances) can feed it.
 *
 * The CHATHISTORY command (draft/chathistory) lives here as well.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chat-int.h"

#define CHAT_HISTORY_RINGS_MAX 4096

struct chat_hist_ent {
	struct chat_hist_msg m;
	char data[];
};

struct chat_hist_ring {
	struct nametab_ent h;
	TAILQ_ENTRY(chat_hist_ring) lru;
	struct chat_hist_ent **slot;
	size_t size; /* slots allocated */
	size_t head; /* the oldest message's slot */
	size_t n;
	char key[2 * IRC_NICK_MAX + 2];
};

TAILQ_HEAD(chat_hist_lru, chat_hist_ring);

struct chat_history {
	struct nametab rings;
	struct chat_hist_lru lru; /* most recently written first */
	size_t lines;
};

static struct chat_hist_ring *chat_history_ring(struct chat_history *,
    const char *, int);

#define CHAT_HIST_RING(e) \
	((struct chat_hist_ring *)(void *)(( \
	    char *)(e)-offsetof(struct chat_hist_ring, h)))

struct chat_history *
chat_history_new(size_t lines)
{
	struct chat_history *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	if (nametab_init(&h->rings) == -1) {
		free(h);
		return NULL;
	}
	TAILQ_INIT(&h->lru);
	h->lines = lines;
	return h;
}

/* The i-th message of the ring, oldest first. */
static struct chat_hist_ent *
chat_history_at(const struct chat_hist_ring *r, size_t i)
{
	return r->slot[(r->head + i) % r->size];
}

static void
chat_history_ring_free(struct chat_history *h, struct chat_hist_ring *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(chat_history_at(r, i));
	nametab_del(&h->rings, &r->h);
	TAILQ_REMOVE(&h->lru, r, lru);
	free(r->slot);
	free(r);
}

void
chat_history_free(struct chat_history *h)
{
	if (h == NULL)
		return;
	while (!TAILQ_EMPTY(&h->lru))
		chat_history_ring_free(h, TAILQ_FIRST(&h->lru));
	nametab_fini(&h->rings);
	free(h);
}

void
chat_history_forget(struct chat_history *h, const char *key)
{
	struct chat_hist_ring *r;

	if (h != NULL && (r = chat_history_ring(h, key, 0)) != NULL)
		chat_history_ring_free(h, r);
}

void
chat_history_forget_nick(struct chat_history *h, const char *nick)
{
	struct chat_hist_ring *r, *next;
	size_t len = strlen(nick);

	if (h == NULL)
		return;
	for (r = TAILQ_FIRST(&h->lru); r != NULL; r = next) {
		const char *sp = strchr(r->key, ' ');

		next = TAILQ_NEXT(r, lru);
		if (sp == NULL)
			continue;
		if (((size_t)(sp - r->key) == len &&
		        strncasecmp(r->key, nick, len) == 0) ||
		    irc_casecmp(sp + 1, nick) == 0)
			chat_history_ring_free(h, r);
	}
}

void
chat_history_key(char *key, size_t len, const char *a, const char *b)
{
	/* Either side's key is the same: the smaller nick first, and a
	   space, which no nick or channel contains. */
	if (irc_casecmp(a, b) > 0) {
		const char *t = a;

		a = b;
		b = t;
	}
	snprintf(key, len, "%s %s", a, b);
}

static struct chat_hist_ring *
chat_history_ring(struct chat_history *h, const char *key, int create)
{
	struct nametab_ent *e = nametab_find(&h->rings, key);
	struct chat_hist_ring *r;

	if (e != NULL || !create)
		return e != NULL ? CHAT_HIST_RING(e) : NULL;
	if (nametab_count(&h->rings) >= CHAT_HISTORY_RINGS_MAX)
		chat_history_ring_free(h, TAILQ_LAST(&h->lru, chat_hist_lru));
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	snprintf(r->key, sizeof(r->key), "%s", key);
	nametab_add(&h->rings, &r->h, r->key);
	TAILQ_INSERT_HEAD(&h->lru, r, lru);
	return r;
}

/* Makes room for one more message: grows the ring up to its bound,
   else drops the oldest.  Returns 0 or -1. */
static int
chat_history_room(struct chat_history *h, struct chat_hist_ring *r)
{
	struct chat_hist_ent **slot;
	size_t size, i;

	if (r->n < r->size)
		return 0;
	if (r->size < h->lines) {
		size = r->size > 0 ? r->size * 2 : 8;
		if (size > h->lines)
			size = h->lines;
		if ((slot = malloc(size * sizeof(*slot))) == NULL)
			return -1;
		for (i = 0; i < r->n; i++)
			slot[i] = chat_history_at(r, i);
		free(r->slot);
		r->slot = slot;
		r->size = size;
		r->head = 0;
		return 0;
	}
	free(r->slot[r->head]);
	r->head = (r->head + 1) % r->size;
	r->n--;
	return 0;
}

/* Copies s into the entry's data at *p; returns where it went. */
static const char *
chat_history_put(char **p, const char *s)
{
	size_t len = strlen(s) + 1;
	char *at = *p;

	memcpy(at, s, len);
	*p += len;
	return at;
}

int
chat_history_add(struct chat_history *h, const char *key,
    const struct chat_hist_msg *m)
{
	struct chat_hist_ring *r;
	struct chat_hist_ent *e;
	char *p;
	size_t need;

	if (h == NULL || h->lines == 0)
		return 0;
	if ((r = chat_history_ring(h, key, 1)) == NULL ||
	    chat_history_room(h, r) == -1)
		return -1;
	need = strlen(m->msgid) + strlen(m->prefix) + strlen(m->command) +
	    strlen(m->target) + strlen(m->text) + strlen(m->tags) + 6;
	if ((e = malloc(sizeof(*e) + need)) == NULL)
		return -1;
	p = e->data;
	e->m.ms = m->ms;
	e->m.msgid = chat_history_put(&p, m->msgid);
	e->m.prefix = chat_history_put(&p, m->prefix);
	e->m.command = chat_history_put(&p, m->command);
	e->m.target = chat_history_put(&p, m->target);
	e->m.text = chat_history_put(&p, m->text);
	e->m.tags = chat_history_put(&p, m->tags);
	r->slot[(r->head + r->n) % r->size] = e;
	r->n++;
	TAILQ_REMOVE(&h->lru, r, lru);
	TAILQ_INSERT_HEAD(&h->lru, r, lru);
	return 0;
}

/* Where ref falls in r: the index of the first message not before it
   (`after` 0), or of the first message after it (`after` 1).  An
   unknown msgid gives -1. */
static long
chat_history_find(const struct chat_hist_ring *r,
    const struct chat_hist_ref *ref, int after)
{
	size_t i;

	if (ref->msgid != NULL) {
		for (i = 0; i < r->n; i++)
			if (strcmp(chat_history_at(r, i)->m.msgid,
			        ref->msgid) == 0)
				return (long)i + after;
		return -1;
	}
	for (i = 0; i < r->n; i++) {
		int64_t ms = chat_history_at(r, i)->m.ms;

		if (after ? ms > ref->ms : ms >= ref->ms)
			break;
	}
	return (long)i;
}

/* Copies messages [lo, hi) of r to out, at most limit of them: the
   first ones, or the last ones when `last`.  Returns how many. */
static size_t
chat_history_take(const struct chat_hist_ring *r, long lo, long hi,
    size_t limit, int last, const struct chat_hist_msg **out)
{
	size_t n = 0;

	if (lo < 0)
		lo = 0;
	if (hi > (long)r->n)
		hi = (long)r->n;
	if (hi <= lo)
		return 0;
	if ((size_t)(hi - lo) > limit) {
		if (last)
			lo = hi - (long)limit;
		else
			hi = lo + (long)limit;
	}
	for (long i = lo; i < hi; i++)
		out[n++] = &chat_history_at(r, (size_t)i)->m;
	return n;
}

size_t
chat_history_query(struct chat_history *h, const char *key,
    enum chat_hist_op op, const struct chat_hist_ref *a,
    const struct chat_hist_ref *b, size_t limit,
    const struct chat_hist_msg **out)
{
	struct chat_hist_ring *r;
	long i, j;

	if (h == NULL || limit == 0 ||
	    (r = chat_history_ring(h, key, 0)) == NULL)
		return 0;
	switch (op) {
	case CHAT_HIST_LATEST:
		i = a != NULL ? chat_history_find(r, a, 1) : 0;
		return i < 0 ?
		    0 :
		    chat_history_take(r, i, (long)r->n, limit, 1, out);
	case CHAT_HIST_BEFORE:
		i = chat_history_find(r, a, 0);
		return i < 0 ? 0 : chat_history_take(r, 0, i, limit, 1, out);
	case CHAT_HIST_AFTER:
		i = chat_history_find(r, a, 1);
		return i < 0 ?
		    0 :
		    chat_history_take(r, i, (long)r->n, limit, 0, out);
	case CHAT_HIST_AROUND:
		/* The reference in the middle, the earlier half before. */
		if ((i = chat_history_find(r, a, 0)) < 0)
			return 0;
		i -= (long)((limit - 1) / 2);
		if (i < 0)
			i = 0;
		return chat_history_take(r, i, (long)r->n, limit, 0, out);
	case CHAT_HIST_BETWEEN:
		if ((i = chat_history_find(r, a, 1)) < 0 ||
		    (j = chat_history_find(r, b, 0)) < 0)
			break;
		if (i <= j)
			return chat_history_take(r, i, j, limit, 0, out);
		/* Backwards: the messages nearest to a, going back to b. */
		i = chat_history_find(r, a, 0);
		j = chat_history_find(r, b, 1);
		return chat_history_take(r, j, i, limit, 1, out);
	}
	return 0;
}

void
chat_history_targets(struct chat_history *h, int64_t from, int64_t to,
    void (*fn)(const char *key, int64_t ms, void *arg), void *arg)
{
	struct chat_hist_ring *r;

	if (h == NULL)
		return;
	TAILQ_FOREACH(r, &h->lru, lru) {
		int64_t ms;

		if (r->n == 0)
			continue;
		ms = chat_history_at(r, r->n - 1)->m.ms;
		if (ms > from && ms < to)
			fn(r->key, ms, arg);
	}
}

/* CHATHISTORY: the replies. */

void
chat_history_send_one(struct chat_user *u, const char *ref,
    const struct chat_hist_msg *m)
{
	struct evs_chat *chat = u->chat;
	char tags[IRC_TAGS_MAX + 1], time[32];
	size_t n = 0, len;

	irc_time_format(time, sizeof(time), m->ms);
	tags[0] = '\0';
	if (ref[0] != '\0')
		n += (size_t)snprintf(tags + n, sizeof(tags) - n, "batch=%s;",
		    ref);
	if (u->caps & (CAP_SERVER_TIME | CAP_MESSAGE_TAGS))
		n += (size_t)snprintf(tags + n, sizeof(tags) - n, "time=%s;",
		    time);
	if ((u->caps & CAP_MESSAGE_TAGS) && n < sizeof(tags))
		n += (size_t)snprintf(tags + n, sizeof(tags) - n, "msgid=%s;%s",
		    m->msgid, m->tags);
	if (n >= sizeof(tags))
		n = sizeof(tags) - 1;
	while (n > 0 && tags[n - 1] == ';')
		tags[--n] = '\0';
	len = irc_format(chat->out, sizeof(chat->out), chat->outmax,
	    ":%s %s %s :%s", m->prefix, m->command, m->target, m->text);
	chat_send_tagged(u, tags, chat->out, len);
}

static void
chat_history_fail(struct chat_user *u, const char *code, const char *sub,
    const char *target, const char *text)
{
	char ctx[IRC_LINE_MAX];

	snprintf(ctx, sizeof(ctx), "%s%s%s", sub, target != NULL ? " " : "",
	    target != NULL ? target : "");
	chat_send_standard(u, "FAIL", "CHATHISTORY", code, ctx, text);
}

/* Reads "*" (when star, as NULL), "msgid=..." or "timestamp=...".
   Returns 0, or -1 if malformed. */
static int
chat_history_ref(const char *s, int star, struct chat_hist_ref *ref,
    const struct chat_hist_ref **out)
{
	memset(ref, 0, sizeof(*ref));
	*out = ref;
	if (star && strcmp(s, "*") == 0) {
		*out = NULL;
		return 0;
	}
	if (strncmp(s, "msgid=", 6) == 0 && s[6] != '\0') {
		ref->msgid = s + 6;
		return 0;
	}
	if (strncmp(s, "timestamp=", 10) == 0)
		return irc_time_parse(s + 10, &ref->ms);
	return -1;
}

/* Reads a limit: 1 or more, at most CHATHISTORY's. */
static size_t
chat_history_limit(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 1)
		return 0;
	return v > CHAT_HISTORY_MAXREQ ? CHAT_HISTORY_MAXREQ : (size_t)v;
}

struct chat_history_tgt_ent {
	int64_t ms;
	char name[2 * IRC_NICK_MAX + 2];
};

struct chat_history_tgt {
	struct chat_user *u;
	size_t n;
	struct chat_history_tgt_ent t[CHAT_HISTORY_MAXREQ * 4];
};

/* Collects the targets u may see: its channels and its conversations,
   named as u would (the other nick). */
static void
chat_history_tgt_add(const char *key, int64_t ms, void *arg)
{
	struct chat_history_tgt *tg = arg;
	struct chat_user *u = tg->u;
	const char *sp = strchr(key, ' '), *name = key;
	char a[IRC_NICK_MAX + 1];

	if (tg->n == sizeof(tg->t) / sizeof(tg->t[0]))
		return;
	if (sp == NULL) {
		struct chat_chan *ch = chat_state_find_chan(u->chat, key);

		if (ch == NULL || chat_state_member(u, ch) == NULL)
			return;
	} else {
		snprintf(a, sizeof(a), "%.*s", (int)(sp - key), key);
		if (irc_casecmp(a, u->nick) == 0)
			name = sp + 1;
		else if (irc_casecmp(sp + 1, u->nick) == 0)
			name = a;
		else
			return;
	}
	tg->t[tg->n].ms = ms;
	snprintf(tg->t[tg->n].name, sizeof(tg->t[0].name), "%s", name);
	tg->n++;
}

/* Oldest latest message first; by name when at the same time. */
static int
chat_history_tgt_cmp(const void *a, const void *b)
{
	const struct chat_history_tgt_ent *x = a, *y = b;

	if (x->ms != y->ms)
		return x->ms < y->ms ? -1 : 1;
	return irc_casecmp(x->name, y->name);
}

static void
chat_history_targets_cmd(struct chat_user *u, struct irc_msg *m)
{
	struct chat_history_tgt *tg;
	struct chat_hist_ref a, b;
	const struct chat_hist_ref *ap, *bp;
	char ref[CHAT_MSGID_MAX], time[32];
	size_t limit, i;
	int64_t lo, hi;

	if (m->nparams < 4) {
		chat_history_fail(u, "NEED_MORE_PARAMS", "TARGETS", NULL,
		    "Missing parameters");
		return;
	}
	if (chat_history_ref(m->params[1], 0, &a, &ap) == -1 ||
	    chat_history_ref(m->params[2], 0, &b, &bp) == -1 ||
	    a.msgid != NULL || b.msgid != NULL ||
	    (limit = chat_history_limit(m->params[3])) == 0) {
		chat_history_fail(u, "INVALID_PARAMS", "TARGETS", NULL,
		    "Invalid parameters");
		return;
	}
	if ((tg = calloc(1, sizeof(*tg))) == NULL)
		return;
	tg->u = u;
	lo = a.ms < b.ms ? a.ms : b.ms;
	hi = a.ms < b.ms ? b.ms : a.ms;
	chat_history_targets(u->chat->history, lo, hi, chat_history_tgt_add,
	    tg);
	qsort(tg->t, tg->n, sizeof(tg->t[0]), chat_history_tgt_cmp);
	chat_send_batch_begin(u, ref, "draft/chathistory-targets", NULL);
	for (i = 0; i < tg->n && i < limit; i++) {
		struct evs_chat *chat = u->chat;
		char tags[CHAT_MSGID_MAX + 8];
		size_t n;

		irc_time_format(time, sizeof(time), tg->t[i].ms);
		n = irc_format(chat->out, sizeof(chat->out), chat->outmax,
		    ":%s CHATHISTORY TARGETS %s %s", chat->name, tg->t[i].name,
		    time);
		snprintf(tags, sizeof(tags), "%s%s", ref[0] ? "batch=" : "",
		    ref);
		chat_send_tagged(u, tags, chat->out, n);
	}
	chat_send_batch_end(u, ref);
	free(tg);
}

static const struct {
	const char *name;
	enum chat_hist_op op;
	int nrefs;
} chat_history_subs[] = {
	{ "LATEST", CHAT_HIST_LATEST, 1 },
	{ "BEFORE", CHAT_HIST_BEFORE, 1 },
	{ "AFTER", CHAT_HIST_AFTER, 1 },
	{ "AROUND", CHAT_HIST_AROUND, 1 },
	{ "BETWEEN", CHAT_HIST_BETWEEN, 2 },
};

void
chat_history_answer(struct chat_user *u, const char *key, const char *target,
    enum chat_hist_op op, const struct chat_hist_ref *ap,
    const struct chat_hist_ref *bp, size_t limit)
{
	const struct chat_hist_msg *out[CHAT_HISTORY_MAXREQ];
	char ref[CHAT_MSGID_MAX];
	size_t i, n;

	n = chat_history_query(u->chat->history, key, op, ap, bp, limit, out);
	chat_send_batch_begin(u, ref, "chathistory", target);
	for (i = 0; i < n; i++)
		chat_history_send_one(u, ref, out[i]);
	chat_send_batch_end(u, ref);
}

void
chat_history_cmd(struct chat_user *u, struct irc_msg *m)
{
	struct evs_chat *chat = u->chat;
	const struct chat_hist_ref *ap, *bp = NULL;
	struct chat_hist_ref a, b;
	const char *sub = m->params[0], *target;
	char key[2 * IRC_NICK_MAX + 2];
	size_t i, limit;
	int k = -1;

	if (irc_casecmp(sub, "TARGETS") == 0) {
		chat_history_targets_cmd(u, m);
		return;
	}
	for (i = 0;
	     i < sizeof(chat_history_subs) / sizeof(chat_history_subs[0]); i++)
		if (irc_casecmp(sub, chat_history_subs[i].name) == 0)
			k = (int)i;
	if (k < 0) {
		chat_history_fail(u, "INVALID_PARAMS", sub, NULL,
		    "Unknown subcommand");
		return;
	}
	sub = chat_history_subs[k].name;
	if (m->nparams < 3 + chat_history_subs[k].nrefs) {
		chat_history_fail(u, "NEED_MORE_PARAMS", sub, NULL,
		    "Missing parameters");
		return;
	}
	target = m->params[1];
	if (chat_history_ref(m->params[2], k == 0, &a, &ap) == -1 ||
	    (chat_history_subs[k].nrefs == 2 &&
	        chat_history_ref(m->params[3], 0, &b, &bp) == -1) ||
	    (limit = chat_history_limit(
	         m->params[2 + chat_history_subs[k].nrefs])) == 0) {
		chat_history_fail(u, "INVALID_PARAMS", sub, NULL,
		    "Invalid parameters");
		return;
	}
	if (irc_is_channel(target)) {
		struct chat_chan *ch = chat_state_find_chan(chat, target);

		if (ch == NULL || chat_state_member(u, ch) == NULL) {
			chat_history_fail(u, "INVALID_TARGET", sub, target,
			    "Messages could not be retrieved");
			return;
		}
		/* In a cluster the network's history answers, later. */
		if (chat_histlink_start(u, ch, chat_history_subs[k].op, ap,
		        limit))
			return;
		snprintf(key, sizeof(key), "%s", ch->name);
	} else if (irc_valid_nick(target)) {
		chat_history_key(key, sizeof(key), u->nick, target);
	} else {
		chat_history_fail(u, "INVALID_TARGET", sub, target,
		    "Messages could not be retrieved");
		return;
	}
	chat_history_answer(u, key, target, chat_history_subs[k].op, ap, bp,
	    limit);
}
