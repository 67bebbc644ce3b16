/* SPDX-License-Identifier: MIT */
/* MPMC byte counters live in each handle's peer entry (src/queue_mpmc.c
 * "byte counters"): 2 producers and 2 consumers in their own processes move
 * a known number of bytes; the totals are exact after they close, stay
 * exact while their entries are claimed again (counts kept in the entry,
 * added to by its next owner), and stay exact when the entry of a producer killed with
 * kill -9 is taken over by a new handle (the table full of live ones). */
/* TIMEOUT: 120 */
#include "test.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "queue_internal.h"

#define SEC 1000000000ll
#define PER_PRODUCER 3000u

static uint64_t len_of(uint32_t k, uint32_t i)
{
	return 4 + (i * 7 + k) % 29;
}

static void check_bytes(struct shmkit_queue *q, uint64_t sent, uint64_t received)
{
	struct shmkit_queue_stats st;
	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK_RET(st.bytes_sent, sent);
	CHECK_RET(st.bytes_received, received);
}

static int child(const char *uri, uint32_t k)
{
	struct shmkit_queue *q;
	unsigned char buf[32] = { 0 };

	if (shmkit_queue_open(&q, uri) != 0)
		return 2;
	if (k < 2) {
		for (uint32_t i = 0; i < PER_PRODUCER; i++)
			if (shmkit_queue_send(q, buf, len_of(k, i), 60 * SEC) != 0)
				return 3;
	} else {
		ssize_t n;
		while ((n = shmkit_queue_recv(q, buf, sizeof(buf), 60 * SEC)) > 0)
			;
		if (n != 0)
			return 4;
	}
	shmkit_queue_close(q);
	return 0;
}

static int run_child(void *arg)
{
	const char *const *a = arg;
	return child(a[0], (uint32_t)(a[1][0] - '0'));
}

static void test_bytes(void)
{
	const char *uri = test_uri("posix", "mpmcbytes");
	struct shmkit_queue_opts o = { .capacity = 64, .max_msg = 32, .multi_producer = 1,
				       .multi_consumer = 1 };
	struct shmkit_queue *q;
	uint64_t total = 0;
	pid_t kids[4];

	for (uint32_t k = 0; k < 2; k++)
		for (uint32_t i = 0; i < PER_PRODUCER; i++)
			total += len_of(k, i);
	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	static const char *digits[] = { "0", "1", "2", "3" };
	const char *args[4][2];
	for (int k = 0; k < 4; k++) {
		args[k][0] = uri;
		args[k][1] = digits[k];
		kids[k] = test_fork(run_child, args[k]);
	}
	for (int k = 0; k < 2; k++)
		CHECK_RET(test_wait(kids[k]), 0);
	CHECK_OK(shmkit_queue_send(q, NULL, 0, SHMKIT_FOREVER)); /* one stop each */
	CHECK_OK(shmkit_queue_send(q, NULL, 0, SHMKIT_FOREVER));
	for (int k = 2; k < 4; k++)
		CHECK_RET(test_wait(kids[k]), 0);
	check_bytes(q, total, total);

	/* a producer killed after sending 30 bytes keeps its entry (live) */
	pid_t dead = fork();
	CHECK(dead >= 0);
	if (dead == 0) {
		struct shmkit_queue *d;
		unsigned char b[30] = { 0 };
		if (shmkit_queue_open(&d, uri) != 0 || shmkit_queue_send(d, b, sizeof(b), 0) != 0)
			_exit(1);
		for (;;)
			pause();
	}
	unsigned char b[32];
	CHECK_RET(shmkit_queue_recv(q, b, sizeof(b), 10 * SEC), 30);
	int dead_k = -1;
	for (int k = 0; k < (int)SHMKIT__QUEUE_PEERS; k++)
		if (q->sh->peers[k].id.pid == (uint32_t)dead)
			dead_k = k;
	CHECK(dead_k >= 0);
	/* its send has returned (counted) before we kill it: a kill between
	 * publishing and counting leaves a message uncounted (LAYOUT.md) */
	for (int64_t t0 = test_now_ns(); dead_k >= 0 && test_now_ns() - t0 < 10 * SEC;) {
		if (atomic_load(&q->sh->peers[dead_k].bytes_sent) == 30)
			break;
		usleep(1000);
	}
	kill(dead, SIGKILL);
	CHECK(waitpid(dead, NULL, 0) == dead);
	check_bytes(q, total + 30, total + 30);

	/* claim every other entry (ours is live): the closed ones' counts stay
	 * in their entries; the first registration takes over the dead
	 * producer's (a registration clears every dead entry first) */
	struct shmkit_queue *h[SHMKIT__QUEUE_PEERS - 1];
	int n = 0;
	for (; n < (int)SHMKIT__QUEUE_PEERS - 1; n++) {
		CHECK_OK(shmkit_queue_open(&h[n], uri));
		CHECK_RET(shmkit_queue_recv(h[n], b, sizeof(b), 0), -EAGAIN); /* registers */
		check_bytes(q, total + 30, total + 30);
	}
	CHECK_RET(h[0]->peer, dead_k);
	CHECK_OK(shmkit_queue_send(h[0], b, 7, 0));
	CHECK_RET(shmkit_queue_recv(h[0], b, sizeof(b), 0), 7);
	check_bytes(q, total + 37, total + 37);
	for (int i = 0; i < n; i++)
		CHECK_OK(shmkit_queue_close(h[i]));
	check_bytes(q, total + 37, total + 37);
	CHECK_OK(shmkit_queue_close(q));
}

int main(void)
{
	test_bytes();
	return test_done();
}
