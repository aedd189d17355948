/*
 * Who may join a channel and who may speak in it: the +b, +e and +I
 * mask lists, +i with its invitations, +k and +l.  Nothing here sends a
 * line; the commands decide what to say.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/mask.h"
#include "chat-int.h"

int
chat_access_match(const struct chat_user *u, const struct chat_mask *l)
{
	for (; l != NULL; l = l->next)
		if (mask_match(l->mask, u->prefix))
			return 1;
	return 0;
}

/* Returns u's invitation to ch, unlinking it when `take` is set (the
   caller then frees it), or NULL. */
static struct chat_invite *
chat_access_find_invite(struct chat_user *u, const struct chat_chan *ch,
    int take)
{
	struct chat_invite **pp, *iv;

	for (pp = &u->invites; (iv = *pp) != NULL; pp = &iv->next) {
		if (iv->created != ch->created ||
		    irc_casecmp(iv->chan, ch->name) != 0)
			continue;
		if (take) {
			*pp = iv->next;
			u->ninvites--;
		}
		return iv;
	}
	return NULL;
}

const char *
chat_access_join(struct chat_user *u, struct chat_chan *ch, const char *key)
{
	struct chat_invite *iv = chat_access_find_invite(u, ch, 0);
	int op_invite = iv != NULL && iv->by_op;

	if (!op_invite && chat_access_match(u, ch->bans) &&
	    !chat_access_match(u, ch->excepts))
		return "474";
	if (ch->invite_only && iv == NULL && !chat_access_match(u, ch->invex))
		return "473";
	if (!op_invite && ch->key[0] != '\0' &&
	    (key == NULL || strcmp(key, ch->key) != 0))
		return "475";
	if (!op_invite && ch->limit > 0 && ch->nmembers >= ch->limit)
		return "471";
	/* The invitation is used up by the JOIN (RFC 2812 3.2.2). */
	free(chat_access_find_invite(u, ch, 1));
	return NULL;
}

int
chat_access_speak(const struct chat_user *u, const struct chat_chan *ch)
{
	struct chat_member *mb = chat_state_member(u, ch);

	if (mb != NULL && (mb->op || mb->voice))
		return 1;
	if (mb == NULL && ch->no_external)
		return 0;
	if (ch->moderated)
		return 0;
	return !chat_access_match(u, ch->bans) ||
	    chat_access_match(u, ch->excepts);
}

int
chat_access_invite(struct chat_user *u, const struct chat_chan *ch, int by_op)
{
	struct chat_invite *iv = chat_access_find_invite(u, ch, 1), **pp;

	if (iv == NULL && (iv = calloc(1, sizeof(*iv))) == NULL)
		return -1;
	snprintf(iv->chan, sizeof(iv->chan), "%s", ch->name);
	iv->created = ch->created;
	iv->by_op = by_op;
	iv->next = u->invites;
	u->invites = iv;
	u->ninvites++;
	if (u->ninvites > IRC_INVITES_MAX) {
		/* Drop the oldest, at the tail. */
		for (pp = &u->invites; (*pp)->next != NULL; pp = &(*pp)->next)
			;
		free(*pp);
		*pp = NULL;
		u->ninvites--;
	}
	return 0;
}

void
chat_access_invites_clear(struct chat_user *u)
{
	struct chat_invite *iv;

	while ((iv = u->invites) != NULL) {
		u->invites = iv->next;
		free(iv);
	}
	u->ninvites = 0;
}

int
chat_access_mask_add(struct chat_chan *ch, struct chat_mask **list,
    const char *mask, const char *by)
{
	struct chat_mask *e, **pp;

	for (pp = list; (e = *pp) != NULL; pp = &e->next)
		if (irc_casecmp(e->mask, mask) == 0)
			return 0;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -1;
	snprintf(e->mask, sizeof(e->mask), "%s", mask);
	snprintf(e->by, sizeof(e->by), "%s", by);
	e->when = time(NULL);
	/* Appended: the list reads in the order it was set. */
	*pp = e;
	ch->nmasks++;
	return 1;
}

int
chat_access_mask_del(struct chat_chan *ch, struct chat_mask **list,
    const char *mask)
{
	struct chat_mask *e, **pp;

	for (pp = list; (e = *pp) != NULL; pp = &e->next) {
		if (irc_casecmp(e->mask, mask) == 0) {
			*pp = e->next;
			free(e);
			ch->nmasks--;
			return 1;
		}
	}
	return 0;
}

static void
chat_access_list_free(struct chat_mask *l)
{
	struct chat_mask *next;

	for (; l != NULL; l = next) {
		next = l->next;
		free(l);
	}
}

void
chat_access_masks_clear(struct chat_chan *ch)
{
	chat_access_list_free(ch->bans);
	chat_access_list_free(ch->excepts);
	chat_access_list_free(ch->invex);
	ch->bans = ch->excepts = ch->invex = NULL;
	ch->nmasks = 0;
}
