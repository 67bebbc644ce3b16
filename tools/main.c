/* shmkit — the command-line tool: dispatch to subcommands. */
#include <stdio.h>
#include <string.h>

#include <shmkit.h>

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		printf("shmkit %s\n", shmkit_version());
		return 0;
	}
	fprintf(stderr, "usage: shmkit COMMAND [ARGS]\n");
	return 2;
}
