/* evsockd and its service manager (systemd): readiness and state
   notifications, and the listening sockets it may pass in.  Without
   libsystemd at build time, or outside a systemd service, every call
   does nothing. */
#ifndef EVSOCK_SERVER_NOTIFY_H
#define EVSOCK_SERVER_NOTIFY_H

/* Says the daemon is serving (READY=1) with a one-line status. */
void notify_ready(const char *status);

/* Says a reload has started (RELOADING=1 with the monotonic time). */
void notify_reloading(void);

/* Says the daemon is stopping (STOPPING=1). */
void notify_stopping(void);

/*
 * Returns how many listening sockets the service manager passed
 * (descriptors 3, 4, ...), 0 for none, -1 on an error.  names[i]
 * gets each socket's FileDescriptorName (at most 31 bytes; "unknown"
 * when unnamed) for i < max.  The environment
 * variables are cleared so that children do not see them.
 */
int notify_listen_fds(char names[][32], int max);

#endif
