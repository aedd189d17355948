/* evsock's chat mode: a small line-based IRC client for people. */
#ifndef EVSOCK_CLIENT_CHATMODE_H
#define EVSOCK_CLIENT_CHATMODE_H

/* Runs `evsock chat [--nick NICK] [--password PASS] HOST:PORT`
   (argv[0] is "chat"); returns the exit status: 0 after a clean quit,
   1 on a connection error or a refused password or registration, 2 on
   a usage error. */
int chatmode_main(int argc, char **argv);

#endif
