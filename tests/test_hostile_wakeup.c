/* SPDX-License-Identifier: MIT */
/* Lost wake-up stress on shmkit_event, through the public API only: one
 * notifier and 16 waiter processes, with random pauses (nothing, a yield,
 * or a sleep of up to ~200 us) between every step of the protocol, so that a
 * signal lands at every point of a waiter's read-seq / check / wait and of
 * the notifier's publish / signal; each round all of them aim at one
 * instant with their own jitter, so the notifier is regularly ahead of every
 * waiter (the interesting case: nobody asleep yet).
 *
 * Round r: the notifier publishes round = r, pauses, signals. Each waiter
 * reads the sequence, pauses, checks round, pauses, and waits on the sequence
 * it read (FOREVER, or a short random timeout and loops). When it sees the
 * new round it acknowledges. The notifier waits (polling, not the event) for
 * all acknowledgements: a lost wake-up leaves a waiter asleep with FOREVER,
 * and the round never completes (the test fails naming the waiter after
 * 20 s). A wait that returns 0 must find the sequence moved. A waiter is
 * killed while asleep early on: the rest must not notice. Checked against a
 * broken signal that reads the waiters bit before advancing the sequence:
 * with a window of tens of microseconds (30 000 loop iterations) it fails
 * within 2000 rounds; a window of a few microseconds is rarely hit on 2
 * loaded cores (it needs a preemption inside it). */
/* TIMEOUT: 120 */
#include "test.h"

#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define WAITERS 16
#define ROUNDS 2000
#define ROUND_LIMIT_NS (20 * 1000000000LL)

struct shared {
	struct shmkit_event ev;
	_Atomic uint32_t round;
	_Atomic uint32_t seen_round[WAITERS + 1]; /* last round each waiter acked */
	_Atomic uint32_t spurious;               /* waits that returned 0 with no move */
	_Atomic uint32_t victim_asleep;
	_Atomic uint32_t go_round;  /* the round whose start instant go_ns is */
	_Atomic int64_t go_ns;      /* CLOCK_MONOTONIC instant the round aims at */
	_Atomic uint32_t phase_ns;  /* spread of the round's start, see sleep_past() */
};

static struct shared *sh;

static uint64_t rnd_state;
static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/* Nothing (often), a yield, a spin, or a sleep of up to ~300 us: every
 * step sometimes runs back to back with the next and sometimes lets the
 * other side run a whole step in between. */
static void pause_randomly(void)
{
	switch (rnd() % 8) {
	case 0:
	case 1:
	case 2:
		break;
	case 3:
		sched_yield();
		break;
	case 4:
	case 5:
		for (volatile int i = (int)(rnd() % 5000); i > 0; i--)
			;
		break;
	default: {
		struct timespec ts = { 0, (long)(rnd() % 300000) };
		nanosleep(&ts, NULL);
	}
	}
}

/* Sleeps until go plus a random part of spread. The notifier and every
 * waiter aim at the same instant, each with its own jitter, so in about one
 * round in 17 the notifier publishes and signals while no waiter sleeps yet
 * and all of them are between steps (once any waiter sleeps, the waiters
 * bit it set covers the rest, which hides a lost wake-up). */
static void sleep_past(int64_t go, uint32_t spread)
{
	int64_t at = go + (int64_t)(spread ? rnd() % spread : 0);
	struct timespec ts = { (time_t)(at / 1000000000LL), (long)(at % 1000000000LL) };
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

/* Waiter side: after acking round r, wait for round r + 1's start instant. */
static void await_start(uint32_t next)
{
	while (atomic_load(&sh->go_round) < next) {
		struct timespec ts = { 0, 20000 };
		nanosleep(&ts, NULL);
	}
	sleep_past(atomic_load(&sh->go_ns), atomic_load(&sh->phase_ns));
}

static int waiter(void *arg)
{
	int id = (int)(intptr_t)arg;
	uint32_t acked = 0;
	rnd_state = 0x9e3779b97f4a7c15ull ^ (uint64_t)(id + 1) * 0x100000001b3ull;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	await_start(1);
	while (acked < ROUNDS) {
		uint32_t seen = shmkit_event_seq(&sh->ev);
		pause_randomly();
		uint32_t r = atomic_load(&sh->round);
		if (r > acked) {
			acked = r;
			atomic_store(&sh->seen_round[id], r);
			if (r < ROUNDS)
				await_start(r + 1);
			continue;
		}
		pause_randomly();
		/* Mostly forever (a lost wake-up then hangs the round); sometimes
		 * a short timeout, to race the timed path too. */
		int64_t t = rnd() % 32 ? SHMKIT_FOREVER : (int64_t)(rnd() % 2000000);
		int w = shmkit_event_wait(&sh->ev, seen, t);
		if (w == 0 && shmkit_event_seq(&sh->ev) == seen)
			atomic_fetch_add(&sh->spurious, 1);
		if (w != 0 && w != -ETIMEDOUT && w != -EAGAIN)
			return 10;
	}
	return 0;
}

/* A waiter that only sleeps, to be killed while asleep. */
static __attribute__((noreturn)) int victim(void *arg)
{
	(void)arg;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (;;) {
		uint32_t seen = shmkit_event_seq(&sh->ev);
		atomic_store(&sh->victim_asleep, 1);
		shmkit_event_wait(&sh->ev, seen, SHMKIT_FOREVER);
	}
}

/* Polls until every waiter acknowledged round r; -1 names a stuck waiter. */
static int wait_acks(uint32_t r)
{
	int64_t end = test_now_ns() + ROUND_LIMIT_NS;
	for (;;) {
		int stuck = -1;
		for (int i = 0; i < WAITERS && stuck < 0; i++)
			if (atomic_load(&sh->seen_round[i]) < r)
				stuck = i;
		if (stuck < 0)
			return 0;
		if (test_now_ns() > end) {
			fprintf(stderr, "round %u: waiter %d still at round %u after 20 s: lost wake-up\n",
				r, stuck, atomic_load(&sh->seen_round[stuck]));
			return -1;
		}
		struct timespec ts = { 0, 50000 };
		nanosleep(&ts, NULL);
	}
}

int main(void)
{
	pid_t pids[WAITERS], vic;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(sh != MAP_FAILED);
	CHECK_RET(shmkit_event_init(&sh->ev), 0);
	rnd_state = 0x2545f4914f6cdd1dull;
	for (int i = 0; i < WAITERS; i++)
		pids[i] = test_fork(waiter, (void *)(intptr_t)i);
	vic = test_fork(victim, NULL);

	int ok = 1;
	int64_t t0 = test_now_ns();
	for (uint32_t r = 1; r <= ROUNDS && ok; r++) {
		/* every process aims at go, each with its own jitter */
		uint32_t spread = (uint32_t)(rnd() % 300000);
		int64_t go = test_now_ns() + 200000;
		atomic_store(&sh->phase_ns, spread);
		atomic_store(&sh->go_ns, go);
		atomic_store(&sh->go_round, r);
		sleep_past(go, spread);
		atomic_store(&sh->round, r);
		pause_randomly();
		CHECK_RET(shmkit_event_signal(&sh->ev), 0);
		if (wait_acks(r) < 0)
			ok = 0;
		if (r == 5 && atomic_load(&sh->victim_asleep)) {
			kill(vic, SIGKILL); /* killed asleep (or about to be) */
			CHECK(test_wait(vic) == 128 + SIGKILL);
			vic = 0;
		}
	}
	CHECK(ok);
	printf("%d rounds x %d waiters in %.2f s, %u spurious returns\n", ROUNDS, WAITERS,
	       (double)(test_now_ns() - t0) / 1e9, atomic_load(&sh->spurious));
	CHECK(atomic_load(&sh->spurious) == 0);
	for (int i = 0; i < WAITERS; i++) {
		if (!ok)
			kill(pids[i], SIGKILL);
		int rc = test_wait(pids[i]);
		if (ok && rc != 0)
			fprintf(stderr, "waiter %d exited %d\n", i, rc);
		CHECK(!ok || rc == 0);
	}
	if (vic > 0) {
		kill(vic, SIGKILL);
		test_wait(vic);
	}
	return test_done();
}
