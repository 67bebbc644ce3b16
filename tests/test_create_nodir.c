/* SPDX-License-Identifier: MIT */
/* A create with no directory to create in says which directory is missing,
 * not only "No such file or directory" (which reads as if the segment
 * should have existed): a file: path whose parent does not exist, and, as
 * root in a private mount namespace with a fresh /dev (a container or chroot
 * without /dev/shm), a posix: create names /dev/shm and what to mount. The
 * create, object creates included, still fails with -ENOENT. */
#include "test.h"

#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

static int without_dev_shm(void *arg)
{
	(void)arg;
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", "/dev", "tmpfs", MS_NOSUID, "size=64k") < 0)
		return 77;
	struct shmkit_seg *seg;
	struct shmkit_queue *q;
	struct shmkit_queue_opts o = { .capacity = 4, .max_msg = 16 };
	CHECK_RET(shmkit_seg_open(&seg, "posix:/shmkit-test-nodir", 4096,
				  SHMKIT_CREATE | SHMKIT_EXCL, 0600), -ENOENT);
	CHECK(strstr(shmkit_last_error_detail(), "/dev/shm does not exist") != NULL);
	CHECK_RET(shmkit_queue_create(&q, "posix:/shmkit-test-nodir", &o), -ENOENT);
	CHECK(strstr(shmkit_last_error_detail(), "/dev/shm does not exist") != NULL);
	return 0;
}

int main(void)
{
	char uri[128];
	struct shmkit_seg *seg;
	snprintf(uri, sizeof(uri), "file:/tmp/shmkit-test-%d-nodir/seg", (int)getpid());
	CHECK_RET(shmkit_seg_open(&seg, uri, 4096, SHMKIT_CREATE | SHMKIT_EXCL, 0600), -ENOENT);
	char want[128];
	snprintf(want, sizeof(want), "directory /tmp/shmkit-test-%d-nodir does not exist",
		 (int)getpid());
	CHECK(strstr(shmkit_last_error_detail(), want) != NULL);
	/* an open of a missing file in an existing directory is no such case */
	snprintf(uri, sizeof(uri), "file:/tmp/shmkit-test-%d-nodir-missing", (int)getpid());
	CHECK_RET(shmkit_seg_open(&seg, uri, 0, 0, 0), -ENOENT);
	CHECK(strstr(shmkit_last_error_detail(), "does not exist") == NULL);

	if (test_is_root()) {
		int rc = test_wait(test_fork(without_dev_shm, NULL));
		if (rc == 77)
			printf("note: no private mount namespace here; /dev/shm missing not tried\n");
		else
			CHECK_RET(rc, 0);
	}
	return test_done();
}
