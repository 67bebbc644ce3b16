/* SPDX-License-Identifier: MIT */
/* Root only (else exit 77): another user's 0600 segment is -EACCES for
 * every backend with a name; a full tmpfs is -ENOSPC at create, never a
 * SIGBUS later, and leaves nothing behind (posix: a 1 MiB tmpfs over
 * /dev/shm in a private mount namespace; file: one on a mkdtemp dir). */
#include <dirent.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

#define NOBODY 65534

static int become_nobody(void)
{
	return setgroups(0, NULL) == 0 && setgid(NOBODY) == 0 && setuid(NOBODY) == 0 ? 0 : -1;
}

static int child_nobody_opens(void *arg)
{
	const char *const *uris = arg;
	struct shmkit_seg *seg;
	struct shmkit_stat st;
	if (become_nobody() < 0)
		return 77;
	for (int i = 0; uris[i]; i++) {
		CHECK_RET(shmkit_seg_open(&seg, uris[i], 0, 0, 0), -EACCES);
		CHECK_RET(shmkit_seg_open(&seg, uris[i], 0, SHMKIT_RDONLY, 0), -EACCES);
		CHECK_RET(shmkit_seg_open(&seg, uris[i], 4096, SHMKIT_CREATE, 0600), -EACCES);
		CHECK_RET(shmkit_seg_open(&seg, uris[i], 4096, SHMKIT_CREATE | SHMKIT_EXCL, 0600),
			  -EEXIST);
		CHECK(shmkit_remove(uris[i]) == -EACCES || shmkit_remove(uris[i]) == -EPERM);
	}
	/* IPC_STAT needs read permission; /proc/sysvipc/shm shows the row to
	 * anyone (as ipcs and shmkit ls do): stat reads that, changing nothing */
	CHECK_OK(shmkit_stat(uris[1], &st));
	CHECK(st.uid == 0 && (st.mode & 0777) == 0600 && st.size == 4096);
	return 0;
}

static void check_eacces(void)
{
	const char *uris[4] = { test_uri("posix", "acc"), test_uri("sysv", "acc"),
				test_uri("file", "acc"), NULL };
	struct shmkit_seg *segs[3];
	for (int i = 0; i < 3; i++) {
		CHECK_OK(shmkit_seg_open(&segs[i], uris[i], 4096, SHMKIT_CREATE | SHMKIT_EXCL, 0600));
		strcpy(shmkit_seg_addr(segs[i]), "root's");
	}
	int rc = test_wait(test_fork(child_nobody_opens, uris));
	CHECK(rc == 0);
	for (int i = 0; i < 3; i++) {
		CHECK(strcmp(shmkit_seg_addr(segs[i]), "root's") == 0);
		CHECK_OK(shmkit_seg_close(segs[i]));
		CHECK_OK(shmkit_remove(uris[i]));
	}
}

static int dir_entries(const char *dir, const char *needle)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)) != NULL)
		n += strstr(e->d_name, needle) != NULL;
	if (d)
		closedir(d);
	return n;
}

/* In a private mount namespace, with a 1 MiB tmpfs at dir. */
static int private_small_tmpfs(const char *dir)
{
	if (unshare(CLONE_NEWNS) < 0)
		return -1;
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0)
		return -1;
	if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=1777") < 0)
		return -1;
	return 0;
}

/* Fills a 1 MiB tmpfs through uris; every failure must be -ENOSPC at create. */
static void fill(const char *big, const char *half, const char *more)
{
	struct shmkit_seg *seg, *h;
	CHECK_RET(shmkit_seg_open(&seg, big, 2 << 20, SHMKIT_CREATE | SHMKIT_EXCL, 0600), -ENOSPC);
	CHECK(strstr(shmkit_last_error_detail(), "space") != NULL);
	CHECK_RET(shmkit_seg_open(&seg, big, 0, 0, 0), -ENOENT); /* nothing half-made left */
	CHECK_OK(shmkit_seg_open(&h, half, 600 << 10, SHMKIT_CREATE | SHMKIT_EXCL, 0600));
	memset(shmkit_seg_addr(h), 1, 600 << 10); /* all reserved: no SIGBUS */
	CHECK_RET(shmkit_seg_open(&seg, more, 600 << 10, SHMKIT_CREATE, 0600), -ENOSPC);
	CHECK_RET(shmkit_seg_open(&seg, more, 0, 0, 0), -ENOENT);
	CHECK_OK(shmkit_seg_close(h));
	CHECK_OK(shmkit_remove(half));
}

static int child_posix_full(void *arg)
{
	(void)arg;
	signal(SIGBUS, SIG_DFL);
	if (private_small_tmpfs("/dev/shm") < 0)
		return 77;
	fill("posix:/shmkit-full-big", "posix:/shmkit-full-half", "posix:/shmkit-full-more");
	CHECK(dir_entries("/dev/shm", "shmkit-full") == 0);
	return 0;
}

static int child_file_full(void *arg)
{
	const char *dir = arg;
	char big[600], half[600], more[600];
	signal(SIGBUS, SIG_DFL);
	if (private_small_tmpfs(dir) < 0)
		return 77;
	snprintf(big, sizeof(big), "file:%s/big", dir);
	snprintf(half, sizeof(half), "file:%s/half", dir);
	snprintf(more, sizeof(more), "file:%s/more", dir);
	fill(big, half, more);
	CHECK(dir_entries(dir, "") == 2); /* "." and ".." */
	CHECK(umount(dir) == 0);
	return 0;
}

int main(void)
{
	if (!test_is_root())
		test_skip("needs root (setuid to nobody, mounting a small tmpfs)");
	check_eacces();

	int skipped = 0;
	int rc = test_wait(test_fork(child_posix_full, NULL));
	if (rc == 77) {
		printf("note: cannot mount a private tmpfs over /dev/shm here\n");
		skipped++;
	} else {
		CHECK(rc == 0);
	}
	char dir[] = "/tmp/shmkit-test-full-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	rc = test_wait(test_fork(child_file_full, dir));
	if (rc == 77) {
		printf("note: cannot mount a private tmpfs here\n");
		skipped++;
	} else {
		CHECK(rc == 0);
	}
	CHECK(dir_entries(dir, "") == 2);
	CHECK(rmdir(dir) == 0);
	if (skipped == 2)
		test_skip("no mount namespace: full-tmpfs cases not run (EACCES cases passed)");
	return test_done();
}
