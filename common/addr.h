/* Address text: "HOST:PORT", "[v6]:PORT", "SERVICE=HOST:PORT". Pure. */
#ifndef EVSOCK_COMMON_ADDR_H
#define EVSOCK_COMMON_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

#define ADDR_HOST_MAX 256
#define ADDR_SERVICE_MAX 32

/*
 * Splits "HOST:PORT" / "[V6]:PORT" into host (brackets removed) and a
 * numeric port 0-65535.  Returns 0, or -1 with *err set to a static
 * reason.
 */
int addr_split(const char *s, char *host, size_t hostlen, int *port,
    const char **err);

/*
 * Splits "SERVICE=HOST:PORT" into its parts (service: [a-z0-9_-]+).
 * Returns 0, or -1 with *err set to a static reason.
 */
int addr_split_listen(const char *s, char *service, size_t servicelen,
    char *host, size_t hostlen, int *port, const char **err);

/* Writes "1.2.3.4:80" or "[::1]:80" into buf; returns buf ("?" for an
   unknown family). */
char *addr_format(const struct sockaddr *sa, char *buf, size_t len);

/* Writes just the IP address ("1.2.3.4", "::1") into buf; returns buf. */
char *addr_format_host(const struct sockaddr *sa, char *buf, size_t len);

/* Returns the port of an AF_INET/AF_INET6 address, or -1. */
int addr_port(const struct sockaddr *sa);

#endif
