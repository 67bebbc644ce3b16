/* SPDX-License-Identifier: MIT */
/* An MPMC handle whose every call is locked out (64 live processes hold
 * the 64 peer entries) returns -EAGAIN, and its descriptor must not stay
 * readable for it: an event loop would call again at once, over a million
 * times a second. It turns readable again after SHMKIT__LIVENESS_NS (the
 * pace at which a wait looks for a free entry), so a loop on it makes at
 * most ~100 calls a second; once a holder is killed (kill -9) the handle
 * gets an entry and its descriptor works as before: every queued message
 * received, or sent into free slots. Both sides: shmkit_queue_fd() and
 * shmkit_queue_send_fd(). Real processes (fork, kill -9). */
/* TIMEOUT: 60 */
#include "test.h"

#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEC 1000000000ll
#define HOLDERS 64

static int started[2];
static const char *g_uri;

/* A holder: registers by sending its id, then sleeps holding its entry. */
static int hold(void *arg)
{
	struct shmkit_queue *h;
	int id = (int)(intptr_t)arg, r = shmkit_queue_open(&h, g_uri);

	if (r == 0)
		r = shmkit_queue_send(h, &id, sizeof(id), SEC);
	if (write(started[1], &r, sizeof(r)) != sizeof(r))
		return 1;
	pause();
	return 0;
}

struct loop {
	int readable, eagain, done;
};

/* Up to `ns` of a level-triggered loop on fd that calls op (timeout 0) at
 * each readiness, until `want` calls succeeded. */
static struct loop run_loop(struct shmkit_queue *q, int fd, bool send, int want, int64_t ns)
{
	struct loop l = { 0 };
	int64_t end = test_now_ns() + ns;

	while (l.done < want && test_now_ns() < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 50) != 1)
			continue;
		l.readable++;
		int m = 0;
		ssize_t r = send ? shmkit_queue_send(q, &m, sizeof(m), 0)
				 : shmkit_queue_recv(q, &m, sizeof(m), 0);
		if (r == -EAGAIN)
			l.eagain++;
		else if (r >= 0)
			l.done++;
		else
			CHECK_RET(r, 0);
	}
	return l;
}

static void locked_out_side(struct shmkit_queue *q, bool send, pid_t victim)
{
	int fd = send ? shmkit_queue_send_fd(q) : shmkit_queue_fd(q);
	CHECK(fd >= 0);
	struct loop l = run_loop(q, fd, send, 1, SEC);
	printf("%s side locked out, 1 s: readable %d, -EAGAIN %d, done %d\n", send ? "send" : "recv",
	       l.readable, l.eagain, l.done);
	CHECK(l.done == 0);
	CHECK(l.readable == l.eagain);
	CHECK(l.readable >= 5);	  /* it tries again, now and then */
	CHECK(l.readable <= 400); /* ~100 a second (was over a million) */

	kill(victim, SIGKILL);
	/* recv: the 64 queued messages; send: as many into free slots */
	l = run_loop(q, fd, send, HOLDERS, 10 * SEC);
	printf("%s side after a holder was killed: %d of %d done\n", send ? "send" : "recv", l.done,
	       HOLDERS);
	CHECK(l.done == HOLDERS);
}

int main(void)
{
	const char *uri = g_uri = test_uri("posix", "lockout");
	struct shmkit_queue_opts o = { .capacity = 256, .max_msg = 8, .multi_producer = 1,
				       .multi_consumer = 1 };
	struct shmkit_queue *q, *c;
	pid_t pid[HOLDERS];

	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	CHECK_OK(pipe(started));
	for (int i = 0; i < HOLDERS; i++)
		pid[i] = test_fork(hold, (void *)(intptr_t)i);
	for (int i = 0; i < HOLDERS; i++) {
		int r = -1;
		CHECK(read(started[0], &r, sizeof(r)) == sizeof(r));
		CHECK_RET(r, 0);
	}
	/* q registered nowhere yet: it is the 65th handle */
	CHECK_OK(shmkit_queue_open(&c, uri));
	locked_out_side(c, false, pid[0]);
	shmkit_queue_close(c);

	/* the receiver gave its entry back at close: a new holder takes it */
	pid_t again = test_fork(hold, (void *)(intptr_t)HOLDERS);
	int r = -1;
	CHECK(read(started[0], &r, sizeof(r)) == sizeof(r));
	CHECK_RET(r, 0);
	locked_out_side(q, true, pid[1]);

	for (int i = 0; i < HOLDERS; i++)
		kill(pid[i], SIGKILL);
	kill(again, SIGKILL);
	for (int i = 0; i < HOLDERS; i++)
		waitpid(pid[i], NULL, 0);
	waitpid(again, NULL, 0);
	shmkit_queue_close(q);
	return test_done();
}
