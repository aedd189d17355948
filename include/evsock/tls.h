/*
 * evsock TLS: certificates and settings for TLS listeners and TLS
 * client connections (OpenSSL 3).  An evs_tls holds one SSL_CTX and can
 * swap it for a new one (a certificate reload) while connections made
 * from the old one carry on.  The engines do the TLS themselves beneath
 * their read and write paths: services and client callbacks see the
 * same plaintext bytes as on a plain connection.
 *
 * Threading: an evs_tls may be shared by servers on several threads
 * (reload and new connections take a lock).
 */
#ifndef EVSOCK_TLS_H
#define EVSOCK_TLS_H

#include <stddef.h>

#include <evsock/version.h>

#ifdef __cplusplus
extern "C" {
#endif

struct evs_tls;
struct evs_listener;
struct evs_client;
struct evs_conn;
struct ssl_ctx_st; /* OpenSSL's SSL_CTX */

/*
 * Returns server settings: TLS 1.2 and 1.3 only, the certificate chain
 * (PEM, leaf first) from cert_file and the private key (PEM) from
 * key_file, idle buffers released.  NULL with a one-line reason in err
 * when either file is unreadable or they do not match.
 */
EVS_API struct evs_tls *evs_tls_server_new(const char *cert_file,
    const char *key_file, char *err, size_t errlen);

/*
 * Returns client settings: TLS 1.2 and 1.3 only; the peer's chain is
 * verified against ca_file (PEM), or the system's CA store when
 * ca_file is NULL, and its name against the host connected to.  With
 * `insecure` nothing is verified.  NULL with a reason in err.
 */
EVS_API struct evs_tls *evs_tls_client_new(const char *ca_file, int insecure,
    char *err, size_t errlen);

/*
 * Returns settings around the caller's own SSL_CTX (a reference is
 * taken; the caller keeps its own).  `server` says which side it is
 * for.  NULL when out of memory.
 */
EVS_API struct evs_tls *evs_tls_from_ctx(struct ssl_ctx_st *ctx, int server);

/*
 * Loads cert_file and key_file into a new context and swaps it in for
 * connections made from now on; connections made before keep theirs.
 * On failure the current context stays and err says why.  Returns 0
 * or -1.  Server settings made by evs_tls_server_new only.
 */
EVS_API int evs_tls_reload(struct evs_tls *tls, const char *cert_file,
    const char *key_file, char *err, size_t errlen);

/* Returns the current SSL_CTX with a reference the caller must drop
   (SSL_CTX_free). */
EVS_API struct ssl_ctx_st *evs_tls_ctx(struct evs_tls *tls);

/* Frees the settings; connections already made keep their context.
   Listeners and clients using tls must be gone first.  NULL is a
   no-op. */
EVS_API void evs_tls_free(struct evs_tls *tls);

/* Makes the listener's new connections TLS with server settings `tls`
   (not owned; must outlive the listener).  Returns 0, or -1 (EINVAL)
   for client settings. */
EVS_API int evs_listener_set_tls(struct evs_listener *l, struct evs_tls *tls);

/* Returns the listener's TLS settings, or NULL for plain TCP. */
EVS_API struct evs_tls *evs_listener_tls(const struct evs_listener *l);

/* Returns 1 if the connection runs over TLS, else 0. */
EVS_API int evs_conn_is_tls(const struct evs_conn *c);

/*
 * Makes the client's connection TLS with client settings `tls` (not
 * owned; must outlive the client).  The peer's name is checked against
 * server_name, or the host part of the target when NULL; a name (not
 * an address) also goes out as SNI.  Call before evs_client_connect.
 * Returns 0, or -1 (EINVAL).  A failed handshake or verification ends
 * the connection through closed() with error EPROTO and a one-line
 * reason.
 */
EVS_API int evs_client_set_tls(struct evs_client *cl, struct evs_tls *tls,
    const char *server_name);

#ifdef __cplusplus
}
#endif

#endif
