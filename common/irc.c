#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "irc.h"

static char *irc_skip_spaces(char *);
static size_t irc_utf8_cut(const char *, size_t);

static char *
irc_skip_spaces(char *p)
{
	while (*p == ' ')
		p++;
	return p;
}

int
irc_parse(char *line, size_t len, struct irc_msg *m)
{
	char *p, *end = line + len;

	memset(m, 0, sizeof(*m));
	/* A NUL would cut a parameter short and a CR inside a line could
	   end it early at a peer; neither belongs in a message. */
	if (memchr(line, '\0', len) != NULL ||
	    memchr(line, '\r', len) != NULL || memchr(line, '\n', len) != NULL)
		return IRC_PARSE_BADCHAR;
	*end = '\0';
	p = irc_skip_spaces(line);
	if (*p == '@') {
		m->tags = ++p;
		while (*p != '\0' && *p != ' ')
			p++;
		if (*p != '\0')
			*p++ = '\0';
		p = irc_skip_spaces(p);
	}
	if (*p == ':') {
		m->prefix = ++p;
		while (*p != '\0' && *p != ' ')
			p++;
		if (*p != '\0')
			*p++ = '\0';
		p = irc_skip_spaces(p);
	}
	if (*p == '\0')
		return IRC_PARSE_EMPTY;
	m->command = p;
	while (*p != '\0' && *p != ' ') {
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
		p++;
	}
	if (*p != '\0')
		*p++ = '\0';
	for (;;) {
		p = irc_skip_spaces(p);
		if (*p == '\0')
			break;
		if (*p == ':') {
			m->params[m->nparams++] = p + 1;
			m->trailing = 1;
			break;
		}
		if (m->nparams == IRC_MAX_PARAMS - 1) {
			/* RFC 2812: the fifteenth parameter is the rest of
			   the line even without ':'. */
			m->params[m->nparams++] = p;
			m->trailing = 1;
			break;
		}
		m->params[m->nparams++] = p;
		while (*p != '\0' && *p != ' ')
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
	return IRC_PARSE_OK;
}

/* Returns the largest n' <= n that does not end inside a UTF-8
   sequence started before it. */
static size_t
irc_utf8_cut(const char *s, size_t n)
{
	size_t i = n, back = 0;

	while (i > 0 && back < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
		i--;
		back++;
	}
	if (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0xC0) {
		unsigned char lead = (unsigned char)s[i - 1];
		size_t need = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : 1;

		if (back < need)
			return i - 1;
	}
	return n;
}

size_t
irc_vformat(char *buf, size_t size, size_t max, const char *fmt, va_list ap)
{
	int r;
	size_t n;

	if (max > size)
		max = size;
	r = vsnprintf(buf, max - 1, fmt, ap);
	if (r < 0)
		r = 0;
	n = (size_t)r;
	if (n > max - 2) {
		n = irc_utf8_cut(buf, max - 2);
	}
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\r' || buf[i] == '\n' || buf[i] == '\0')
			buf[i] = ' ';
	buf[n++] = '\r';
	buf[n++] = '\n';
	if (n < size)
		buf[n] = '\0';
	return n;
}

size_t
irc_format(char *buf, size_t size, size_t max, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = irc_vformat(buf, size, max, fmt, ap);
	va_end(ap);
	return n;
}

size_t
irc_build(char *buf, size_t size, size_t max, const char *prefix,
    const char *command, int nparams, const char *const *params)
{
	char tmp[8192];
	size_t n = 0, l;
	int i;

	if (max > size)
		max = size;
	if (max > sizeof(tmp))
		max = sizeof(tmp);
#define IRC_PUT(s, sl) \
	do { \
		l = (sl); \
		if (l > sizeof(tmp) - 1 - n) \
			l = sizeof(tmp) - 1 - n; \
		memcpy(tmp + n, (s), l); \
		n += l; \
	} while (0)
	if (prefix != NULL) {
		IRC_PUT(":", 1);
		IRC_PUT(prefix, strlen(prefix));
		IRC_PUT(" ", 1);
	}
	if (command == NULL || *command == '\0' || strchr(command, ' '))
		return 0;
	IRC_PUT(command, strlen(command));
	for (i = 0; i < nparams; i++) {
		const char *p = params[i];
		int last = i == nparams - 1;
		int plain = *p != '\0' && *p != ':' && strchr(p, ' ') == NULL;

		if (!plain && !last)
			return 0;
		IRC_PUT(" ", 1);
		if (!plain)
			IRC_PUT(":", 1);
		IRC_PUT(p, strlen(p));
	}
#undef IRC_PUT
	tmp[n] = '\0';
	return irc_format(buf, size, max, "%s", tmp);
}

int
irc_tolower(int ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

int
irc_casecmp(const char *a, const char *b)
{
	int ca, cb;

	do {
		ca = irc_tolower((unsigned char)*a++);
		cb = irc_tolower((unsigned char)*b++);
	} while (ca == cb && ca != '\0');
	return ca - cb;
}

void
irc_strlower(char *dst, const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return;
	for (i = 0; i < len - 1 && s[i] != '\0'; i++)
		dst[i] = (char)irc_tolower((unsigned char)s[i]);
	dst[i] = '\0';
}

unsigned long
irc_casehash(const char *s)
{
	unsigned long h = 2166136261UL;

	/* FNV-1a over the folded bytes. */
	for (; *s != '\0'; s++) {
		h ^= (unsigned long)irc_tolower((unsigned char)*s);
		h *= 16777619UL;
	}
	return h;
}

static int
irc_nick_special(int ch)
{
	return ch == '[' || ch == ']' || ch == '\\' || ch == '`' || ch == '_' ||
	    ch == '^' || ch == '{' || ch == '|' || ch == '}';
}

int
irc_valid_nick(const char *s)
{
	size_t i;

	if (s == NULL || *s == '\0')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		int ch = (unsigned char)s[i];
		int alpha = (ch >= 'a' && ch <= 'z') ||
		    (ch >= 'A' && ch <= 'Z');
		int digit = ch >= '0' && ch <= '9';

		if (i >= IRC_NICK_MAX)
			return 0;
		if (alpha || irc_nick_special(ch))
			continue;
		if (i > 0 && (digit || ch == '-'))
			continue;
		return 0;
	}
	return 1;
}

int
irc_is_channel(const char *s)
{
	return s != NULL && s[0] == '#';
}

int
irc_valid_channel(const char *s)
{
	size_t i;

	if (!irc_is_channel(s) || s[1] == '\0')
		return 0;
	for (i = 1; s[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (i >= IRC_CHANNEL_MAX)
			return 0;
		if (ch <= ' ' || ch == ',' || ch == 0x7f)
			return 0;
	}
	return 1;
}

int
irc_secret_equal(const char *given, const char *expected)
{
	size_t gl = strlen(given), el = strlen(expected), i;
	volatile unsigned char diff = 0;

	diff |= (unsigned char)(gl != el);
	/* Walk `given` in full, reading `expected` cyclically, so the time
	   spent says nothing about the expected value. */
	for (i = 0; i < gl; i++)
		diff |= (unsigned char)(given[i] ^
		    (el > 0 ? expected[i % el] : 0));
	return diff == 0;
}

size_t
irc_list_next(const char **p, char *item, size_t size)
{
	const char *s = *p, *end;
	size_t len;

	while (*s == ',')
		s++;
	end = strchr(s, ',');
	if (end == NULL)
		end = s + strlen(s);
	len = (size_t)(end - s);
	*p = end;
	if (len > size - 1)
		len = size - 1;
	memcpy(item, s, len);
	item[len] = '\0';
	return len;
}

size_t
irc_tag_escape(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	for (; *src != '\0'; src++) {
		const char *e = NULL;
		char one[2] = { *src, '\0' };

		switch (*src) {
		case ';':
			e = "\\:";
			break;
		case ' ':
			e = "\\s";
			break;
		case '\\':
			e = "\\\\";
			break;
		case '\r':
			e = "\\r";
			break;
		case '\n':
			e = "\\n";
			break;
		default:
			e = one;
			break;
		}
		if (n + strlen(e) >= size) {
			dst[0] = '\0';
			return (size_t)-1;
		}
		memcpy(dst + n, e, strlen(e));
		n += strlen(e);
	}
	dst[n] = '\0';
	return n;
}

size_t
irc_tag_unescape(char *dst, size_t size, const char *src, size_t len)
{
	size_t n = 0, i;

	for (i = 0; i < len && n + 1 < size; i++) {
		char ch = src[i];

		if (ch == '\\') {
			if (++i == len)
				break;
			switch (src[i]) {
			case ':':
				ch = ';';
				break;
			case 's':
				ch = ' ';
				break;
			case 'r':
				ch = '\r';
				break;
			case 'n':
				ch = '\n';
				break;
			default:
				ch = src[i];
				break;
			}
		}
		dst[n++] = ch;
	}
	dst[n] = '\0';
	return n;
}

int
irc_tag_next(const char **p, const char **key, size_t *keylen, const char **val,
    size_t *vallen)
{
	const char *s = *p, *end, *eq;

	while (*s == ';')
		s++;
	if (*s == '\0') {
		*p = s;
		return 0;
	}
	end = strchr(s, ';');
	if (end == NULL)
		end = s + strlen(s);
	eq = memchr(s, '=', (size_t)(end - s));
	*key = s;
	if (eq != NULL) {
		*keylen = (size_t)(eq - s);
		*val = eq + 1;
		*vallen = (size_t)(end - eq - 1);
	} else {
		*keylen = (size_t)(end - s);
		*val = end;
		*vallen = 0;
	}
	*p = end;
	return 1;
}

int
irc_tag_key_valid(const char *key, size_t len)
{
	size_t i = 0, name;

	if (len > 0 && key[0] == '+')
		i++;
	name = i;
	for (; i < len; i++) {
		unsigned char ch = (unsigned char)key[i];

		if (ch == '/') {
			/* What came before was the vendor, a host name. */
			if (i == name)
				return 0;
			name = i + 1;
			continue;
		}
		if (ch == '.' && name < i)
			continue;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		        (ch >= '0' && ch <= '9') || ch == '-'))
			return 0;
	}
	return name < len;
}

int
irc_tag_get(const char *tags, const char *key, char *val, size_t size)
{
	const char *k, *v;
	size_t kl, vl, want = strlen(key);
	int found = 0;

	if (tags == NULL)
		return 0;
	while (irc_tag_next(&tags, &k, &kl, &v, &vl)) {
		if (kl == want && memcmp(k, key, kl) == 0) {
			irc_tag_unescape(val, size, v, vl);
			found = 1;
		}
	}
	return found;
}

size_t
irc_tags_client(char *dst, size_t size, const char *tags)
{
	char raw[IRC_TAGS_MAX + 1], esc[IRC_TAGS_MAX + 1];
	const char *k, *v;
	size_t kl, vl, n = 0, el;

	dst[0] = '\0';
	if (tags == NULL)
		return 0;
	while (irc_tag_next(&tags, &k, &kl, &v, &vl)) {
		if (kl < 2 || k[0] != '+' || !irc_tag_key_valid(k, kl))
			continue;
		irc_tag_unescape(raw, sizeof(raw), v, vl);
		if ((el = irc_tag_escape(esc, sizeof(esc), raw)) == (size_t)-1)
			continue;
		/* [";"] key ["=" value] and the terminator. */
		if (n + (n > 0) + kl + (el > 0 ? 1 + el : 0) + 1 > size)
			continue;
		if (n > 0)
			dst[n++] = ';';
		memcpy(dst + n, k, kl);
		n += kl;
		if (el > 0) {
			dst[n++] = '=';
			memcpy(dst + n, esc, el);
			n += el;
		}
		dst[n] = '\0';
	}
	return n;
}

size_t
irc_time_format(char *buf, size_t size, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	int n;

	if (ms < 0 || gmtime_r(&t, &tm) == NULL)
		return 0;
	n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, (int)(ms % 1000));
	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

int
irc_time_parse(const char *s, int64_t *ms)
{
	struct tm tm;
	int frac = 0, used = 0, fused = 0, digits;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
	        &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6 ||
	    used != 19)
		return -1;
	s += used;
	if (*s == '.') {
		s++;
		for (digits = 0; s[fused] >= '0' && s[fused] <= '9'; fused++) {
			if (digits < 3) {
				frac = frac * 10 + (s[fused] - '0');
				digits++;
			}
		}
		if (fused == 0)
			return -1;
		for (; digits < 3; digits++)
			frac *= 10;
		s += fused;
	}
	if (*s == 'Z')
		s++;
	if (*s != '\0' || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
	    tm.tm_sec > 60 || tm.tm_year < 1970)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	*ms = (int64_t)t * 1000 + frac;
	return 0;
}
