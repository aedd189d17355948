/* Line framing over an evbuffer: LF or CRLF, bounded length. */
#ifndef EVSOCK_COMMON_LINE_H
#define EVSOCK_COMMON_LINE_H

#include <stddef.h>

#include <event2/buffer.h>

enum line_result {
	LINE_NONE,     /* no complete line yet */
	LINE_OK,       /* a line was copied out */
	LINE_OVERLONG  /* a line exceeded max; it is being discarded */
};

struct line_state {
	int discarding; /* inside an overlong line, dropping up to LF */
};

/*
 * Takes the next line out of `in` into out (capacity max + 1; the line
 * is NUL-terminated, *len excludes the terminator and the CR/LF).
 * `max` counts the line's bytes including its CRLF, as IRC does.  An
 * overlong line returns LINE_OVERLONG once; its bytes are discarded up
 * to and including the next LF (the state remembers across calls).
 */
enum line_result line_next(struct line_state *st, struct evbuffer *in,
    size_t max, char *out, size_t *len);

#endif
