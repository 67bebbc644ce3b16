/* SPDX-License-Identifier: MIT */
/* A peer shrinks a segment under a reader.
 *
 * The promise (shmkit_seg(3), "Shrunk segments"): a posix: or file: segment
 * is a file anyone with write access can truncate, and the kernel then
 * raises SIGBUS in every process that touches the lost pages; no library
 * can stop that short of catching SIGBUS, which shmkit does not do for
 * you. What shmkit promises instead, and this test checks:
 *  1. the reader dies of SIGBUS (not silent garbage, not another crash);
 *  2. a later open of the shrunk segment fails cleanly (-EBADMSG: its size
 *     no longer matches the header), whatever size it was cut to, and a
 *     grown one likewise;
 *  3. memfd: segments, the ones passed between processes, are sealed: a
 *     peer's ftruncate fails with EPERM, both down and up;
 *  4. SysV segments have no truncate at all (nothing to test). */
/* TIMEOUT: 60 */
#include "test.h"

#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *cur_uri;
static _Atomic int *reading;

/* Receives and peeks in a loop; only a signal ends it. */
static int reader(void *arg)
{
	(void)arg;
	struct shmkit_queue *q;
	char buf[64];
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (shmkit_queue_open(&q, cur_uri) != 0)
		return 2;
	for (;;) {
		const void *m;
		struct shmkit_queue_stats st;
		shmkit_queue_recv(q, buf, sizeof(buf), 0);
		shmkit_queue_peek(q, &m, 0);
		shmkit_queue_stats(q, &st);
		atomic_store(reading, 1);
	}
}

/* The path behind a posix: URI made by test_uri(). */
static void shm_path(const char *uri, char *out, size_t cap)
{
	snprintf(out, cap, "/dev/shm%s", uri + strlen("posix:"));
}

static void test_reader_dies_of_sigbus(off_t cut)
{
	struct shmkit_queue_opts o = { .capacity = 16, .max_msg = 64 };
	struct shmkit_queue *q;
	char path[256];
	cur_uri = test_uri("posix", "trunc");
	CHECK_RET(shmkit_queue_create(&q, cur_uri, &o), 0);
	CHECK_RET(shmkit_queue_send(q, "before", 6, 0), 0);
	atomic_store(reading, 0);
	pid_t r = test_fork(reader, NULL);
	int64_t end = test_now_ns() + 10000000000LL;
	while (!atomic_load(reading) && test_now_ns() < end)
		usleep(1000);
	CHECK(atomic_load(reading));
	shm_path(cur_uri, path, sizeof(path));
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	CHECK(ftruncate(fd, cut) == 0); /* the hostile peer */
	/* The reader touches the lost pages within microseconds. */
	int64_t dl = test_now_ns() + 5000000000LL;
	int status = -1;
	while (test_now_ns() < dl) {
		pid_t w = waitpid(r, &status, WNOHANG);
		if (w == r)
			break;
		usleep(1000);
		status = -1;
	}
	if (status == -1) {
		kill(r, SIGKILL);
		waitpid(r, &status, 0);
		fprintf(stderr, "reader still alive 5 s after the cut to %lld bytes\n", (long long)cut);
	}
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS);

	/* A new open of what is left fails cleanly, whatever the cut. */
	struct shmkit_queue *q2 = NULL;
	int64_t t0 = test_now_ns();
	CHECK_RET(shmkit_queue_open(&q2, cur_uri), -EBADMSG);
	printf("cut to %lld bytes: reader killed by SIGBUS; reopen -EBADMSG in %.2f s (%s)\n",
	       (long long)cut, (double)(test_now_ns() - t0) / 1e9, shmkit_last_error_detail());
	/* Grown back past its size: still not the object the header describes. */
	CHECK(ftruncate(fd, (off_t)shmkit_seg_size(shmkit_queue_seg(q)) + 4096) == 0);
	CHECK_RET(shmkit_queue_open(&q2, cur_uri), -EBADMSG);
	close(fd);
	/* Our own handle: its mapping is still the old length; the file is
	 * longer now, so the pages are backed again (zeros where it was cut):
	 * closing must not crash either. */
	CHECK_RET(shmkit_queue_close(q), 0);
	shmkit_remove(cur_uri);
}

static volatile unsigned touched; /* the reads must happen: a sink the compiler keeps */

static void test_memfd_is_sealed(void)
{
	struct shmkit_seg *seg;
	CHECK_RET(shmkit_seg_open(&seg, "memfd:shmkit-trunc", 65536, SHMKIT_CREATE, 0), 0);
	int fd = shmkit_seg_fd(seg);
	CHECK(fd >= 0);
	CHECK(ftruncate(fd, 0) < 0 && errno == EPERM);
	CHECK(ftruncate(fd, 1 << 20) < 0 && errno == EPERM);
	/* so its pages stay: reading all of them is safe */
	for (size_t i = 0; i < shmkit_seg_size(seg); i += 4096)
		touched += ((unsigned char *)shmkit_seg_addr(seg))[i];
	CHECK_RET(shmkit_seg_close(seg), 0);
}

int main(void)
{
	reading = mmap(NULL, sizeof(*reading), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		       -1, 0);
	CHECK(reading != MAP_FAILED);
	test_reader_dies_of_sigbus(0);    /* emptied: even the header is gone */
	test_reader_dies_of_sigbus(4096); /* header kept, body gone */
	test_memfd_is_sealed();
	return test_done();
}
