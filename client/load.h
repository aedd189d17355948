/* evsock load: a load generator for echo, IRC and any TCP service. */
#ifndef EVSOCK_CLIENT_LOAD_H
#define EVSOCK_CLIENT_LOAD_H

/*
 * Runs `evsock load`; argv[0] is "load".  Returns the exit status: 0
 * after a clean run, 1 when an error or a lost message was seen, 2 on a
 * usage error.
 */
int load_main(int argc, char **argv);

#endif
