/*
 * The chat service's private header: the structures its modules share
 * and each module's functions.
 *
 *   chat.c        the service callbacks, the command table and dispatch,
 *                 the public evs_chat_* API
 *   chat-state.c  users, channels, membership (chat_state_*)
 *   chat-send.c   every line sent: replies, relayed messages, fan-out,
 *                 packed name lists (chat_send_*)
 *   chat-relay.c  a relayed message in the forms its recipients'
 *                 capabilities ask for (chat_relay_*)
 *   chat-flood.c  the per-client command rate (chat_flood_*)
 *   chat-reg.c    registration: PASS NICK USER CAP PING PONG QUIT
 *   chat-chan.c   JOIN PART TOPIC KICK NAMES LIST INVITE
 *   chat-access.c who may join and speak: masks, bans, invites, keys
 *   chat-msg.c    PRIVMSG NOTICE AWAY
 *   chat-query.c  WHO WHOIS LUSERS MOTD VERSION TIME
 *   chat-mode.c   MODE, for users and channels
 *   chat-redis.c  the cluster backplane over Redis (chat-link.h)
 *   chat-cap.c    CAP negotiation, SETNAME
 *   chat-label.c  labeled-response: replies held, then labeled
 *   chat-history.c the bounded message history (chat_history_*) and
 *                 CHATHISTORY
 *   chat-histlink.c CHATHISTORY for a channel from the cluster's history
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

/* The server description when none is set. */
#define CHAT_INFO_DEFAULT "evsock chat"

#define U_REGISTERED 0x01
#define U_CAP 0x02 /* CAP negotiation holds registration back */
#define U_PASS_OK 0x04
#define U_PING_SENT 0x08
#define U_INVISIBLE 0x10
#define U_HAS_USER 0x20
#define U_CLOSING 0x40   /* we said goodbye; the engine is closing */
#define U_REMOTE 0x80    /* on another instance: no connection here */
#define U_HOLD 0x100     /* input paused while the cluster claims a nick */
#define U_DETACHED 0x200 /* gone from nicks, channels and counts */
#define U_OPER 0x400     /* user mode +o: a server operator */
#define U_WALLOPS 0x800  /* user mode +w: receives WALLOPS */
#define U_HISTDM 0x8000  /* has private conversations in history */

#define CHAT_PRINTF(f, a) __attribute__((format(printf, f, a)))

#define CHAT_CMDS_MAX 64     /* rows the command table may have */
#define CHAT_WHOWAS_MAX 256  /* nicks WHOWAS remembers */
#define CHAT_MONITOR_MAX 100 /* nicks one client may MONITOR */

/* IRCv3 capabilities a client enabled (chat_user.caps). */
#define CAP_CAP_NOTIFY 0x0001
#define CAP_MESSAGE_TAGS 0x0002
#define CAP_SERVER_TIME 0x0004
#define CAP_ECHO_MESSAGE 0x0008
#define CAP_MULTI_PREFIX 0x0010
#define CAP_USERHOST_NAMES 0x0020
#define CAP_AWAY_NOTIFY 0x0040
#define CAP_INVITE_NOTIFY 0x0080
#define CAP_SETNAME 0x0100
#define CAP_BATCH 0x0200
#define CAP_LABELED 0x0400
#define CAP_CHATHISTORY 0x0800

#define CHAT_LABEL_MAX 64 /* longer labels are ignored */
#define CHAT_MSGID_MAX 32
#define CHAT_HISTORY_DEFAULT 1000 /* lines kept per target */
#define CHAT_HISTORY_MAXREQ 100   /* CHATHISTORY=: messages per request */

struct event;
struct chat_histlink_wait;
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
	struct nametab_ent h;        /* in chat->nicks once it has a nick */
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
	uint64_t seen;    /* fan-out generation, to reach each peer once */
	uint64_t nick_ts; /* wall-clock ms the nick was taken (collisions) */
	struct chat_node *node; /* the instance of a U_REMOTE user */
	unsigned flags;
	struct chat_histlink_wait *hist_wait; /* CHATHISTORY awaiting the
	                                         cluster; NULL: none */
	unsigned caps;                        /* CAP_* enabled */
	unsigned cap_version; /* 302 once CAP LS 302 was seen, else 0 */
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
	size_t nmasks;             /* entries on the three lists together */
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

/* The command being run: who sent it, the client-only tags it carries,
   and, for a labeled command, the replies held back to be labeled. */
struct chat_cmdctx {
	struct chat_user *u;
	const char *ctags; /* normalized client-only tags; "" when none */
	int labeled;
	char label[CHAT_LABEL_MAX + 1];
	char *held;
	size_t heldlen, heldsize;
};

struct chat_history;

struct evs_chat {
	struct evs_server *srv;
	struct chat_cmdctx cur;
	struct chat_history *history;
	uint64_t msgid_seq;
	uint64_t batch_seq;
	char msgid_base[12];
	struct nametab nicks;
	struct nametab chans;
	struct chat_user_list users;
	char *name;
	char *info; /* WHOIS 312 and LINKS; NULL: CHAT_INFO_DEFAULT */
	char *password;
	char **motd;
	size_t nmotd;
	char *tls_ports; /* ISUPPORT SSL=, or NULL */
	size_t outmax;   /* the server's line limit, as replies may use it */
	unsigned ping_interval_ms;
	unsigned ping_timeout_ms;
	unsigned reg_timeout_ms;
	double flood_rate;
	unsigned flood_burst;
	size_t nusers;     /* registered */
	size_t nunknown;   /* connected, not registered */
	size_t ninvisible; /* registered with user mode +i */
	size_t maxusers;
	size_t nremote; /* registered on other instances */
	size_t nremote_invisible;
	struct chat_link *link; /* the cluster backplane; NULL: one instance */
	unsigned history_lines; /* per target; 0: none kept, no CHATHISTORY */
	int link_quiet;   /* applying the backplane's events: publish nothing */
	uint64_t relayed; /* messages from users, formatted once */
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
	char ctags[IRC_TAGS_CLIENT_MAX + 1];
	char tagged[IRC_TAGS_MAX + CHAT_OUT_MAX + 1];
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
struct chat_user *chat_state_find_user(struct evs_chat *chat, const char *nick);
/* Returns the registered user with this nick, or NULL. */
struct chat_user *chat_state_find_registered(struct evs_chat *chat,
    const char *nick);
/* Returns the channel with this name (any case), or NULL. */
struct chat_chan *chat_state_find_chan(struct evs_chat *chat, const char *name);
/* Walks the channels: the first when ch is NULL; NULL at the end. */
struct chat_chan *chat_state_chan_next(struct evs_chat *chat,
    const struct chat_chan *ch);
/* Returns u's membership in ch, or NULL. */
struct chat_member *chat_state_member(const struct chat_user *u,
    const struct chat_chan *ch);
/* Makes u a member of ch, creating the channel `name` when ch is NULL
   (its first member is its operator).  Returns the membership, or NULL
   if out of memory. */
struct chat_member *chat_state_join(struct chat_user *u, struct chat_chan *ch,
    const char *name);
/* Ends membership m; frees the channel when it empties. */
void chat_state_part(struct chat_member *m);
/* Gives u the nick (free, checked by the caller). */
void chat_state_nick(struct chat_user *u, const char *nick);
/* Sets u's real name (SETNAME). */
void chat_state_realname(struct chat_user *u, const char *realname);
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
void chat_send_reply(struct chat_user *u, const char *num, const char *fmt, ...)
    CHAT_PRINTF(3, 4);
/* A message from the server: ":<server> <cmd> ...". */
void chat_send_server(struct chat_user *u, const char *cmd, const char *fmt,
    ...) CHAT_PRINTF(3, 4);
/* A message from `from` to one user. */
void chat_send_user(struct chat_user *to, struct chat_user *from,
    const char *cmd, const char *fmt, ...) CHAT_PRINTF(4, 5);
/* A message from `from` to every member of ch but `except` (may be
   NULL), formatted once. */
void chat_send_chan(struct chat_chan *ch, struct chat_user *except,
    struct chat_user *from, const char *cmd, const char *fmt, ...)
    CHAT_PRINTF(5, 6);
/* A message from `from` to everyone sharing a channel with it, once
   each, and to `from` itself when `self` is set. */
void chat_send_peers(struct chat_user *from, int self, const char *cmd,
    const char *fmt, ...) CHAT_PRINTF(4, 5);
/* Delivers a channel line (":prefix CMD ...\r\n", len bytes, maybe
   led by the origin's "@time=...;msgid=...;+client" tags, as the
   backplane carries it) to ch's local members but `except` (may be
   NULL), each in the form its capabilities ask for; with `remember`, a
   PRIVMSG or NOTICE goes into the local history under the origin's
   msgid and time. */
void chat_send_chan_line(struct evs_chat *chat, struct chat_chan *ch,
    struct chat_user *except, const char *line, size_t len, int remember);
/* Delivers a line from `from` (same form) to the local users sharing a
   channel with it, once each, not to `from`; AWAY and SETNAME only to
   those who enabled away-notify or setname. */
void chat_send_peers_line(struct chat_user *from, const char *line, size_t len);
/* Delivers a line (same form) to local user u in its form; a private
   PRIVMSG or NOTICE goes into the local history. */
void chat_send_user_line(struct chat_user *u, const char *line, size_t len);
/* PRIVMSG, NOTICE or TAGMSG (cmd) from `from` to channel ch (only to
   its operators, or voiced members too, when status is '@' or '+') or
   user to (one of them NULL): the client-only tags of the command go
   to those who enabled message-tags (TAGMSG only to them), an echo to
   `from` when it enabled echo-message, and PRIVMSG/NOTICE to a whole
   channel or a user into the history. */
void chat_send_message(struct chat_user *from, struct chat_chan *ch, int status,
    struct chat_user *to, const char *cmd, const char *text);
/* A message from `from` to everyone sharing a channel with it who
   enabled `cap` (and to itself if `self` and it did), once each. */
void chat_send_peers_cap(struct chat_user *from, int self, unsigned cap,
    const char *cmd, const char *fmt, ...) CHAT_PRINTF(5, 6);
/* A message from `from` to the members of ch who enabled `cap`, but
   `except` (may be NULL). */
void chat_send_chan_cap(struct chat_chan *ch, struct chat_user *except,
    unsigned cap, struct chat_user *from, const char *cmd, const char *fmt, ...)
    CHAT_PRINTF(6, 7);
/* invite-notify: tells the members of ch who enabled it, but `from`
   and `to`, that `from` invited `to` (INVITE calls this). */
void chat_send_invite_notify(struct chat_chan *ch, struct chat_user *from,
    struct chat_user *to);
/* Standard replies: "FAIL|WARN|NOTE <command> <code> [<context>] :<text>"
   (kind is "FAIL", "WARN" or "NOTE"; context may be NULL). */
void chat_send_standard(struct chat_user *u, const char *kind,
    const char *command, const char *code, const char *context,
    const char *text);
/* Starts a batch for u when it enabled batch: writes its reference into
   ref (CHAT_MSGID_MAX bytes) and sends BATCH +ref type [param]; ref is
   "" without the capability. */
void chat_send_batch_begin(struct chat_user *u, char *ref, const char *type,
    const char *param);
/* Ends the batch ref ("": nothing). */
void chat_send_batch_end(struct chat_user *u, const char *ref);
/* Sends u the line `body` (":prefix CMD ...\r\n", len bytes) with
   exactly the tags ("k=v;...", "" for none) the caller chose for u's
   capabilities. */
void chat_send_tagged(struct chat_user *u, const char *tags, const char *body,
    size_t len);
/* The prefixes of membership mb in rank order, all of them with
   multi-prefix, else the highest: into buf (at least 4 bytes). */
const char *chat_send_member_prefix(const struct chat_member *mb, int multi,
    char *buf);

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

/* chat-label.c: labeled-response and the running command's tags. */
/* Starts running a command from u: its tags (raw, may be NULL) give the
   client-only tags later relays carry and, when u enabled
   labeled-response, the label its replies get. */
void chat_label_begin(struct chat_user *u, const char *tags);
/* Ends it: a labeled command's replies go out as one labeled line, an
   ACK when there were none, or a labeled-response batch.  Does nothing
   when u is not running a command. */
void chat_label_end(struct chat_user *u);
/* Returns 1 if lines to u are being held for a label now. */
int chat_label_holding(const struct chat_user *u);
/* Holds len bytes for u's label (sent unlabeled past a bound). */
void chat_label_hold(struct chat_user *u, const char *data, size_t len);

/* chat-flood.c */
/* Takes a token for a line; without one, holds the line back and stops
   reading until the bucket refills.  Returns 1 if the caller may run
   the line now. */
int chat_flood_take(struct chat_user *u, const char *line, size_t len);
/* Frees u's timer and held-back line. */
void chat_flood_clear(struct chat_user *u);

/* chat-cap.c */
chat_cmd_fn chat_cap_cmd, chat_cap_setname, chat_cap_tagmsg;
/* Returns 1 if registration is held back by CAP negotiation. */
int chat_cap_holds(const struct chat_user *u);
/* cap-notify: tells the clients that asked that draft/chathistory came
   (on) or went (off), and turns it off for everyone when it went. */
void chat_cap_history_changed(struct evs_chat *chat, int on);
/* The 005 tokens of the IRCv3 features, for chat_query_send_isupport. */
const char *chat_cap_isupport(struct evs_chat *chat, char *buf, size_t len);

/* chat-history.c: a bounded history per channel and per private
   conversation, behind add/query so another store can feed it. */
struct chat_hist_msg {
	int64_t ms; /* server-time, ms since the epoch */
	const char *msgid, *prefix, *command, *target, *text, *tags;
};
/* Returns a store of at most `lines` messages per target; NULL if out
   of memory. */
struct chat_history *chat_history_new(size_t lines);
/* Frees the store and its messages; NULL is a no-op. */
void chat_history_free(struct chat_history *h);
/* Records m (copied) under `key` (a channel, or a conversation from
   chat_history_key); the oldest line of that target goes when full.
   Returns 0 or -1. */
int chat_history_add(struct chat_history *h, const char *key,
    const struct chat_hist_msg *m);
/* Forgets the history under key (a channel that ended). */
void chat_history_forget(struct chat_history *h, const char *key);
/* Forgets every private conversation of nick: without accounts, the
   next holder of the nick must not read them. */
void chat_history_forget_nick(struct chat_history *h, const char *nick);
/* Writes the key of the private conversation between nicks a and b. */
void chat_history_key(char *key, size_t len, const char *a, const char *b);
/* A reference: a msgid, or a timestamp when msgid is NULL. */
struct chat_hist_ref {
	const char *msgid;
	int64_t ms;
};
enum chat_hist_op {
	CHAT_HIST_LATEST,
	CHAT_HIST_BEFORE,
	CHAT_HIST_AFTER,
	CHAT_HIST_AROUND,
	CHAT_HIST_BETWEEN
};
/* Fills out[] (room for limit) with up to `limit` messages of key,
   oldest first, as op selects around a (NULL for LATEST *) and b
   (BETWEEN).  The messages stay valid until the next add.  Returns
   how many. */
size_t chat_history_query(struct chat_history *h, const char *key,
    enum chat_hist_op op, const struct chat_hist_ref *a,
    const struct chat_hist_ref *b, size_t limit,
    const struct chat_hist_msg **out);
/* Calls fn for each target whose latest message is within (from, to),
   with its key and that message's time. */
void chat_history_targets(struct chat_history *h, int64_t from, int64_t to,
    void (*fn)(const char *key, int64_t ms, void *arg), void *arg);
chat_cmd_fn chat_history_cmd;
/* Sends one stored message to u inside batch ref ("": none). */
void chat_history_send_one(struct chat_user *u, const char *ref,
    const struct chat_hist_msg *m);
/* Answers a CHATHISTORY query from the local history of key, in a
   chathistory batch for target. */
void chat_history_answer(struct chat_user *u, const char *key,
    const char *target, enum chat_hist_op op, const struct chat_hist_ref *ap,
    const struct chat_hist_ref *bp, size_t limit);

/* chat-relay.c: a message in the forms its recipients need. */
/* One relayed message in the forms its recipients need: without tags,
   with server-time's tag only, with every tag (message-tags).  Each
   form is built once, when a first recipient needs it, and shared. */
struct chat_relay {
	struct evs_chat *chat;
	size_t bodylen; /* chat->out holds ":<prefix> <cmd> ...\r\n" */
	const char *ctags;
	int tagmsg;   /* only recipients with message-tags get it */
	unsigned cap; /* the capabilities a recipient needs */
	int status;   /* '@' or '+': only members of that rank or higher */
	int64_t ms;
	char time[32];
	char msgid[CHAT_MSGID_MAX];
	struct evs_msg *form[3];
};
/* Starts a relay of the message now in chat->out (bodylen bytes) with
   the command's client-only tags (NULL: none). */
void chat_relay_init(struct chat_relay *r, struct evs_chat *chat,
    size_t bodylen, const char *ctags);
/* Makes the time tag's text and the msgid, once, when a first
   recipient or the history needs them. */
void chat_relay_stamp(struct chat_relay *r);
/* Builds "@<t1>[;t2][;t3] <body>" in chat->tagged; returns its length. */
size_t chat_relay_join_tags(struct evs_chat *chat, const char *t1,
    const char *t2, const char *t3, const char *body, size_t len);
/* Returns form 0 (no tags), 1 (server-time) or 2 (every tag), built on
   first use and held by the relay; NULL if out of memory. */
struct evs_msg *chat_relay_form(struct chat_relay *r, int form);
/* Queues the relay to u in the form its capabilities ask for; a remote
   user's instance gets every tag through the backplane. */
void chat_relay_to(struct chat_relay *r, struct chat_user *u);
/* Drops the relay's forms. */
void chat_relay_done(struct chat_relay *r);
/* Starts a relay of a line as the backplane carries it: the origin's
   time, msgid and client-only tags (copied into ctags, ctagsize
   bytes) are kept, the body goes into chat->out.  Returns the body's
   offset in line. */
size_t chat_relay_line(struct chat_relay *r, struct evs_chat *chat, char *ctags,
    size_t ctagsize, const char *line, size_t len);
/* Sets r's capability rule from its body's command: AWAY and SETNAME
   need away-notify and setname, TAGMSG message-tags. */
void chat_relay_kind(struct chat_relay *r);

/* chat-histlink.c: CHATHISTORY from the cluster's history. */
/* With a backplane, asks it for channel ch's history (LATEST *, or
   BEFORE a timestamp) and holds u's input until the answer, which goes
   out in a batch with u's label; returns 1 then, 0 if the caller must
   answer from the local history. */
int chat_histlink_start(struct chat_user *u, struct chat_chan *ch,
    enum chat_hist_op op, const struct chat_hist_ref *ref, size_t limit);

/* chat-reg.c */
/* Registers u if NICK, USER and CAP allow it now. */
void chat_reg_try(struct chat_user *u);
chat_cmd_fn chat_reg_pass, chat_reg_nick, chat_reg_user, chat_reg_ping,
    chat_reg_pong, chat_reg_quit;

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
chat_cmd_fn chat_msg_privmsg, chat_msg_notice, chat_msg_tagmsg, chat_msg_away;

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
chat_cmd_fn chat_oper_oper, chat_oper_kill, chat_oper_kline, chat_oper_unkline,
    chat_oper_wallops, chat_oper_rehash, chat_oper_stats;
/* Returns 1 if a K-line matches u's user@host, and then refuses u with
   465 and ERROR. */
int chat_oper_refuse_banned(struct chat_user *u);
/* Frees the operators and the K-lines. */
void chat_oper_fini(struct evs_chat *chat);

/* chat-info.c */
chat_cmd_fn chat_info_help, chat_info_info, chat_info_admin, chat_info_links,
    chat_info_ison, chat_info_userhost;

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
