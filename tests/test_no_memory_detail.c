/* SPDX-License-Identifier: MIT */
/* A handle that cannot be allocated (-ENOMEM) names the limits that make
 * malloc fail: RLIMIT_AS and RLIMIT_DATA, and a strict commit limit
 * (vm.overcommit_memory=2). It named the cgroup's memory.max, which never
 * fails an allocation (the cgroup's OOM killer acts at a page fault
 * instead), and not RLIMIT_DATA. (test_failure_paths fails each call under
 * RLIMIT_AS.) */
#include "test.h"

#include "internal.h"

int main(void)
{
	CHECK_RET(shmkit__no_memory("a handle"), -ENOMEM);
	const char *d = shmkit_last_error_detail();
	CHECK(strstr(d, "a handle") != NULL);
	CHECK(strstr(d, "RLIMIT_AS") != NULL);
	CHECK(strstr(d, "RLIMIT_DATA") != NULL);
	CHECK(strstr(d, "vm.overcommit_memory") != NULL);
	CHECK(strstr(d, "memory.max") == NULL);
	return test_done();
}
