/* SPDX-License-Identifier: MIT */
/* shmkit_queue_fd and shmkit_sub_fd with no descriptor free (RLIMIT_NOFILE
 * reached): -EMFILE with a detail naming the limit (was: an empty detail),
 * the handle keeps working, and once descriptors are free again the call
 * succeeds and the descriptor becomes readable when a message comes. For an
 * SPSC queue, an MPMC queue (socket + epoll set) and a topic subscriber. */
#include "test.h"

#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#define NFILL 64
static int fill[NFILL];
static int nfill;

/* Takes every descriptor below the limit. */
static void take_all(void)
{
	nfill = 0;
	int fd;
	while (nfill < NFILL && (fd = dup(0)) >= 0)
		fill[nfill++] = fd;
	CHECK(nfill < NFILL); /* the limit was reached */
}

static void give_back(void)
{
	while (nfill > 0)
		close(fill[--nfill]);
}

static int readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 2000) == 1 && (p.revents & POLLIN);
}

static int child(void *arg)
{
	(void)arg;
	struct rlimit rl = { 24, 24 };
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 77;
	char buf[16];
	for (int multi = 0; multi < 2; multi++) {
		struct shmkit_queue *q;
		struct shmkit_queue_opts o = { .capacity = 4, .max_msg = 16, .multi_producer = multi,
					       .multi_consumer = multi };
		CHECK_OK(shmkit_queue_create(&q, "memfd:pollfd-emfile", &o));
		take_all();
		CHECK_RET(shmkit_queue_fd(q), -EMFILE);
		CHECK(strstr(shmkit_last_error_detail(), "RLIMIT_NOFILE") != NULL);
		/* the handle still works */
		CHECK_OK(shmkit_queue_send(q, "a", 1, 0));
		CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), 1);
		give_back();
		int fd = shmkit_queue_fd(q);
		CHECK(fd > 2);
		CHECK_OK(shmkit_queue_send(q, "b", 1, 0));
		CHECK(readable(fd));
		CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), 1);
		CHECK_OK(shmkit_queue_close(q));
	}

	struct shmkit_pub *p;
	struct shmkit_sub *s;
	struct shmkit_topic_opts to = { .slot_size = 64, .slots = 4 };
	const char *uri = test_uri("posix", "pollfd-emfile");
	CHECK_OK(shmkit_pub_create(&p, uri, &to));
	CHECK_OK(shmkit_sub_open(&s, uri));
	take_all();
	CHECK_RET(shmkit_sub_fd(s), -EMFILE);
	CHECK(strstr(shmkit_last_error_detail(), "RLIMIT_NOFILE") != NULL);
	CHECK_OK(shmkit_pub_send(p, "c", 1, 0));
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), 1);
	give_back();
	int fd = shmkit_sub_fd(s);
	CHECK(fd > 2);
	CHECK_OK(shmkit_pub_send(p, "d", 1, 0));
	CHECK(readable(fd));
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), 1);
	CHECK_OK(shmkit_sub_close(s));
	CHECK_OK(shmkit_pub_close(p));
	CHECK_OK(shmkit_remove(uri));
	return 0;
}

int main(void)
{
	/* valgrind keeps descriptors of its own, above any limit we set */
	if (test_under_valgrind())
		test_skip("descriptor limits: not under valgrind");
	int rc = test_wait(test_fork(child, NULL));
	if (rc == 77)
		test_skip("cannot lower RLIMIT_NOFILE");
	CHECK_RET(rc, 0);
	return test_done();
}
