/*
 * Line framing: LF or CRLF, bounded length.  The framing itself works
 * on plain bytes (line_frame, line_read); line_next is the same framer
 * over an evbuffer.
 */
#ifndef EVSOCK_COMMON_LINE_H
#define EVSOCK_COMMON_LINE_H

#include <stddef.h>

#include <event2/buffer.h>

enum line_result {
	LINE_NONE,    /* no complete line yet */
	LINE_OK,      /* a line was copied out */
	LINE_OVERLONG /* a line exceeded max; it is being discarded */
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

/*
 * Frames the next line at the start of p[0..n), copying nothing, under
 * the same rules as line_next.  *used is set to the bytes the call
 * consumed.  LINE_OK: the line is p[0..*len) (CR/LF excluded) and *used
 * counts it and its LF.  LINE_OVERLONG: *used bytes were dropped.
 * LINE_NONE: if *used is 0 there is no LF and p[0..n) is the start of a
 * line the caller keeps (n < max); otherwise *used bytes of an
 * overlong line were dropped and the caller calls again with the rest.
 */
enum line_result line_frame(struct line_state *st, const char *p, size_t n,
    size_t max, size_t *used, size_t *len);

/* A plain-bytes line reader that keeps a partial line between reads. */
struct line_reader {
	struct line_state st;
	size_t max;  /* as for line_next; set before the first read */
	size_t held; /* bytes of a partial line in buf */
	char *buf;   /* capacity max + 1, allocated when first needed */
};

/*
 * Returns the next line of the stream whose next bytes are p[0..n),
 * consuming *used of them (the caller calls again with the rest while
 * *used < n).  LINE_OK: *line is the NUL-terminated line of *len bytes,
 * either inside p (p[*len] is overwritten) or inside r's buffer, valid
 * until the next call.  LINE_NONE with every byte used: the bytes were
 * kept as a partial line, or dropped (inside an overlong line, or when
 * no memory could be had to keep them: the line is then skipped).
 */
enum line_result line_read(struct line_reader *r, char *p, size_t n,
    size_t *used, char **line, size_t *len);

/* Frees r's buffer and forgets any partial line; r stays usable. */
void line_reader_clear(struct line_reader *r);

#endif
