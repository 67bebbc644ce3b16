/* SPDX-License-Identifier: MIT */
/* shmkit_queue_peek_at(): look ahead without consuming (the bridge's send
 * window), and the SPSC tail repair that keeps "messages committed" exact
 * when a producer dies between publishing a slot and moving tail. */
#include <poll.h>
#include <stdatomic.h>

#include "layout.h"
#include "test.h"

static void check_msg(struct shmkit_queue *q, size_t i, const char *want)
{
	const void *m;
	ssize_t n = shmkit_queue_peek_at(q, i, &m);
	CHECK_RET(n, (ssize_t)strlen(want));
	CHECK(memcmp(m, want, strlen(want)) == 0);
}

static void look_ahead(void)
{
	const char *uri = test_uri("posix", "peekat");
	struct shmkit_queue_opts o = { .capacity = 4, .max_msg = 16 };
	struct shmkit_queue *q;
	const void *m;

	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	CHECK_RET(shmkit_queue_peek_at(q, 0, &m), -EAGAIN);
	CHECK_OK(shmkit_queue_send(q, "one", 3, 0));
	CHECK_OK(shmkit_queue_send(q, "two", 3, 0));
	CHECK_OK(shmkit_queue_send(q, "three", 5, 0));
	check_msg(q, 0, "one");
	check_msg(q, 2, "three");
	check_msg(q, 1, "two");
	CHECK_RET(shmkit_queue_peek_at(q, 3, &m), -EAGAIN);
	CHECK_RET(shmkit_queue_peek_at(q, 1000, &m), -EAGAIN);
	CHECK_RET(shmkit_queue_peek_at(NULL, 0, &m), -EINVAL);
	CHECK_RET(shmkit_queue_peek_at(q, 0, NULL), -EINVAL);

	/* nothing was consumed: the first peek still sees "one" */
	CHECK_RET(shmkit_queue_peek(q, &m, 0), 3);
	CHECK(memcmp(m, "one", 3) == 0);
	CHECK_OK(shmkit_queue_consume(q));
	check_msg(q, 0, "two");
	check_msg(q, 1, "three");
	CHECK_RET(shmkit_queue_peek_at(q, 2, &m), -EAGAIN);
	CHECK_OK(shmkit_queue_close(q));

	const char *uri2 = test_uri("posix", "peekat-mc");
	struct shmkit_queue_opts mc = { .capacity = 4, .max_msg = 16, .multi_consumer = 1 };
	CHECK_OK(shmkit_queue_create(&q, uri2, &mc));
	CHECK_OK(shmkit_queue_send(q, "x", 1, 0));
	CHECK_RET(shmkit_queue_peek_at(q, 0, &m), -EOPNOTSUPP);
	CHECK_OK(shmkit_queue_close(q));
}

static int readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1;
}

/* A look past the messages waiting arms the descriptor, as a receive that
 * finds the queue empty does: a sender with messages in flight (the bridge)
 * waits on it for the next one. (Before, it stayed readable: the bridge had
 * no way to wait for a message behind those in flight.) */
static void look_ahead_arms(void)
{
	const char *uri = test_uri("posix", "peekat-fd");
	struct shmkit_queue_opts o = { .capacity = 4, .max_msg = 16 };
	struct shmkit_queue *q;
	const void *m;

	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	int fd = shmkit_queue_fd(q);
	CHECK(fd >= 0);
	CHECK_OK(shmkit_queue_send(q, "one", 3, 0));
	check_msg(q, 0, "one");
	CHECK_RET(shmkit_queue_peek_at(q, 1, &m), -EAGAIN);
	CHECK(!readable(fd)); /* armed although "one" waits */
	CHECK_OK(shmkit_queue_send(q, "two", 3, 0));
	CHECK(readable(fd)); /* the next message woke it */
	check_msg(q, 1, "two");
	check_msg(q, 0, "one");
	CHECK_OK(shmkit_queue_close(q));
}

/* A producer killed between the slot's COMMITTED marker and tail: put tail
 * back by one by hand, as that kill leaves it, and let the next producer (a
 * new handle: its first send takes the slow path, which repairs) go on. A
 * handle that keeps producing after its tail was rewritten under it is a
 * scribble, not a kill: its fast path trusts the tail it owns. */
static void tail_behind(void)
{
	const char *uri = test_uri("posix", "tailbehind");
	struct shmkit_queue_opts o = { .capacity = 4, .max_msg = 16 };
	struct shmkit_queue *q;
	struct shmkit_queue_stats st;
	struct shmkit_seg *raw;
	char buf[16];

	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	CHECK_OK(shmkit_queue_send(q, "a", 1, 0));
	CHECK_OK(shmkit_queue_send(q, "b", 1, 0));
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_seg_open(&raw, uri, 0, 0, 0));
	struct shmkit__queue_shared *sh =
		(void *)((char *)shmkit_seg_addr(raw) + SHMKIT__HEADER_SIZE);
	atomic_store(&sh->tail, 1);
	CHECK_OK(shmkit_queue_open(&q, uri));

	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK_RET(st.sent, 2); /* the committed marker counts, not the stale tail */
	CHECK_RET(st.depth, 2);
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof buf, 0), 1);
	CHECK(buf[0] == 'a');
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof buf, 0), 1);
	CHECK(buf[0] == 'b');
	/* the next producer continues after "b" instead of overwriting it */
	CHECK_OK(shmkit_queue_send(q, "c", 1, 0));
	CHECK_RET(atomic_load(&sh->tail), 3);
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof buf, 0), 1);
	CHECK(buf[0] == 'c');
	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK_RET(st.sent, 3);
	CHECK_RET(st.received, 3);
	CHECK_OK(shmkit_seg_close(raw));
	CHECK_OK(shmkit_queue_close(q));
}

/* Looking ahead is the consumer's: a second handle is refused before it
 * sees a message (two `shmkit bridge out` on one queue each sent the first
 * window before the second consume was refused: messages delivered twice). */
static void second_consumer_refused(void)
{
	const char *uri = test_uri("posix", "peekat-two");
	struct shmkit_queue_opts o = { .capacity = 4, .max_msg = 16 };
	struct shmkit_queue *q, *a, *b;
	const void *m;

	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	CHECK_OK(shmkit_queue_send(q, "one", 3, 0));
	CHECK_OK(shmkit_queue_open(&a, uri));
	CHECK_OK(shmkit_queue_open(&b, uri));
	CHECK_RET(shmkit_queue_peek_at(a, 0, &m), 3);
	CHECK_RET(shmkit_queue_peek_at(b, 0, &m), -EBUSY);
	CHECK_OK(shmkit_queue_close(a));
	CHECK_RET(shmkit_queue_peek_at(b, 0, &m), 3); /* the role is free again */
	CHECK_OK(shmkit_queue_close(b));
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

int main(void)
{
	look_ahead();
	look_ahead_arms();
	tail_behind();
	second_consumer_refused();
	return test_done(); /* it returned 0: a failed CHECK printed and passed */
}
