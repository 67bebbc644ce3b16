/* SPDX-License-Identifier: MIT */
/* Queue basics in one and two processes: FIFO, copy and zero-copy, full and
 * empty with every timeout kind, -EMSGSIZE leaving the message in place,
 * capacity rounding, stats, argument checks, opening the wrong kind. */
/* TIMEOUT: 60 */
#include "test.h"

#include <signal.h>
#include <sys/wait.h>
#include <stdint.h>
#include <unistd.h>

#define MS 1000000ll

static struct shmkit_queue *make(const char *uri, size_t cap, size_t max_msg, int mp, int mc)
{
	struct shmkit_queue_opts o = { .capacity = cap, .max_msg = max_msg,
				       .multi_producer = mp, .multi_consumer = mc };
	struct shmkit_queue *q = NULL;
	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	return q;
}

static void test_fifo_and_sizes(int multi)
{
	const char *uri = test_uri("posix", "fifo");
	struct shmkit_queue *q = make(uri, 5, 100, multi, multi);
	struct shmkit_queue_stats st;
	char buf[128];

	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK(st.capacity == 8); /* rounded up to a power of two */
	CHECK(st.max_msg == 100);
	CHECK(st.depth == 0);
	CHECK(st.multi_producer == multi && st.multi_consumer == multi);

	for (int round = 0; round < 5; round++) { /* several laps */
		for (int i = 0; i < 8; i++) {
			int n = snprintf(buf, sizeof(buf), "message %d.%d", round, i);
			CHECK_RET(shmkit_queue_send(q, buf, (size_t)n, 0), 0);
		}
		CHECK_RET(shmkit_queue_send(q, "x", 1, 0), -EAGAIN);
		CHECK_OK(shmkit_queue_stats(q, &st));
		CHECK(st.depth == 8);
		for (int i = 0; i < 8; i++) {
			char want[64];
			int n = snprintf(want, sizeof(want), "message %d.%d", round, i);
			CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), n);
			CHECK(memcmp(buf, want, (size_t)n) == 0);
		}
		CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), -EAGAIN);
	}
	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK(st.sent == 40 && st.received == 40 && st.depth == 0 && st.skipped == 0);

	/* empty and max-size messages */
	CHECK_RET(shmkit_queue_send(q, NULL, 0, 0), 0);
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), 0);
	memset(buf, 'm', 100);
	CHECK_RET(shmkit_queue_send(q, buf, 100, 0), 0);
	CHECK_RET(shmkit_queue_send(q, buf, 101, 0), -EMSGSIZE);

	/* too small a buffer: -EMSGSIZE, the message stays, peek tells its length */
	char small[10];
	CHECK_RET(shmkit_queue_recv(q, small, sizeof(small), 0), -EMSGSIZE);
	CHECK_RET(shmkit_queue_recv(q, small, sizeof(small), SHMKIT_FOREVER), -EMSGSIZE);
	const void *p;
	CHECK_RET(shmkit_queue_peek(q, &p, 0), 100);
	CHECK_RET(shmkit_queue_peek(q, &p, 0), 100); /* peeking again: the same one */
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), -EBUSY);
	CHECK_OK(shmkit_queue_consume(q));
	CHECK_RET(shmkit_queue_consume(q), -EINVAL);
	CHECK_RET(shmkit_queue_send(q, buf, 100, 0), 0);
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), 100);
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), -EAGAIN);

	/* zero-copy: reserve, write in place, commit; peek, read in place, consume */
	void *slot;
	CHECK_OK(shmkit_queue_reserve(q, 50, &slot, 0));
	CHECK_RET(shmkit_queue_reserve(q, 50, &slot, 0), -EBUSY);
	CHECK(((uintptr_t)slot & 15) == 0);
	memcpy(slot, "in place", 8);
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), -EAGAIN); /* not yet committed */
	CHECK_RET(shmkit_queue_commit(q, (char *)slot + 1, 8), -EINVAL);
	CHECK_RET(shmkit_queue_commit(q, slot, 101), -EMSGSIZE);
	CHECK_OK(shmkit_queue_commit(q, slot, 8));
	CHECK_RET(shmkit_queue_commit(q, slot, 8), -EINVAL);
	CHECK_RET(shmkit_queue_peek(q, &p, 0), 8);
	CHECK(memcmp(p, "in place", 8) == 0);
	CHECK_OK(shmkit_queue_consume(q));
	CHECK_RET(shmkit_queue_peek(q, &p, 0), -EAGAIN);

	/* a handle closed with a peek outstanding consumes it (q gives its
	 * roles back first: a single-consumer queue has one consumer) */
	CHECK_RET(shmkit_queue_send(q, "a", 1, 0), 0);
	CHECK_RET(shmkit_queue_send(q, "b", 1, 0), 0);
	CHECK_OK(shmkit_queue_close(q));
	struct shmkit_queue *q2;
	CHECK_OK(shmkit_queue_open(&q2, uri));
	CHECK_RET(shmkit_queue_peek(q2, &p, 0), 1);
	CHECK(*(const char *)p == 'a');
	CHECK_OK(shmkit_queue_close(q2));
	CHECK_OK(shmkit_queue_open(&q, uri));
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), 1);
	CHECK(buf[0] == 'b');

	/* a forked child does not own its parent's peeked message or reservation */
	CHECK_RET(shmkit_queue_send(q, "c", 1, 0), 0);
	CHECK_RET(shmkit_queue_peek(q, &p, 0), 1);
	CHECK_OK(shmkit_queue_reserve(q, 1, &slot, 0));
	pid_t child = fork();
	if (child == 0) {
		int ok = shmkit_queue_consume(q) == -EINVAL && shmkit_queue_commit(q, slot, 1) == -EINVAL;
		shmkit_queue_close(q); /* must not consume or drop the parent's */
		_exit(ok ? 0 : 1);
	}
	CHECK_RET(test_wait(child), 0);
	CHECK_OK(shmkit_queue_commit(q, slot, 1));
	CHECK_OK(shmkit_queue_consume(q));
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), 1);
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), -EAGAIN);

	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

static void test_timeouts(int multi)
{
	const char *uri = test_uri("posix", "timeouts");
	struct shmkit_queue *q = make(uri, 2, 16, multi, multi);
	char buf[16];

	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), -EAGAIN);
	int64_t t0 = test_now_ns();
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 50 * MS), -ETIMEDOUT);
	CHECK(test_now_ns() - t0 >= 50 * MS);
	const void *p;
	t0 = test_now_ns();
	CHECK_RET(shmkit_queue_peek(q, &p, 30 * MS), -ETIMEDOUT);
	CHECK(test_now_ns() - t0 >= 30 * MS);
	/* a wait that timed out leaves nobody counted asleep */
	struct shmkit_queue_stats st;
	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK(st.recv_waiters == 0);

	CHECK_OK(shmkit_queue_send(q, "1", 1, 0));
	CHECK_OK(shmkit_queue_send(q, "2", 1, 0));
	CHECK_RET(shmkit_queue_send(q, "3", 1, 0), -EAGAIN);
	t0 = test_now_ns();
	CHECK_RET(shmkit_queue_send(q, "3", 1, 40 * MS), -ETIMEDOUT);
	CHECK(test_now_ns() - t0 >= 40 * MS);
	void *slot;
	t0 = test_now_ns();
	CHECK_RET(shmkit_queue_reserve(q, 1, &slot, 20 * MS), -ETIMEDOUT);
	CHECK(test_now_ns() - t0 >= 20 * MS);
	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK(st.send_waiters == 0);

	/* sleeping for ever: woken by another process (spin 0: sleep at once) */
	CHECK_OK(shmkit_queue_set_spin(q, 0));
	pid_t child = fork();
	if (child == 0) {
		usleep(100000);
		char b[16];
		_exit(shmkit_queue_recv(q, b, sizeof(b), 0) == 1 && b[0] == '1' ? 0 : 1);
	}
	CHECK_RET(shmkit_queue_send(q, "3", 1, SHMKIT_FOREVER), 0);
	CHECK_RET(test_wait(child), 0);
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), 1);
	CHECK(buf[0] == '2');
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), 1);
	CHECK(buf[0] == '3');

	child = fork();
	if (child == 0) {
		usleep(100000);
		_exit(shmkit_queue_send(q, "4", 1, 0) == 0 ? 0 : 1);
	}
	t0 = test_now_ns();
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), SHMKIT_FOREVER), 1);
	CHECK(buf[0] == '4');
	CHECK_RET(test_wait(child), 0);

	/* a positive timeout that is met in time */
	child = fork();
	if (child == 0) {
		usleep(50000);
		_exit(shmkit_queue_send(q, "5", 1, 0) == 0 ? 0 : 1);
	}
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 10000 * MS), 1);
	CHECK(buf[0] == '5');
	CHECK_RET(test_wait(child), 0);

	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK(st.waiters == 0);
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

static void test_args(void)
{
	const char *uri = test_uri("posix", "args");
	struct shmkit_queue *q;
	struct shmkit_queue_opts o = { .capacity = 0, .max_msg = 8 };

	CHECK_RET(shmkit_queue_create(&q, uri, &o), -EINVAL);
	o.capacity = 4;
	o.max_msg = 0;
	CHECK_RET(shmkit_queue_create(&q, uri, &o), -EINVAL);
	CHECK_RET(shmkit_queue_create(&q, uri, NULL), -EINVAL);
	CHECK_RET(shmkit_queue_create(NULL, uri, &o), -EINVAL);
	CHECK_RET(shmkit_queue_open(&q, uri), -ENOENT);
	o.max_msg = 8;
	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	struct shmkit_queue *dup;
	CHECK_RET(shmkit_queue_create(&dup, uri, &o), -EEXIST);
	CHECK_RET(shmkit_queue_send(NULL, "x", 1, 0), -EINVAL);
	CHECK_RET(shmkit_queue_recv(q, NULL, 5, 0), -EINVAL);
	CHECK_RET(shmkit_queue_set_spin(q, -5), -EINVAL);
	/* a spin longer than the clock counts: the deadline still holds (the
	 * spin's end overflowed int64, UBSan: ec.c wait_loop) */
	CHECK_OK(shmkit_queue_set_spin(q, INT64_MAX));
	char one[8];
	CHECK_RET(shmkit_queue_recv(q, one, sizeof(one), 20000000), -ETIMEDOUT);
	CHECK_OK(shmkit_queue_set_spin(q, -1));
	CHECK(shmkit_queue_seg(q) != NULL);
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_queue_close(NULL));

	/* a segment of another kind is not a queue */
	const char *raw_uri = test_uri("posix", "raw");
	struct shmkit_raw *r;
	CHECK_OK(shmkit_raw_create(&r, raw_uri, 4096, 0600));
	CHECK_RET(shmkit_queue_open(&q, raw_uri), -EBADMSG);
	CHECK_OK(shmkit_raw_close(r));
	CHECK_OK(shmkit_remove(raw_uri));
	CHECK_OK(shmkit_remove(uri));
}

int main(int argc, char **argv)
{
	test_child_dispatch(argc, argv, NULL);
	test_args();
	test_fifo_and_sizes(0);
	test_fifo_and_sizes(1);
	test_timeouts(0);
	test_timeouts(1);
	return test_done();
}
