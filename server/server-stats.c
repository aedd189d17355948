/*
 * The server's counters: totals (struct evs_server_stats) and one set
 * per listening address and service, kept after their listener goes so
 * that a counter never goes back; their accessors and the names of
 * refusals and close causes for reports.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/addr.h"
#include "server-int.h"

static const char *const server_stats_refusal_names[EVS_REFUSED_COUNT] = {
	"shutdown", "max_clients", "per_ip", "service"
};

static const char *const server_stats_cause_names[EVS_CLOSED_COUNT] = { "peer",
	"error", "idle_timeout", "registration_timeout", "ping_timeout",
	"sendq", "stall", "flood", "kill", "shutdown", "quit", "service" };

void
evs_server_stats(const struct evs_server *srv, struct evs_server_stats *st)
{
	*st = srv->st;
}

size_t
evs_server_listener_stats(const struct evs_server *srv,
    struct evs_listener_stats *st, size_t n)
{
	const struct lstats *ls;
	size_t i = 0;

	TAILQ_FOREACH(ls, &srv->lstats, link) {
		if (i < n)
			st[i] = ls->st;
		i++;
	}
	return i;
}

const char *
evs_refusal_name(enum evs_refusal r)
{
	return (unsigned)r < EVS_REFUSED_COUNT ? server_stats_refusal_names[r] :
	                                         NULL;
}

const char *
evs_close_cause_name(enum evs_close_cause cause)
{
	return (unsigned)cause < EVS_CLOSED_COUNT ?
	    server_stats_cause_names[cause] :
	    NULL;
}

struct lstats *
server_stats_listener(struct evs_server *srv, const struct evs_service *svc,
    const union conn_addr *addr, socklen_t addrlen)
{
	struct lstats *ls;

	TAILQ_FOREACH(ls, &srv->lstats, link)
		if (ls->svc == svc && ls->addrlen == addrlen &&
		    memcmp(&ls->addr, addr, addrlen) == 0)
			return ls;
	if ((ls = calloc(1, sizeof(*ls))) == NULL)
		return NULL;
	ls->svc = svc;
	memcpy(&ls->addr, addr, addrlen);
	ls->addrlen = addrlen;
	snprintf(ls->st.service, sizeof(ls->st.service), "%s",
	    svc->name != NULL ? svc->name : "service");
	addr_format(&addr->sa, ls->st.address, sizeof(ls->st.address));
	TAILQ_INSERT_TAIL(&srv->lstats, ls, link);
	return ls;
}

void
server_stats_free(struct evs_server *srv)
{
	struct lstats *ls;

	while ((ls = TAILQ_FIRST(&srv->lstats)) != NULL) {
		TAILQ_REMOVE(&srv->lstats, ls, link);
		free(ls);
	}
}
