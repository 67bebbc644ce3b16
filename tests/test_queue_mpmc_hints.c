/* SPDX-License-Identifier: MIT */
/* MPMC head/tail are hints moved by a plain store (src/queue_mpmc.c,
 * pass_hint): a store racing with another process's move can set a hint
 * back. Set them back by hand (within a lap and beyond) and while 2
 * producers and 2 consumers run, from a fifth process that keeps writing
 * stale values: every message still arrives exactly once and in order per
 * producer, and the statistics of the quiet queue are exact. And a producer
 * (consumer) kill -9'd between winning its slot and moving the hint
 * (pause points queue.mpmc.reserved / queue.mpmc.claimed): the others step
 * over the slot, its reservation is skipped (its message abandoned) once its
 * death is seen, nothing else is lost. */
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
#define MS 1000000ll
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

/* argv: uri value — sends one message (killed inside its reserve). */
static int role_send1(int argc, char **argv)
{
	struct shmkit_queue *q;
	uint32_t v = argc > 1 ? (uint32_t)atoi(argv[1]) : 0;
	CHECK_OK(shmkit_queue_open(&q, argv[0]));
	CHECK_OK(shmkit_queue_send(q, &v, sizeof(v), 10 * SEC));
	shmkit_queue_close(q);
	return 0;
}

/* argv: uri — receives one message (killed inside its claim). */
static int role_recv1(int argc, char **argv)
{
	struct shmkit_queue *q;
	uint32_t v;
	(void)argc;
	CHECK_OK(shmkit_queue_open(&q, argv[0]));
	CHECK(shmkit_queue_recv(q, &v, sizeof(v), 10 * SEC) == sizeof(v));
	shmkit_queue_close(q);
	return 0;
}

static void test_producer_killed_before_hint(void)
{
	const char *uri = test_uri("posix", "mpmc-resv-kill");
	struct shmkit_queue *q = make(uri, 8);
	const char *args[] = { uri, "7", NULL };
	uint32_t v;

	CHECK_RET(test_kill_stopped(test_spawn_paused("queue.mpmc.reserved", "send1", args)),
		  128 + SIGKILL);
	CHECK_RET(atomic_load(&q->sh->tail), 0); /* the dead producer's slot 0, hint unmoved */
	for (uint32_t i = 10; i < 13; i++)
		CHECK_OK(shmkit_queue_send(q, &i, sizeof(i), 0));
	/* slot 0 blocks consumers until its holder is seen dead, then is skipped */
	for (uint32_t i = 10; i < 13; i++) {
		CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 10 * SEC), sizeof(v));
		CHECK_RET(v, i);
	}
	CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 0), -EAGAIN);
	struct shmkit_queue_stats st;
	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK_RET(st.skipped, 1);
	check_stats(q, 3, 3);
	CHECK_OK(shmkit_queue_close(q));
}

static void test_consumer_killed_before_hint(void)
{
	const char *uri = test_uri("posix", "mpmc-claim-kill");
	struct shmkit_queue *q = make(uri, 8);
	const char *args[] = { uri, NULL };
	uint32_t v;

	for (uint32_t i = 20; i < 22; i++)
		CHECK_OK(shmkit_queue_send(q, &i, sizeof(i), 0));
	CHECK_RET(test_kill_stopped(test_spawn_paused("queue.mpmc.claimed", "recv1", args)),
		  128 + SIGKILL);
	CHECK_RET(atomic_load(&q->sh->head), 0); /* message 20 claimed by the dead, hint unmoved */
	CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 0), sizeof(v));
	CHECK_RET(v, 21);
	/* a producer a lap later finds slot 0 still claimed: full until the
	 * holder is seen dead; then message 20 is handed back, and the slot
	 * stays full until a consumer takes it */
	for (uint32_t i = 30; i < 36; i++)
		CHECK_OK(shmkit_queue_send(q, &i, sizeof(i), 0));
	uint32_t last = 36;
	struct shmkit_queue_stats st = { 0 };
	for (int64_t until = test_now_ns() + 10 * SEC; !st.abandoned && test_now_ns() < until;) {
		CHECK_RET(shmkit_queue_send(q, &last, sizeof(last), 100 * MS), -ETIMEDOUT);
		CHECK_OK(shmkit_queue_stats(q, &st));
	}
	CHECK_RET(st.abandoned, 1);
	CHECK_RET(st.depth, 7); /* 20 again, 30..35 */
	CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 0), sizeof(v));
	CHECK_RET(v, 20); /* the oldest first */
	CHECK_OK(shmkit_queue_send(q, &last, sizeof(last), 0));
	for (uint32_t i = 30; i < 37; i++) {
		CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 0), sizeof(v));
		CHECK_RET(v, i);
	}
	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK_RET(st.abandoned, 1);
	CHECK_RET(st.skipped, 0);
	CHECK_RET(st.sent, 9);
	CHECK_RET(st.received, 9);
	CHECK_RET(st.depth, 0);
	CHECK_OK(shmkit_queue_close(q));
}

int main(int argc, char **argv)
{
	static const struct test_role roles[] = {
		{ "send1", role_send1 },
		{ "recv1", role_recv1 },
		{ NULL, NULL },
	};
	test_child_dispatch(argc, argv, roles);
	test_by_hand();
	test_stale_while_running();
	test_producer_killed_before_hint();
	test_consumer_killed_before_hint();
	return test_done();
}
