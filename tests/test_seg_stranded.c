/* SPDX-License-Identifier: MIT */
/* A plain segment's creator killed after its O_EXCL open and before its file
 * had a size (inside posix_fallocate, the widest window of a create: long
 * for a large segment) leaves an empty file that names nobody. The README's
 * writer opens with SHMKIT_CREATE (open or create): every later run of it
 * got -EAGAIN ("segment exists but is empty (its creator has not sized it
 * yet)") for good, until someone removed the name by hand; a file: one
 * survives reboots too. Found by a helper following the README's writer
 * with kill -9 (round 26). Empty and held by nobody, the name is taken over
 * as a managed create takes it (abandoned.c); held open by a live process,
 * or asked for exclusively (SHMKIT_EXCL), it is not. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

#define SIZE (1 << 20)

/* exec'd: create URI exclusively (stopped at seg.create.sizing by the test) */
static int role_creator(int argc, char **argv)
{
	struct shmkit_seg *seg;
	if (argc < 1)
		return 2;
	CHECK_OK(shmkit_seg_open(&seg, argv[0], SIZE, SHMKIT_CREATE | SHMKIT_EXCL, 0600));
	return 0;
}

static const struct test_role roles[] = {
    {"creator", role_creator},
    {NULL, NULL},
};

static int hold_open(void *arg)
{
	int fd = open(arg, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	pause();
	return 0;
}

static void path_of(const char *scheme, const char *uri, char *path, size_t cap)
{
	snprintf(path, cap, "%s%s", strcmp(scheme, "posix") == 0 ? "/dev/shm" : "",
		 strchr(uri, ':') + 1);
}

static void test_killed_creator(const char *scheme)
{
	const char *uri = test_uri(scheme, "stranded");
	struct shmkit_seg *seg;
	char path[4096];
	struct stat sb;

	path_of(scheme, uri, path, sizeof(path));
	const char *args[] = {uri, NULL};
	CHECK_RET(test_kill_stopped(test_spawn_paused("seg.create.sizing", "creator", args)),
		  128 + SIGKILL);
	CHECK(stat(path, &sb) == 0 && sb.st_size == 0);
	/* held open by a live process: maybe a creator still at work */
	pid_t holder = test_fork(hold_open, path);
	usleep(200000);
	CHECK_RET(shmkit_seg_open(&seg, uri, SIZE, SHMKIT_CREATE, 0600), -EAGAIN);
	kill(holder, SIGKILL);
	test_wait(holder);
	/* exclusive: an existing name is -EEXIST, taken over or not */
	CHECK_RET(shmkit_seg_open(&seg, uri, SIZE, SHMKIT_CREATE | SHMKIT_EXCL, 0600), -EEXIST);
	/* open or create, as the README's writer: the name is taken over */
	CHECK_RET(shmkit_seg_open(&seg, uri, SIZE, SHMKIT_CREATE, 0600), 0);
	if (seg) {
		CHECK(shmkit_seg_size(seg) == SIZE);
		strcpy(shmkit_seg_addr(seg), "hello, world");
		CHECK_OK(shmkit_seg_close(seg));
	}
	CHECK_RET(shmkit_seg_open(&seg, uri, 0, SHMKIT_RDONLY, 0), 0);
	if (seg) {
		CHECK(strcmp(shmkit_seg_addr(seg), "hello, world") == 0);
		CHECK_OK(shmkit_seg_close(seg));
	}
	CHECK_OK(shmkit_remove(uri));
}

/* An empty file that is not ours alone (a second link) stays as it is. */
static void test_empty_linked(const char *scheme)
{
	const char *uri = test_uri(scheme, "linked");
	struct shmkit_seg *seg;
	char path[4096], link2[4200];
	struct stat before, after;

	path_of(scheme, uri, path, sizeof(path));
	snprintf(link2, sizeof(link2), "%s.link", path);
	int fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0664);
	CHECK(fd >= 0);
	close(fd);
	CHECK(link(path, link2) == 0);
	CHECK(stat(path, &before) == 0);
	CHECK_RET(shmkit_seg_open(&seg, uri, SIZE, SHMKIT_CREATE, 0600), -EAGAIN);
	CHECK(stat(path, &after) == 0 && after.st_ino == before.st_ino && after.st_nlink == 2);
	CHECK(unlink(link2) == 0);
	CHECK(unlink(path) == 0);
}

int main(int argc, char **argv)
{
	test_child_dispatch(argc, argv, roles);
	test_killed_creator("posix");
	test_killed_creator("file");
	test_empty_linked("posix");
	test_empty_linked("file");
	return test_done();
}
