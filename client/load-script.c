/*
 * Templates, expectations and script files of evsock load, and the
 * incremental matching of replies: pure functions, no sockets.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/opt.h"
#include "load-script.h"

#define RAND_MAX_LEN (1024 * 1024)

enum http_state {
	HTTP_HEAD,
	HTTP_BODY,
	HTTP_CHUNK_SIZE,
	HTTP_CHUNK_DATA,
	HTTP_CHUNK_END,
	HTTP_TRAILER
};

static int load_script_grow(struct load_script *s);
static int load_script_seg(struct load_tmpl *t, enum load_seg_kind k,
    size_t off, size_t len);
static void load_script_expect_clear(struct load_expect *e);
static int load_script_take_line(struct load_match *m, const char *p, size_t n,
    size_t *used);
static int load_script_http(struct load_match *m, const struct load_expect *e,
    const char *p, size_t n, size_t *used, char *why, size_t whylen);
static int load_script_http_head(struct load_match *m,
    const struct load_expect *e, char *why, size_t whylen);

struct load_script *
load_script_new(void)
{
	return calloc(1, sizeof(struct load_script));
}

static void
load_script_expect_clear(struct load_expect *e)
{
	load_script_tmpl_clear(&e->text);
	if (e->re_ok)
		regfree(&e->re);
	e->re_ok = 0;
	free(e->src);
	e->src = NULL;
}

void
load_script_free(struct load_script *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nsteps; i++) {
		load_script_tmpl_clear(&s->steps[i].send);
		load_script_expect_clear(&s->steps[i].expect);
	}
	free(s->steps);
	free(s);
}

long
load_script_unescape(const char *s, size_t n, char *out, const char **err)
{
	static const char from[] = "nrt0\\\"'abfve?";
	static const char to[] = "\n\r\t\0\\\"'\a\b\f\v\033?";
	size_t i = 0, o = 0;

	while (i < n) {
		const char *hit;
		unsigned v;
		int k;

		if (s[i] != '\\') {
			out[o++] = s[i++];
			continue;
		}
		if (++i == n) {
			*err = "a lone \\ at the end";
			return -1;
		}
		if (s[i] == 'x') {
			for (v = 0, k = 0, i++;
			     k < 2 && i < n && isxdigit((unsigned char)s[i]);
			     k++, i++)
				v = v * 16 +
				    (unsigned)(isdigit((unsigned char)s[i]) ?
				            s[i] - '0' :
				            tolower((unsigned char)s[i]) - 'a' +
				                10);
			if (k == 0) {
				*err = "\\x needs hex digits";
				return -1;
			}
			out[o++] = (char)v;
		} else if (s[i] >= '0' && s[i] <= '7') {
			for (v = 0, k = 0;
			     k < 3 && i < n && s[i] >= '0' && s[i] <= '7';
			     k++, i++)
				v = v * 8 + (unsigned)(s[i] - '0');
			out[o++] = (char)v;
		} else if ((hit = strchr(from, s[i])) != NULL && s[i] != '\0') {
			out[o++] = to[hit - from];
			i++;
		} else {
			*err = "unknown escape (use \\n \\r \\t \\\\ \\xHH "
			       "\\0 ...)";
			return -1;
		}
	}
	return (long)o;
}

static int
load_script_seg(struct load_tmpl *t, enum load_seg_kind k, size_t off,
    size_t len)
{
	struct load_seg *segs;

	if (k == LOAD_SEG_LIT && len == 0)
		return 0;
	if (k == LOAD_SEG_LIT && t->nsegs > 0 &&
	    t->segs[t->nsegs - 1].kind == LOAD_SEG_LIT) {
		t->segs[t->nsegs - 1].len += len;
		return 0;
	}
	if ((segs = realloc(t->segs, (t->nsegs + 1) * sizeof(*segs))) == NULL)
		return -1;
	t->segs = segs;
	segs[t->nsegs].kind = k;
	segs[t->nsegs].off = off;
	segs[t->nsegs].len = len;
	t->nsegs++;
	return 0;
}

int
load_script_tmpl(struct load_tmpl *t, const char *s, const char **err)
{
	size_t n = strlen(s), i = 0, run = 0;

	memset(t, 0, sizeof(*t));
	if ((t->lit = malloc(n + 1)) == NULL) {
		*err = "out of memory";
		return -1;
	}
	for (;;) {
		const char *end;
		long m;

		/* A literal run ends at '{' or the end; an escape is never
		   split. */
		if (i < n && s[i] == '\\') {
			i += i + 1 < n ? 2 : 1;
			continue;
		}
		if (i < n && s[i] != '{') {
			i++;
			continue;
		}
		if ((m = load_script_unescape(s + run, i - run,
		         t->lit + t->litlen, err)) == -1)
			goto fail;
		if (load_script_seg(t, LOAD_SEG_LIT, t->litlen, (size_t)m) ==
		    -1)
			goto nomem;
		t->litlen += (size_t)m;
		t->maxlen += (size_t)m;
		if (i == n)
			break;
		if (s[i + 1] == '{') {
			t->lit[t->litlen] = '{';
			if (load_script_seg(t, LOAD_SEG_LIT, t->litlen, 1) ==
			    -1)
				goto nomem;
			t->litlen++;
			t->maxlen++;
			run = i += 2;
			continue;
		}
		if ((end = strchr(s + i, '}')) == NULL) {
			*err = "a { without } (write {{ for a brace)";
			goto fail;
		}
		if (end - (s + i) == 5 && strncmp(s + i, "{conn}", 6) == 0) {
			if (load_script_seg(t, LOAD_SEG_CONN, 0, 0) == -1)
				goto nomem;
			t->maxlen += 20;
		} else if (end - (s + i) == 4 &&
		    strncmp(s + i, "{seq}", 5) == 0) {
			if (load_script_seg(t, LOAD_SEG_SEQ, 0, 0) == -1)
				goto nomem;
			t->maxlen += 20;
		} else if (strncmp(s + i, "{rand:", 6) == 0) {
			char *q;
			unsigned long len = strtoul(s + i + 6, &q, 10);

			if (q != end || q == s + i + 6 || len == 0 ||
			    len > RAND_MAX_LEN) {
				*err = "{rand:N} takes N from 1 to 1048576";
				goto fail;
			}
			if (load_script_seg(t, LOAD_SEG_RAND, 0, len) == -1)
				goto nomem;
			t->maxlen += len;
			t->has_rand = 1;
		} else {
			*err = "unknown field; the fields are {conn}, {seq}, "
			       "{rand:N}, and {{ for a brace";
			goto fail;
		}
		run = i = (size_t)(end - s) + 1;
	}
	t->constant = t->nsegs <= 1 &&
	    (t->nsegs == 0 || t->segs[0].kind == LOAD_SEG_LIT);
	return 0;
nomem:
	*err = "out of memory";
fail:
	load_script_tmpl_clear(t);
	return -1;
}

void
load_script_tmpl_clear(struct load_tmpl *t)
{
	free(t->lit);
	free(t->segs);
	memset(t, 0, sizeof(*t));
}

size_t
load_script_expand(const struct load_tmpl *t, uint64_t conn, uint64_t seq,
    uint64_t *rng, char *out)
{
	static const char al[] = "abcdefghijklmnopqrstuvwxyz"
	                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	size_t o = 0;

	for (size_t i = 0; i < t->nsegs; i++) {
		const struct load_seg *g = &t->segs[i];
		char num[24], *p = num + sizeof(num);
		uint64_t v;

		switch (g->kind) {
		case LOAD_SEG_LIT:
			memcpy(out + o, t->lit + g->off, g->len);
			o += g->len;
			break;
		case LOAD_SEG_CONN:
		case LOAD_SEG_SEQ:
			v = g->kind == LOAD_SEG_CONN ? conn : seq;
			do {
				*--p = (char)('0' + v % 10);
				v /= 10;
			} while (v > 0);
			memcpy(out + o, p, (size_t)(num + sizeof(num) - p));
			o += (size_t)(num + sizeof(num) - p);
			break;
		case LOAD_SEG_RAND:
			for (size_t k = 0; k < g->len; k++) {
				uint64_t x = *rng;

				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				*rng = x;
				out[o++] = al[(x >> 32) % 62];
			}
			break;
		}
	}
	return o;
}

static int
load_script_grow(struct load_script *s)
{
	struct load_step *p;

	p = realloc(s->steps, (s->nsteps + 1) * sizeof(*p));
	if (p == NULL)
		return -1;
	s->steps = p;
	memset(&p[s->nsteps], 0, sizeof(*p));
	return 0;
}

int
load_script_add_send(struct load_script *s, const char *text, char *err,
    size_t errlen)
{
	struct load_step *st;
	const char *e = NULL;

	if (load_script_grow(s) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	st = &s->steps[s->nsteps];
	if (load_script_tmpl(&st->send, text, &e) == -1) {
		snprintf(err, errlen, "%s", e);
		return -1;
	}
	if (st->send.maxlen == 0) {
		load_script_tmpl_clear(&st->send);
		snprintf(err, errlen, "nothing to send");
		return -1;
	}
	st->kind = LOAD_STEP_SEND;
	if (st->send.maxlen > s->maxsend)
		s->maxsend = st->send.maxlen;
	s->nsteps++;
	return 0;
}

int
load_script_add_expect(struct load_script *s, enum load_expect_kind k,
    const char *arg, char *err, size_t errlen)
{
	struct load_expect *e;
	const char *why = NULL;
	uint64_t v;
	int rc;

	if (load_script_grow(s) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	e = &s->steps[s->nsteps].expect;
	e->kind = k;
	if (arg != NULL && (e->src = strdup(arg)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	switch (k) {
	case LOAD_EXPECT_EXACT:
		if (load_script_tmpl(&e->text, arg, &why) == -1)
			break;
		if (e->text.has_rand)
			why = "{rand:N} cannot be expected";
		else if (e->text.maxlen == 0)
			why = "expected nothing";
		else if (e->text.maxlen > s->maxwant)
			s->maxwant = e->text.maxlen;
		break;
	case LOAD_EXPECT_RE:
		if ((rc = regcomp(&e->re, arg, REG_EXTENDED | REG_NOSUB)) !=
		    0) {
			char msg[128];

			regerror(rc, &e->re, msg, sizeof(msg));
			snprintf(err, errlen, "%s", msg);
			load_script_expect_clear(e);
			return -1;
		}
		e->re_ok = 1;
		break;
	case LOAD_EXPECT_BYTES:
		opt_parse_uint(arg, 1, 1ULL << 30, &v, &why);
		e->bytes = v;
		break;
	case LOAD_EXPECT_HTTP:
		if (arg != NULL && arg[0] != '\0' &&
		    opt_parse_uint(arg, 100, 599, &v, &why) == 0)
			e->status = (int)v;
		break;
	case LOAD_EXPECT_LINE:
		break;
	}
	if (why != NULL) {
		snprintf(err, errlen, "%s", why);
		load_script_expect_clear(e);
		return -1;
	}
	s->steps[s->nsteps].kind = LOAD_STEP_EXPECT;
	s->nsteps++;
	return 0;
}

int
load_script_add_sleep(struct load_script *s, uint64_t ms)
{
	if (load_script_grow(s) == -1)
		return -1;
	s->steps[s->nsteps].kind = LOAD_STEP_SLEEP;
	s->steps[s->nsteps].sleep_ms = ms;
	s->nsteps++;
	return 0;
}

int
load_script_add_close(struct load_script *s)
{
	if (load_script_grow(s) == -1)
		return -1;
	s->steps[s->nsteps].kind = LOAD_STEP_CLOSE;
	s->nsteps++;
	return 0;
}

int
load_script_parse_file(struct load_script *s, const char *path, char *err,
    size_t errlen)
{
	static const struct {
		const char *word;
		int kind; /* -1 send, -2 sleep, -3 close, -4
		                         repeat, else an expect kind */
		int arg;  /* 1 needed, 0 none, 2 optional */
	} words[] = {
		{ "send", -1, 1 },
		{ "expect", LOAD_EXPECT_EXACT, 1 },
		{ "expect-line", LOAD_EXPECT_LINE, 0 },
		{ "expect-re", LOAD_EXPECT_RE, 1 },
		{ "expect-bytes", LOAD_EXPECT_BYTES, 1 },
		{ "expect-http", LOAD_EXPECT_HTTP, 2 },
		{ "sleep", -2, 1 },
		{ "close", -3, 0 },
		{ "repeat", -4, 0 },
	};
	FILE *fp;
	char *line = NULL, msg[200];
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0;
	int rc = -1;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((len = getline(&line, &cap, fp)) != -1) {
		char *p = line, *arg;
		size_t i, wl;

		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		wl = strcspn(p, " \t");
		arg = p[wl] != '\0' ? p + wl + 1 : NULL;
		for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
			if (strlen(words[i].word) == wl &&
			    strncmp(p, words[i].word, wl) == 0)
				break;
		msg[0] = '\0';
		if (i == sizeof(words) / sizeof(words[0]))
			snprintf(msg, sizeof(msg),
			    "unknown step \"%.*s\" (send, "
			    "expect, expect-line, expect-re, expect-bytes, "
			    "expect-http, sleep, close, repeat)",
			    (int)wl, p);
		else if (words[i].arg == 1 && (arg == NULL || *arg == '\0'))
			snprintf(msg, sizeof(msg), "%s needs an argument",
			    words[i].word);
		else if (words[i].arg == 0 && arg != NULL &&
		    arg[strspn(arg, " \t")] != '\0')
			snprintf(msg, sizeof(msg), "%s takes no argument",
			    words[i].word);
		else if (words[i].kind == -1)
			load_script_add_send(s, arg, msg, sizeof(msg));
		else if (words[i].kind == -2) {
			uint64_t ms;
			const char *e = NULL;

			if (opt_parse_duration(arg, 1000ULL * 86400, &ms, &e) ==
			    -1)
				snprintf(msg, sizeof(msg), "%s", e);
			else if (load_script_add_sleep(s, ms) == -1)
				snprintf(msg, sizeof(msg), "out of memory");
		} else if (words[i].kind == -3) {
			if (load_script_add_close(s) == -1)
				snprintf(msg, sizeof(msg), "out of memory");
		} else if (words[i].kind == -4) {
			if (s->has_repeat)
				snprintf(msg, sizeof(msg),
				    "one repeat per "
				    "script");
			s->has_repeat = 1;
			s->loop = s->nsteps;
		} else
			load_script_add_expect(s,
			    (enum load_expect_kind)words[i].kind, arg, msg,
			    sizeof(msg));
		if (msg[0] != '\0') {
			snprintf(err, errlen, "%s:%u: %s", path, lineno, msg);
			goto out;
		}
	}
	if (s->nsteps == 0) {
		snprintf(err, errlen, "%s: no steps", path);
		goto out;
	}
	rc = 0;
out:
	free(line);
	fclose(fp);
	return rc;
}

size_t
load_script_count(const struct load_script *s, enum load_step_kind k,
    size_t from)
{
	size_t n = 0;

	for (size_t i = from; i < s->nsteps; i++)
		n += s->steps[i].kind == k;
	return n;
}

void
load_script_match_reset(struct load_match *m)
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
load_script_match_clear(struct load_match *m)
{
	free(m->buf);
	memset(m, 0, sizeof(*m));
}

void
load_script_escape(const char *p, size_t n, char *out, size_t cap)
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
load_script_take_line(struct load_match *m, const char *p, size_t n,
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
load_script_match(struct load_match *m, const struct load_expect *e,
    const char *want, size_t wlen, const char *p, size_t n, size_t *used,
    char *why, size_t whylen)
{
	char a[160], b[160];
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
			load_script_escape(want, wlen, a, sizeof(a));
			load_script_escape(got, g + h, b, sizeof(b));
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
			snprintf(why, whylen,
			    "expected a line, got more than "
			    "%d bytes without a newline",
			    LOAD_REPLY_MAX);
			return -1;
		}
		return nl != NULL;
	case LOAD_EXPECT_RE:
		r = load_script_take_line(m, p, n, used);
		m->pos += *used;
		if (r == -1) {
			snprintf(why, whylen,
			    "expected a line, got more than "
			    "%d bytes without a newline",
			    LOAD_REPLY_MAX);
			return -1;
		}
		if (r == 0)
			return 0;
		if (regexec(&e->re, m->buf, 0, NULL, 0) != 0) {
			load_script_escape(m->buf, m->blen, b, sizeof(b));
			snprintf(why, whylen,
			    "expected a line matching "
			    "/%.60s/, got %s",
			    e->src, b);
			return -1;
		}
		return 1;
	case LOAD_EXPECT_BYTES:
		k = e->bytes - m->pos < n ? (size_t)(e->bytes - m->pos) : n;
		*used = k;
		m->pos += k;
		return m->pos == e->bytes;
	case LOAD_EXPECT_HTTP:
		r = load_script_http(m, e, p, n, used, why, whylen);
		m->pos += *used;
		return r;
	}
	*used = n;
	return 0;
}

/* The status line and headers are whole in m->buf: checks the status
   and learns how the body is framed.  Returns 1 (no body), 0 or -1. */
static int
load_script_http_head(struct load_match *m, const struct load_expect *e,
    char *why, size_t whylen)
{
	char b[160], *line, *save = NULL;
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
				load_script_escape(line, len, b, sizeof(b));
				snprintf(why, whylen,
				    "expected an HTTP/1.1 "
				    "status line, got %s",
				    b);
				return -1;
			}
			m->status = atoi(line + 9);
			ok = e->status ? m->status == e->status :
			                 m->status >= 200 && m->status <= 299;
			if (!ok) {
				load_script_escape(line, len, b, sizeof(b));
				if (e->status)
					snprintf(why, whylen,
					    "expected HTTP "
					    "status %d, got %s",
					    e->status, b);
				else
					snprintf(why, whylen,
					    "expected HTTP "
					    "status 2xx, got %s",
					    b);
				return -1;
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
load_script_http(struct load_match *m, const struct load_expect *e,
    const char *p, size_t n, size_t *used, char *why, size_t whylen)
{
	size_t off = 0, u, k;
	char b[160];
	int r;

	while (off < n) {
		switch (m->state) {
		case HTTP_HEAD:
			/* Gather lines until the empty one ends the head. */
			r = load_script_take_line(m, p + off, n - off, &u);
			off += u;
			if (r == -1)
				goto toolong;
			if (r == 0)
				break;
			if (m->blen > 0 &&
			    memchr(m->buf, '\n', m->blen) == NULL &&
			    strncmp(m->buf, "HTTP/1.", 7) != 0) {
				/* Not HTTP: say so now, not after 64 KiB. */
				load_script_escape(m->buf, m->blen, b,
				    sizeof(b));
				snprintf(why, whylen,
				    "expected an HTTP/1.1 "
				    "status line, got %s",
				    b);
				*used = off;
				return -1;
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
			r = load_script_http_head(m, e, why, whylen);
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
			r = load_script_take_line(m, p + off, n - off, &u);
			off += u;
			if (r == -1)
				goto toolong;
			if (r == 0)
				break;
			if (m->state == HTTP_CHUNK_END) {
				if (m->blen != 0) {
					load_script_escape(m->buf, m->blen, b,
					    sizeof(b));
					snprintf(why, whylen,
					    "expected CRLF "
					    "after a chunk, got %s",
					    b);
					*used = off;
					return -1;
				}
				m->state = HTTP_CHUNK_SIZE;
			} else if (m->state == HTTP_CHUNK_SIZE) {
				char *q;

				m->left = strtoull(m->buf, &q, 16);
				if (q == m->buf) {
					load_script_escape(m->buf, m->blen, b,
					    sizeof(b));
					snprintf(why, whylen,
					    "expected a chunk "
					    "size, got %s",
					    b);
					*used = off;
					return -1;
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
