/* SPDX-License-Identifier: MIT */
/* shmkit — the command-line tool. Everything else lives in the shmkit_cli
 * library (every other file of tools/), so tests and fuzzers can run commands in-process. */
#include "cli.h"

int main(int argc, char **argv)
{
	return cli_run(argc, argv);
}
