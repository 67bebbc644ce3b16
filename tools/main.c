/* SPDX-License-Identifier: MIT */
/* shmkit — the command-line tool. Everything else lives in the shmkit_cli
 * library (every other file of tools/), so tests and fuzzers can run commands in-process. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"

/* LeakSanitizer (the sanitizer build): libzmq's I/O threads now and then
 * leave one small block unfreed at context end (80 bytes, allocated in an
 * I/O thread, no frame of ours on its stack; 2 runs of 12 of
 * test_bridge_args), which failed the bridge tests at random. The sanitizer runtime
 * looks this up by name: exported, as the build hides everything else. */
#if defined(__SANITIZE_ADDRESS__)
__attribute__((visibility("default"), used)) const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libzmq.so\n";
}
#endif

/* A standard descriptor the caller closed (`shmkit recv Q >&-`) would be
 * the number the next open gets: a segment's descriptor would become
 * stdout, and printing a message would write it into the segment. Each
 * such number is held by /dev/null opened the other way round, so using it
 * still fails (EBADF) as a closed one does: nothing is written anywhere,
 * and recv consumes nothing. */
static int hold_closed_std_fds(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		/* the lowest free number: fd, as those below it are open */
		int got = open("/dev/null", (fd == 0 ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
		if (got != fd)
			return -1;
	}
	return 0;
}

/* A command whose output was not written did not do what it was asked
 * (`shmkit ls > /dev/full`, `shmkit ls >&-`): say so and fail, as coreutils
 * do. Commands that write stdout themselves (recv) check their own writes. */
static int stdout_written(const char *cmd)
{
	int err = cli_stdout_flush();
	return err == 0 ? CLI_OK : cli_fail_write(cmd, "", err);
}

static const char *running_cmd = "shmkit";

/* A posix: or file: segment that another process truncates while a command
 * maps it loses pages under it: touching them raises SIGBUS (shmkit_seg(3),
 * "Shrunk segments"), even for a command that only looks. Dying of it
 * without a word would read as a crash of shmkit: say what happened in the
 * one line of a failure and exit 1. Only async-signal-safe calls here. */
static void on_sigbus(int sig)
{
	static const char why[] = ": stopped by SIGBUS: a segment lost pages while this command "
				  "used it (another process truncated it, or its filesystem is "
				  "full); nothing after that was done\n";
	size_t n = 0;

	(void)sig;
	while (n < 32 && running_cmd[n])
		n++;
	if (write(STDERR_FILENO, "shmkit: ", 8) >= 0 && write(STDERR_FILENO, running_cmd, n) >= 0 &&
	    write(STDERR_FILENO, why, sizeof(why) - 1) >= 0) {
	}
	_exit(CLI_FAIL);
}

int main(int argc, char **argv)
{
	if (hold_closed_std_fds() < 0)
		return CLI_FAIL;
	if (argc > 1)
		running_cmd = argv[1];
	struct sigaction bus = { .sa_handler = on_sigbus };
	sigaction(SIGBUS, &bus, NULL);
	/* Past RLIMIT_FSIZE (ulimit -f) the kernel sends SIGXFSZ, whose default
	 * action kills us in the middle of a create, leaving an empty file that
	 * blocks the name. Ignored, ftruncate and fallocate fail with EFBIG
	 * instead, and the create removes what it made and says why. */
	signal(SIGXFSZ, SIG_IGN);
	int rc = cli_run(argc, argv);
	/* a failed command has said why; a write error then is not news */
	return rc == CLI_OK ? stdout_written(argc > 1 ? argv[1] : "shmkit") : rc;
}
