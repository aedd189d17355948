/* A chained hash table keyed by case-folded names; see nametab.h. */
#include <stdlib.h>

#include "irc.h"
#include "nametab.h"

#define NAMETAB_MIN 64

int
nametab_init(struct nametab *t)
{
	t->nb = NAMETAB_MIN;
	t->n = 0;
	t->b = calloc(t->nb, sizeof(*t->b));
	return t->b == NULL ? -1 : 0;
}

void
nametab_fini(struct nametab *t)
{
	free(t->b);
	t->b = NULL;
	t->nb = t->n = 0;
}

struct nametab_ent *
nametab_find(const struct nametab *t, const char *key)
{
	unsigned long h = irc_casehash(key);
	struct nametab_ent *e;

	for (e = t->b[h & (t->nb - 1)]; e != NULL; e = e->next)
		if (e->hash == h && irc_casecmp(e->key, key) == 0)
			return e;
	return NULL;
}

static void
nametab_grow(struct nametab *t)
{
	size_t nb = t->nb * 2, i;
	struct nametab_ent **b = calloc(nb, sizeof(*b)), *e, *next;

	/* Out of memory only makes the chains longer. */
	if (b == NULL)
		return;
	for (i = 0; i < t->nb; i++) {
		for (e = t->b[i]; e != NULL; e = next) {
			next = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

void
nametab_add(struct nametab *t, struct nametab_ent *e, const char *key)
{
	size_t i;

	if (t->n >= t->nb)
		nametab_grow(t);
	e->key = key;
	e->hash = irc_casehash(key);
	i = e->hash & (t->nb - 1);
	e->next = t->b[i];
	t->b[i] = e;
	t->n++;
}

void
nametab_del(struct nametab *t, struct nametab_ent *e)
{
	struct nametab_ent **pp = &t->b[e->hash & (t->nb - 1)];

	for (; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			t->n--;
			return;
		}
	}
}

size_t
nametab_count(const struct nametab *t)
{
	return t->n;
}

struct nametab_ent *
nametab_next(const struct nametab *t, const struct nametab_ent *e)
{
	size_t i = 0;

	if (e != NULL) {
		if (e->next != NULL)
			return e->next;
		i = (e->hash & (t->nb - 1)) + 1;
	}
	for (; i < t->nb; i++)
		if (t->b[i] != NULL)
			return t->b[i];
	return NULL;
}
