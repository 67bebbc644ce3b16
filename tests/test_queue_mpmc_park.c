/* SPDX-License-Identifier: MIT */
/* MPMC peers that sleep give their peer entry back (src/queue_mpmc.c
 * "parking"), so more waiters than the 64 entries never lock the other
 * side out: 66 senders asleep on a full capacity-2 queue, then a receiver
 * drains every message exactly once; 66 receivers asleep on an empty one,
 * then a sender gets in; 70 handles polling with timeout 0 and sleeping by
 * themselves, then a sender gets in; waiters killed with kill -9 at random moments, and
 * at each point of giving back and claiming again, wedge nothing (every
 * entry can be claimed again, every message of a live sender arrives once).
 * Real processes throughout (fork, exec, kill -9). */
/* TIMEOUT: 90 */
#include "test.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "queue_internal.h"

#define SEC 1000000000ll
#define MS 1000000ll
#define WAITERS 66
#define KILLERS 70

/* Shared between the parent and its forked children. */
struct board {
	_Atomic uint32_t started;	  /* children about to block */
	_Atomic uint32_t got[256];	  /* times each message id was received */
	_Atomic uint32_t bad;		  /* a message not of the form "m<id>" */
	_Atomic uint32_t stop;		  /* pollers: stop polling */
};

static struct board *board;
static const char *g_uri;

static struct board *board_new(void)
{
	void *p = mmap(NULL, sizeof(struct board), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	memset(p, 0, sizeof(struct board));
	return p;
}

static struct shmkit_queue *make(const char *tag)
{
	struct shmkit_queue_opts o = { .capacity = 2, .max_msg = 16, .multi_producer = 1,
				       .multi_consumer = 1 };
	struct shmkit_queue *q;
	g_uri = test_uri("posix", tag);
	CHECK_OK(shmkit_queue_create(&q, g_uri, &o));
	return q;
}

static void note(const char *buf, ssize_t n)
{
	char s[17];
	unsigned id;
	if (n <= 0 || n > 16) {
		atomic_fetch_add(&board->bad, 1);
		return;
	}
	memcpy(s, buf, (size_t)n);
	s[n] = '\0';
	if (sscanf(s, "m%u", &id) != 1 || id >= 256)
		atomic_fetch_add(&board->bad, 1);
	else
		atomic_fetch_add(&board->got[id], 1);
}

static int send_id(struct shmkit_queue *q, unsigned id, int64_t timeout)
{
	char m[16];
	int n = snprintf(m, sizeof(m), "m%u", id);
	return shmkit_queue_send(q, m, (size_t)n, timeout);
}

/* A sender of one message, id *arg, that blocks on the full queue. */
static int sender(void *arg)
{
	struct shmkit_queue *q;
	if (shmkit_queue_open(&q, g_uri) != 0)
		return 2;
	atomic_fetch_add(&board->started, 1);
	int r = send_id(q, (unsigned)(uintptr_t)arg, 20 * SEC);
	shmkit_queue_close(q);
	return r == 0 ? 0 : 3;
}

/* A receiver of `*arg` messages (each within 10 s), noted on the board. */
static int receiver(void *arg)
{
	struct shmkit_queue *q;
	char buf[16];
	if (shmkit_queue_open(&q, g_uri) != 0)
		return 2;
	atomic_fetch_add(&board->started, 1);
	for (uintptr_t i = 0; i < (uintptr_t)arg; i++) {
		ssize_t n = shmkit_queue_recv(q, buf, sizeof(buf), 20 * SEC);
		if (n < 0) {
			fprintf(stderr, "receiver %d: message %zu: %s (%s)\n", (int)getpid(),
				(size_t)i, shmkit_strerror((int)n), shmkit_last_error_detail());
			return 3;
		}
		note(buf, n);
	}
	shmkit_queue_close(q);
	return 0;
}

/* A slow drainer: receives until the queue stays empty for `*arg` ms. */
static int drainer(void *arg)
{
	struct shmkit_queue *q;
	char buf[16];
	if (shmkit_queue_open(&q, g_uri) != 0)
		return 2;
	for (;;) {
		ssize_t n = shmkit_queue_recv(q, buf, sizeof(buf), (int64_t)(uintptr_t)arg * MS);
		if (n == -ETIMEDOUT)
			break;
		if (n < 0) {
			fprintf(stderr, "drainer: %s (%s)\n", shmkit_strerror((int)n),
				shmkit_last_error_detail());
			return 3;
		}
		note(buf, n);
		usleep((useconds_t)(rand() % 3000));
	}
	shmkit_queue_close(q);
	return 0;
}

/* A sender of *arg messages m0.. (each within 10 s). */
static int sender_many(void *arg)
{
	struct shmkit_queue *q;
	if (shmkit_queue_open(&q, g_uri) != 0)
		return 2;
	for (unsigned i = 0; i < (unsigned)(uintptr_t)arg; i++) {
		int r = send_id(q, i, 20 * SEC);
		if (r < 0) {
			fprintf(stderr, "sender: message %u: %s (%s)\n", i, shmkit_strerror(r),
				shmkit_last_error_detail());
			return 3;
		}
	}
	shmkit_queue_close(q);
	return 0;
}

/* A poller: receives with timeout 0 every 5 ms (sleeping by itself in
 * between, not on a descriptor), noting what it gets, until told to stop. */
static int poller(void *arg)
{
	struct shmkit_queue *q;
	char buf[16];
	(void)arg;
	if (shmkit_queue_open(&q, g_uri) != 0)
		return 2;
	for (unsigned polls = 0; !atomic_load(&board->stop); polls++) {
		ssize_t n = shmkit_queue_recv(q, buf, sizeof(buf), 0);
		if (n >= 0) {
			note(buf, n);
		} else if (n != -EAGAIN) {
			fprintf(stderr, "poller %d: %s (%s)\n", (int)getpid(),
				shmkit_strerror((int)n), shmkit_last_error_detail());
			return 3;
		}
		if (polls == 1)
			atomic_fetch_add(&board->started, 1); /* its polls are apart */
		usleep(5000);
	}
	shmkit_queue_close(q);
	return 0;
}

/* Until every child is about to block, then a little longer (asleep). */
static void wait_started(uint32_t n)
{
	int64_t t0 = test_now_ns();
	while (atomic_load(&board->started) < n && test_now_ns() - t0 < 20 * SEC)
		usleep(1000);
	CHECK(atomic_load(&board->started) == n);
	usleep(300000);
}

/* 64 handles (ours and 63 new ones) each register with timeout 0: every
 * entry a waiter gave back, or a dead one held, is claimable. */
static void check_all_entries_claimable(struct shmkit_queue *q)
{
	struct shmkit_queue *h[SHMKIT__QUEUE_PEERS - 1];
	char buf[16];

	/* an empty poll long after our last one gives the entry back
	 * (src/queue.c park_if_polls_apart); one right after it keeps it.
	 * "Right after" is within 1 ms and a clock tick: on a loaded machine
	 * this process was now and then preempted between the two (1 of 3
	 * runs of the ASan suite at load average 45), so the pair is tried
	 * again rather than trusted once. */
	ssize_t r = shmkit_queue_recv(q, buf, sizeof(buf), 0);
	for (int i = 0; i < 100 && r == -EAGAIN && q->peer < 0; i++)
		r = shmkit_queue_recv(q, buf, sizeof(buf), 0);
	CHECK(r == -EAGAIN && q->peer >= 0); /* registered */
	for (unsigned i = 0; i < SHMKIT__QUEUE_PEERS - 1; i++) {
		CHECK_OK(shmkit_queue_open(&h[i], g_uri));
		r = shmkit_queue_recv(h[i], buf, sizeof(buf), 0);
		if (r != -EAGAIN || h[i]->peer < 0) {
			fprintf(stderr, "handle %u: %zd %s (%s)\n", i, r, shmkit_strerror((int)r),
				shmkit_last_error_detail());
			CHECK(0);
		}
	}
	for (unsigned i = 0; i < SHMKIT__QUEUE_PEERS - 1; i++)
		CHECK_OK(shmkit_queue_close(h[i]));
}

/* 66 senders asleep on a full queue, then one receiver drains all 68. */
static void test_senders_asleep(void)
{
	struct shmkit_queue *q = make("park-send");
	pid_t kids[WAITERS];

	memset(board, 0, sizeof(*board));
	CHECK_OK(send_id(q, 200, 0));
	CHECK_OK(send_id(q, 201, 0)); /* full; our handle keeps its entry */
	for (unsigned i = 0; i < WAITERS; i++)
		kids[i] = test_fork(sender, (void *)(uintptr_t)i);
	wait_started(WAITERS);
	pid_t rx = test_fork(receiver, (void *)(uintptr_t)(WAITERS + 2));
	CHECK_RET(test_wait(rx), 0);
	for (unsigned i = 0; i < WAITERS; i++)
		CHECK_RET(test_wait(kids[i]), 0);
	for (unsigned i = 0; i < WAITERS; i++)
		CHECK_RET(atomic_load(&board->got[i]), 1);
	CHECK_RET(atomic_load(&board->got[200]), 1);
	CHECK_RET(atomic_load(&board->got[201]), 1);
	CHECK_RET(atomic_load(&board->bad), 0);
	check_all_entries_claimable(q);
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(g_uri));
}

/* 66 receivers asleep on an empty queue, then one sender sends 66. */
static void test_receivers_asleep(void)
{
	struct shmkit_queue *q = make("park-recv");
	pid_t kids[WAITERS];
	char buf[16];

	memset(board, 0, sizeof(*board));
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), -EAGAIN); /* registered */
	for (unsigned i = 0; i < WAITERS; i++)
		kids[i] = test_fork(receiver, (void *)(uintptr_t)1);
	wait_started(WAITERS);
	pid_t tx = test_fork(sender_many, (void *)(uintptr_t)WAITERS);
	CHECK_RET(test_wait(tx), 0);
	for (unsigned i = 0; i < WAITERS; i++)
		CHECK_RET(test_wait(kids[i]), 0);
	for (unsigned i = 0; i < WAITERS; i++)
		CHECK_RET(atomic_load(&board->got[i]), 1);
	CHECK_RET(atomic_load(&board->bad), 0);
	check_all_entries_claimable(q);
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(g_uri));
}

/* 70 handles polling an empty queue with timeout 0, each sleeping 5 ms
 * by itself between polls: a sender still gets an entry (a poll that
 * found nothing a while after the last one gives its entry back), and
 * each of its 70 messages reaches one poller exactly once. */
static void test_pollers_apart(void)
{
	struct shmkit_queue *q = make("park-poll");
	pid_t kids[KILLERS];

	memset(board, 0, sizeof(*board));
	for (unsigned i = 0; i < KILLERS; i++)
		kids[i] = test_fork(poller, NULL);
	wait_started(KILLERS);
	pid_t tx = test_fork(sender_many, (void *)(uintptr_t)KILLERS);
	CHECK_RET(test_wait(tx), 0);
	uint32_t total = 0;
	for (int64_t t0 = test_now_ns(); test_now_ns() - t0 < 20 * SEC; usleep(10000)) {
		total = 0;
		for (unsigned i = 0; i < KILLERS; i++)
			total += atomic_load(&board->got[i]);
		if (total >= KILLERS)
			break;
	}
	atomic_store(&board->stop, 1);
	for (unsigned i = 0; i < KILLERS; i++)
		CHECK_RET(test_wait(kids[i]), 0);
	for (unsigned i = 0; i < KILLERS; i++)
		CHECK_RET(atomic_load(&board->got[i]), 1);
	CHECK_RET(atomic_load(&board->bad), 0);
	check_all_entries_claimable(q);
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(g_uri));
}

/* A handle that polls once (its first empty poll keeps its entry), then
 * holds it until told to stop. */
static int holder(void *arg)
{
	struct shmkit_queue *q;
	char buf[16];
	(void)arg;
	if (shmkit_queue_open(&q, g_uri) != 0 || shmkit_queue_recv(q, buf, sizeof(buf), 0) != -EAGAIN)
		return 2;
	atomic_fetch_add(&board->started, 1);
	while (!atomic_load(&board->stop))
		usleep(1000);
	shmkit_queue_close(q);
	return 0;
}

static int64_t cpu_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

/* Every entry held by a live handle: a poll that finds no entry costs
 * little (the full registration, a /proc read per entry, is made at most
 * every SHMKIT__LIVENESS_NS, not at each poll: it cost ~250 us a poll), and
 * an entry of a holder killed with kill -9 is still found by such polls. */
static void test_locked_out_polls(void)
{
	struct shmkit_queue *q = make("park-locked");
	pid_t kids[SHMKIT__QUEUE_PEERS];
	char buf[16];

	memset(board, 0, sizeof(*board));
	for (unsigned i = 0; i < SHMKIT__QUEUE_PEERS; i++)
		kids[i] = test_fork(holder, NULL);
	wait_started(SHMKIT__QUEUE_PEERS);
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), -EAGAIN);
	CHECK(shmkit__queue_peer_full(q));
	int64_t c0 = cpu_now_ns();
	for (unsigned i = 0; i < 200; i++) {
		CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), -EAGAIN);
		CHECK(shmkit__queue_peer_full(q));
	}
	int64_t per_poll = (cpu_now_ns() - c0) / 200;
	if (per_poll > 50000)
		fprintf(stderr, "a locked-out poll took %lld ns of CPU\n", (long long)per_poll);
	CHECK(per_poll <= 50000);
	kill(kids[0], SIGKILL);
	CHECK_RET(test_wait(kids[0]), 128 + SIGKILL);
	int64_t t0 = test_now_ns();
	ssize_t r;
	while ((r = shmkit_queue_recv(q, buf, sizeof(buf), 0)) == -EAGAIN && q->peer < 0 &&
	       test_now_ns() - t0 < 5 * SEC)
		usleep(1000);
	CHECK(r == -EAGAIN && q->peer >= 0); /* the dead holder's entry, found */
	atomic_store(&board->stop, 1);
	for (unsigned i = 1; i < SHMKIT__QUEUE_PEERS; i++)
		CHECK_RET(test_wait(kids[i]), 0);
	check_all_entries_claimable(q);
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(g_uri));
}

/* 70 senders asleep on a full queue; a slow drainer; a third of the
 * senders killed at random moments while they sleep, wake, give back or
 * claim again. Every survivor's message arrives exactly once, a killed
 * one's at most once, and nothing stays held. */
static void test_kill_sleepers(void)
{
	struct shmkit_queue *q = make("park-kill");
	pid_t kids[KILLERS];
	bool killed[KILLERS] = { 0 };
	char buf[16];

	memset(board, 0, sizeof(*board));
	srand((unsigned)getpid());
	CHECK_OK(send_id(q, 200, 0));
	CHECK_OK(send_id(q, 201, 0));
	for (unsigned i = 0; i < KILLERS; i++)
		kids[i] = test_fork(sender, (void *)(uintptr_t)i);
	wait_started(KILLERS);
	pid_t rx = test_fork(drainer, (void *)(uintptr_t)1500);
	for (unsigned n = 0; n < KILLERS / 3; n++) {
		unsigned i = (unsigned)rand() % KILLERS;
		usleep((useconds_t)(rand() % 20000));
		if (!killed[i]) {
			kill(kids[i], SIGKILL);
			killed[i] = true;
		}
	}
	CHECK_RET(test_wait(rx), 0);
	for (unsigned i = 0; i < KILLERS; i++) {
		int rc = test_wait(kids[i]);
		if (killed[i]) {
			CHECK(rc == 0 || rc == 128 + SIGKILL);
			CHECK(atomic_load(&board->got[i]) <= 1);
		} else {
			CHECK_RET(rc, 0);
			CHECK_RET(atomic_load(&board->got[i]), 1);
		}
	}
	CHECK_RET(atomic_load(&board->got[200]), 1);
	CHECK_RET(atomic_load(&board->got[201]), 1);
	CHECK_RET(atomic_load(&board->bad), 0);
	/* the queue works: no slot held, every entry claimable */
	CHECK_OK(send_id(q, 202, 0));
	CHECK_OK(send_id(q, 203, 0));
	CHECK(shmkit_queue_recv(q, buf, sizeof(buf), 0) > 0);
	CHECK(shmkit_queue_recv(q, buf, sizeof(buf), 0) > 0);
	check_all_entries_claimable(q);
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(g_uri));
}

/* exec'd child: one send of "m7" that blocks on the full queue argv[0]. */
static int role_blocked_sender(int argc, char **argv)
{
	struct shmkit_queue *q;
	if (argc < 1 || shmkit_queue_open(&q, argv[0]) != 0)
		return 2;
	return send_id(q, 7, 20 * SEC) == 0 ? 0 : 3;
}

/* A sender stopped at `point` (while giving its entry back, or claiming
 * one again after a wake-up), killed there: its entry and the queue are
 * usable by everyone else. `wake`: free a slot so that it wakes and
 * registers again before it gets to the point. */
static void test_killed_at(const char *point, bool wake)
{
	struct shmkit_queue *q = make("park-point");
	const char *args[] = { g_uri, NULL };
	char buf[16];

	CHECK_OK(send_id(q, 200, 0));
	CHECK_OK(send_id(q, 201, 0));
	pid_t pid;
	if (!wake) {
		pid = test_spawn_paused(point, "blocked_sender", args);
	} else {
		/* (hooks are there: the cases before stopped at theirs) */
		/* the point is on the way back only: it sleeps first (its
		 * entry given back), then a freed slot wakes it */
		setenv("SHMKIT_TEST_PAUSE", point, 1);
		pid = test_spawn_self("blocked_sender", args);
		unsetenv("SHMKIT_TEST_PAUSE");
		usleep(300000);
		CHECK(shmkit_queue_recv(q, buf, sizeof(buf), 0) > 0);
		CHECK_RET(test_wait_stopped(pid, 10 * SEC), 0);
	}
	CHECK_RET(test_kill_stopped(pid), 128 + SIGKILL);
	/* whatever it held is claimable, the ring not wedged */
	while (shmkit_queue_recv(q, buf, sizeof(buf), 0) > 0)
		;
	CHECK_OK(send_id(q, 202, 0));
	CHECK_OK(send_id(q, 203, 0));
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), 4);
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), 4);
	check_all_entries_claimable(q);
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(g_uri));
}

int main(int argc, char **argv)
{
	static const struct test_role roles[] = {
		{ "blocked_sender", role_blocked_sender },
		{ NULL, NULL },
	};
	test_child_dispatch(argc, argv, roles);
	board = board_new();
	int64_t t0 = test_now_ns();
	test_senders_asleep();
	test_receivers_asleep();
	test_pollers_apart();
	test_locked_out_polls();
	test_kill_sleepers();
	test_killed_at("queue.peer.parking", false);
	test_killed_at("queue.peer.releasing", false);
	test_killed_at("queue.peer.reclaimed", true);
	fprintf(stderr, "took %.1f s\n", (double)(test_now_ns() - t0) / 1e9);
	return test_done();
}
