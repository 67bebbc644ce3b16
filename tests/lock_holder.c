/* SPDX-License-Identifier: MIT */
/* lock_holder map|heap URI: opens the map or heap at URI, takes its lock,
 * prints "locked" and stops itself (SIGSTOP) holding it; continued (SIGCONT)
 * it lets go and exits 0. The stopped lock holder of the shell and Python
 * tests (tests/test_lock_timeout_cli.sh, tests/python/test_map_lock.py),
 * which cannot take a lock from outside the library. Exit 2: bad usage,
 * 1: it could not open or lock. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <shmkit.h>

#include "heap_internal.h"

int main(int argc, char **argv)
{
	struct shmkit_map *m = NULL;
	struct shmkit_heap *h = NULL;
	int r;

	if (argc != 3 || (strcmp(argv[1], "map") != 0 && strcmp(argv[1], "heap") != 0)) {
		fprintf(stderr, "usage: lock_holder map|heap URI\n");
		return 2;
	}
	if (strcmp(argv[1], "map") == 0) {
		r = shmkit_map_open(&m, argv[2]);
		h = r == 0 ? shmkit_map_heap(m) : NULL;
	} else {
		r = shmkit_heap_open(&h, argv[2]);
	}
	if (r == 0)
		r = shmkit__heap_lock(h);
	if (r < 0) {
		fprintf(stderr, "lock_holder %s: %s\n", argv[2], shmkit_strerror(r));
		return 1;
	}
	printf("locked\n");
	fflush(stdout);
	raise(SIGSTOP);
	shmkit__heap_unlock(h);
	if (m != NULL)
		return shmkit_map_close(m) < 0;
	return shmkit_heap_close(h) < 0;
}
