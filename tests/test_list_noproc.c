/* SPDX-License-Identifier: MIT */
/* Where /proc is not mounted (a chroot, a mount namespace that unmounted it;
 * the directory is there, empty), nobody's mappings can be seen and
 * /proc/sysvipc/shm is missing: shmkit_list fails with -ENOENT and a detail
 * naming /proc, rather than return a list that looks whole (SysV segments
 * silently left out, every POSIX segment "attached 0" though this very
 * process maps it); shmkit_stat still answers, with the attach count
 * unknown (-1), not 0. Needs root (a private mount namespace); skips (77)
 * otherwise. */
#include "test.h"

#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

static int count_one(const struct shmkit_stat *st, void *arg)
{
	(void)st;
	++*(int *)arg;
	return 0;
}

static int without_proc(void *arg)
{
	const char *uri = arg;
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    umount2("/proc", MNT_DETACH) < 0)
		return 77;
	if (access("/proc/self/stat", F_OK) == 0)
		return 77; /* something else is mounted under it */
	struct shmkit_seg *seg; /* we map it: "attached 0" would be a lie */
	CHECK_OK(shmkit_seg_open(&seg, uri, 0, 0, 0));
	int n = 0;
	CHECK_RET(shmkit_list(count_one, &n), -ENOENT);
	CHECK(strstr(shmkit_last_error_detail(), "/proc") != NULL);
	CHECK(n == 0);
	struct shmkit_stat st;
	CHECK_OK(shmkit_stat(uri, &st));
	CHECK(st.attach_count == -1);
	CHECK(st.size == 4096);
	CHECK_OK(shmkit_seg_close(seg));
	return 0;
}

int main(void)
{
	if (!test_is_root())
		test_skip("needs root: a private mount namespace without /proc");
	const char *uri = test_uri("posix", "noproc");
	struct shmkit_seg *seg;
	CHECK_OK(shmkit_seg_open(&seg, uri, 4096, SHMKIT_CREATE | SHMKIT_EXCL, 0600));
	CHECK_OK(shmkit_seg_close(seg));
	int rc = test_wait(test_fork(without_proc, (void *)uri));
	CHECK_OK(shmkit_remove(uri));
	if (rc == 77)
		test_skip("no private mount namespace here, or /proc cannot be unmounted in it");
	CHECK_RET(rc, 0);
	return test_done();
}
