/* SPDX-License-Identifier: MIT */
/* A create past RLIMIT_FSIZE (ulimit -f) in a program that left SIGXFSZ at
 * its default (which kills): the library asks the limit before it grows the
 * file, so each create is -EFBIG with a detail naming "ulimit -f", the
 * process lives, and no empty posix: or file: name is left behind (it used
 * to die of SIGXFSZ inside posix_fallocate, exit 153, the name left empty).
 * A create within the limit still works. */
#include "test.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

struct uris {
	const char *posix, *file;
	char file_path[256];
};

static int child(void *arg)
{
	struct uris *u = arg;
	struct rlimit rl = { 100 << 10, 100 << 10 };
	signal(SIGXFSZ, SIG_DFL);
	if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
		return 77;
	const char *uris[] = { u->posix, u->file, "memfd:fsize" };
	struct shmkit_queue_opts o = { .capacity = 1024, .max_msg = 1024 };
	for (int i = 0; i < 3; i++) {
		struct shmkit_queue *q;
		struct shmkit_seg *seg;
		struct shmkit_map *m;
		CHECK_RET(shmkit_queue_create(&q, uris[i], &o), -EFBIG);
		CHECK(strstr(shmkit_last_error_detail(), "ulimit -f") != NULL);
		CHECK_RET(shmkit_seg_open(&seg, uris[i], 1 << 20, SHMKIT_CREATE | SHMKIT_EXCL, 0600),
			  -EFBIG);
		CHECK_RET(shmkit_map_create(&m, uris[i], 1 << 20, 0600), -EFBIG);
		/* within the limit */
		CHECK_OK(shmkit_seg_open(&seg, uris[i], 64 << 10, SHMKIT_CREATE | SHMKIT_EXCL, 0600));
		CHECK_OK(shmkit_seg_close(seg));
		if (i < 2)
			CHECK_OK(shmkit_remove(uris[i]));
	}
	return 0;
}

int main(void)
{
	struct uris u;
	u.posix = test_uri("posix", "fsize");
	u.file = test_uri("file", "fsize");
	snprintf(u.file_path, sizeof(u.file_path), "%s", u.file + 5);
	int rc = test_wait(test_fork(child, &u));
	if (rc == 77)
		test_skip("cannot set RLIMIT_FSIZE");
	CHECK_RET(rc, 0);
	struct stat sb;
	CHECK(lstat(u.file_path, &sb) < 0 && errno == ENOENT);
	struct shmkit_stat st;
	CHECK_RET(shmkit_stat(u.posix, &st), -ENOENT);
	return test_done();
}
