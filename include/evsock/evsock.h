/* evsock: event-driven TCP servers and clients on libevent. */
#ifndef EVSOCK_EVSOCK_H
#define EVSOCK_EVSOCK_H

#include <evsock/version.h>
#include <evsock/log.h>
#include <evsock/server.h>
#include <evsock/client.h>
#include <evsock/services.h>
#include <evsock/tls.h>

#endif
