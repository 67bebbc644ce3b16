/* SPDX-License-Identifier: MIT */
/* MPMC head/tail are hints moved by a plain store (src/queue_mpmc.c,
 * pass_hint): a store racing with another process's move can set a hint
 * back. Set them back by hand (within a lap and beyond) and while 2
 * producers and 2 consumers run, from a fifth process that keeps writing
 * stale values: every message still arrives exactly once and in order per
 * producer, and the statistics of the quiet queue are exact. */
/* TIMEOUT: 120 */
#include "test.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "queue_internal.h"

#define SEC 1000000000ll
#define PER_PRODUCER 20000u
#define STOP 0xffffffffu

static struct shmkit_queue *make(const char *uri, size_t cap)
{
	struct shmkit_queue_opts o = { .capacity = cap, .max_msg = 8, .multi_producer = 1,
				       .multi_consumer = 1 };
	struct shmkit_queue *q = NULL;
	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	return q;
}

static void check_stats(struct shmkit_queue *q, uint64_t sent, uint64_t received)
{
	struct shmkit_queue_stats st;
	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK_RET(st.sent, sent);
	CHECK_RET(st.received, received);
	CHECK_RET(st.depth, sent - received);
}

static void set_back(struct shmkit_queue *q, uint64_t tail_by, uint64_t head_by)
{
	atomic_fetch_sub(&q->sh->tail, tail_by);
	atomic_fetch_sub(&q->sh->head, head_by);
}

/* One process: 40 sent, 30 received, hints set back, then on. */
static void test_by_hand(void)
{
	struct shmkit_queue *q = make("anon:", 16);
	uint32_t v, next = 0, sent = 0;

	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < 10; i++, sent++)
			CHECK_OK(shmkit_queue_send(q, &sent, sizeof(sent), 0));
		for (int i = 0; round < 3 && i < 10; i++, next++) {
			CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 0), sizeof(v));
			CHECK_RET(v, next);
		}
	}
	check_stats(q, 40, 30);
	set_back(q, 5, 3); /* within a lap */
	check_stats(q, 40, 30);
	set_back(q, 30, 25); /* more than a lap behind */
	check_stats(q, 40, 30);
	for (int i = 0; i < 6; i++, sent++)
		CHECK_OK(shmkit_queue_send(q, &sent, sizeof(sent), 0));
	set_back(q, 2, 1);
	for (; next < sent; next++) {
		CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 0), sizeof(v));
		CHECK_RET(v, next);
	}
	CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 0), -EAGAIN);
	check_stats(q, 46, 46);
	CHECK_OK(shmkit_queue_close(q));
}

struct shared {
	_Atomic uint64_t got[2];
	_Atomic uint64_t bad;
};

static void worker(const char *uri, int k, struct shared *sh)
{
	struct shmkit_queue *q;
	uint32_t m[2];

	if (shmkit_queue_open(&q, uri) != 0)
		_exit(2);
	if (k < 2) {
		for (uint32_t i = 0; i < PER_PRODUCER; i++) {
			m[0] = (uint32_t)k;
			m[1] = i;
			if (shmkit_queue_send(q, m, sizeof(m), 60 * SEC) != 0)
				_exit(3);
		}
	} else {
		uint32_t next[2] = { 0, 0 };
		for (;;) {
			if (shmkit_queue_recv(q, m, sizeof(m), 60 * SEC) != sizeof(m))
				_exit(4);
			if (m[0] == STOP)
				break;
			if (m[0] > 1 || m[1] < next[m[0]])
				atomic_fetch_add(&sh->bad, 1);
			else
				next[m[0]] = m[1] + 1;
			atomic_fetch_add(&sh->got[m[0] & 1], 1);
		}
	}
	shmkit_queue_close(q);
	_exit(0);
}

/* Writes stale hints (up to two laps back) until killed. */
static void saboteur(const char *uri)
{
	struct shmkit_queue *q;
	uint64_t x = 88172645463325252ull;

	if (shmkit_queue_open(&q, uri) != 0)
		_exit(2);
	for (;;) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint64_t t = atomic_load(&q->sh->tail), h = atomic_load(&q->sh->head);
		uint64_t tb = (x >> 8) % (2 * q->cap), hb = (x >> 20) % (2 * q->cap);
		usleep(50 + x % 200);
		/* back, never below 0: a hint ahead of the truth is a scribble */
		atomic_store(&q->sh->tail, t > tb ? t - tb : 0);
		atomic_store(&q->sh->head, h > hb ? h - hb : 0);
	}
}

static void test_stale_while_running(void)
{
	const char *uri = test_uri("posix", "mpmchints");
	struct shmkit_queue *q = make(uri, 32);
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t kids[5];
	int st;

	CHECK(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	fflush(NULL);
	for (int k = 0; k < 5; k++) {
		kids[k] = fork();
		CHECK(kids[k] >= 0);
		if (kids[k] == 0) {
			if (k == 4)
				saboteur(uri);
			worker(uri, k, sh);
		}
	}
	for (int k = 0; k < 2; k++)
		CHECK(waitpid(kids[k], &st, 0) == kids[k] && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	uint32_t stop[2] = { STOP, 0 };
	CHECK_OK(shmkit_queue_send(q, stop, sizeof(stop), 60 * SEC));
	CHECK_OK(shmkit_queue_send(q, stop, sizeof(stop), 60 * SEC));
	for (int k = 2; k < 4; k++)
		CHECK(waitpid(kids[k], &st, 0) == kids[k] && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	kill(kids[4], SIGKILL);
	CHECK(waitpid(kids[4], &st, 0) == kids[4]);
	CHECK_RET(atomic_load(&sh->got[0]), PER_PRODUCER);
	CHECK_RET(atomic_load(&sh->got[1]), PER_PRODUCER);
	CHECK_RET(atomic_load(&sh->bad), 0);
	check_stats(q, 2 * PER_PRODUCER + 2, 2 * PER_PRODUCER + 2);
	CHECK_OK(shmkit_queue_close(q));
	munmap(sh, sizeof(*sh));
}

int main(void)
{
	test_by_hand();
	test_stale_while_running();
	return test_done();
}
