/* SPDX-License-Identifier: MIT */
/* A peer shrinks a segment under someone who only looks at it.
 *
 * A user of an object dies of SIGBUS when a peer truncates it (the promise
 * of shmkit_seg(3), "Shrunk segments", tested by test_hostile_truncate). A
 * look is another matter: it reads segments it was never given to trust,
 * and must end with an answer or an error. A flipper process cuts a file to
 * 0 bytes and restores it, again and again, while the looks run:
 *  - shmkit_peek of the whole segment: its bytes, or -ENODATA with a detail
 *    (the file shrank under the read), or an error from the open of the cut
 *    file; before, its copy out of the mapping died of SIGBUS.
 *  - `shmkit ls --json` and `shmkit top --once --json` (which look at every
 *    segment on the machine, of any user) on a queue, a topic and a plain
 *    file being cut: exit 0 or 1; before, they died of SIGBUS reading the
 *    header (src/managed.c) or top's counters (tools/top_sample.c).
 * Looks at one object through its library handle (stat URI, queue stat,
 * map get...) still read through a mapping: not tested here.
 * Each look runs in a child so that a SIGBUS is reported, not fatal. */
/* TIMEOUT: 120 */
#include "test.h"

#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOOK_NS 2000000000LL /* per case: without the fix, hit within a few dozen looks */
#define SEG_SIZE (4 << 20)   /* a peek long enough for a cut to land in it */

static _Atomic int *flips; /* the flipper's rounds, shared: its readiness */
static char cur_path[256]; /* the file the flipper cuts */
static const char *cur_uri;

/* The hostile peer: cut the file to nothing, give it back its size and
 * bytes, forever (until the parent's SIGKILL, or its death). */
static int flipper(void *arg)
{
	(void)arg;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	int fd = open(cur_path, O_RDWR);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) != 0)
		return 2;
	ssize_t size = (ssize_t)sb.st_size;
	char *bytes = malloc((size_t)size);
	if (!bytes || pread(fd, bytes, (size_t)size, 0) != size)
		return 2;
	for (;;) {
		if (ftruncate(fd, 0) != 0 || ftruncate(fd, size) != 0 ||
		    pwrite(fd, bytes, (size_t)size, 0) != size)
			return 3;
		atomic_fetch_add(flips, 1);
	}
}

static pid_t start_flipper(void)
{
	atomic_store(flips, 0);
	pid_t pid = test_fork(flipper, NULL);
	int64_t end = test_now_ns() + 10000000000LL;
	while (atomic_load(flips) < 3 && test_now_ns() < end)
		usleep(1000);
	CHECK(atomic_load(flips) >= 3);
	return pid;
}

static void stop_flipper(pid_t pid)
{
	kill(pid, SIGKILL);
	CHECK(test_wait(pid) == 128 + SIGKILL);
}

/* Child: peeks at the whole segment for LOOK_NS. Every answer is all of it
 * or an error that says what happened; 1 for anything else. */
static int peeker(void *arg)
{
	(void)arg;
	char *buf = malloc(SEG_SIZE);
	if (!buf)
		return 2;
	int64_t end = test_now_ns() + LOOK_NS;
	for (int i = 0; test_now_ns() < end; i++) {
		ssize_t r = shmkit_peek(cur_uri, 0, buf, SEG_SIZE);
		if (r == SEG_SIZE || r == -EINVAL || r == -EAGAIN)
			continue; /* all of it, or opened while cut: empty, or smaller than asked */
		if (r == -ENODATA && strstr(shmkit_last_error_detail(), "shrank"))
			continue;
		fprintf(stderr, "peek %d: %zd (%s)\n", i, r, shmkit_last_error_detail());
		return 1;
	}
	return 0;
}

static void test_peek_survives_a_shrink(void)
{
	struct shmkit_seg *seg;
	cur_uri = test_uri("posix", "shrink-peek");
	CHECK_RET(shmkit_seg_open(&seg, cur_uri, SEG_SIZE, SHMKIT_CREATE | SHMKIT_EXCL, 0600), 0);
	memset(shmkit_seg_addr(seg), 'x', SEG_SIZE);
	CHECK_RET(shmkit_seg_close(seg), 0);
	snprintf(cur_path, sizeof(cur_path), "/dev/shm%s", cur_uri + strlen("posix:"));

	pid_t f = start_flipper();
	int rc = test_wait(test_fork(peeker, NULL));
	stop_flipper(f);
	if (rc != 0)
		fprintf(stderr, "shmkit_peek under a shrinking peer: exit %d%s\n", rc,
			rc == 128 + SIGBUS ? " (SIGBUS)" : "");
	CHECK(rc == 0);
	printf("shmkit_peek: %.1f s of looks under %d cuts\n", LOOK_NS / 1e9, atomic_load(flips));
	shmkit_remove(cur_uri);
}

/* The shmkit tool's exit status for argv, its output thrown away; 128 +
 * SIGBUS also when it said it was stopped by one (the tool catches SIGBUS
 * to say so, and exits 1). */
static int tool(const char *const argv[])
{
	char err[4096] = "";
	FILE *errf = tmpfile();
	CHECK(errf != NULL);
	if (!errf)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(fileno(errf), 2);
		execv(SHMKIT_TOOL_PATH, (char *const *)argv);
		_exit(127);
	}
	CHECK(pid > 0);
	int rc = test_wait(pid);
	size_t n = pread(fileno(errf), err, sizeof(err) - 1, 0) > 0 ? strlen(err) : 0;
	fclose(errf);
	return n && strstr(err, "stopped by SIGBUS") ? 128 + SIGBUS : rc;
}

/* Runs `ls --json` and `top --once --json PREFIX` for LOOK_NS while cur_path
 * is being cut: each must exit 0 or 1. */
static void looks_from_the_shell(const char *what, const char *prefix)
{
	const char *ls[] = { "shmkit", "ls", NULL };
	const char *top[] = { "shmkit", "top", "--once", "--json", "--interval", "0.01", prefix, NULL };
	int runs = 0, dead = 0;

	pid_t f = start_flipper();
	int64_t end = test_now_ns() + LOOK_NS;
	while (test_now_ns() < end) {
		int rc = tool(runs % 2 ? ls : top);
		if (rc != 0 && rc != 1) {
			fprintf(stderr, "%s being cut: shmkit %s exit %d%s\n", what, runs % 2 ? "ls" : "top",
				rc, rc == 128 + SIGBUS ? " (SIGBUS)" : "");
			dead++;
		}
		runs++;
	}
	stop_flipper(f);
	CHECK(dead == 0);
	printf("%s: %d runs of ls and top under %d cuts\n", what, runs, atomic_load(flips));
}

static void test_cli_looks_survive_a_shrink(void)
{
	/* small: the flipper cuts them often */
	struct shmkit_queue_opts qo = { .capacity = 16, .max_msg = 64 };
	struct shmkit_topic_opts to = { .slot_size = 64, .slots = 16 };
	struct shmkit_queue *q;
	struct shmkit_pub *p;
	struct shmkit_seg *seg;
	char prefix[128];

	cur_uri = test_uri("posix", "shrink-q");
	CHECK_RET(shmkit_queue_create(&q, cur_uri, &qo), 0);
	CHECK_RET(shmkit_queue_close(q), 0); /* our mapping would die of the cuts */
	snprintf(cur_path, sizeof(cur_path), "/dev/shm%s", cur_uri + strlen("posix:"));
	snprintf(prefix, sizeof(prefix), "%s", cur_uri);
	looks_from_the_shell("queue", prefix);

	cur_uri = test_uri("posix", "shrink-t");
	CHECK_RET(shmkit_pub_create(&p, cur_uri, &to), 0);
	CHECK_RET(shmkit_pub_send(p, "m", 1, 0), 0);
	CHECK_RET(shmkit_pub_close(p), 0);
	snprintf(cur_path, sizeof(cur_path), "/dev/shm%s", cur_uri + strlen("posix:"));
	snprintf(prefix, sizeof(prefix), "%s", cur_uri);
	looks_from_the_shell("topic", prefix);

	/* not shmkit's: a program resizing its own segment */
	cur_uri = test_uri("posix", "shrink-plain");
	CHECK_RET(shmkit_seg_open(&seg, cur_uri, SEG_SIZE, SHMKIT_CREATE | SHMKIT_EXCL, 0600), 0);
	memset(shmkit_seg_addr(seg), 'x', SEG_SIZE);
	CHECK_RET(shmkit_seg_close(seg), 0);
	snprintf(cur_path, sizeof(cur_path), "/dev/shm%s", cur_uri + strlen("posix:"));
	looks_from_the_shell("plain file", cur_uri);
}

int main(void)
{
	flips = mmap(NULL, sizeof(*flips), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
		     0);
	CHECK(flips != MAP_FAILED);
	test_peek_survives_a_shrink();
	test_cli_looks_survive_a_shrink();
	return test_done();
}
