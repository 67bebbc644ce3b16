/* SPDX-License-Identifier: MIT */
/* shmkit_bridge_close() while signals arrive (a second SIGTERM in the CLI,
 * any handler of a program's): ZeroMQ's wait for its threads is interrupted
 * (EINTR) and close used to go on without it, leaving the context, its two
 * threads and their descriptors behind for good — one set per close. Each
 * round opens a bridge, closes it under a 20 µs interval timer whose
 * handler does not restart system calls, and then counts the process's
 * threads and descriptors: they must be back where they were. Runs in a
 * child process so the timer and the threads are its own. Skips (77) without
 * the bridge (ZeroMQ). */
/* TIMEOUT: 120 */
#include "test.h"

#include <dirent.h>
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#ifdef SHMKIT_TEST_HAVE_BRIDGE
#include <shmkit/bridge.h>

#define ROUNDS 40

static volatile sig_atomic_t ticks;

static void on_tick(int sig)
{
	(void)sig;
	ticks++;
}

static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void timer_us(long us)
{
	struct itimerval it = { { 0, us }, { 0, us } };
	setitimer(ITIMER_REAL, &it, NULL);
}

static int rounds(void *arg)
{
	const char *uri = arg;
	struct sigaction sa = { .sa_handler = on_tick }; /* no SA_RESTART */
	int threads = entries("/proc/self/task"), fds = entries("/proc/self/fd");
	int left = 0, interrupted = 0;

	sigaction(SIGALRM, &sa, NULL);
	for (int i = 0; i < ROUNDS; i++) {
		struct shmkit_bridge *b;
		CHECK_OK(shmkit_bridge_open(&b, SHMKIT_BRIDGE_OUT, uri, "tcp://127.0.0.1:1", NULL));
		if (!b)
			return 1;
		sig_atomic_t before = ticks;
		timer_us(20);
		CHECK_OK(shmkit_bridge_close(b));
		timer_us(0);
		interrupted += ticks != before;
		int t = entries("/proc/self/task"), f = entries("/proc/self/fd");
		if (t != threads || f != fds) {
			if (!left)
				fprintf(stderr, "round %d: %d threads (%d before), %d descriptors "
						"(%d before) after close\n", i, t, threads, f, fds);
			left++;
		}
	}
	fprintf(stderr, "%d of %d closes left threads or descriptors behind; %d had signals "
			"during close\n", left, ROUNDS, interrupted);
	CHECK(interrupted > 0); /* else the test proves nothing */
	CHECK(left == 0);
	return test_done();
}

int main(void)
{
	const char *uri = test_uri("posix", "brclose");
	struct shmkit_queue *q = NULL;
	struct shmkit_queue_opts o = { .capacity = 16, .max_msg = 64 };

	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	shmkit_queue_close(q);
	CHECK(test_wait(test_fork(rounds, (void *)uri)) == 0);
	return test_done();
}

#else

int main(void)
{
	test_skip("shmkit built without the bridge (ZeroMQ)");
}

#endif
