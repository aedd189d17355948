/*
 * Templates, expectations and script files of evsock load: pure
 * functions, no sockets.  Replies are matched in load-expect.c.
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

static int load_script_grow(struct load_script *s);
static int load_script_seg(struct load_tmpl *t, enum load_seg_kind k,
    size_t off, size_t len);
static void load_script_expect_clear(struct load_expect *e);

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
