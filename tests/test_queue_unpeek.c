/* SPDX-License-Identifier: MIT */
/* Giving back a peeked message (shmkit__queue_unpeek, what `shmkit recv`
 * does when standard output fails): the message is not consumed, not
 * counted as abandoned, and the next receive gets it first, in order. On an
 * MPMC queue a peek claims the message, and another consumer may take the
 * ones behind it meanwhile; before, the CLI left the claim to be handed
 * back as a dead consumer's (queue stat showed it taken, then abandoned). */
#include "queue_internal.h"
#include "test.h"

static const char *mpmc_uri;

static void check_stats(struct shmkit_queue *q, uint64_t depth, uint64_t received)
{
	struct shmkit_queue_stats st;

	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK(st.depth == depth);
	CHECK(st.received == received);
	CHECK(st.abandoned == 0);
	if (st.depth != depth || st.received != received || st.abandoned != 0)
		fprintf(stderr, "depth %llu received %llu abandoned %llu, want %llu %llu 0\n",
			(unsigned long long)st.depth, (unsigned long long)st.received,
			(unsigned long long)st.abandoned, (unsigned long long)depth,
			(unsigned long long)received);
}

static void check_recv(struct shmkit_queue *q, const char *want)
{
	char buf[16];
	ssize_t n = shmkit_queue_recv(q, buf, sizeof(buf), 0);
	CHECK_RET(n, (ssize_t)strlen(want));
	CHECK(n >= 0 && memcmp(buf, want, strlen(want)) == 0);
}

/* Another process, another consumer: takes the next message. */
static int other_consumer(void *arg)
{
	struct shmkit_queue *q;
	char buf[16];

	(void)arg;
	if (shmkit_queue_open(&q, mpmc_uri) < 0)
		return 1;
	ssize_t n = shmkit_queue_recv(q, buf, sizeof(buf), 0);
	shmkit_queue_close(q);
	return n == 3 && memcmp(buf, "two", 3) == 0 ? 0 : 2;
}

static void unpeek(int multi)
{
	const char *uri = test_uri("posix", multi ? "unpeek-mpmc" : "unpeek-spsc");
	struct shmkit_queue_opts o = { .capacity = 4, .max_msg = 16, .multi_producer = multi,
				       .multi_consumer = multi };
	struct shmkit_queue *q;
	const void *m;

	mpmc_uri = uri;
	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	CHECK_RET(shmkit__queue_unpeek(q), -EINVAL); /* nothing peeked */
	CHECK_OK(shmkit_queue_send(q, "one", 3, 0));
	CHECK_OK(shmkit_queue_send(q, "two", 3, 0));
	CHECK_OK(shmkit_queue_send(q, "three", 5, 0));
	CHECK_RET(shmkit_queue_peek(q, &m, 0), 3);
	CHECK(memcmp(m, "one", 3) == 0);
	if (multi) { /* the head moves past our claim */
		CHECK_RET(test_wait(test_fork(other_consumer, NULL)), 0);
		check_stats(q, 1, 2);
	}
	CHECK_RET(shmkit__queue_unpeek(q), 0);
	CHECK_RET(shmkit__queue_unpeek(q), -EINVAL);
	CHECK_RET(shmkit_queue_consume(q), -EINVAL); /* given back: nothing to consume */
	check_stats(q, multi ? 2 : 3, multi ? 1 : 0);
	check_recv(q, "one");
	if (!multi)
		check_recv(q, "two");
	check_recv(q, "three");
	char buf[16];
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), -EAGAIN);
	check_stats(q, 0, 3);
	/* closing with a peek given back consumes nothing */
	CHECK_OK(shmkit_queue_send(q, "four", 4, 0));
	CHECK_RET(shmkit_queue_peek(q, &m, 0), 4);
	CHECK_RET(shmkit__queue_unpeek(q), 0);
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_queue_open(&q, uri));
	check_recv(q, "four");
	check_stats(q, 0, 4);
	CHECK_OK(shmkit_queue_close(q));
	shmkit_remove(uri);
}

int main(void)
{
	unpeek(0);
	unpeek(1);
	return test_done();
}
