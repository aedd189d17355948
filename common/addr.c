#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

static int addr_parse_port(const char *s, int *port);

static int
addr_parse_port(const char *s, int *port)
{
	long v = 0;

	if (*s == '\0' || strlen(s) > 5)
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	if (v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

int
addr_split(const char *s, char *host, size_t hostlen, int *port,
    const char **err)
{
	const char *colon, *hstart, *hend;
	size_t n;

	if (s == NULL || *s == '\0') {
		*err = "empty address (expected HOST:PORT)";
		return -1;
	}
	if (*s == '[') {
		hstart = s + 1;
		hend = strchr(hstart, ']');
		if (hend == NULL) {
			*err = "missing ']' in IPv6 address";
			return -1;
		}
		if (hend[1] != ':') {
			*err = "missing :PORT after ']'";
			return -1;
		}
		colon = hend + 1;
		if (memchr(hstart, ':', (size_t)(hend - hstart)) == NULL) {
			*err = "brackets are for IPv6 addresses only";
			return -1;
		}
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL) {
			*err = "missing :PORT (expected HOST:PORT)";
			return -1;
		}
		if (memchr(s, ':', (size_t)(colon - s)) != NULL) {
			*err = "IPv6 addresses need brackets: [ADDR]:PORT";
			return -1;
		}
		hstart = s;
		hend = colon;
	}
	n = (size_t)(hend - hstart);
	if (n == 0) {
		*err = "empty host (use 127.0.0.1 or [::1] for loopback)";
		return -1;
	}
	if (n >= hostlen) {
		*err = "host name too long";
		return -1;
	}
	for (const char *p = hstart; p < hend; p++) {
		if ((unsigned char)*p <= ' ' || *p == '/' || *p == '[' ||
		    *p == ']' || *p == '=') {
			*err = "invalid character in host";
			return -1;
		}
	}
	if (addr_parse_port(colon + 1, port) == -1) {
		*err = "port must be a number from 0 to 65535";
		return -1;
	}
	memcpy(host, hstart, n);
	host[n] = '\0';
	return 0;
}

int
addr_split_listen(const char *s, char *service, size_t servicelen, char *host,
    size_t hostlen, int *port, const char **err)
{
	const char *eq = strchr(s, '=');
	size_t n;

	if (eq == NULL) {
		*err = "expected SERVICE=HOST:PORT";
		return -1;
	}
	n = (size_t)(eq - s);
	if (n == 0) {
		*err = "empty service name (expected SERVICE=HOST:PORT)";
		return -1;
	}
	if (n >= servicelen) {
		*err = "service name too long";
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		        ch == '_' || ch == '-')) {
			*err = "invalid character in service name";
			return -1;
		}
	}
	if (addr_split(eq + 1, host, hostlen, port, err) == -1)
		return -1;
	memcpy(service, s, n);
	service[n] = '\0';
	return 0;
}

char *
addr_format_host(const struct sockaddr *sa, char *buf, size_t len)
{
	const void *a;

	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	else
		a = NULL;
	if (a == NULL ||
	    inet_ntop(sa->sa_family, a, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}

int
addr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(
		    ((const struct sockaddr_in *)(const void *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(
		    ((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	return -1;
}

char *
addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	addr_format_host(sa, host, sizeof(host));
	if (sa->sa_family == AF_INET6)
		snprintf(buf, len, "[%s]:%d", host, addr_port(sa));
	else if (sa->sa_family == AF_INET)
		snprintf(buf, len, "%s:%d", host, addr_port(sa));
	else
		snprintf(buf, len, "?");
	return buf;
}
