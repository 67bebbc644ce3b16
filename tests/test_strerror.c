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
	return test_done();
}
