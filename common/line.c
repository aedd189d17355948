#include <string.h>

#include "line.h"

enum line_result
line_next(struct line_state *st, struct evbuffer *in, size_t max, char *out,
    size_t *len)
{
	struct evbuffer_ptr p;
	size_t avail, n;

	for (;;) {
		avail = evbuffer_get_length(in);
		if (avail == 0)
			return LINE_NONE;
		p = evbuffer_search(in, "\n", 1, NULL);
		if (st->discarding) {
			if (p.pos < 0) {
				evbuffer_drain(in, avail);
				return LINE_NONE;
			}
			evbuffer_drain(in, (size_t)p.pos + 1);
			st->discarding = 0;
			continue;
		}
		if (p.pos < 0) {
			/* No LF yet: content and CR may use max - 1 bytes. */
			if (avail > max - 1) {
				evbuffer_drain(in, avail);
				st->discarding = 1;
				return LINE_OVERLONG;
			}
			return LINE_NONE;
		}
		n = (size_t)p.pos;
		if (n > max - 1) {
			evbuffer_drain(in, n + 1);
			return LINE_OVERLONG;
		}
		evbuffer_remove(in, out, n);
		evbuffer_drain(in, 1);
		if (n > 0 && out[n - 1] == '\r')
			n--;
		/* The content proper may use max - 2 bytes, CR or not. */
		if (n > max - 2)
			return LINE_OVERLONG;
		out[n] = '\0';
		*len = n;
		return LINE_OK;
	}
}
