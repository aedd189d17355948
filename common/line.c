#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "line.h"

static enum line_result line_decide(struct line_state *, size_t, ssize_t,
    size_t, size_t *);
static enum line_result line_finish(const char *, size_t *, size_t);

/*
 * The framing rules, shared by both forms: given `avail` buffered bytes
 * whose first LF is at `lf` (-1: none), sets *used to the bytes to take
 * (LINE_OK: the line and its LF) or drop (otherwise; 0 keeps them).
 */
static enum line_result
line_decide(struct line_state *st, size_t avail, ssize_t lf, size_t max,
    size_t *used)
{
	if (st->discarding) {
		if (lf < 0) {
			*used = avail;
			return LINE_NONE;
		}
		*used = (size_t)lf + 1;
		st->discarding = 0;
		return LINE_NONE;
	}
	if (lf < 0) {
		*used = 0;
		/* No LF yet: content and CR may use max - 1 bytes. */
		if (avail > max - 1) {
			*used = avail;
			st->discarding = 1;
			return LINE_OVERLONG;
		}
		return LINE_NONE;
	}
	*used = (size_t)lf + 1;
	return (size_t)lf > max - 1 ? LINE_OVERLONG : LINE_OK;
}

/* Strips the CR of a line of *len bytes (LF excluded) and checks what
   is left: the content proper may use max - 2 bytes, CR or not. */
static enum line_result
line_finish(const char *line, size_t *len, size_t max)
{
	if (*len > 0 && line[*len - 1] == '\r')
		(*len)--;
	return *len > max - 2 ? LINE_OVERLONG : LINE_OK;
}

enum line_result
line_frame(struct line_state *st, const char *p, size_t n, size_t max,
    size_t *used, size_t *len)
{
	const char *lf = n > 0 ? memchr(p, '\n', n) : NULL;
	enum line_result res;

	res = line_decide(st, n, lf != NULL ? lf - p : -1, max, used);
	if (res != LINE_OK)
		return res;
	*len = *used - 1;
	return line_finish(p, len, max);
}

enum line_result
line_next(struct line_state *st, struct evbuffer *in, size_t max, char *out,
    size_t *len)
{
	enum line_result res;
	size_t avail, used;

	for (;;) {
		avail = evbuffer_get_length(in);
		if (avail == 0)
			return LINE_NONE;
		res = line_decide(st, avail,
		    (ssize_t)evbuffer_search(in, "\n", 1, NULL).pos, max,
		    &used);
		if (res != LINE_OK) {
			evbuffer_drain(in, used);
			if (res == LINE_NONE && used > 0)
				continue;
			return res;
		}
		*len = used - 1;
		evbuffer_remove(in, out, *len);
		evbuffer_drain(in, 1);
		if ((res = line_finish(out, len, max)) == LINE_OK)
			out[*len] = '\0';
		return res;
	}
}

enum line_result
line_read(struct line_reader *r, char *p, size_t n, size_t *used, char **line,
    size_t *len)
{
	enum line_result res;
	const char *lf;
	size_t k, u;

	if (r->held == 0) {
		res = line_frame(&r->st, p, n, r->max, used, len);
		if (res == LINE_OK) {
			p[*len] = '\0';
			*line = p;
		} else if (res == LINE_NONE && *used == 0 && n > 0) {
			/* The start of a line: keep it for the next read. */
			*used = n;
			if (r->buf == NULL &&
			    (r->buf = malloc(r->max + 1)) == NULL) {
				r->st.discarding = 1;
				return LINE_NONE;
			}
			memcpy(r->buf, p, n);
			r->held = n;
		}
		return res;
	}
	/* Add to the partial line up to its LF, then frame the whole. */
	lf = memchr(p, '\n', n);
	k = lf != NULL ? (size_t)(lf - p) + 1 : n;
	if (k > r->max + 1 - r->held) {
		/* Past the buffer is past max: overlong whatever follows. */
		r->held = 0;
		*used = k;
		r->st.discarding = lf == NULL;
		return LINE_OVERLONG;
	}
	memcpy(r->buf + r->held, p, k);
	r->held += k;
	*used = k;
	res = line_frame(&r->st, r->buf, r->held, r->max, &u, len);
	if (res == LINE_NONE && u == 0)
		return res;
	r->held = 0;
	if (res == LINE_OK) {
		r->buf[*len] = '\0';
		*line = r->buf;
	}
	return res;
}

void
line_reader_clear(struct line_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->held = 0;
	r->st.discarding = 0;
}
