#include <stdio.h>
#include <string.h>

#include "irc.h"
#include "mask.h"

int
mask_match(const char *mask, const char *s)
{
	const char *star = NULL, *retry = NULL;

	/* Greedy with one backtrack point: on a mismatch after a '*',
	   let that '*' swallow one more byte and try again.  A later '*'
	   replaces the backtrack point, which keeps it linear-ish. */
	while (*s != '\0') {
		if (*mask == '*') {
			star = ++mask;
			retry = s;
			continue;
		}
		if (*mask != '\0' &&
		    (*mask == '?' ||
		        irc_tolower((unsigned char)*mask) ==
		            irc_tolower((unsigned char)*s))) {
			mask++;
			s++;
			continue;
		}
		if (star == NULL)
			return 0;
		mask = star;
		s = ++retry;
	}
	while (*mask == '*')
		mask++;
	return *mask == '\0';
}

size_t
mask_normalize(char *dst, size_t len, const char *mask)
{
	const char *bang, *at, *p;
	char nick[256], user[256], host[256];
	int n;

	if (*mask == '\0' || strlen(mask) >= sizeof(nick))
		return 0;
	for (p = mask; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == ',' || *p == 0x7f)
			return 0;
	bang = strchr(mask, '!');
	at = strchr(bang != NULL ? bang : mask, '@');
	if (bang != NULL) {
		snprintf(nick, sizeof(nick), "%.*s", (int)(bang - mask), mask);
		if (at != NULL)
			snprintf(user, sizeof(user), "%.*s",
			    (int)(at - bang - 1), bang + 1);
		else
			snprintf(user, sizeof(user), "%s", bang + 1);
	} else if (at != NULL) {
		snprintf(nick, sizeof(nick), "*");
		snprintf(user, sizeof(user), "%.*s", (int)(at - mask), mask);
	} else {
		snprintf(nick, sizeof(nick), "%s", mask);
		user[0] = '\0';
	}
	snprintf(host, sizeof(host), "%s", at != NULL ? at + 1 : "");
	n = snprintf(dst, len, "%s!%s@%s", nick[0] ? nick : "*",
	    user[0] ? user : "*", host[0] ? host : "*");
	return n > 0 && (size_t)n < len ? (size_t)n : 0;
}
