/* SPDX-License-Identifier: MIT */
/* shmkit_strerror covers the library's error vocabulary and never returns NULL. */
#include "test.h"

#include <limits.h>

int main(void)
{
	int errs[] = { 0, -EEXIST, -ENOENT, -EACCES, -EINVAL, -ENAMETOOLONG, -ENOSPC, -ENOMEM,
		       -EBADMSG, -EPROTO, -EAGAIN, -ETIMEDOUT, -EMSGSIZE, -EOWNERDEAD, -EPIPE, -99999 };
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		const char *s = shmkit_strerror(errs[i]);
		CHECK(s != NULL && s[0] != '\0');
		CHECK(strcmp(s, shmkit_strerror(-errs[i])) == 0);
	}
	CHECK(strstr(shmkit_strerror(-EBADMSG), "shmkit") != NULL);
	/* any int, as an unchecked return value may be: -INT_MIN overflowed */
	CHECK(shmkit_strerror(INT_MIN) != NULL && shmkit_strerror(INT_MAX) != NULL);
	CHECK(strcmp(shmkit_version(), SHMKIT_VERSION_STRING) == 0);

	/* The detail names the last failed call, never an earlier one: a
	 * create refused for its options said the earlier remove's reason. */
	CHECK_RET(shmkit_remove("posix:/shmkit-test-no-such-segment"), -ENOENT);
	CHECK(strstr(shmkit_last_error_detail(), "no-such-segment") != NULL);
	struct shmkit_topic_opts bad = { .slot_size = 0, .slots = 4 };
	CHECK_RET(shmkit_topic_create("posix:/shmkit-test-never", &bad), -EINVAL);
	CHECK(strstr(shmkit_last_error_detail(), "no-such-segment") == NULL);
	CHECK_RET(shmkit_remove("posix:/shmkit-test-no-such-segment"), -ENOENT);
	struct shmkit_heap *h;
	CHECK_RET(shmkit_heap_open(&h, NULL), -EINVAL);
	CHECK(strstr(shmkit_last_error_detail(), "no-such-segment") == NULL);
	return test_done();
}
