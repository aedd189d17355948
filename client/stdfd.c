/*
 * Standard input and output of the evsock modes under libevent.  epoll
 * refuses regular files and some devices, so those are read through
 * an event that is made active by hand instead of watched.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#ifdef __linux__
#include <sys/epoll.h>
#endif
#include <unistd.h>

#include <event2/event.h>

#include "stdfd.h"

/* libevent would only warn at dispatch time about an fd epoll refuses
   (EPERM), so it is asked here first. */
int
stdfd_is_file(int fd)
{
	struct stat sb;
#ifdef __linux__
	struct epoll_event ev;
	int ep, r;
#endif

	if (fstat(fd, &sb) == -1)
		return 0;
	if (S_ISREG(sb.st_mode))
		return 1;
#ifdef __linux__
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return 0;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	r = epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	close(ep);
	return r == -1 && errno == EPERM;
#else
	return 0;
#endif
}

struct event *
stdfd_event_new(struct event_base *base, int fd, int is_file,
    event_callback_fn cb, void *arg)
{
	return event_new(base, is_file ? -1 : fd,
	    is_file ? 0 : EV_READ | EV_PERSIST, cb, arg);
}

void
stdfd_start(struct event *ev, int is_file)
{
	if (is_file)
		event_active(ev, EV_READ, 0);
	else
		event_add(ev, NULL);
}
