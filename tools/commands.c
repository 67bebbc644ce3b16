/* SPDX-License-Identifier: MIT */
/* shmkit — the table of subcommands, help, and cli_run(): find the
 * subcommand in the table and run it (main.c only calls cli_run).
 *
 * To add a command: write `CLI_COMMAND(cmd_<x>) { ... }` in tools/cmd_<x>.c
 * (argv[0] is the command name; return 0 ok, 1 failure, 2 usage error; see
 * cli.h) and add ONE line to SHMKIT_COMMANDS below:
 *     X(function, "name", "usage after 'shmkit '", "one-line summary")
 * The line declares the function too; nothing else needs to change. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* clang-format off */
#define SHMKIT_COMMANDS(X)                                                                        \
	X(cmd_ls,     "ls",     "ls [URI-PREFIX...] [--json] [-o|--output COLS] [--noheadings] [--raw] [--bytes] [--user U] [--kind K]", \
	  "list segments: SysV, POSIX, memfd/file/anon mapped by processes; who maps each")     \
	X(cmd_stat,   "stat",   "stat URI [--json]", "everything known about one segment")        \
	X(cmd_create, "create", "create URI SIZE [--mode MODE]",                                  \
	  "create a segment (SIZE like 4096, 64K, 1M; MODE octal, default 0600)")                \
	X(cmd_rm,     "rm",     "rm URI...", "remove segments (SysV: once the last user detaches)") \
	X(cmd_write,  "write",  "write URI [TEXT|-] [--offset N] [--force] [--attach]",           \
	  "write TEXT (or stdin) into a segment; refused on shmkit objects without --force, and on a SysV segment nobody has attached whose last user may live without --attach") \
	X(cmd_read,   "read",   "read URI [--hex] [--offset N] [--length N] [--attach]",          \
	  "print a segment's text (up to the first NUL), exact bytes, or a hex dump")            \
	X(cmd_doctor, "doctor", "doctor [--json]",                                                \
	  "what on this machine would make shared memory fail")                                    \
	X(cmd_bench,  "bench",  "bench [ARGS...]", "run shmkit-bench (see shmkit-bench --help)")  \
	X(cmd_gc,     "gc",     "gc [--dry-run] [--foreign] [--force] [--prefix URI] [--json]",  \
	  "remove shmkit objects whose users all died; print the proof for each segment")        \
	X(cmd_map,    "map",    "map URI create SIZE [--mode M] [--persist|--owned] | put KEY VALUE|- [--timeout S] | get KEY [--raw] | del KEY [--timeout S] | ls [--json] | count | check [--timeout S] | flush", \
	  "a persistent key-value store inside a segment (get, ls, count only look; check repairs)")                                       \
	X(cmd_heap,   "heap",   "heap URI create SIZE [--mode M] [--persist|--owned] | check [--timeout S] | stats [--json]",                  \
	  "an allocator inside a segment: show its use (only looks), verify and repair it (check)")                  \
	X(cmd_topic,  "topic",  "topic create URI [--slots N] [--slot-size B] [--reliable] [--max-subs N] [--mode M] [--persist|--owned] | stat URI [--json]", \
	  "create a broadcast topic (default 64 slots x 4K, lossy, 64 subscribers), or show it")             \
	X(cmd_pub,    "pub",    "pub URI [MSG...|-] [--wait-subs N] [--timeout S]",               \
	  "publish each MSG (or each line of stdin); first wait for N subscribers")                                  \
	X(cmd_sub,    "sub",    "sub URI [--count N] [--timeout S]",                              \
	  "print messages published on a topic from now on, one per line")                      \
	X(cmd_queue,  "queue",  "queue create URI --capacity N --max-msg B [--multi] [--mode M] [--persist|--owned] | stat URI [--json]", \
	  "create a message queue, or show its depth and counters")                               \
	X(cmd_send,   "send",   "send URI [MSG...|-] [--null] [--raw] [--timeout S]",            \
	  "send messages: one per argument, or one per line of stdin with '-'")                  \
	X(cmd_recv,   "recv",   "recv URI [--count N] [--timeout S] [--null|--raw]",             \
	  "receive N messages (default 1; 0 = until the timeout), one per line")                 \
	X(cmd_bridge, "bridge", "bridge out URI ENDPOINT | in ENDPOINT URI [--bind|--connect] [--state FILE] [--window N] [--curve-keys FILE] [--curve-server-key KEY] [--timeout S] [--stats S] | keygen", \
	  "carry a queue or topic to another host over ZeroMQ (docs/BRIDGE.md)")                  \
	X(cmd_top,    "top",    "top [--interval S] [--once] [--json] [URI-PREFIX...]",                       \
	  "a live view of every shmkit object: depth, rates, drops, sleepers (q quits)")          \
	/* one line per command, above this comment */

/* clang-format on */

#define DECLARE(fn, name, usage, summary) int fn(int argc, char **argv);
SHMKIT_COMMANDS(DECLARE)
#undef DECLARE

struct command {
	int (*fn)(int argc, char **argv);
	const char *name;
	const char *usage;
	const char *summary;
};

#define ENTRY(fn, name, usage, summary) { fn, name, usage, summary },
static const struct command commands[] = { SHMKIT_COMMANDS(ENTRY) };
#undef ENTRY

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* Edits (a letter inserted, deleted or replaced) from a to b; SIZE_MAX
 * for names longer than any command's. */
static size_t edits(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[33];

	if (la > 32 || lb > 32)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* The command a mistyped name most likely meant ("recieve": recv, "list":
 * ls, "stats": stat), or NULL: the nearest within two edits (one for a
 * name of three letters or fewer: "cat" is not stat), or one that shares
 * its first three letters. */
static const char *likely_command(const char *name)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX, near = strlen(name) <= 3 ? 1 : 2;

	for (size_t i = 0; i < N_COMMANDS; i++) {
		const char *c = commands[i].name;
		size_t d = edits(name, c);
		int shares = strlen(c) >= 3 && strncmp(name, c, 3) == 0;
		if ((d <= near || shares) && d < best_d) {
			best = c;
			best_d = d;
		}
	}
	return best;
}

/* "shmkit: unknown command 'X' (did you mean Y? try: shmkit --help)" */
static int unknown_command(const char *what, const char *name)
{
	const char *meant = likely_command(name);
	char safe[256];

	fprintf(stderr, "shmkit: %sunknown command '%s' (%s%s%stry: shmkit --help)\n", what,
		cli_name(name, safe, sizeof safe), meant ? "did you mean " : "", meant ? meant : "",
		meant ? "? " : "");
	return CLI_USAGE;
}

const char *cli_command_usage(const char *cmd)
{
	const struct command *c = find_command(cmd);

	return c ? c->usage : NULL;
}

static void print_help(FILE *out)
{
	fprintf(out, "usage: shmkit COMMAND [ARGS...]\n"
		     "       shmkit help COMMAND | --help | --version\n\n"
		     "Shared-memory IPC for Linux: see, create and clean up segments.\n"
		     "A URI names a segment: posix:/name  sysv:0x1234  sysv:/path?proj=0x66\n"
		     "  sysv:id=N  sysv:private  file:/path  memfd:name  anon:\n\n"
		     "Commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nExit status: 0 success, 1 failure (one line on stderr), 2 usage error.\n"
		     "See shmkit(1).\n");
}

static int help_command(const char *name)
{
	const struct command *c = find_command(name);

	if (!c)
		return unknown_command("help: ", name);
	printf("usage: shmkit %s\n  %s\n", c->usage, c->summary);
	return CLI_OK;
}

/* `shmkit CMD ... --help` (before any "--") asks for the command's help. */
static int wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return 0;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	}
	return 0;
}

int cli_run(int argc, char **argv)
{
	const struct command *c;

	if (argc < 2) {
		print_help(stderr);
		return CLI_USAGE;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V") ||
	    !strcmp(argv[1], "version")) {
		printf("shmkit %s\n", shmkit_version());
		return CLI_OK;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		print_help(stdout);
		return CLI_OK;
	}
	if (!strcmp(argv[1], "help")) {
		if (argc < 3) {
			print_help(stdout);
			return CLI_OK;
		}
		return help_command(argv[2]);
	}
	c = find_command(argv[1]);
	if (!c)
		return unknown_command("", argv[1]);
	/* bench forwards every argument, --help included, to shmkit-bench */
	if (c->fn != cmd_bench && wants_help(argc - 1, argv + 1))
		return help_command(c->name);
	return c->fn(argc - 1, argv + 1);
}
