/* SPDX-License-Identifier: MIT */
/* Test-only pause points (see SHMKIT__TEST_POINT in internal.h). Built only
 * into the tests' copy of the library (CMake: shmkit_test_objects), never
 * into the installed library, the CLI or the benchmarks. */
#include "internal.h"

#ifndef SHMKIT_TEST_HOOKS
#error "testhook.c belongs to the test-only library copy (SHMKIT_TEST_HOOKS)"
#endif

#include <signal.h>
#include <stdlib.h>
#include <string.h>

int shmkit__test_armed = -1;

/* Is name one of the comma-separated names in want (a child may stop at
 * several points, one after the other)? */
static int listed(const char *want, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = want; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return 1;
	return 0;
}

void shmkit__test_point(const char *name)
{
	/* Read once: the environment is inherited across fork and exec, and a
	 * getenv() per call would tax hot paths in test builds. */
	static const char *want;

	if (shmkit__test_armed < 0) {
		want = getenv("SHMKIT_TEST_PAUSE");
		shmkit__test_armed = want != NULL;
	}
	if (want && listed(want, name))
		raise(SIGSTOP);
}
