/* evsock: pipe mode by default; `chat` and `load` subcommands. */
#include <signal.h>
#include <string.h>

#include "chatmode.h"
#include "load.h"
#include "pipe.h"

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc > 1 && strcmp(argv[1], "chat") == 0)
		return chatmode_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "load") == 0)
		return load_main(argc - 1, argv + 1);
	return pipe_main(argc, argv);
}
