/*
 * The chat service's private header: the structures its modules share
 * and each module's functions.
 *
 *   chat.c        the service callbacks, the command table and dispatch,
 *                 the public evs_chat_* API
 *   chat-state.c  users, channels, membership (chat_state_*)
 *   chat-send.c   every line sent: replies, relayed messages, fan-out,
 *                 packed name lists (chat_send_*)
 *   chat-flood.c  the per-client command rate (chat_flood_*)
 *   chat-reg.c    registration: PASS NICK USER CAP PING PONG QUIT
 *   chat-chan.c   JOIN PART TOPIC KICK NAMES LIST INVITE
 *   chat-access.c who may join and speak: masks, bans, invites, keys
 *   chat-msg.c    PRIVMSG NOTICE AWAY
 *   chat-query.c  WHO WHOIS LUSERS MOTD VERSION TIME
 *   chat-mode.c   MODE, for users and channels
 *   chat-redis.c  the cluster backplane over Redis (chat-link.h)
 *   chat-oper.c   server operators: OPER KILL KLINE UNKLINE WALLOPS
 *                 REHASH STATS, and the address bans (K-lines)
 *   chat-info.c   HELP INFO ADMIN LINKS ISON USERHOST
 *   chat-whowas.c WHOWAS and its bounded history of nicks
 *   chat-monitor.c MONITOR: nick online/offline notifications
 */
#ifndef EVSOCK_CHAT_INT_H
#define EVSOCK_CHAT_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include <evsock/services.h>

#include "../common/bucket.h"
#include "../common/irc.h"
#include "../common/nametab.h"

#define CHAT_OUT_MAX 8192
#define CHAT_HOST_MAX 64
#define CHAT_PREFIX_MAX (IRC_NICK_MAX + IRC_USER_MAX + CHAT_HOST_MAX + 4)

#define U_REGISTERED 0x01
#define U_CAP        0x02 /* CAP negotiation holds registration back */
#define U_PASS_OK    0x04
#define U_PING_SENT  0x08
#define U_INVISIBLE  0x10
#define U_HAS_USER   0x20
#define U_CLOSING    0x40 /* we said goodbye; the engine is closing */
#define U_REMOTE     0x80 /* on another instance: no connection here */
#define U_HOLD       0x100 /* input paused while the cluster claims a nick */
#define U_DETACHED   0x200 /* gone from nicks, channels and counts */
#define U_OPER       0x400 /* user mode +o: a server operator */
#define U_WALLOPS    0x800 /* user mode +w: receives WALLOPS */

#define CHAT_PRINTF(f, a) __attribute__((format(printf, f, a)))

#define CHAT_CMDS_MAX 64      /* rows the command table may have */
#define CHAT_WHOWAS_MAX 256   /* nicks WHOWAS remembers */
#define CHAT_MONITOR_MAX 100  /* nicks one client may MONITOR */

struct event;
struct chat_member;
struct chat_link;
struct chat_node;

/* One entry of a channel's +b, +e or +I list. */
struct chat_mask {
	struct chat_mask *next;
	time_t when;
	char mask[IRC_MASK_MAX + 1];
	char by[IRC_NICK_MAX + 1];
};

/* A pending invitation, used up by the JOIN it allows. */
struct chat_invite {
	struct chat_invite *next;
	time_t created; /* the channel's, so a namesake never inherits it */
	int by_op;      /* an operator's invite also passes +b, +k and +l */
	char chan[IRC_CHANNEL_MAX + 1];
};
struct chat_oper;
struct chat_kline;
struct chat_whowas;
struct chat_watch;
TAILQ_HEAD(chat_member_list, chat_member);

struct chat_user {
	struct nametab_ent h; /* in chat->nicks once it has a nick */
	TAILQ_ENTRY(chat_user) link; /* chat->users */
	struct evs_chat *chat;
	struct evs_conn *c;
	struct chat_member_list chans;
	size_t nchans;
	struct event *flood_timer;
	char *pending; /* a line held back by the flood limit */
	size_t pendinglen;
	char *away;
	char *quit_reason;
	struct bucket flood;
	time_t signon;
	time_t idle_since;
	uint64_t reg_deadline_ms; /* monotonic; 0: none */
	uint64_t seen; /* fan-out generation, to reach each peer once */
	uint64_t nick_ts; /* wall-clock ms the nick was taken (collisions) */
	struct chat_node *node; /* the instance of a U_REMOTE user */
	unsigned flags;
	char nick[IRC_NICK_MAX + 1];
	char user[IRC_USER_MAX + 1];
	char realname[IRC_REALNAME_MAX + 1];
	char host[CHAT_HOST_MAX];
	char prefix[CHAT_PREFIX_MAX];
	struct chat_invite *invites;
	size_t ninvites;
	struct chat_watch **watching; /* MONITOR list */
	size_t nwatching;
	unsigned oper_fails; /* OPER attempts refused */
};

TAILQ_HEAD(chat_user_list, chat_user);

struct chat_chan {
	struct nametab_ent h; /* in chat->chans */
	struct chat_member_list members;
	size_t nmembers;
	char *topic;
	char topic_by[CHAT_PREFIX_MAX];
	time_t topic_time;
	time_t created;
	int topic_ops;   /* +t: only operators set the topic */
	int no_external; /* +n: only members send to the channel */
	int invite_only; /* +i */
	int moderated;   /* +m: only +v and +o speak */
	int secret;      /* +s */
	int no_ctcp;     /* +C: no CTCP but ACTION */
	size_t limit;    /* +l; 0: none */
	struct chat_mask *bans, *excepts, *invex; /* +b, +e, +I */
	size_t nmasks;   /* entries on the three lists together */
	char key[IRC_KEY_MAX + 1]; /* +k; empty: none */
	char name[IRC_CHANNEL_MAX + 1];
};

struct chat_member {
	TAILQ_ENTRY(chat_member) by_user;
	TAILQ_ENTRY(chat_member) by_chan;
	struct chat_user *u;
	struct chat_chan *ch;
	int op;
	int voice;
};

struct evs_chat {
	struct evs_server *srv;
	struct nametab nicks;
	struct nametab chans;
	struct chat_user_list users;
	char *name;
	char *password;
	char **motd;
	size_t nmotd;
	char *tls_ports; /* ISUPPORT SSL=, or NULL */
	size_t outmax; /* the server's line limit, as replies may use it */
	unsigned ping_interval_ms;
	unsigned ping_timeout_ms;
	unsigned reg_timeout_ms;
	double flood_rate;
	unsigned flood_burst;
	size_t nusers;    /* registered */
	size_t nunknown;  /* connected, not registered */
	size_t ninvisible; /* registered with user mode +i */
	size_t maxusers;
	size_t nremote;    /* registered on other instances */
	size_t nremote_invisible;
	struct chat_link *link; /* the cluster backplane; NULL: one instance */
	unsigned history_lines; /* per channel; 0: none kept */
	int link_quiet; /* applying the backplane's events: publish nothing */
	uint64_t relayed;    /* messages from users, formatted once */
	uint64_t deliveries; /* their copies queued to recipients */
	uint64_t gen;
	time_t created;
	char created_str[64];
	/* chat-oper.c */
	struct chat_oper *opers;
	size_t nopers;
	size_t nopers_online;
	struct chat_kline *klines;
	size_t nklines;
	char *kline_file;
	struct bucket oper_checks; /* password checks, server-wide */
	int oper_checks_ready;
	evs_chat_rehash_fn *rehash_cb;
	void *rehash_arg;
	uint64_t cmd_counts[CHAT_CMDS_MAX]; /* STATS m */
	/* chat-whowas.c: a ring of the last CHAT_WHOWAS_MAX nicks */
	struct chat_whowas *whowas;
	size_t whowas_next, whowas_n;
	/* chat-monitor.c: the nicks someone monitors */
	struct nametab watches;
	char out[CHAT_OUT_MAX];
};

/* A command handler; m's parameters are writable and live for the call. */
typedef void chat_cmd_fn(struct chat_user *, struct irc_msg *);

/* chat.c */
/* Parses and runs one line from u. */
void chat_dispatch(struct chat_user *u, char *line, size_t len);
/* Says goodbye with ERROR and asks the engine to close; the service's
   close callback removes u later.  A second call does nothing. */
void chat_disconnect(struct chat_user *u, const char *reason);
/* Walks the command table for STATS m: the name of row i, NULL past
   the end. */
const char *chat_cmd_name(size_t i);

/* chat-state.c: the only place users, channels and memberships change,
   where a cluster backplane will hook join, part, nick and quit. */
/* Sets up the nick and channel tables.  Returns 0 or -1. */
int chat_state_init(struct evs_chat *chat);
/* Frees every user and channel without touching their connections. */
void chat_state_fini(struct evs_chat *chat);
/* Returns a new unregistered user on c, linked into chat; NULL if out
   of memory. */
struct chat_user *chat_state_user_new(struct evs_chat *chat,
    struct evs_conn *c);
/* Removes u from its channels, the nick table and the counters at once
   (QUIT takes effect before the connection has drained), drops +o,
   records it for WHOWAS and tells its MONITOR watchers; u stays
   allocated, unregistered and unfindable until chat_state_quit. */
void chat_state_detach(struct chat_user *u);
/* Detaches u if not yet done, and frees it. */
void chat_state_quit(struct chat_user *u);
/* Returns the user with this nick (any case), or NULL. */
struct chat_user *chat_state_find_user(struct evs_chat *chat,
    const char *nick);
/* Returns the registered user with this nick, or NULL. */
struct chat_user *chat_state_find_registered(struct evs_chat *chat,
    const char *nick);
/* Returns the channel with this name (any case), or NULL. */
struct chat_chan *chat_state_find_chan(struct evs_chat *chat,
    const char *name);
/* Walks the channels: the first when ch is NULL; NULL at the end. */
struct chat_chan *chat_state_chan_next(struct evs_chat *chat,
    const struct chat_chan *ch);
/* Returns u's membership in ch, or NULL. */
struct chat_member *chat_state_member(const struct chat_user *u,
    const struct chat_chan *ch);
/* Makes u a member of ch, creating the channel `name` when ch is NULL
   (its first member is its operator).  Returns the membership, or NULL
   if out of memory. */
struct chat_member *chat_state_join(struct chat_user *u,
    struct chat_chan *ch, const char *name);
/* Ends membership m; frees the channel when it empties. */
void chat_state_part(struct chat_member *m);
/* Gives u the nick (free, checked by the caller). */
void chat_state_nick(struct chat_user *u, const char *nick);
/* Sets u's user name and real name. */
void chat_state_ident(struct chat_user *u, const char *user,
    const char *realname);
/* Returns the name replies address u by: its nick, or "*" before it
   has one. */
const char *chat_state_client(const struct chat_user *u);
/* Marks u registered and counts it. */
void chat_state_register(struct chat_user *u);
/* Sets or clears user mode +i; returns 1 if it changed. */
int chat_state_invisible(struct chat_user *u, int on);
/* Sets or clears user mode +o; returns 1 if it changed. */
int chat_state_oper(struct chat_user *u, int on);
/* Writes u's user modes ("+iow", "+" for none) into buf (>= 8 bytes). */
void chat_state_umodes(const struct chat_user *u, char *buf, size_t len);

/* Marks u away with text (copied), or back with NULL. */
void chat_state_away(struct chat_user *u, const char *text);
/* Returns the wall clock in milliseconds (nick timestamps). */
uint64_t chat_state_wallclock_ms(void);
/* Asks the cluster for `nick` on behalf of local u.  Returns 1 when
   the answer comes later (u's input is held until then), 0 when the
   caller may go on at once. */
int chat_state_claim(struct chat_user *u, const char *nick);
/* Ends the hold chat_state_claim put on u's input. */
void chat_state_unhold(struct chat_user *u);
/* Returns a new registered user on another instance (no connection),
   or NULL if the nick is taken here or out of memory. */
struct chat_user *chat_state_remote_new(struct evs_chat *chat,
    struct chat_node *node, const char *nick, const char *user,
    const char *host, const char *realname);
/* Sets or clears +i on a remote user, keeping the counts. */
void chat_state_remote_invisible(struct chat_user *u, int on);

/* chat-send.c: the one place lines are built and queued. */
/* Queues len bytes to u. */
void chat_send_raw(struct chat_user *u, const char *data, size_t len);
/* A numeric reply: ":<server> <num> <client> ...". */
void chat_send_reply(struct chat_user *u, const char *num,
    const char *fmt, ...) CHAT_PRINTF(3, 4);
/* A message from the server: ":<server> <cmd> ...". */
void chat_send_server(struct chat_user *u, const char *cmd,
    const char *fmt, ...) CHAT_PRINTF(3, 4);
/* A message from `from` to one user. */
void chat_send_user(struct chat_user *to, struct chat_user *from,
    const char *cmd, const char *fmt, ...) CHAT_PRINTF(4, 5);
/* A message from `from` to every member of ch but `except` (may be
   NULL), formatted once. */
void chat_send_chan(struct chat_chan *ch, struct chat_user *except,
    struct chat_user *from, const char *cmd, const char *fmt, ...)
    CHAT_PRINTF(5, 6);
/* As chat_send_chan, to the members of ch at least as privileged as
   `status` ('@': operators, '+': voiced and operators), but `except`. */
void chat_send_chan_status(struct chat_chan *ch, int status,
    struct chat_user *except, struct chat_user *from, const char *cmd,
    const char *fmt, ...) CHAT_PRINTF(6, 7);
/* A message from `from` to everyone sharing a channel with it, once
   each, and to `from` itself when `self` is set. */
void chat_send_peers(struct chat_user *from, int self, const char *cmd,
    const char *fmt, ...) CHAT_PRINTF(4, 5);
/* Queues m to ch's local members but `except` (may be NULL). */
void chat_send_chan_msg(struct chat_chan *ch, struct chat_user *except,
    struct evs_msg *m);
/* Queues m to the local users sharing a channel with `from`, once
   each, not to `from`. */
void chat_send_peers_msg(struct chat_user *from, struct evs_msg *m);
/* A message from `from` to every registered user with any of the
   user flags in `mask` (WALLOPS), formatted once. */
void chat_send_users(struct chat_user *from, unsigned mask, const char *cmd,
    const char *fmt, ...) CHAT_PRINTF(4, 5);
/* Formats the ERROR line that ends a link into buf; returns its length
   (0 if it does not fit). */
size_t chat_send_error(char *buf, size_t len, const char *host,
    const char *reason);

/* A numeric reply whose last parameter is a list of names, packed as
   many to a line as the line limit allows (NAMES 353, WHOIS 319). */
struct chat_send_list {
	struct chat_user *u;
	const char *num;
	size_t room; /* bytes for names on one line */
	size_t n;
	char head[IRC_LINE_MAX];
	char names[CHAT_OUT_MAX];
};
/* Starts a list for u: `fmt` formats the parameters before the list. */
void chat_send_list_begin(struct chat_send_list *l, struct chat_user *u,
    const char *num, const char *fmt, ...) CHAT_PRINTF(4, 5);
/* Adds `flag` (such as "@" or "") and `name`, sending a full line first
   when they would not fit. */
void chat_send_list_add(struct chat_send_list *l, const char *flag,
    const char *name);
/* Sends what is left. */
void chat_send_list_end(struct chat_send_list *l);

/* chat-flood.c */
/* Takes a token for a line; without one, holds the line back and stops
   reading until the bucket refills.  Returns 1 if the caller may run
   the line now. */
int chat_flood_take(struct chat_user *u, const char *line, size_t len);
/* Frees u's timer and held-back line. */
void chat_flood_clear(struct chat_user *u);

/* chat-reg.c */
chat_cmd_fn chat_reg_cap, chat_reg_pass, chat_reg_nick, chat_reg_user,
    chat_reg_ping, chat_reg_pong, chat_reg_quit;

/* The cluster's answer to chat_state_claim: takes `nick` for u, or
   says 433. */
void chat_reg_nick_claimed(struct chat_user *u, const char *nick, int ok);

/* chat-chan.c */
chat_cmd_fn chat_chan_join, chat_chan_part, chat_chan_topic, chat_chan_kick,
    chat_chan_names, chat_chan_list, chat_chan_invite;
/* Returns 1 if u may see ch in LIST, NAMES and WHOIS: ch is not secret
   or u is a member. */
int chat_chan_visible(const struct chat_user *u, const struct chat_chan *ch);

/* chat-access.c: who may join a channel and who may speak in it. */
/* Returns 1 if u's nick!user@host matches an entry of the list. */
int chat_access_match(const struct chat_user *u, const struct chat_mask *l);
/* Returns the numeric's code ("474", ...) that refuses u's JOIN to ch
   with `key` (may be NULL), or NULL if u may join; uses up an invite
   that allowed it. */
const char *chat_access_join(struct chat_user *u, struct chat_chan *ch,
    const char *key);
/* Returns 1 if u may send to ch (+n, +m, +b with +e; ops and voiced
   members always may). */
int chat_access_speak(const struct chat_user *u, const struct chat_chan *ch);
/* Records an invitation of u to ch; an old one for ch is replaced, the
   oldest dropped past IRC_INVITES_MAX.  Returns 0 or -1. */
int chat_access_invite(struct chat_user *u, const struct chat_chan *ch,
    int by_op);
/* Frees u's invitations. */
void chat_access_invites_clear(struct chat_user *u);
/* Adds mask to *list as set by `by`; returns 1 if added, 0 if already
   there, -1 if out of memory. */
int chat_access_mask_add(struct chat_chan *ch, struct chat_mask **list,
    const char *mask, const char *by);
/* Removes mask (compared case-insensitively) from *list; returns 1 if
   it was there. */
int chat_access_mask_del(struct chat_chan *ch, struct chat_mask **list,
    const char *mask);
/* Frees ch's three mask lists. */
void chat_access_masks_clear(struct chat_chan *ch);

/* chat-msg.c */
chat_cmd_fn chat_msg_privmsg, chat_msg_notice, chat_msg_away;

/* chat-query.c */
chat_cmd_fn chat_query_who, chat_query_whois, chat_query_lusers,
    chat_query_motd, chat_query_version, chat_query_time;
/* The 005 lines, as registration and VERSION send them. */
void chat_query_send_isupport(struct chat_user *u);
/* The 251-266 lines, as registration and LUSERS send them. */
void chat_query_send_lusers(struct chat_user *u);
/* The MOTD (375, 372, 376) or 422, as registration and MOTD send it. */
void chat_query_send_motd(struct chat_user *u);

/* chat-mode.c */
chat_cmd_fn chat_mode_cmd;

/* chat-oper.c */
chat_cmd_fn chat_oper_oper, chat_oper_kill, chat_oper_kline,
    chat_oper_unkline, chat_oper_wallops, chat_oper_rehash, chat_oper_stats;
/* Returns 1 if a K-line matches u's user@host, and then refuses u with
   465 and ERROR. */
int chat_oper_refuse_banned(struct chat_user *u);
/* Frees the operators and the K-lines. */
void chat_oper_fini(struct evs_chat *chat);

/* chat-info.c */
chat_cmd_fn chat_info_help, chat_info_info, chat_info_admin,
    chat_info_links, chat_info_ison, chat_info_userhost;

/* chat-whowas.c */
chat_cmd_fn chat_whowas_cmd;
/* Remembers u's nick, user, host and real name (a quit or nick change). */
void chat_whowas_add(const struct chat_user *u);
/* Frees the history. */
void chat_whowas_fini(struct evs_chat *chat);

/* chat-monitor.c */
chat_cmd_fn chat_monitor_cmd;
/* Tells those monitoring u's nick that it is online (1) or offline. */
void chat_monitor_notify(struct chat_user *u, int online);
/* Drops u's MONITOR list. */
void chat_monitor_clear(struct chat_user *u);
/* Sets up and frees the table of monitored nicks. */
int chat_monitor_init(struct evs_chat *chat);
void chat_monitor_fini(struct evs_chat *chat);

#endif
