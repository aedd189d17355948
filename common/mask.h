/*
 * IRC masks: nick!user@host patterns with the wildcards '*' (any run of
 * bytes, empty included) and '?' (one byte), compared under the ascii
 * casemapping, as channel bans and exception lists use them.  Pure: no
 * allocation, no state.
 */
#ifndef EVSOCK_COMMON_MASK_H
#define EVSOCK_COMMON_MASK_H

#include <stddef.h>

/* Returns 1 if s matches the wildcard pattern mask (case-insensitive,
   ascii casemapping), else 0.  Runs in O(len(mask) * len(s)) at worst. */
int mask_match(const char *mask, const char *s);

/*
 * Writes mask in its full nick!user@host form into dst (capacity len):
 * "nick" becomes "nick!*@*", "user@host" becomes "*!user@host",
 * "nick!user" becomes "nick!user@*"; empty parts become "*".  Returns
 * the length written, or 0 if mask is empty, holds a space, comma or
 * control byte, or the result does not fit.
 */
size_t mask_normalize(char *dst, size_t len, const char *mask);

#endif
