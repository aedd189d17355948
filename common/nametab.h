/* A hash table of names compared case-insensitively (IRC casemapping).
   The table is intrusive: each owner embeds a struct nametab_ent and
   the key points into the owner, so adding and removing never allocate
   per entry.  The struct is public so owners can embed it. */
#ifndef EVSOCK_NAMETAB_H
#define EVSOCK_NAMETAB_H

#include <stddef.h>

struct nametab_ent {
	struct nametab_ent *next;
	const char *key; /* the owner's name; must outlive the entry */
	unsigned long hash;
};

struct nametab {
	struct nametab_ent **b;
	size_t nb; /* a power of two */
	size_t n;
};

/* Sets up an empty table.  Returns 0, or -1 when out of memory. */
int nametab_init(struct nametab *t);
/* Frees the buckets (not the entries, which their owners hold). */
void nametab_fini(struct nametab *t);
/* Returns the entry whose key equals `key` ignoring case, or NULL. */
struct nametab_ent *nametab_find(const struct nametab *t, const char *key);
/* Adds e under `key` (kept by reference); the caller ensures no entry
   with an equal key is there. */
void nametab_add(struct nametab *t, struct nametab_ent *e, const char *key);
/* Removes e, which must be in t. */
void nametab_del(struct nametab *t, struct nametab_ent *e);
/* Returns how many entries t holds. */
size_t nametab_count(const struct nametab *t);
/* Walks t: the first entry when e is NULL, else the one after e; NULL
   at the end.  The table must not change during the walk. */
struct nametab_ent *nametab_next(const struct nametab *t,
    const struct nametab_ent *e);

#endif
