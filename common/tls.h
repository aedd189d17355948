/* Internals of the TLS settings (evs_tls) that the engines and evsockd
   share; the public half is <evsock/tls.h>. */
#ifndef EVSOCK_COMMON_TLS_H
#define EVSOCK_COMMON_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include <evsock/tls.h>

/* Applies what every evsock context has: TLS 1.2 and 1.3 only, no
   renegotiation, buffers released when idle, whole-record reads. */
void tls_ctx_common(SSL_CTX *ctx);

/* Returns a new SSL on t's current context, or NULL. */
SSL *tls_ssl_new(struct evs_tls *t);

/* Returns 1 for server settings, 0 for client ones. */
int tls_is_server(const struct evs_tls *t);

/* Loads a server context from the two files without touching any
   evs_tls (the prepare half of a reload); NULL with err set. */
SSL_CTX *tls_prepare(const char *cert_file, const char *key_file, char *err,
    size_t errlen);

/* Puts ctx (taken) in t for new connections and hands back the one it
   replaces in *old (the caller drops it with SSL_CTX_free). */
void tls_swap(struct evs_tls *t, SSL_CTX *ctx, SSL_CTX **old);

/* Makes a client SSL check the peer against host (an address as one;
   a name also goes out as SNI).  Returns 0 or -1. */
int tls_set_peer_name(SSL *ssl, const char *host);

/* Returns words for a failed TLS operation on ssl: the certificate
   check's verdict if that failed, else OpenSSL's last reason. */
const char *tls_failure(SSL *ssl, char *buf, size_t len);

#endif
