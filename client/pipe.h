/* evsock's pipe mode: stdin to the socket, the socket to stdout. */
#ifndef EVSOCK_CLIENT_PIPE_H
#define EVSOCK_CLIENT_PIPE_H

/* Runs `evsock [options] HOST:PORT`; returns the exit status. */
int pipe_main(int argc, char **argv);

#endif
