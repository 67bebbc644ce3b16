/* SPDX-License-Identifier: MIT */
/* An MPMC consumer in an event loop (shmkit_queue_fd; Python's recv_async)
 * behind a slot reserved by a producer that is then killed: the messages
 * committed after that slot must still arrive. A synchronous receive sleeps
 * in liveness slices and skips the dead holder's slot; a descriptor has no
 * slices, and a kill -9 wakes nobody, so the descriptor must watch the
 * holder (DESIGN §9: readable whenever a receive with timeout 0 would not
 * return -EAGAIN). The same for a producer's descriptor
 * (shmkit_queue_send_fd) behind a slot claimed by a consumer killed one lap
 * earlier: its death makes the descriptor readable; the look hands the
 * message back (the slot still full), and once it is received again the
 * sends go on. */
/* TIMEOUT: 60 */
#include "test.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEC 1000000000ll

static int readable(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

struct holder {
	const char *uri;
	int ready;    /* pipe write end */
	int consumer; /* 0: reserve a slot; 1: peek (claim) a message */
};

/* Child: takes a slot (reserve, or peek a message) and waits to be killed. */
static int hold_slot(void *arg)
{
	struct holder *h = arg;
	struct shmkit_queue *q;
	void *slot;
	const void *msg;

	if (shmkit_queue_open(&q, h->uri) < 0)
		return 2;
	int r =
	    h->consumer ? (int)shmkit_queue_peek(q, &msg, 0) : shmkit_queue_reserve(q, 8, &slot, 0);
	if (r < 0)
		return 3;
	if (write(h->ready, "x", 1) != 1)
		return 4;
	pause();
	return 0;
}

static pid_t spawn_holder(const char *uri, int consumer)
{
	int p[2];
	char c;
	CHECK(pipe(p) == 0);
	struct holder h = {uri, p[1], consumer};
	pid_t pid = test_fork(hold_slot, &h);
	CHECK(read(p[0], &c, 1) == 1);
	close(p[0]);
	close(p[1]);
	return pid;
}

/* Drives fd the way an event loop does: wait for readiness, then call
 * `once` until it says -EAGAIN. Returns how many calls succeeded before
 * `want` were done or the fd stayed quiet for 3 s. */
static int loop(int fd, int want, int (*once)(struct shmkit_queue *q), struct shmkit_queue *q)
{
	int got = 0;
	int64_t end = test_now_ns() + 10 * SEC;
	while (got < want && test_now_ns() < end) {
		if (!readable(fd, 3000))
			break; /* quiet for 3 s: the loop would sleep for ever */
		int r;
		while (got < want && (r = once(q)) >= 0)
			got++;
	}
	return got;
}

static int recv_one(struct shmkit_queue *q)
{
	char buf[16];
	ssize_t n = shmkit_queue_recv(q, buf, sizeof(buf), 0);
	return n < 0 ? (int)n : 0;
}

static int send_one(struct shmkit_queue *q)
{
	return shmkit_queue_send(q, "m", 1, 0);
}

static struct shmkit_queue *make(const char *uri, size_t cap)
{
	struct shmkit_queue_opts o = {
	    .capacity = cap, .max_msg = 16, .multi_producer = 1, .multi_consumer = 1};
	struct shmkit_queue *q = NULL;
	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	if (!q)
		exit(1);
	return q;
}

/* A consumer's descriptor behind a reservation of a producer killed later. */
static void test_dead_producer(void)
{
	const char *uri = test_uri("posix", "fdholder-p");
	struct shmkit_queue *q = make(uri, 16);
	pid_t holder = spawn_holder(uri, 0);
	for (int i = 0; i < 3; i++)
		CHECK_OK(shmkit_queue_send(q, "m", 1, 0));
	int fd = shmkit_queue_fd(q);
	CHECK(fd >= 0);
	/* the holder lives: nothing to receive; drain any spurious readiness */
	CHECK_RET(recv_one(q), -EAGAIN);
	CHECK_RET(recv_one(q), -EAGAIN);
	CHECK(kill(holder, SIGKILL) == 0);
	CHECK_RET(test_wait(holder), 128 + SIGKILL);
	CHECK_RET(loop(fd, 3, recv_one, q), 3);
	CHECK_OK(shmkit_queue_close(q));
}

/* The same, after a child forked with the consumer's handle closed its
 * copy: the descriptor's set is shared with the child, whose close took the
 * holder's pidfd out of it (EPOLL_CTL_DEL in unwatch_holder), so the
 * holder's death woke nobody and the consumer waited for good. */
static int close_copy(void *arg)
{
	return shmkit_queue_close(*(struct shmkit_queue **)arg) == 0 ? 0 : 1;
}

static void test_dead_producer_after_fork(void)
{
	const char *uri = test_uri("posix", "h26a-fdholder-fork");
	struct shmkit_queue *q = make(uri, 16);
	pid_t holder = spawn_holder(uri, 0);
	for (int i = 0; i < 3; i++)
		CHECK_OK(shmkit_queue_send(q, "m", 1, 0));
	int fd = shmkit_queue_fd(q);
	CHECK(fd >= 0);
	CHECK_RET(recv_one(q), -EAGAIN);
	CHECK_RET(recv_one(q), -EAGAIN); /* the holder's pidfd is watched */
	CHECK_RET(test_wait(test_fork(close_copy, &q)), 0);
	CHECK(kill(holder, SIGKILL) == 0);
	CHECK_RET(test_wait(holder), 128 + SIGKILL);
	CHECK_RET(loop(fd, 3, recv_one, q), 3);
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

/* A producer's descriptor behind a slot claimed (peeked) by a consumer
 * killed later: a lap later that slot is the producer's next. */
static void test_dead_consumer(void)
{
	const char *uri = test_uri("posix", "fdholder-c");
	struct shmkit_queue *q = make(uri, 4);
	for (int i = 0; i < 4; i++)
		CHECK_OK(shmkit_queue_send(q, "m", 1, 0));
	pid_t holder = spawn_holder(uri, 1);
	for (int i = 0; i < 3; i++)
		CHECK_RET(recv_one(q), 0);
	int fd = shmkit_queue_send_fd(q);
	CHECK(fd >= 0);
	/* position 4 is slot 0, still claimed: positions go in order, so the
	 * three free slots behind it wait too */
	CHECK_RET(send_one(q), -EAGAIN);
	CHECK_RET(send_one(q), -EAGAIN);
	CHECK(kill(holder, SIGKILL) == 0);
	CHECK_RET(test_wait(holder), 128 + SIGKILL);
	CHECK(readable(fd, 10000));
	struct shmkit_queue_stats st = {0};
	for (int64_t end = test_now_ns() + 10 * SEC; !st.abandoned && test_now_ns() < end;) {
		CHECK_RET(send_one(q), -EAGAIN); /* polls look at the holder every 10 ms */
		CHECK_OK(shmkit_queue_stats(q, &st));
		usleep(1000);
	}
	CHECK_RET(st.abandoned, 1);
	CHECK_RET(st.depth, 1); /* its message, there again */
	CHECK_RET(recv_one(q), 0);
	CHECK_RET(loop(fd, 4, send_one, q), 4);
	CHECK_OK(shmkit_queue_close(q));
}

int main(void)
{
	/* A descriptor learns of a holder's death only through its pidfd
	 * (shmkit_queue(3)); valgrind 3.19 and kernels before 5.3 have none. */
	if (!test_have_pidfd())
		test_skip("pidfd_open(2) is not available here");
	test_dead_producer();
	test_dead_producer_after_fork();
	test_dead_consumer();
	return test_done();
}
