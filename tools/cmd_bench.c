/* SPDX-License-Identifier: MIT */
/* shmkit bench: run the benchmark program, shmkit-bench, with the same arguments.
 * It is looked for next to this binary (installed), in ../bench/ relative to
 * it (the build tree), then in PATH. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define BENCH_NAME "shmkit-bench"

/* Directory of the running shmkit binary into dir (no trailing slash). */
static int self_dir(char *dir, size_t cap)
{
	ssize_t n = readlink("/proc/self/exe", dir, cap - 1);
	char *slash;

	if (n <= 0)
		return -errno;
	dir[n] = 0;
	slash = strrchr(dir, '/');
	if (!slash)
		return -ENOENT;
	*slash = 0;
	return 0;
}

CLI_COMMAND(cmd_bench)
{
	static const char *const rel[] = { "/" BENCH_NAME, "/../bench/" BENCH_NAME,
					   "/bench/" BENCH_NAME };
	char dir[PATH_MAX], path[PATH_MAX + 64];

	(void)argc;
	argv[0] = (char *)BENCH_NAME;
	if (self_dir(dir, sizeof(dir)) == 0) {
		for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			snprintf(path, sizeof(path), "%s%s", dir, rel[i]);
			if (access(path, X_OK) == 0) {
				execv(path, argv);
				return cli_fail("bench", path, -errno);
			}
		}
	}
	execvp(BENCH_NAME, argv);
	return cli_fail_msg("bench", BENCH_NAME,
			    "not found next to shmkit, in ../bench/ or in PATH (build with "
			    "SHMKIT_BUILD_BENCH=ON, or run `make bench`)");
}
