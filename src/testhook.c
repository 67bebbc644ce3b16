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

void shmkit__test_point(const char *name)
{
	/* Read once: the environment is inherited across fork and exec, and a
	 * getenv() per call would tax hot paths in test builds. */
	static const char *want;

	if (shmkit__test_armed < 0) {
		want = getenv("SHMKIT_TEST_PAUSE");
		shmkit__test_armed = want != NULL;
	}
	if (want && strcmp(want, name) == 0)
		raise(SIGSTOP);
}
