/* SPDX-License-Identifier: MIT */
/* The take-over of an empty file whose creator was killed inside its
 * sizing (test_seg_stranded.c) by open-or-create runs at once, in every
 * order the pause points force: none may fail where its caller asked to
 * open or create, and all must open the same object (each counts itself in
 * it); a file made anew under the name meanwhile, or given a second name,
 * or a creator still alive in its sizing, is never taken; a taker killed
 * -9 half-way leaves the take-over to the next. */
/* TIMEOUT: 180 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

/* exec'd: open or create URI (as the README's writer), then count itself
 * in the object's first 8 bytes; exits 0 once it has, else 1 (says why) */
static int role_opener(int argc, char **argv)
{
	struct shmkit_seg *seg;
	if (argc < 1)
		return 2;
	int rc = shmkit_seg_open(&seg, argv[0], SIZE, SHMKIT_CREATE, 0600);
	if (rc < 0) {
		fprintf(stderr, "opener %d: %s (%s)\n", (int)getpid(), strerror(-rc),
			shmkit_last_error_detail());
		return 1;
	}
	int ok = shmkit_seg_size(seg) == SIZE;
	atomic_fetch_add((_Atomic uint64_t *)shmkit_seg_addr(seg), 1);
	shmkit_seg_close(seg);
	return ok ? 0 : 1;
}

static const struct test_role roles[] = {
    {"creator", role_creator},
    {"opener", role_opener},
    {NULL, NULL},
};

static void path_of(const char *scheme, const char *uri, char *path, size_t cap)
{
	snprintf(path, cap, "%s%s", strcmp(scheme, "posix") == 0 ? "/dev/shm" : "",
		 strchr(uri, ':') + 1);
}

/* How many openers counted themselves in the object under uri now (-1:
 * none there). Openers that mapped another object (one whose name was taken
 * from under them) are missing. */
static long opened(const char *uri)
{
	struct shmkit_seg *seg;
	if (shmkit_seg_open(&seg, uri, 0, SHMKIT_RDONLY, 0) < 0)
		return -1;
	long n = (long)atomic_load((_Atomic uint64_t *)shmkit_seg_addr(seg));
	shmkit_seg_close(seg);
	return n;
}

/* A creator killed inside its sizing: the empty file it leaves at uri. */
static void abandon(const char *scheme, const char *uri, char *path, size_t cap)
{
	struct stat sb;
	const char *args[] = {uri, NULL};

	path_of(scheme, uri, path, cap);
	CHECK_RET(test_kill_stopped(test_spawn_paused("seg.create.sizing", "creator", args)),
		  128 + SIGKILL);
	CHECK(stat(path, &sb) == 0 && sb.st_size == 0);
}

/* Waits for pid to exit, continuing it each time it stops at a pause point
 * it passes again. */
static int wait_continuing(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, WUNTRACED) == pid && WIFSTOPPED(st))
		kill(pid, SIGCONT);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* 0 while pid runs on (checked for up to ms), else how it ended. */
static int still_running(pid_t pid, int ms)
{
	int st;

	for (int i = 0; i < ms; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? 1000 + WEXITSTATUS(st) : 2000 + WTERMSIG(st);
		usleep(1000);
	}
	return 0;
}

/* Two open-or-create runs at once find the empty file a killed creator
 * left: one takes it over (stopped holding its name lock, before its
 * unlink), the other judged the file held (by the taker's own descriptor)
 * and got -EAGAIN ("exists but is empty"), though its caller asked to open
 * or create and the name was about to be free. It must wait for the
 * take-over and open what that made: one object, both counted in it. */
static void test_racing_takeover(const char *scheme)
{
	const char *uri = test_uri(scheme, "raced");
	const char *args[] = {uri, NULL};
	char path[4096];
	struct stat sb;

	abandon(scheme, uri, path, sizeof(path));
	pid_t taker = test_spawn_paused("unlink.locked", "opener", args);
	pid_t second = test_spawn_self("opener", args);
	/* its wait for a creator (1 s), its look at the name, and on: it
	 * must not give up while the taker holds the name */
	int early = still_running(second, 2500);
	CHECK_RET(early, 0);
	kill(taker, SIGCONT);
	CHECK_RET(test_wait(taker), 0);
	if (!early)
		CHECK_RET(test_wait(second), 0);
	CHECK(stat(path, &sb) == 0 && sb.st_size == SIZE);
	CHECK_RET(opened(uri), 2);
	CHECK_OK(shmkit_remove(uri));
}

/* The second opener stopped between its wait on the abandoned file and its
 * take-over (seg.open.empty) while the first removes that file and makes a
 * new one, stopped inside its sizing: the second must not judge the new
 * file (its creator at work) and give up, but wait for it as for any
 * creator, and open it. */
static void test_takeover_new_file(const char *scheme)
{
	const char *uri = test_uri(scheme, "renewed");
	const char *args[] = {uri, NULL};
	char path[4096];
	struct stat sb;

	abandon(scheme, uri, path, sizeof(path));
	pid_t taker = test_spawn_paused("unlink.locked,seg.create.sizing", "opener", args);
	pid_t second = test_spawn_paused("seg.open.empty", "opener", args);
	kill(taker, SIGCONT); /* removes the file, makes a new one */
	CHECK_OK(test_wait_stopped(taker, 10ll * 1000000000));
	kill(second, SIGCONT);
	usleep(300000);
	kill(taker, SIGCONT);
	CHECK_RET(test_wait(taker), 0);
	CHECK_RET(wait_continuing(second), 0);
	CHECK(stat(path, &sb) == 0 && sb.st_size == SIZE);
	CHECK_RET(opened(uri), 2);
	CHECK_OK(shmkit_remove(uri));
}

/* An opener judged the empty file abandoned and is stopped before its
 * unlink (abandoned.judged); meanwhile the name is removed and another
 * open-or-create makes a new file there, stopped inside its sizing. On
 * ext4 (file:) the new file gets the old one's inode number at once, and
 * the take-over compared device and inode only: it unlinked the live
 * creator's new file, which then sized and mapped a file with no name,
 * while the taker made a third: two objects, one lost. */
static void test_judged_then_replaced(const char *scheme)
{
	const char *uri = test_uri(scheme, "replaced");
	const char *args[] = {uri, NULL};
	char path[4096];
	struct stat sb;

	abandon(scheme, uri, path, sizeof(path));
	pid_t taker = test_spawn_paused("abandoned.judged", "opener", args);
	CHECK(unlink(path) == 0);
	pid_t maker = test_spawn_paused("seg.create.sizing", "opener", args);
	kill(taker, SIGCONT);
	usleep(300000);
	kill(maker, SIGCONT);
	CHECK_RET(test_wait(maker), 0);
	CHECK_RET(wait_continuing(taker), 0);
	CHECK(stat(path, &sb) == 0 && sb.st_size == SIZE);
	CHECK_RET(opened(uri), 2);
	CHECK_OK(shmkit_remove(uri));
}

/* The one-link (and owner) test of the take-over, made before the slow
 * walk of /proc, was not made again under the name lock: a second name
 * given to the file meanwhile (a user keeping it) did not stop the
 * unlink. */
static void test_linked_after_judged(const char *scheme)
{
	const char *uri = test_uri(scheme, "relinked");
	const char *args[] = {uri, NULL};
	char path[4096], link2[4200];
	struct stat before, after;

	abandon(scheme, uri, path, sizeof(path));
	snprintf(link2, sizeof(link2), "%s.link", path);
	CHECK(stat(path, &before) == 0);
	pid_t taker = test_spawn_paused("abandoned.judged", "opener", args);
	CHECK(link(path, link2) == 0);
	kill(taker, SIGCONT);
	CHECK_RET(wait_continuing(taker), 1); /* -EAGAIN: not ours alone */
	CHECK(stat(path, &after) == 0 && after.st_ino == before.st_ino && after.st_nlink == 2);
	CHECK(unlink(link2) == 0);
	CHECK(unlink(path) == 0);
}

/* Two (then three) open-or-create runs started together on an abandoned
 * file, no pause: every one opens, all the same object. */
static void test_racing_openers(const char *scheme, int n)
{
	for (int round = 0; round < 1; round++) {
		const char *uri = test_uri(scheme, "herd");
		const char *args[] = {uri, NULL};
		char path[4096];
		pid_t pids[4];

		abandon(scheme, uri, path, sizeof(path));
		for (int i = 0; i < n; i++)
			pids[i] = test_spawn_self("opener", args);
		for (int i = 0; i < n; i++)
			CHECK_RET(test_wait(pids[i]), 0);
		CHECK_RET(opened(uri), n);
		CHECK_OK(shmkit_remove(uri));
	}
}

/* A creator alive inside its sizing (stopped there) is no abandoned file:
 * an open-or-create waits for it, then gets -EAGAIN as before, and its
 * file stays; the creator goes on and makes its object. */
static void test_live_creator_kept(const char *scheme)
{
	const char *uri = test_uri(scheme, "alive");
	const char *args[] = {uri, NULL};
	char path[4096];
	struct stat before, after;

	path_of(scheme, uri, path, sizeof(path));
	pid_t creator = test_spawn_paused("seg.create.sizing", "creator", args);
	CHECK(stat(path, &before) == 0 && before.st_size == 0);
	pid_t opener = test_spawn_self("opener", args);
	CHECK_RET(test_wait(opener), 1);
	CHECK(stat(path, &after) == 0 && after.st_ino == before.st_ino);
	kill(creator, SIGCONT);
	CHECK_RET(test_wait(creator), 0);
	CHECK(stat(path, &after) == 0 && after.st_ino == before.st_ino && after.st_size == SIZE);
	CHECK_OK(shmkit_remove(uri));
}

/* A taker killed -9 at `point` of its take-over of the abandoned file:
 * after its wait (seg.open.empty), after judging the file abandoned
 * (abandoned.judged), or holding the name lock (unlink.locked): the next
 * open-or-create takes over after its usual wait for a creator (the lock
 * went with the killed taker), and is the only one counted in the object. */
static void test_taker_killed(const char *scheme, const char *point)
{
	const char *uri = test_uri(scheme, "h37c-taker-killed");
	const char *args[] = {uri, NULL};
	char path[4096];
	struct stat sb;

	abandon(scheme, uri, path, sizeof(path));
	CHECK_RET(test_kill_stopped(test_spawn_paused(point, "opener", args)), 128 + SIGKILL);
	CHECK_RET(test_wait(test_spawn_self("opener", args)), 0);
	CHECK(stat(path, &sb) == 0 && sb.st_size == SIZE);
	CHECK_RET(opened(uri), 1);
	CHECK_OK(shmkit_remove(uri));
}

int main(int argc, char **argv)
{
	test_child_dispatch(argc, argv, roles);
	const char *schemes[] = {"posix", "file"};
	for (int i = 0; i < 2; i++) {
		test_racing_takeover(schemes[i]);
		test_takeover_new_file(schemes[i]);
		test_judged_then_replaced(schemes[i]);
		test_linked_after_judged(schemes[i]);
		test_racing_openers(schemes[i], 2);
		test_racing_openers(schemes[i], 3);
		test_live_creator_kept(schemes[i]);
		test_taker_killed(schemes[i], "seg.open.empty");
		test_taker_killed(schemes[i], "abandoned.judged");
		test_taker_killed(schemes[i], "unlink.locked");
	}
	return test_done();
}
