/*
 * The chat state: users, channels and memberships.
 *
 * Users and channels live in name tables keyed by their case-folded
 * names.  A user's membership in a channel is one struct chat_member,
 * linked into both the user's and the channel's list, so joining,
 * parting and fan-out never search.  Every change to who is where
 * passes through here, and nothing here sends a line.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "chat-int.h"
#include "chat-link.h"

static void chat_state_set_prefix(struct chat_user *);
static void chat_state_depart(struct chat_user *);

/* The backplane to tell of u's changes: only for local users, and not
   while the backplane itself applies another instance's events. */
static struct chat_link *
chat_state_link(const struct chat_user *u)
{
	struct evs_chat *chat = u->chat;

	return chat->link != NULL && chat->link_quiet == 0 &&
	        !(u->flags & U_REMOTE) ?
	    chat->link :
	    NULL;
}

uint64_t
chat_state_wallclock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The owner of a name table entry. */
#define CHAT_STATE_OWNER(e, type) \
	((type *)(void *)((char *)(e)-offsetof(type, h)))

int
chat_state_init(struct evs_chat *chat)
{
	TAILQ_INIT(&chat->users);
	if (nametab_init(&chat->nicks) == -1)
		return -1;
	return nametab_init(&chat->chans);
}

static void
chat_state_user_free(struct chat_user *u)
{
	chat_flood_clear(u);
	chat_access_invites_clear(u);
	free(u->hist_wait);
	chat_monitor_clear(u);
	free(u->away);
	free(u->quit_reason);
	free(u);
}

static void
chat_state_leave_all(struct chat_user *u)
{
	struct chat_member *m;

	while ((m = TAILQ_FIRST(&u->chans)) != NULL)
		chat_state_part(m);
}

void
chat_state_fini(struct evs_chat *chat)
{
	struct chat_user *u;

	while ((u = TAILQ_FIRST(&chat->users)) != NULL) {
		chat_state_leave_all(u);
		TAILQ_REMOVE(&chat->users, u, link);
		chat_state_user_free(u);
	}
	nametab_fini(&chat->nicks);
	nametab_fini(&chat->chans);
}

struct chat_user *
chat_state_user_new(struct evs_chat *chat, struct evs_conn *c)
{
	struct chat_user *u = calloc(1, sizeof(*u));
	const char *host = evs_conn_peer_host(c);
	struct timeval now;

	if (u == NULL)
		return NULL;
	u->chat = chat;
	u->c = c;
	TAILQ_INIT(&u->chans);
	/* A host such as "::1" would read as a trailing parameter. */
	snprintf(u->host, sizeof(u->host), "%s%s", host[0] == ':' ? "0" : "",
	    host);
	u->signon = u->idle_since = time(NULL);
	event_base_gettimeofday_cached(evs_server_base(chat->srv), &now);
	bucket_init(&u->flood, chat->flood_burst, &now);
	if (chat->password == NULL)
		u->flags |= U_PASS_OK;
	chat_state_set_prefix(u);
	TAILQ_INSERT_TAIL(&chat->users, u, link);
	chat->nunknown++;
	return u;
}

void
chat_state_detach(struct chat_user *u)
{
	struct evs_chat *chat = u->chat;
	struct chat_link *link = chat_state_link(u);

	if (u->flags & U_DETACHED)
		return;
	/* Other instances drop the memberships with the user. */
	if (link != NULL)
		link->ops->quit(link, u);
	chat->link_quiet += link != NULL;
	chat_state_leave_all(u);
	chat->link_quiet -= link != NULL;
	if (u->flags & U_HISTDM)
		chat_history_forget_nick(chat->history, u->nick);
	chat_state_depart(u);
	if (u->nick[0] != '\0')
		nametab_del(&chat->nicks, &u->h);
	if (u->flags & U_REMOTE) {
		chat->nremote--;
		if (u->flags & U_INVISIBLE)
			chat->nremote_invisible--;
	} else {
		if (u->flags & U_INVISIBLE)
			chat->ninvisible--;
		if (u->flags & U_REGISTERED)
			chat->nusers--;
		else
			chat->nunknown--;
	}
	(void)chat_state_oper(u, 0);
	chat_access_invites_clear(u);
	chat_monitor_clear(u);
	/* Unregistered: no query counts or finds it any more. */
	u->flags &= ~(unsigned)(U_REGISTERED | U_INVISIBLE);
	u->flags |= U_DETACHED;
}

void
chat_state_quit(struct chat_user *u)
{
	chat_state_detach(u);
	TAILQ_REMOVE(&u->chat->users, u, link);
	chat_state_user_free(u);
}

struct chat_user *
chat_state_find_user(struct evs_chat *chat, const char *nick)
{
	struct nametab_ent *e = nametab_find(&chat->nicks, nick);

	return e == NULL ? NULL : CHAT_STATE_OWNER(e, struct chat_user);
}

struct chat_user *
chat_state_find_registered(struct evs_chat *chat, const char *nick)
{
	struct chat_user *u = chat_state_find_user(chat, nick);

	return u != NULL && (u->flags & U_REGISTERED) ? u : NULL;
}

struct chat_chan *
chat_state_find_chan(struct evs_chat *chat, const char *name)
{
	struct nametab_ent *e = nametab_find(&chat->chans, name);

	return e == NULL ? NULL : CHAT_STATE_OWNER(e, struct chat_chan);
}

struct chat_chan *
chat_state_chan_next(struct evs_chat *chat, const struct chat_chan *ch)
{
	struct nametab_ent *e = nametab_next(&chat->chans,
	    ch != NULL ? &ch->h : NULL);

	return e == NULL ? NULL : CHAT_STATE_OWNER(e, struct chat_chan);
}

struct chat_member *
chat_state_member(const struct chat_user *u, const struct chat_chan *ch)
{
	struct chat_member *m;

	TAILQ_FOREACH(m, &u->chans, by_user)
		if (m->ch == ch)
			return m;
	return NULL;
}

static struct chat_chan *
chat_state_chan_new(struct evs_chat *chat, const char *name)
{
	struct chat_chan *ch = calloc(1, sizeof(*ch));

	if (ch == NULL)
		return NULL;
	TAILQ_INIT(&ch->members);
	snprintf(ch->name, sizeof(ch->name), "%s", name);
	ch->created = time(NULL);
	ch->topic_ops = 1;
	ch->no_external = 1;
	nametab_add(&chat->chans, &ch->h, ch->name);
	return ch;
}

struct chat_member *
chat_state_join(struct chat_user *u, struct chat_chan *ch, const char *name)
{
	struct chat_member *mb;

	if ((mb = calloc(1, sizeof(*mb))) == NULL)
		return NULL;
	if (ch == NULL && (ch = chat_state_chan_new(u->chat, name)) == NULL) {
		free(mb);
		return NULL;
	}
	mb->u = u;
	mb->ch = ch;
	mb->op = ch->nmembers == 0;
	TAILQ_INSERT_TAIL(&ch->members, mb, by_chan);
	TAILQ_INSERT_TAIL(&u->chans, mb, by_user);
	ch->nmembers++;
	u->nchans++;
	if (chat_state_link(u) != NULL)
		u->chat->link->ops->join(u->chat->link, mb);
	return mb;
}

void
chat_state_part(struct chat_member *m)
{
	struct chat_chan *ch = m->ch;
	struct chat_user *u = m->u;

	/* Remote users too: a local operator may kick them. */
	if (u->chat->link != NULL && u->chat->link_quiet == 0)
		u->chat->link->ops->part(u->chat->link, u, ch);
	TAILQ_REMOVE(&u->chans, m, by_user);
	TAILQ_REMOVE(&ch->members, m, by_chan);
	u->nchans--;
	ch->nmembers--;
	free(m);
	if (ch->nmembers == 0) {
		/* A channel made again later is someone else's. */
		chat_history_forget(u->chat->history, ch->name);
		nametab_del(&u->chat->chans, &ch->h);
		chat_access_masks_clear(ch);
		free(ch->topic);
		free(ch);
	}
}

const char *
chat_state_client(const struct chat_user *u)
{
	return u->nick[0] != '\0' ? u->nick : "*";
}

static void
chat_state_set_prefix(struct chat_user *u)
{
	snprintf(u->prefix, sizeof(u->prefix), "%s!%s@%s", chat_state_client(u),
	    u->user[0] != '\0' ? u->user : "*", u->host);
}

void
chat_state_nick(struct chat_user *u, const char *nick)
{
	struct evs_chat *chat = u->chat;
	struct chat_link *link = chat_state_link(u);
	char old[IRC_NICK_MAX + 1];
	/* A change of case only is the same nick to WHOWAS and MONITOR. */
	int other = (u->flags & U_REGISTERED) && irc_casecmp(u->nick, nick);

	snprintf(old, sizeof(old), "%s", u->nick);
	/* The next holder of the nick must not read its conversations. */
	if ((u->flags & U_HISTDM) && irc_casecmp(u->nick, nick) != 0) {
		chat_history_forget_nick(chat->history, u->nick);
		u->flags &= ~U_HISTDM;
	}
	if (other) {
		chat_whowas_add(u);
		chat_monitor_notify(u, 0);
	}
	if (u->nick[0] != '\0')
		nametab_del(&chat->nicks, &u->h);
	snprintf(u->nick, sizeof(u->nick), "%s", nick);
	nametab_add(&chat->nicks, &u->h, u->nick);
	chat_state_set_prefix(u);
	if (!(u->flags & U_REMOTE))
		u->nick_ts = chat_state_wallclock_ms();
	if (link != NULL)
		link->ops->nick(link, u, old);
	if (other)
		chat_monitor_notify(u, 1);
}

void
chat_state_ident(struct chat_user *u, const char *user, const char *realname)
{
	snprintf(u->user, sizeof(u->user), "%s", user);
	snprintf(u->realname, sizeof(u->realname), "%s", realname);
	u->flags |= U_HAS_USER;
	chat_state_set_prefix(u);
}

void
chat_state_realname(struct chat_user *u, const char *realname)
{
	snprintf(u->realname, sizeof(u->realname), "%s", realname);
}

void
chat_state_register(struct chat_user *u)
{
	struct evs_chat *chat = u->chat;

	u->flags |= U_REGISTERED;
	chat->nunknown--;
	chat->nusers++;
	if (chat->nusers > chat->maxusers)
		chat->maxusers = chat->nusers;
	u->signon = u->idle_since = time(NULL);
	if (chat_state_link(u) != NULL)
		chat->link->ops->user(chat->link, u);
	chat_monitor_notify(u, 1);
}

int
chat_state_invisible(struct chat_user *u, int on)
{
	if (on == !!(u->flags & U_INVISIBLE))
		return 0;
	if (on) {
		u->flags |= U_INVISIBLE;
		u->chat->ninvisible++;
	} else {
		u->flags &= ~U_INVISIBLE;
		u->chat->ninvisible--;
	}
	if ((u->flags & U_REGISTERED) && chat_state_link(u) != NULL)
		u->chat->link->ops->user(u->chat->link, u);
	return 1;
}

void
chat_state_away(struct chat_user *u, const char *text)
{
	struct chat_link *link = chat_state_link(u);

	free(u->away);
	u->away = text != NULL ? strdup(text) : NULL;
	if (link != NULL && (u->flags & U_REGISTERED))
		link->ops->user(link, u);
}

int
chat_state_claim(struct chat_user *u, const char *nick)
{
	struct chat_link *link = chat_state_link(u);

	if (link == NULL || !link->ops->claim(link, u, nick))
		return 0;
	/* No other command of u's runs before the answer. */
	u->flags |= U_HOLD;
	evs_conn_pause(u->c);
	return 1;
}

void
chat_state_unhold(struct chat_user *u)
{
	u->flags &= ~U_HOLD;
	/* A line the flood limit holds back resumes reading itself. */
	if (u->pending == NULL && !(u->flags & U_CLOSING))
		evs_conn_resume(u->c);
}

struct chat_user *
chat_state_remote_new(struct evs_chat *chat, struct chat_node *node,
    const char *nick, const char *user, const char *host, const char *realname)
{
	struct chat_user *u;

	if (chat_state_find_user(chat, nick) != NULL ||
	    (u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	u->chat = chat;
	u->node = node;
	u->flags = U_REMOTE | U_REGISTERED | U_HAS_USER | U_PASS_OK;
	TAILQ_INIT(&u->chans);
	snprintf(u->host, sizeof(u->host), "%s", host);
	snprintf(u->user, sizeof(u->user), "%s", user);
	snprintf(u->realname, sizeof(u->realname), "%s", realname);
	snprintf(u->nick, sizeof(u->nick), "%s", nick);
	nametab_add(&chat->nicks, &u->h, u->nick);
	chat_state_set_prefix(u);
	u->signon = u->idle_since = time(NULL);
	TAILQ_INSERT_TAIL(&chat->users, u, link);
	chat->nremote++;
	chat_monitor_notify(u, 1);
	return u;
}

void
chat_state_remote_invisible(struct chat_user *u, int on)
{
	if (on == !!(u->flags & U_INVISIBLE))
		return;
	if (on) {
		u->flags |= U_INVISIBLE;
		u->chat->nremote_invisible++;
	} else {
		u->flags &= ~U_INVISIBLE;
		u->chat->nremote_invisible--;
	}
}

/* WHOWAS remembers a registered user that leaves and MONITOR tells its
   watchers; chat_state_detach runs it once, for local and remote users. */
static void
chat_state_depart(struct chat_user *u)
{
	if (!(u->flags & U_REGISTERED))
		return;
	chat_whowas_add(u);
	chat_monitor_notify(u, 0);
}

int
chat_state_oper(struct chat_user *u, int on)
{
	if (on == !!(u->flags & U_OPER))
		return 0;
	if (on) {
		u->flags |= U_OPER;
		u->chat->nopers_online++;
	} else {
		u->flags &= ~U_OPER;
		u->chat->nopers_online--;
	}
	return 1;
}

void
chat_state_umodes(const struct chat_user *u, char *buf, size_t len)
{
	snprintf(buf, len, "+%s%s%s", (u->flags & U_INVISIBLE) ? "i" : "",
	    (u->flags & U_OPER) ? "o" : "", (u->flags & U_WALLOPS) ? "w" : "");
}
