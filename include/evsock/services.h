/*
 * The built-in services: echo (RFC 862) and chat (an IRC subset).
 * Attach either with evs_server_listen(srv, addr, svc, arg).
 */
#ifndef EVSOCK_SERVICES_H
#define EVSOCK_SERVICES_H

#include <evsock/server.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Returns the echo service table; use with arg NULL. */
EVS_API const struct evs_service *evs_echo_service(void);

/* Chat: one struct evs_chat holds the users and channels shared by all
   of its listeners.  It must stay on the thread of its server. */
struct evs_chat;

enum evs_chat_option {
	EVS_CHAT_PING_INTERVAL_MS, /* idle time before we PING */
	EVS_CHAT_PING_TIMEOUT_MS,  /* no answer to PING: "Ping timeout" */
	EVS_CHAT_REG_TIMEOUT_MS,   /* NICK/USER not done: closed */
	EVS_CHAT_FLOOD_RATE,       /* commands per second per client; 0 off */
	EVS_CHAT_FLOOD_BURST,      /* token bucket depth */
	EVS_CHAT_HISTORY_LINES     /* messages kept per channel and private
	                              conversation for CHATHISTORY (1000);
	                              0 off; with a cluster each channel's
	                              are kept in Redis too */
};

/* Returns a new chat for `srv` (not owned), or NULL. */
EVS_API struct evs_chat *evs_chat_new(struct evs_server *srv);

/* Frees the chat; close its connections first (evs_server_free or a
   finished shutdown).  NULL is a no-op. */
EVS_API void evs_chat_free(struct evs_chat *chat);

/* Returns the chat service table; use with arg = the struct evs_chat. */
EVS_API const struct evs_service *evs_chat_service(void);

/* Sets a numeric option; returns 0 or -1 (EINVAL). */
EVS_API int evs_chat_set(struct evs_chat *chat, enum evs_chat_option opt,
    long long value);

/* Sets the server name shown to clients (default "evsockd");
   returns 0 or -1. The string is copied. */
EVS_API int evs_chat_set_server_name(struct evs_chat *chat, const char *name);

/* Sets the server's description shown in WHOIS (312) and LINKS
   (default "evsock chat"; NULL restores it).  One line of at most 200
   bytes, copied.  Returns 0 or -1 (EINVAL). */
EVS_API int evs_chat_set_server_info(struct evs_chat *chat, const char *text);

/* Requires PASS `password` (copied; NULL: none).  Returns 0 or -1. */
EVS_API int evs_chat_set_password(struct evs_chat *chat, const char *password);

/* Sets the message of the day (copied; lines split on LF; NULL: none,
   clients get 422).  Returns 0 or -1. */
EVS_API int evs_chat_set_motd(struct evs_chat *chat, const char *text);

/* Names the TLS ports in ISUPPORT (005) as SSL=ports, the
   "ADDRESS:PORT" list ';'-separated ("127.0.0.1:6697;[::1]:6697");
   NULL: none.  Copied.  Returns 0, or -1 (EINVAL for spaces). */
EVS_API int evs_chat_set_tls_ports(struct evs_chat *chat, const char *ports);

/*
 * Joins the chat to a cluster of instances sharing users, channels and
 * traffic through Redis at `url` ("redis://HOST:PORT[/DB]" or
 * "unix:PATH"), as instance `node` (unique in the cluster: letters,
 * digits, ".-_:"); an instance silent for timeout_ms is declared dead.
 * Connects on the server's event_base in the background and keeps
 * reconnecting.  Returns 0, or -1 with a message in err (a bad
 * argument, or a library built without hiredis).
 */
EVS_API int evs_chat_set_cluster(struct evs_chat *chat, const char *url,
    const char *node, unsigned timeout_ms, char *err, size_t errlen);

/* What a chat holds now. */
struct evs_chat_stats {
	uint64_t users;        /* registered users */
	uint64_t unregistered; /* connections that have not registered */
	uint64_t channels;     /* channels */
	uint64_t max_users;    /* most registered users at once */
};

/* Fills *st with the chat's figures. */
EVS_API void evs_chat_stats(const struct evs_chat *chat,
    struct evs_chat_stats *st);

/* What a chat has carried since it was made. */
struct evs_chat_traffic {
	uint64_t relayed;    /* messages from this instance's users,
	                        each counted once */
	uint64_t deliveries; /* copies of relayed messages queued to this
	                        instance's clients (with a cluster, also of
	                        messages from other instances) */
};

/* Fills *st with the chat's traffic counters. */
EVS_API void evs_chat_traffic(const struct evs_chat *chat,
    struct evs_chat_traffic *st);

/*
 * Server operators, as the daemon's config file lists them: `name` and
 * a crypt(3) hash of the password (yescrypt "$y$", SHA-512 "$6$", or
 * any method the system's libcrypt supports).  Both are copied.
 * Returns 0, or -1 (EINVAL: a bad name or a hash libcrypt cannot use).
 */
EVS_API int evs_chat_add_oper(struct evs_chat *chat, const char *name,
    const char *hash);

/* Forgets every operator (a reload lists them again); those already
   opered keep +o until they drop it or leave. */
EVS_API void evs_chat_clear_opers(struct evs_chat *chat);

/*
 * Keeps the server bans (KLINE) in the file at `path` (copied; NULL:
 * in memory only) and loads the bans it holds now, replacing those in
 * memory.  A missing file is an empty list.  Returns 0, or -1 if the
 * file cannot be read.
 */
EVS_API int evs_chat_set_kline_file(struct evs_chat *chat, const char *path);

/* The operators' REHASH: the embedder reloads its configuration.
   Returns 0, or -1 when the new configuration was refused. */
typedef int evs_chat_rehash_fn(struct evs_chat *chat, void *arg);

/* Registers what REHASH runs (NULL: REHASH only answers 382). */
EVS_API void evs_chat_set_rehash_cb(struct evs_chat *chat,
    evs_chat_rehash_fn *fn, void *arg);

#ifdef __cplusplus
}
#endif

#endif
