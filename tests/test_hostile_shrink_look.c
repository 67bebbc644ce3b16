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
 * Each look runs in a child so that a SIGBUS is reported, not fatal. */
/* TIMEOUT: 120 */
#include "test.h"

#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOOK_NS 2000000000LL /* per case: without the fix, hit within a few dozen looks */
#define SEG_SIZE (4 << 20)   /* a copy long enough for a cut to land in it */

static _Atomic int *flips; /* the flipper's rounds, shared: its readiness */
static char cur_path[256];
static const char *cur_uri;

/* The hostile peer: cut the file to nothing, give it back its size and
 * bytes, forever (until the parent's SIGKILL, or its death). */
static int flipper(void *arg)
{
	(void)arg;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	int fd = open(cur_path, O_RDWR);
	char *bytes = malloc(SEG_SIZE);
	if (fd < 0 || !bytes || pread(fd, bytes, SEG_SIZE, 0) != SEG_SIZE)
		return 2;
	for (;;) {
		if (ftruncate(fd, 0) != 0 || ftruncate(fd, SEG_SIZE) != 0 ||
		    pwrite(fd, bytes, SEG_SIZE, 0) != SEG_SIZE)
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

int main(void)
{
	flips = mmap(NULL, sizeof(*flips), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
		     0);
	CHECK(flips != MAP_FAILED);
	test_peek_survives_a_shrink();
	return test_done();
}
