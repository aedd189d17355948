/*
 * Password hashes in crypt(3) form, as the operators' "oper" lines
 * hold them: whether this system's libcrypt can check passwords
 * against one.
 */
#ifndef EVSOCK_COMMON_PASSHASH_H
#define EVSOCK_COMMON_PASSHASH_H

/* Returns 1 if crypt(3) can check passwords against hash, 0 if not (a
   method this libcrypt lacks, or a mangled hash, which would refuse
   every password), -1 if out of memory. */
int passhash_usable(const char *hash);

#endif
