/* Fuzz target: line framing, fed in input-chosen chunk sizes. */
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
	size_t max, off = 1, len;
	char out[300];

	if (size < 1)
		return 0;
	/* The first byte picks the limit (3..258) and the chunk size. */
	max = 3 + data[0];
	if ((b = evbuffer_new()) == NULL)
		return 0;
	while (off < size) {
		size_t chunk = 1 + (data[off - 1] % 37);
		enum line_result r;
		if (chunk > size - off)
			chunk = size - off;
		evbuffer_add(b, data + off, chunk);
		off += chunk;
		while ((r = line_next(&st, b, max, out, &len)) != LINE_NONE) {
			if (r == LINE_OK && (len > max - 2 ||
			    out[len] != '\0' || memchr(out, '\n', len)))
				abort();
		}
		/* Bounded memory: never more than a line is held. */
		if (evbuffer_get_length(b) > max)
			abort();
	}
	evbuffer_free(b);
	return 0;
}
