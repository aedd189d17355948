/* Fuzz target: line framing, fed in input-chosen chunk sizes; the
   plain-bytes reader must frame the same lines as line_next. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "../../common/line.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evbuffer *b;
	struct line_state st = { 0 };
	struct line_reader rd;
	size_t max, off = 1, len;
	char out[300], piece[40];

	if (size < 1)
		return 0;
	/* The first byte picks the limit (3..258) and the chunk size. */
	max = 3 + data[0];
	memset(&rd, 0, sizeof(rd));
	rd.max = max;
	if ((b = evbuffer_new()) == NULL)
		return 0;
	while (off < size) {
		size_t chunk = 1 + (data[off - 1] % 37);
		enum line_result r;

		if (chunk > size - off)
			chunk = size - off;
		evbuffer_add(b, data + off, chunk);
		memcpy(piece, data + off, chunk);
		off += chunk;
		for (size_t at = 0; at < chunk;) {
			char *line;
			size_t used, n;
			enum line_result pr = line_read(&rd, piece + at,
			    chunk - at, &used, &line, &n);

			if (used == 0)
				abort();
			at += used;
			if (pr == LINE_NONE)
				continue;
			/* The evbuffer framer gives the same next result. */
			r = line_next(&st, b, max, out, &len);
			if (r != pr)
				abort();
			if (r == LINE_OK &&
			    (len > max - 2 || out[len] != '\0' ||
			        memchr(out, '\n', len) || len != n ||
			        line[n] != '\0' || memcmp(out, line, n) != 0))
				abort();
		}
		if (line_next(&st, b, max, out, &len) != LINE_NONE)
			abort();
		/* Bounded memory: never more than a line is held. */
		if (evbuffer_get_length(b) > max)
			abort();
	}
	line_reader_clear(&rd);
	evbuffer_free(b);
	return 0;
}
