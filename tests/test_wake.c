/* SPDX-License-Identifier: MIT */
/* The wake-up core's barrier mode (src/sync/barrier.h): the creator records
 * it (SHMKIT_WAKE_BARRIER forces it), a corrupt one is refused at open, and
 * an object switched from MEMBARRIER to FENCE while two processes ping-pong
 * through it with sleeping waits loses no wake-up; a switch left half done
 * (SWITCHING) opens and is finished by the next sleeper; and the rule that
 * decides the switch, fed made-up call timings. */
/* TIMEOUT: 120 */
#include "test.h"

#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "layout.h"
#include "sync/barrier.h"

#define SEC 1000000000ll
#define ROUNDS 20000

static struct shmkit__queue_shared *body(struct shmkit_queue *q)
{
	return (void *)((char *)shmkit_seg_addr(shmkit_queue_seg(q)) + 4096);
}

static const char *create(const char *tag, const char *mode)
{
	const char *uri = test_uri("posix", tag);
	struct shmkit_queue_opts o = {.capacity = 4, .max_msg = 8};
	struct shmkit_queue *q;
	setenv("SHMKIT_WAKE_BARRIER", mode, 1);
	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	unsetenv("SHMKIT_WAKE_BARRIER");
	CHECK_OK(shmkit_queue_close(q));
	return uri;
}

static void test_recorded(void)
{
	struct shmkit_queue *q;
	const char *uri = create("fence", "fence");
	CHECK_OK(shmkit_queue_open(&q, uri));
	CHECK(atomic_load(&body(q)->data_ec.mode) == 0);
	CHECK(atomic_load(&body(q)->space_ec.mode) == 0);
	atomic_store(&body(q)->data_ec.mode, 7); /* scribbled */
	struct shmkit_queue *q2;
	CHECK_RET(shmkit_queue_open(&q2, uri), -EBADMSG);
	CHECK_OK(shmkit_queue_close(q));
	uri = create("membarrier", "membarrier");
	CHECK_OK(shmkit_queue_open(&q, uri));
	uint32_t m = atomic_load(&body(q)->data_ec.mode);
	printf("membarrier requested: mode %u (0 if the kernel refuses registration)\n", m);
	CHECK(m <= 1);
	CHECK_OK(shmkit_queue_close(q));
}

/* argv: uri_ping uri_pong: echoes ROUNDS messages, sleeping at once. */
static int role_echo(int argc, char **argv)
{
	struct shmkit_queue *in, *out;
	uint64_t v;
	if (argc < 2)
		return 2;
	CHECK_OK(shmkit_queue_open(&in, argv[0]));
	CHECK_OK(shmkit_queue_open(&out, argv[1]));
	shmkit_queue_set_spin(in, 0);
	shmkit_queue_set_spin(out, 0);
	for (int i = 0; i < ROUNDS; i++) {
		CHECK_RET(shmkit_queue_recv(in, &v, sizeof(v), 30 * SEC), sizeof(v));
		CHECK_OK(shmkit_queue_send(out, &v, sizeof(v), 30 * SEC));
	}
	CHECK_OK(shmkit_queue_close(in));
	CHECK_OK(shmkit_queue_close(out));
	return test_done();
}

static const struct test_role roles[] = {{"echo", role_echo}, {NULL, NULL}};

static void test_switch_under_load(void)
{
	const char *ping = create("ping", "membarrier"), *pong = create("pong", "membarrier");
	struct shmkit_queue *out, *in;
	uint64_t v;
	CHECK_OK(shmkit_queue_open(&out, ping));
	CHECK_OK(shmkit_queue_open(&in, pong));
	shmkit_queue_set_spin(out, 0);
	shmkit_queue_set_spin(in, 0);
	const char *args[] = {ping, pong, NULL};
	pid_t c = test_spawn_self("echo", args);
	int64_t t0 = test_now_ns();
	for (uint64_t i = 0; i < ROUNDS; i++) {
		if (i == ROUNDS / 2) { /* what a sleeper's switch does, mid-stream */
			atomic_store(&body(out)->data_ec.mode, 0);
			atomic_store(&body(in)->data_ec.mode, 0);
		}
		CHECK_OK(shmkit_queue_send(out, &i, sizeof(i), 30 * SEC));
		CHECK_RET(shmkit_queue_recv(in, &v, sizeof(v), 30 * SEC), sizeof(v));
		if (v != i) {
			CHECK(v == i);
			break;
		}
	}
	printf("%d sleeping round trips across a mode switch: %lld ms\n", ROUNDS,
	       (long long)((test_now_ns() - t0) / 1000000));
	CHECK_RET(test_wait(c), 0);
	CHECK_OK(shmkit_queue_close(out));
	CHECK_OK(shmkit_queue_close(in));
}

static const char *g_half;

/* A consumer that sleeps at once on g_half: 0 once it got its message. */
static int sleepy_consumer(void *arg)
{
	struct shmkit_queue *q;
	uint64_t v;
	(void)arg;
	CHECK_OK(shmkit_queue_open(&q, g_half));
	shmkit_queue_set_spin(q, 0);
	CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 30 * SEC), sizeof(v));
	CHECK(v == 42);
	CHECK_OK(shmkit_queue_close(q));
	return test_done();
}

/* A switcher killed between its stores leaves the mode SWITCHING (2): the
 * object still opens, and the next sleeper makes the last barrier itself
 * and finishes the switch (FENCE), then is woken as ever. */
static void test_switch_left_half_done(void)
{
	struct shmkit_queue *q, *q2;
	uint64_t v = 42;
	g_half = create("half", "membarrier");
	CHECK_OK(shmkit_queue_open(&q, g_half));
	if (atomic_load(&body(q)->data_ec.mode) != SHMKIT__BARRIER_MEMBARRIER) {
		printf("half-done switch: skipped (no membarrier here)\n");
		CHECK_OK(shmkit_queue_close(q));
		return;
	}
	atomic_store(&body(q)->data_ec.mode, SHMKIT__BARRIER_SWITCHING);
	CHECK_OK(shmkit_queue_open(&q2, g_half));
	CHECK_OK(shmkit_queue_close(q2));
	pid_t c = test_fork(sleepy_consumer, NULL);
	int64_t end = test_now_ns() + 10 * SEC;
	while (atomic_load(&body(q)->data_ec.mode) != SHMKIT__BARRIER_FENCE && test_now_ns() < end)
		usleep(1000);
	printf("half-done switch: mode %u once the consumer slept\n",
	       atomic_load(&body(q)->data_ec.mode));
	CHECK(atomic_load(&body(q)->data_ec.mode) == SHMKIT__BARRIER_FENCE);
	CHECK_OK(shmkit_queue_send(q, &v, sizeof(v), SEC));
	CHECK_RET(test_wait(c), 0);
	CHECK_OK(shmkit_queue_close(q));
}

/* Feeds 1000 membarrier calls to a fresh window: the i-th starts at i * gap
 * ns and lasts slow_ns if slow(i), fast_ns otherwise. Returns the number of
 * the call that asked for the switch (1-based), 0 if none did. */
static int switch_after(int64_t gap, int64_t fast_ns, int64_t slow_ns, int (*slow)(int))
{
	struct shmkit__mb_window w = {0};
	for (int i = 0; i < 1000; i++) {
		int64_t t0 = 1000000 + i * gap;
		if (shmkit__mb_window_note(&w, t0, t0 + (slow(i) ? slow_ns : fast_ns)))
			return i + 1;
	}
	return 0;
}

static int never(int i)
{
	return (void)i, 0;
}
static int always(int i)
{
	return (void)i, 1;
}
static int every_other(int i)
{
	return i & 1;
}
static int one_of_eight(int i)
{
	return i % 8 == 3;
}

static void test_switch_rule(void)
{
	const int first = SHMKIT__MEMBARRIER_WINDOW;
	/* a ping-pong of sleeping handles, a sleep per 7 us round trip: even
	 * 0.6 us calls are worth switching (measured: 20 % of the round trip);
	 * the old rule (4 calls over 4 us in a row) never switched on these */
	CHECK(switch_after(7000, 600, 0, never) == first);
	/* calls of 12 us (an IPI to a busy vCPU), always or every other time */
	CHECK(switch_after(30000, 600, 12000, always) == first);
	CHECK(switch_after(30000, 600, 12000, every_other) == first);
	/* sleeps 100 us apart, 0.6 us each: 0.6 %; stays */
	CHECK(switch_after(100000, 600, 0, never) == 0);
	/* the same with one call a window preempted for 0.5 ms: stays */
	CHECK(switch_after(100000, 600, 500000, one_of_eight) == 0);
	/* a stream that sleeps now and then: 20 us calls 2 ms apart; stays */
	CHECK(switch_after(2000000, 20000, 20000, always) == 0);
}

/* Another object's calls do not close this one's window: a ping-pong's
 * dense calls, then one sleep of a stream in the same process. */
static void test_switch_windows_apart(void)
{
	static _Atomic uint32_t modes[2][16]; /* two objects' mode words, lines apart */
	int64_t t = 1000000;
	for (int i = 0; i < SHMKIT__MEMBARRIER_WINDOW - 1; i++, t += 7000)
		CHECK(!shmkit__mb_window_note(shmkit__mb_window_for(&modes[0][0]), t, t + 600));
	/* one process-wide window would close here, dense: switch */
	CHECK(!shmkit__mb_window_note(shmkit__mb_window_for(&modes[1][0]), t, t + 600));
}

int main(int argc, char **argv)
{
	test_child_dispatch(argc, argv, roles);
	test_switch_rule();
	test_switch_windows_apart();
	test_recorded();
	test_switch_under_load();
	test_switch_left_half_done();
	return test_done();
}
