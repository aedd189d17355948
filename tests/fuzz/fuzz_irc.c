/* Fuzz target: the IRC message parser and builder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/irc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1), out[IRC_LINE_MAX + 8];
	struct irc_msg m;

	if (line == NULL)
		return 0;
	memcpy(line, data, size);
	if (irc_parse(line, size, &m) == IRC_PARSE_OK) {
		/* Whatever parsed must rebuild into a bounded line. */
		size_t n = irc_build(out, sizeof(out), IRC_LINE_MAX, m.prefix,
		    m.command, m.nparams, m.params);
		if (n > IRC_LINE_MAX)
			abort();
		if (n > 0 && (out[n - 2] != '\r' || out[n - 1] != '\n'))
			abort();
		for (int i = 0; i < m.nparams; i++) {
			irc_valid_nick(m.params[i]);
			irc_valid_channel(m.params[i]);
			(void)irc_casehash(m.params[i]);
		}
		if (m.tags != NULL) {
			/* Tag handling stays within its buffers and keeps
			   only well-formed client-only tags. */
			char tags[IRC_TAGS_MAX + 1], val[64];
			int64_t ms;

			n = irc_tags_client(tags, sizeof(tags), m.tags);
			if (n != strlen(tags))
				abort();
			if (n > 0 && (tags[0] != '+' || strchr(tags, ' ')))
				abort();
			if (irc_tag_get(m.tags, "label", val, sizeof(val)) == 1)
				(void)irc_time_parse(val, &ms);
		}
		n = irc_format(out, sizeof(out), IRC_LINE_MAX, "%s %s",
		    m.command, m.nparams > 0 ? m.params[0] : "");
		if (n > IRC_LINE_MAX || memchr(out, '\0', n) != NULL)
			abort();
	}
	free(line);
	return 0;
}
