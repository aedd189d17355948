/* Fuzz target: evsock load's reply matching (HTTP/1.1 framing, regex
   lines, lines, exact bytes) on what a server sends, fed in
   input-chosen chunk sizes, one reply after another. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../client/load-script.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct load_script *s;
	struct load_match m;
	const struct load_expect *e;
	char why[320];
	size_t off = 1;

	if (s == NULL) {
		char err[128];

		s = load_script_new();
		if (s == NULL ||
		    load_script_add_expect(s, LOAD_EXPECT_HTTP, NULL, err,
		        sizeof(err)) == -1 ||
		    load_script_add_expect(s, LOAD_EXPECT_RE, "^\\+[A-Z]+$",
		        err, sizeof(err)) == -1 ||
		    load_script_add_expect(s, LOAD_EXPECT_LINE, NULL, err,
		        sizeof(err)) == -1 ||
		    load_script_add_expect(s, LOAD_EXPECT_EXACT, "+PONG\\r\\n",
		        err, sizeof(err)) == -1)
			abort();
	}
	if (size < 1)
		return 0;
	/* The first byte picks the expectation and the chunk sizes. */
	e = &s->steps[data[0] % 4].expect;
	memset(&m, 0, sizeof(m));
	load_expect_match_reset(&m);
	while (off < size) {
		size_t chunk = 1 + (data[off - 1] % 61), used;
		int r;

		if (chunk > size - off)
			chunk = size - off;
		r = load_expect_match(&m, e, e->text.lit, e->text.litlen,
		    (const char *)data + off, chunk, &used, why, sizeof(why));
		if (used > chunk || (r == 0 && used != chunk))
			abort();
		if (r == -1) {
			if (strlen(why) == 0 || strlen(why) >= sizeof(why))
				abort();
			break;
		}
		off += used;
		if (r == 1) {
			if (m.pos == 0 && e->kind != LOAD_EXPECT_HTTP)
				abort();
			load_expect_match_reset(&m);
		}
	}
	load_expect_match_clear(&m);
	return 0;
}
