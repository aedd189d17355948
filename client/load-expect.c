/*
 * evsock load: the incremental matching of replies against a script's
 * expectations, HTTP/1.1 framing included: pure functions, no sockets.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "load-script.h"

enum http_state {
	HTTP_HEAD,
	HTTP_BODY,
	HTTP_CHUNK_SIZE,
	HTTP_CHUNK_DATA,
	HTTP_CHUNK_END,
	HTTP_TRAILER
};

static int load_expect_take_line(struct load_match *m, const char *p, size_t n,
    size_t *used);
static int load_expect_http(struct load_match *m, const struct load_expect *e,
    const char *p, size_t n, size_t *used, char *why, size_t whylen);
static int load_expect_http_head(struct load_match *m,
    const struct load_expect *e, char *why, size_t whylen);
static int load_expect_got(char *why, size_t whylen, const char *what,
    const char *p, size_t n);
static int load_expect_long_line(char *why, size_t whylen);

void
load_expect_match_reset(struct load_match *m)
{
	m->pos = 0;
	m->state = HTTP_HEAD;
	m->left = 0;
	m->status = 0;
	m->chunked = 0;
	m->close = 0;
	m->blen = 0;
}

void
load_expect_match_clear(struct load_match *m)
{
	free(m->buf);
	memset(m, 0, sizeof(*m));
}

void
load_expect_escape(const char *p, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	if (cap < 8) {
		if (cap > 0)
			out[0] = '\0';
		return;
	}
	out[o++] = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		char tmp[8];
		size_t k;

		if (ch == '\r')
			k = (size_t)snprintf(tmp, sizeof(tmp), "\\r");
		else if (ch == '\n')
			k = (size_t)snprintf(tmp, sizeof(tmp), "\\n");
		else if (ch == '\t')
			k = (size_t)snprintf(tmp, sizeof(tmp), "\\t");
		else if (ch == '\\' || ch == '"')
			k = (size_t)snprintf(tmp, sizeof(tmp), "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			k = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", ch);
		else {
			tmp[0] = (char)ch;
			k = 1;
		}
		if (o + k + 5 > cap) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(out + o, tmp, k);
		o += k;
	}
	out[o++] = '"';
	out[o] = '\0';
}

/* Gathers one line into m->buf (NUL-terminated, CR/LF kept out);
   returns 1 when it is whole, 0 for more, -1 when it is too long. */
static int
load_expect_take_line(struct load_match *m, const char *p, size_t n,
    size_t *used)
{
	const char *nl = memchr(p, '\n', n);
	size_t take = nl != NULL ? (size_t)(nl - p) + 1 : n;

	*used = take;
	if (m->blen + take + 1 > m->bcap) {
		size_t cap = m->bcap ? m->bcap : 256;
		char *b;

		while (cap < m->blen + take + 1)
			cap *= 2;
		if (cap > LOAD_REPLY_MAX + 1)
			return -1;
		if ((b = realloc(m->buf, cap)) == NULL)
			return -1;
		m->buf = b;
		m->bcap = cap;
	}
	memcpy(m->buf + m->blen, p, take);
	m->blen += take;
	m->buf[m->blen] = '\0';
	if (nl == NULL)
		return 0;
	m->blen--;
	if (m->blen > 0 && m->buf[m->blen - 1] == '\r')
		m->blen--;
	m->buf[m->blen] = '\0';
	return 1;
}

int
load_expect_match(struct load_match *m, const struct load_expect *e,
    const char *want, size_t wlen, const char *p, size_t n, size_t *used,
    char *why, size_t whylen)
{
	char a[160], b[160], what[80];
	const char *nl;
	size_t k;
	int r;

	switch (e->kind) {
	case LOAD_EXPECT_EXACT:
		k = wlen - m->pos < n ? wlen - m->pos : n;
		if (memcmp(p, want + m->pos, k) != 0) {
			char got[96];
			size_t g = m->pos < 48 ? m->pos : 48, h;

			/* What came: the matched start, then this read. */
			memcpy(got, want + m->pos - g, g);
			h = n < sizeof(got) - g ? n : sizeof(got) - g;
			memcpy(got + g, p, h);
			load_expect_escape(want, wlen, a, sizeof(a));
			load_expect_escape(got, g + h, b, sizeof(b));
			snprintf(why, whylen, "expected %s, got %s%s", a,
			    m->pos > g ? "..." : "", b);
			*used = 0;
			return -1;
		}
		*used = k;
		m->pos += k;
		return m->pos == wlen;
	case LOAD_EXPECT_LINE:
		nl = memchr(p, '\n', n);
		*used = nl != NULL ? (size_t)(nl - p) + 1 : n;
		m->pos += *used;
		if (nl == NULL && m->pos > LOAD_REPLY_MAX) {
			return load_expect_long_line(why, whylen);
		}
		return nl != NULL;
	case LOAD_EXPECT_RE:
		r = load_expect_take_line(m, p, n, used);
		m->pos += *used;
		if (r == -1) {
			return load_expect_long_line(why, whylen);
		}
		if (r == 0)
			return 0;
		if (regexec(&e->re, m->buf, 0, NULL, 0) != 0) {
			snprintf(what, sizeof(what), "a line matching /%.60s/",
			    e->src);
			return load_expect_got(why, whylen, what, m->buf,
			    m->blen);
		}
		return 1;
	case LOAD_EXPECT_BYTES:
		k = e->bytes - m->pos < n ? (size_t)(e->bytes - m->pos) : n;
		*used = k;
		m->pos += k;
		return m->pos == e->bytes;
	case LOAD_EXPECT_HTTP:
		r = load_expect_http(m, e, p, n, used, why, whylen);
		m->pos += *used;
		return r;
	}
	*used = n;
	return 0;
}

/* The status line and headers are whole in m->buf: checks the status
   and learns how the body is framed.  Returns 1 (no body), 0 or -1. */
static int
load_expect_http_head(struct load_match *m, const struct load_expect *e,
    char *why, size_t whylen)
{
	char what[32], *line, *save = NULL;
	int have_len = 0, first = 1;

	for (line = strtok_r(m->buf, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		size_t len = strlen(line);

		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (first) {
			int ok;

			first = 0;
			if (strncmp(line, "HTTP/1.", 7) != 0 || len < 12 ||
			    !isdigit((unsigned char)line[9]) ||
			    !isdigit((unsigned char)line[10]) ||
			    !isdigit((unsigned char)line[11])) {
				return load_expect_got(why, whylen,
				    "an HTTP/1.1 status line", line, len);
			}
			m->status = atoi(line + 9);
			ok = e->status ? m->status == e->status :
			                 m->status >= 200 && m->status <= 299;
			if (!ok) {
				if (e->status)
					snprintf(what, sizeof(what),
					    "HTTP status %d", e->status);
				else
					snprintf(what, sizeof(what),
					    "HTTP status 2xx");
				return load_expect_got(why, whylen, what, line,
				    len);
			}
			continue;
		}
		if (strncasecmp(line, "Content-Length:", 15) == 0) {
			char *q;

			m->left = strtoull(line + 15, &q, 10);
			have_len = 1;
		} else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 &&
		    strcasestr(line + 18, "chunked") != NULL)
			m->chunked = 1;
		else if (strncasecmp(line, "Connection:", 11) == 0 &&
		    strcasestr(line + 11, "close") != NULL)
			m->close = 1;
	}
	if ((m->status >= 100 && m->status < 200) || m->status == 204 ||
	    m->status == 304)
		return 1;
	if (m->chunked) {
		m->state = HTTP_CHUNK_SIZE;
		return 0;
	}
	if (!have_len) {
		snprintf(why, whylen,
		    "expected an HTTP response framed by "
		    "Content-Length or chunked encoding, got neither "
		    "(status %d)",
		    m->status);
		return -1;
	}
	m->state = HTTP_BODY;
	return m->left == 0;
}

static int
load_expect_http(struct load_match *m, const struct load_expect *e,
    const char *p, size_t n, size_t *used, char *why, size_t whylen)
{
	size_t off = 0, u, k;
	int r;

	while (off < n) {
		if (m->state != HTTP_BODY && m->state != HTTP_CHUNK_DATA) {
			/* Every other state reads a line at a time. */
			r = load_expect_take_line(m, p + off, n - off, &u);
			off += u;
			if (r == -1)
				goto toolong;
			if (r == 0)
				continue; /* all taken: wait for more */
		}
		switch (m->state) {
		case HTTP_HEAD:
			/* Gather lines until the empty one ends the head. */
			if (m->blen > 0 &&
			    memchr(m->buf, '\n', m->blen) == NULL &&
			    strncmp(m->buf, "HTTP/1.", 7) != 0) {
				/* Not HTTP: say so now, not after 64 KiB. */
				*used = off;
				return load_expect_got(why, whylen,
				    "an HTTP/1.1 status line", m->buf, m->blen);
			}
			if (m->blen > 0 && m->buf[m->blen - 1] != '\n') {
				/* Keep the line, ready for the next. */
				m->buf[m->blen++] = '\n';
				m->buf[m->blen] = '\0';
				break;
			}
			if (m->blen == 0)
				break; /* blank lines before the status */
			m->blen = 0;
			r = load_expect_http_head(m, e, why, whylen);
			if (r != 0) {
				*used = off;
				return r;
			}
			break;
		case HTTP_BODY:
		case HTTP_CHUNK_DATA:
			k = m->left < n - off ? (size_t)m->left : n - off;
			off += k;
			m->left -= k;
			if (m->left > 0)
				break;
			if (m->state == HTTP_BODY) {
				*used = off;
				return 1;
			}
			m->state = HTTP_CHUNK_END;
			break;
		case HTTP_CHUNK_SIZE:
		case HTTP_CHUNK_END:
		case HTTP_TRAILER:
			if (m->state == HTTP_CHUNK_END) {
				if (m->blen != 0) {
					*used = off;
					return load_expect_got(why, whylen,
					    "CRLF after a chunk", m->buf,
					    m->blen);
				}
				m->state = HTTP_CHUNK_SIZE;
			} else if (m->state == HTTP_CHUNK_SIZE) {
				char *q;

				m->left = strtoull(m->buf, &q, 16);
				if (q == m->buf) {
					*used = off;
					return load_expect_got(why, whylen,
					    "a chunk size", m->buf, m->blen);
				}
				m->state = m->left == 0 ? HTTP_TRAILER :
				                          HTTP_CHUNK_DATA;
			} else if (m->blen == 0) {
				*used = off;
				return 1;
			}
			m->blen = 0;
			break;
		}
	}
	*used = off;
	return 0;
toolong:
	snprintf(why, whylen,
	    "expected an HTTP response, got a line or "
	    "header block longer than %d bytes",
	    LOAD_REPLY_MAX);
	*used = off;
	return -1;
}

/* Says what was expected and, escaped, what came.  Returns -1. */
static int
load_expect_got(char *why, size_t whylen, const char *what, const char *p,
    size_t n)
{
	char b[160];

	load_expect_escape(p, n, b, sizeof(b));
	snprintf(why, whylen, "expected %s, got %s", what, b);
	return -1;
}

/* A line expectation met more than LOAD_REPLY_MAX bytes.  Returns -1. */
static int
load_expect_long_line(char *why, size_t whylen)
{
	snprintf(why, whylen,
	    "expected a line, got more than %d bytes "
	    "without a newline",
	    LOAD_REPLY_MAX);
	return -1;
}
