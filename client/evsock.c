/* evsock: pipe mode by default; `chat` and `load` subcommands. */
#include <signal.h>
#include <string.h>

#include "pipe.h"

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	return pipe_main(argc, argv);
}
