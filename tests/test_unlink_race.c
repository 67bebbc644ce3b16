/* SPDX-License-Identifier: MIT */
/* A remover that judged a file, then unlinked its name, took with it what a
 * racing remove-and-create had put under that name meanwhile: a create
 * taking over an abandoned empty file, or gc removing an orphaned object,
 * deleted a new object with its data. Each remover now holds the file's
 * name lock from its last look to the unlink (src/backend/unlink.c), and
 * unlinks only the file it judged; here each is stopped there while the
 * name is replaced: shmkit_remove waits for the lock and gives up (-EBUSY),
 * so the racing user removes it as rm(1) would, and creates again. */
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

#define SIZE 4096
static const char precious[] = "precious data";

/* argv: uri -> creates an owned raw object and exits without closing. */
static int role_owned_creator(int argc, char **argv)
{
	struct shmkit_raw *r;
	return argc >= 1 && shmkit_raw_create(&r, argv[0], SIZE, 0600) == 0 ? 0 : 1;
}

/* argv: uri -> 0 created (took an abandoned empty file over), 1 -EEXIST. */
static int role_take_over(int argc, char **argv)
{
	struct shmkit_raw *r;
	if (argc < 1)
		return 3;
	int rc = shmkit_raw_create(&r, argv[0], SIZE, 0600);
	if (rc == 0)
		return shmkit_raw_close(r) == 0 ? 0 : 3;
	return rc == -EEXIST ? 1 : 2;
}

/* argv: uri -> gc limited to it; exits with how many it removed. */
static int role_gc(int argc, char **argv)
{
	if (argc < 1)
		return 100;
	int n = shmkit_gc_prefix(0, argv[0], NULL, NULL);
	return n < 0 ? 100 : n;
}

/* argv: uri -> shmkit_remove: 0 removed, 1 -ENOENT, 2 other. */
static int role_remove(int argc, char **argv)
{
	if (argc < 1)
		return 3;
	int rc = shmkit_remove(argv[0]);
	return rc == 0 ? 0 : rc == -ENOENT ? 1 : 2;
}

static const struct test_role roles[] = {
    {"owned_creator", role_owned_creator},
    {"remove", role_remove},
    {"take_over", role_take_over},
    {"gc", role_gc},
    {NULL, NULL},
};

/* The racing user: removes the name (shmkit_remove, which waits for the
 * stopped remover's lock and gives up, if asked; then as rm(1) would) and
 * makes a persistent object with data under it. */
static void replace_name(const char *uri, int try_remove)
{
	struct shmkit_raw *r;
	char path[512];

	if (try_remove) {
		int64_t t0 = test_now_ns();
		CHECK_RET(shmkit_remove(uri), -EBUSY);
		CHECK(test_now_ns() - t0 >= 5000000000ll); /* it waited for the lock */
	}
	snprintf(path, sizeof(path), "/dev/shm%s", strchr(uri, ':') + 1);
	CHECK(unlink(path) == 0);
	CHECK_OK(shmkit_raw_create(&r, uri, SIZE, 0600 | SHMKIT_PERSIST));
	memcpy(shmkit_raw_data(r), precious, sizeof(precious));
	CHECK_OK(shmkit_raw_close(r));
}

static void check_intact(const char *uri)
{
	struct shmkit_raw *r = NULL;
	CHECK_OK(shmkit_raw_open(&r, uri));
	if (r) {
		CHECK(memcmp(shmkit_raw_data(r), precious, sizeof(precious)) == 0);
		CHECK_OK(shmkit_raw_close(r));
	}
	CHECK_OK(shmkit_remove(uri));
}

static void test_take_over_race(void)
{
	const char *uri = test_uri("posix", "take-race");
	char path[512];
	const char *args[] = {uri, NULL};

	snprintf(path, sizeof(path), "/dev/shm%s", strchr(uri, ':') + 1);
	int fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600); /* a creator's, killed */
	CHECK(fd >= 0);
	close(fd);
	pid_t taker = test_spawn_paused("unlink.locked", "take_over", args);
	replace_name(uri, 0);
	kill(taker, SIGCONT);
	CHECK_RET(test_wait(taker), 1); /* -EEXIST: the name is someone's again */
	check_intact(uri);
}

static void test_gc_race(void)
{
	const char *uri = test_uri("posix", "gc-race");
	const char *args[] = {uri, NULL};

	CHECK_RET(test_wait(test_spawn_self("owned_creator", args)), 0);
	pid_t gc = test_spawn_paused("unlink.locked", "gc", args);
	replace_name(uri, 1);
	kill(gc, SIGCONT);
	CHECK_RET(test_wait(gc), 0); /* removed nothing: it changed meanwhile */
	check_intact(uri);
}

/* In a private mount namespace, /dev/shm bound to dir. 0, or -1. */
static int private_dev_shm_on(const char *dir)
{
	if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount(dir, "/dev/shm", NULL, MS_BIND, NULL) < 0)
		return -1;
	return 0;
}

struct reuse_case {
	const char *uri, *dir;
};

/* gc judged an orphan, then unlinked its name if the name's dev+ino were
 * the ones its first look had seen, before its slow walk of /proc. An
 * inode number says nothing once its file is gone: ext4 gives a file made
 * after one is unlinked the same number at once (tmpfs only after its
 * counter wraps). So a remove-and-create meanwhile lost the new object,
 * data and all. gc now holds the file it judged (O_PATH) until the unlink,
 * so its number cannot be another file's. Root only: /dev/shm bound to an
 * ext4 directory in a private mount namespace, in a child. */
static int child_gc_reused_inode(void *arg)
{
	const struct reuse_case *rc = arg;
	const char *args[] = {rc->uri, NULL};

	if (private_dev_shm_on(rc->dir) < 0)
		return 77;
	CHECK_RET(test_wait(test_spawn_self("owned_creator", args)), 0);
	pid_t gc = test_spawn_paused("gc.posix.judged", "gc", args);
	/* the new file got the judged one's inode number while gc held
	 * nothing of it; now gc's hold keeps that number taken */
	replace_name(rc->uri, 0);
	kill(gc, SIGCONT);
	CHECK_RET(test_wait(gc), 0); /* removed nothing: it changed meanwhile */
	check_intact(rc->uri);
	return 0;
}

static void test_gc_reused_inode(void)
{
	char dir[] = "/var/tmp/shmkit-test-gc-ino-XXXXXX", cmd[600];
	struct reuse_case rc = {test_uri("posix", "gc-ino"), dir};
	struct statfs fs;
	int r = 77;

	if (test_is_root() && mkdtemp(dir)) {
		if (statfs(dir, &fs) == 0 && fs.f_type != TMPFS_MAGIC)
			r = test_wait(test_fork(child_gc_reused_inode, &rc));
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir); /* what a failed child left */
		CHECK_RET(test_sh("%s", cmd), 0);
	}
	if (r == 77)
		fprintf(stderr, "SKIP part: gc with a reused inode number (needs root and a "
				"/var/tmp off tmpfs)\n");
	else
		CHECK_RET(r, 0);
}

/* Continues a child stopped at a pause point and returns its exit status;
 * each further stop there (a second look) counts in *stops, continued. */
static int resume_to_exit(pid_t pid, int *stops)
{
	int status;

	*stops = 0;
	kill(pid, SIGCONT);
	while (waitpid(pid, &status, WUNTRACED) == pid && WIFSTOPPED(status)) {
		++*stops;
		kill(pid, SIGCONT);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Two removers of one name: the second waits for the first's name lock,
 * then finds its file gone and a new object, made meanwhile, under the
 * name. It removed that one too (shmkit__path_remove looked again and
 * removed whatever the name held by then), data and all: rm removes only
 * the file it looked at. */
static void test_second_remover(void)
{
	const char *uri = test_uri("posix", "h26a-rm-twice");
	const char *args[] = {uri, NULL};
	struct shmkit_raw *r;

	CHECK_OK(shmkit_raw_create(&r, uri, SIZE, 0600 | SHMKIT_PERSIST));
	CHECK_OK(shmkit_raw_close(r));
	pid_t first = test_spawn_paused("unlink.locked", "remove", args);
	/* the second stops once it holds the lock the first lets go */
	setenv("SHMKIT_TEST_PAUSE", "unlink.locked", 1);
	pid_t second = test_spawn_self("remove", args);
	unsetenv("SHMKIT_TEST_PAUSE");
	usleep(200000); /* waiting for the first's lock */
	kill(first, SIGCONT);
	CHECK_RET(test_wait(first), 0);
	CHECK_OK(test_wait_stopped(second, 10ll * 1000000000));
	CHECK_OK(shmkit_raw_create(&r, uri, SIZE, 0600 | SHMKIT_PERSIST));
	memcpy(shmkit_raw_data(r), precious, sizeof(precious));
	CHECK_OK(shmkit_raw_close(r));
	int stops;
	CHECK_RET(resume_to_exit(second, &stops), 1); /* -ENOENT: its file was removed */
	CHECK_RET(stops, 0);                          /* no look at the new object */
	check_intact(uri);
}

/* A program's own record lock over its file (lockf to the end, as many
 * take) is not the name lock: the remove goes on at once (it waited 10 s
 * and failed -EBUSY, blaming another remover). */
static void test_foreign_record_lock(void)
{
	const char *uri = test_uri("posix", "lockf");
	struct shmkit_raw *r;
	char path[512];

	CHECK_OK(shmkit_raw_create(&r, uri, SIZE, 0600));
	CHECK_OK(shmkit_raw_close(r));
	snprintf(path, sizeof(path), "/dev/shm%s", strchr(uri, ':') + 1);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0 && lockf(fd, F_LOCK, 0) == 0);
	int64_t t0 = test_now_ns();
	CHECK_OK(shmkit_remove(uri));
	CHECK(test_now_ns() - t0 < 5000000000ll);
	close(fd);
}

int main(int argc, char **argv)
{
	test_child_dispatch(argc, argv, roles);
	unsetenv("SHMKIT_PERSIST"); /* the orphan must be owned, as by default */
	test_take_over_race();
	test_gc_race();
	test_gc_reused_inode();
	test_foreign_record_lock();
	test_second_remover();
	return test_done();
}
