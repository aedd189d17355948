/*
 * Server operators: OPER against the crypt(3) hashes the daemon's
 * configuration lists, and what operators may do with it: KILL,
 * server bans on user@host masks (KLINE, UNKLINE; kept in a file across
 * restarts), WALLOPS, REHASH and STATS.
 */
#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "../common/mask.h"
#include "../common/passhash.h"
#include "chat-int.h"

#define CHAT_OPER_NAME_MAX 64
#define CHAT_OPER_TRIES 3 /* failed OPERs before we hang up */
/* Password checks a second, server-wide: each is a deliberately slow
   hash on the event loop, so many connections must not stall it. */
#define CHAT_OPER_CHECK_RATE 4.0
#define CHAT_OPER_CHECK_BURST 8.0
#define CHAT_KLINE_MASK_MAX (IRC_USER_MAX + CHAT_HOST_MAX + 2)
#define CHAT_KLINE_REASON_MAX 200
#define CHAT_KLINE_MAX 10000

struct chat_oper {
	char *name;
	char *hash;
};

struct chat_kline {
	time_t expires; /* 0: until UNKLINE */
	time_t set_at;
	char mask[CHAT_KLINE_MASK_MAX];
	char by[IRC_NICK_MAX + 1];
	char reason[CHAT_KLINE_REASON_MAX + 1];
};

/* Runs crypt_r(3) on `password` with the settings of `hash`; returns
   1 if the result equals hash, compared in constant time. */
static int
chat_oper_check(const char *password, const char *hash)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *out;
	int ok = 0;

	if (cd == NULL)
		return 0;
	out = crypt_r(password, hash, cd);
	/* libcrypt answers a bad setting with NULL or "*0"/"*1". */
	if (out != NULL && out[0] != '*')
		ok = irc_secret_equal(out, hash);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}

static struct chat_oper *
chat_oper_find(struct evs_chat *chat, const char *name)
{
	for (size_t i = 0; i < chat->nopers; i++)
		if (strcmp(chat->opers[i].name, name) == 0)
			return &chat->opers[i];
	return NULL;
}

/* Sends a server notice to u. */
static void
chat_oper_notice(struct chat_user *u, const char *text)
{
	chat_send_server(u, IRC_MSG_SERVER_NOTICE, u->nick, text);
}

/* Takes a token for one password check; returns 0 when the server has
   done its share of them this second. */
static int
chat_oper_check_allowed(struct evs_chat *chat)
{
	struct timeval now;

	event_base_gettimeofday_cached(evs_server_base(chat->srv), &now);
	if (!chat->oper_checks_ready) {
		bucket_init(&chat->oper_checks, CHAT_OPER_CHECK_BURST, &now);
		chat->oper_checks_ready = 1;
	}
	return bucket_take(&chat->oper_checks, CHAT_OPER_CHECK_RATE,
	    CHAT_OPER_CHECK_BURST, &now);
}

/* Answers 481 and returns 0 unless u is a server operator. */
static int
chat_oper_required(struct chat_user *u)
{
	if (u->flags & U_OPER)
		return 1;
	chat_send_reply(u, IRC_ERR_NOPRIVILEGES);
	return 0;
}

void
chat_oper_oper(struct chat_user *u, struct irc_msg *m)
{
	struct chat_oper *o = chat_oper_find(u->chat, m->params[0]);
	char modes[8];

	if (o == NULL) {
		chat_send_reply(u, IRC_ERR_NOOPERHOST);
		return;
	}
	if (!chat_oper_check_allowed(u->chat)) {
		chat_oper_notice(u, "OPER is busy; try again in a moment");
		return;
	}
	if (!chat_oper_check(m->params[1], o->hash)) {
		chat_send_reply(u, IRC_ERR_PASSWDMISMATCH);
		/* Each try costs a deliberately slow hash on the loop: a
		   client gets a few, not a brute-force run. */
		if (++u->oper_fails >= CHAT_OPER_TRIES)
			chat_disconnect(u, "Too many failed OPER attempts");
		return;
	}
	u->oper_fails = 0;
	chat_send_reply(u, IRC_RPL_YOUREOPER);
	if (chat_state_oper(u, 1)) {
		snprintf(modes, sizeof(modes), "+o");
		chat_send_user(u, u, IRC_MSG_MODE, u->nick, modes);
	}
}

void
chat_oper_kill(struct chat_user *u, struct irc_msg *m)
{
	struct chat_user *who;
	char reason[IRC_LINE_MAX];

	if (!chat_oper_required(u))
		return;
	if (irc_casecmp(m->params[0], u->chat->name) == 0) {
		chat_send_reply(u, IRC_ERR_CANTKILLSERVER);
		return;
	}
	if ((who = chat_state_find_registered(u->chat, m->params[0])) == NULL) {
		chat_send_reply(u, IRC_ERR_NOSUCHNICK, m->params[0]);
		return;
	}
	/* Another instance's user is that instance's to close. */
	if (who->flags & U_REMOTE) {
		chat_oper_notice(u,
		    "KILL: that user is on another server of "
		    "the network");
		return;
	}
	snprintf(reason, sizeof(reason), "Killed (%s (%s))", u->nick,
	    m->nparams > 1 && m->params[1][0] != '\0' ? m->params[1] :
	                                                "no reason");
	chat_disconnect(who, reason);
}

/* Returns 1 if u's user@host matches the K-line. */
static int
chat_oper_kline_matches(const struct chat_kline *k, const struct chat_user *u)
{
	char uh[CHAT_KLINE_MASK_MAX + 8];

	snprintf(uh, sizeof(uh), "%s@%s", u->user[0] != '\0' ? u->user : "*",
	    u->host);
	return mask_match(k->mask, uh);
}

/* Drops the K-lines whose time is up. */
static void
chat_oper_kline_expire(struct evs_chat *chat)
{
	time_t now = time(NULL);
	size_t i = 0;

	while (i < chat->nklines) {
		if (chat->klines[i].expires != 0 &&
		    chat->klines[i].expires <= now)
			chat->klines[i] = chat->klines[--chat->nklines];
		else
			i++;
	}
}

int
chat_oper_refuse_banned(struct chat_user *u)
{
	struct evs_chat *chat = u->chat;
	char reason[CHAT_KLINE_REASON_MAX + 16];

	chat_oper_kline_expire(chat);
	for (size_t i = 0; i < chat->nklines; i++) {
		if (!chat_oper_kline_matches(&chat->klines[i], u))
			continue;
		chat_send_reply(u, IRC_ERR_YOUREBANNEDCREEP,
		    chat->klines[i].reason);
		snprintf(reason, sizeof(reason), "K-lined: %s",
		    chat->klines[i].reason);
		chat_disconnect(u, reason);
		return 1;
	}
	return 0;
}

/* Writes the K-lines to the file, through a temporary file renamed
   over it so that a crash never leaves half a list.  Returns 0 or -1. */
static int
chat_oper_kline_save(struct evs_chat *chat)
{
	char tmp[4096];
	FILE *f;
	int ok;

	if (chat->kline_file == NULL)
		return 0;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", chat->kline_file) >=
	        (int)sizeof(tmp) ||
	    (f = fopen(tmp, "w")) == NULL)
		return -1;
	fprintf(f,
	    "# evsockd server bans: mask expires set-at setter "
	    ":reason\n");
	for (size_t i = 0; i < chat->nklines; i++) {
		const struct chat_kline *k = &chat->klines[i];

		fprintf(f, "%s %lld %lld %s :%s\n", k->mask,
		    (long long)k->expires, (long long)k->set_at, k->by,
		    k->reason);
	}
	ok = fflush(f) == 0 && !ferror(f);
	if (fclose(f) != 0)
		ok = 0;
	if (!ok || rename(tmp, chat->kline_file) == -1) {
		remove(tmp);
		return -1;
	}
	return 0;
}

/* Parses one line of the K-line file into k; returns 0, or -1 for a
   line to skip. */
static int
chat_oper_kline_parse(char *line, struct chat_kline *k)
{
	char *mask, *exp, *set, *by, *reason, *end;

	line[strcspn(line, "\r\n")] = '\0';
	if (line[0] == '#' || line[0] == '\0')
		return -1;
	if ((reason = strstr(line, " :")) == NULL)
		return -1;
	*reason = '\0';
	reason += 2;
	mask = strtok_r(line, " ", &end);
	exp = strtok_r(NULL, " ", &end);
	set = strtok_r(NULL, " ", &end);
	by = strtok_r(NULL, " ", &end);
	if (mask == NULL || exp == NULL || set == NULL || by == NULL ||
	    strchr(mask, '@') == NULL)
		return -1;
	memset(k, 0, sizeof(*k));
	k->expires = (time_t)strtoll(exp, NULL, 10);
	k->set_at = (time_t)strtoll(set, NULL, 10);
	snprintf(k->mask, sizeof(k->mask), "%s", mask);
	snprintf(k->by, sizeof(k->by), "%s", by);
	snprintf(k->reason, sizeof(k->reason), "%s", reason);
	return 0;
}

/* Adds or replaces the K-line for k->mask; returns 0 or -1. */
static int
chat_oper_kline_put(struct evs_chat *chat, const struct chat_kline *k)
{
	struct chat_kline *nk;

	for (size_t i = 0; i < chat->nklines; i++) {
		if (irc_casecmp(chat->klines[i].mask, k->mask) == 0) {
			chat->klines[i] = *k;
			return 0;
		}
	}
	if (chat->nklines == CHAT_KLINE_MAX) {
		errno = ENOSPC;
		return -1;
	}
	nk = realloc(chat->klines, (chat->nklines + 1) * sizeof(*nk));
	if (nk == NULL)
		return -1;
	chat->klines = nk;
	chat->klines[chat->nklines++] = *k;
	return 0;
}

void
chat_oper_kline(struct chat_user *u, struct irc_msg *m)
{
	struct evs_chat *chat = u->chat;
	struct chat_user *v, *next;
	struct chat_kline k;
	const char *mask, *reason = "No reason given";
	char note[IRC_LINE_MAX], *end;
	long long minutes = 0;
	int i = 0;

	if (!chat_oper_required(u))
		return;
	/* KLINE [minutes] <user@host> [:reason] */
	minutes = strtoll(m->params[0], &end, 10);
	if (*end == '\0' && m->params[0][0] != '\0') {
		if (minutes < 0 || m->nparams < 2) {
			chat_send_reply(u, IRC_ERR_NEEDMOREPARAMS, m->command);
			return;
		}
		i = 1;
	} else {
		minutes = 0;
	}
	mask = m->params[i];
	if (m->nparams > i + 1 && m->params[i + 1][0] != '\0')
		reason = m->params[i + 1];
	memset(&k, 0, sizeof(k));
	if (strchr(mask, '@') != NULL) {
		snprintf(k.mask, sizeof(k.mask), "%s", mask);
	} else {
		/* A nick bans that user's host; anything else is a host. */
		v = chat_state_find_registered(chat, mask);
		snprintf(k.mask, sizeof(k.mask), "*@%s",
		    v != NULL ? v->host : mask);
	}
	if (strpbrk(k.mask, " ,") != NULL || strcmp(k.mask, "*@*") == 0) {
		chat_oper_notice(u, "That mask would ban everyone");
		return;
	}
	k.set_at = time(NULL);
	k.expires = minutes > 0 ? k.set_at + (time_t)minutes * 60 : 0;
	snprintf(k.by, sizeof(k.by), "%s", u->nick);
	snprintf(k.reason, sizeof(k.reason), "%s", reason);
	if (chat_oper_kline_put(chat, &k) == -1) {
		chat_oper_notice(u, "Cannot add the K-line");
		return;
	}
	if (chat_oper_kline_save(chat) == -1)
		chat_oper_notice(u,
		    "The K-line file could not be written; "
		    "the ban holds until restart");
	if (minutes > 0)
		snprintf(note, sizeof(note),
		    "Added K-line for %s for %lld "
		    "minutes: %s",
		    k.mask, minutes, k.reason);
	else
		snprintf(note, sizeof(note), "Added K-line for %s: %s", k.mask,
		    k.reason);
	chat_oper_notice(u, note);
	/* Those connected from the banned address go now. */
	for (v = TAILQ_FIRST(&chat->users); v != NULL; v = next) {
		next = TAILQ_NEXT(v, link);
		if (v != u && !(v->flags & (U_CLOSING | U_REMOTE)) &&
		    (v->flags & (U_REGISTERED | U_HAS_USER)) &&
		    chat_oper_kline_matches(&k, v))
			chat_oper_refuse_banned(v);
	}
}

void
chat_oper_unkline(struct chat_user *u, struct irc_msg *m)
{
	struct evs_chat *chat = u->chat;
	char mask[CHAT_KLINE_MASK_MAX], note[IRC_LINE_MAX];

	if (!chat_oper_required(u))
		return;
	snprintf(mask, sizeof(mask), "%s%s",
	    strchr(m->params[0], '@') != NULL ? "" : "*@", m->params[0]);
	for (size_t i = 0; i < chat->nklines; i++) {
		if (irc_casecmp(chat->klines[i].mask, mask) != 0)
			continue;
		chat->klines[i] = chat->klines[--chat->nklines];
		if (chat_oper_kline_save(chat) == -1)
			chat_oper_notice(u,
			    "The K-line file could not be "
			    "written");
		snprintf(note, sizeof(note), "Removed K-line for %s", mask);
		chat_oper_notice(u, note);
		return;
	}
	snprintf(note, sizeof(note), "No K-line for %s", mask);
	chat_oper_notice(u, note);
}

void
chat_oper_wallops(struct chat_user *u, struct irc_msg *m)
{
	if (!chat_oper_required(u))
		return;
	chat_send_users(u, U_WALLOPS | U_OPER, IRC_MSG_WALLOPS, m->params[0]);
}

void
chat_oper_rehash(struct chat_user *u, struct irc_msg *m)
{
	struct evs_chat *chat = u->chat;

	(void)m;
	if (!chat_oper_required(u))
		return;
	chat_send_reply(u, IRC_RPL_REHASHING, "configuration");
	if (chat->rehash_cb == NULL)
		chat_oper_notice(u,
		    "This server has no configuration to "
		    "reload");
	else if (chat->rehash_cb(chat, chat->rehash_arg) == -1)
		chat_oper_notice(u,
		    "REHASH failed: the old configuration "
		    "stays (see the server's log)");
	else
		chat_oper_notice(u, "REHASH done");
}

void
chat_oper_stats(struct chat_user *u, struct irc_msg *m)
{
	struct evs_chat *chat = u->chat;
	char letter[2] = { m->params[0][0] != '\0' ? m->params[0][0] : '*',
		'\0' };
	long long up = (long long)(time(NULL) - chat->created);
	struct evs_server_stats st;
	unsigned long long received = 0;
	const char *name;
	size_t i;

	if (!chat_oper_required(u))
		return;
	switch (letter[0]) {
	case 'u':
		chat_send_reply(u, IRC_RPL_STATSUPTIME, up / 86400,
		    up / 3600 % 24, up / 60 % 60, up % 60);
		break;
	case 'm':
		for (i = 0; (name = chat_cmd_name(i)) != NULL; i++)
			if (chat->cmd_counts[i] > 0)
				chat_send_reply(u, IRC_RPL_STATSCOMMANDS, name,
				    (unsigned long long)chat->cmd_counts[i]);
		break;
	case 'l':
		/* One instance: this server, with what its engine counts. */
		evs_server_stats(chat->srv, &st);
		for (i = 0; chat_cmd_name(i) != NULL; i++)
			received += chat->cmd_counts[i];
		chat_send_reply(u, IRC_RPL_STATSLINKINFO, chat->name,
		    (unsigned long long)st.current, 0ULL,
		    (unsigned long long)(st.bytes_out / 1024), received,
		    (unsigned long long)(st.bytes_in / 1024), up);
		break;
	case 'k':
	case 'K':
		chat_oper_kline_expire(chat);
		for (i = 0; i < chat->nklines; i++) {
			char user[IRC_USER_MAX + 2];
			const char *at = strchr(chat->klines[i].mask, '@');

			snprintf(user, sizeof(user), "%.*s",
			    (int)(at - chat->klines[i].mask),
			    chat->klines[i].mask);
			chat_send_reply(u, IRC_RPL_STATSKLINE, at + 1, user,
			    chat->klines[i].reason);
		}
		break;
	default:
		break;
	}
	chat_send_reply(u, IRC_RPL_ENDOFSTATS, letter);
}

void
chat_oper_fini(struct evs_chat *chat)
{
	evs_chat_clear_opers(chat);
	free(chat->klines);
	chat->klines = NULL;
	chat->nklines = 0;
	free(chat->kline_file);
	chat->kline_file = NULL;
}

/* The public API. */

int
evs_chat_add_oper(struct evs_chat *chat, const char *name, const char *hash)
{
	struct chat_oper *no;
	char *n = NULL, *h = NULL;

	if (name == NULL || hash == NULL || *name == '\0' ||
	    strlen(name) > CHAT_OPER_NAME_MAX ||
	    strpbrk(name, " \t\r\n") != NULL || *hash == '\0' ||
	    strpbrk(hash, " \t\r\n") != NULL) {
		errno = EINVAL;
		return -1;
	}
	/* A hash libcrypt cannot use would refuse every password later:
	   refuse it now, where the configuration is read. */
	switch (passhash_usable(hash)) {
	case -1:
		return -1;
	case 0:
		errno = EINVAL;
		return -1;
	}
	if ((n = strdup(name)) == NULL || (h = strdup(hash)) == NULL)
		goto fail;
	if ((no = chat_oper_find(chat, name)) != NULL) {
		free(no->name);
		free(no->hash);
		no->name = n;
		no->hash = h;
		return 0;
	}
	no = realloc(chat->opers, (chat->nopers + 1) * sizeof(*no));
	if (no == NULL)
		goto fail;
	chat->opers = no;
	chat->opers[chat->nopers].name = n;
	chat->opers[chat->nopers].hash = h;
	chat->nopers++;
	return 0;
fail:
	free(n);
	free(h);
	return -1;
}

void
evs_chat_clear_opers(struct evs_chat *chat)
{
	for (size_t i = 0; i < chat->nopers; i++) {
		free(chat->opers[i].name);
		explicit_bzero(chat->opers[i].hash,
		    strlen(chat->opers[i].hash));
		free(chat->opers[i].hash);
	}
	free(chat->opers);
	chat->opers = NULL;
	chat->nopers = 0;
}

int
evs_chat_set_kline_file(struct evs_chat *chat, const char *path)
{
	struct chat_kline *saved = chat->klines, k;
	size_t nsaved = chat->nklines;
	char *copy = NULL, line[1024];
	FILE *f = NULL;

	if (path != NULL && (copy = strdup(path)) == NULL)
		return -1;
	chat->klines = NULL;
	chat->nklines = 0;
	if (path != NULL && (f = fopen(path, "r")) == NULL && errno != ENOENT)
		goto fail;
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		if (chat_oper_kline_parse(line, &k) == 0 &&
		    chat_oper_kline_put(chat, &k) == -1)
			goto fail;
	}
	if (f != NULL && ferror(f))
		goto fail;
	if (f != NULL)
		fclose(f);
	free(saved);
	free(chat->kline_file);
	chat->kline_file = copy;
	chat_oper_kline_expire(chat);
	return 0;
fail:
	if (f != NULL)
		fclose(f);
	free(chat->klines);
	chat->klines = saved;
	chat->nklines = nsaved;
	free(copy);
	return -1;
}

void
evs_chat_set_rehash_cb(struct evs_chat *chat, evs_chat_rehash_fn *fn, void *arg)
{
	chat->rehash_cb = fn;
	chat->rehash_arg = arg;
}
