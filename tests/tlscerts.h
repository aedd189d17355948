/* Test certificates made at test time with the openssl command
   (tests/tlscerts.sh says which files). */
#ifndef EVSOCK_TESTS_TLSCERTS_H
#define EVSOCK_TESTS_TLSCERTS_H

#include <stddef.h>

/* Makes a new directory under /tmp holding the test certificates and
   writes its path into dir (capacity len).  Returns 0, or -1 when the
   openssl command is missing or fails. */
int tlscerts_make(char *dir, size_t len);

/* Writes "DIR/NAME" into buf; returns buf. */
char *tlscerts_path(const char *dir, const char *name, char *buf, size_t len);

/* Removes the directory and the files tlscerts_make put in it. */
void tlscerts_remove(const char *dir);

#endif
