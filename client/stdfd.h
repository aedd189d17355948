/* evsock's standard input and output under the event loop: a regular
   file (or /dev/null) cannot be watched and is always ready instead. */
#ifndef EVSOCK_CLIENT_STDFD_H
#define EVSOCK_CLIENT_STDFD_H

#include <event2/event.h>

/* Returns 1 if fd cannot be watched for readiness and is always ready
   instead (a regular file, or a device epoll refuses), else 0. */
int stdfd_is_file(int fd);

/* Returns a new read event on fd: persistent and watched, or, when
   is_file, one that stdfd_start() makes active by hand.  NULL on
   failure; the caller frees it. */
struct event *stdfd_event_new(struct event_base *base, int fd, int is_file,
    event_callback_fn cb, void *arg);

/* Starts reading: adds ev, or makes it active once when is_file (its
   callback makes it active again while there is more). */
void stdfd_start(struct event *ev, int is_file);

#endif
