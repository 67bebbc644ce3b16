/* SPDX-License-Identifier: MIT */
/* Crash chaos with threads: in-process threads use an object while exec'd
 * peers are killed -9 in the middle of their own operations on it. The
 * crash suites (test_queue_crash, test_map, test_heap, test_pubsub) recover
 * with one user per process; here the recovery paths (lock takeover from a
 * dead holder, a dead producer's reserved slot, publisher takeover) run
 * while other threads of this process are inside the same object — the case
 * ThreadSanitizer can see (make check-tsan), and the i386 build runs it too.
 * Peers are exec'd (test_spawn_self), never forked threads: TSan follows a
 * fresh process, not a fork of a threaded one.
 *  - map: 3 writer threads on their own keys, a peer killed at each pause
 *    point of a chained replace (holding the lock); values read back;
 *  - heap: 3 threads allocate/fill/free, a peer killed inside alloc and free;
 *  - MPMC queue: 2 producer and 3 consumer threads, peer producers killed -9
 *    at random moments; every in-process message exactly once, none stuck;
 *  - topic: 3 subscriber threads, a peer publisher killed mid-publish, a
 *    publisher thread takes over; each subscriber gets all of it in order. */
/* TIMEOUT: 240 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "test.h"

#define SEC 1000000000LL
#define NT 3

static const char *uri;
static atomic_int stop;
static _Atomic int failed_thread;

static void thread_fail(int code)
{
	atomic_store(&failed_thread, code);
	atomic_store(&stop, 1);
}

static void run_threads(void *(*a)(void *), int na, void *(*b)(void *), int nb, pthread_t *t)
{
	atomic_store(&stop, 0);
	for (int i = 0; i < na; i++)
		CHECK_RET(pthread_create(&t[i], NULL, a, (void *)(intptr_t)i), 0);
	for (int i = 0; i < nb; i++)
		CHECK_RET(pthread_create(&t[na + i], NULL, b, (void *)(intptr_t)i), 0);
}

static void join_threads(pthread_t *t, int n)
{
	atomic_store(&stop, 1);
	for (int i = 0; i < n; i++) {
		void *r;
		pthread_join(t[i], &r);
		if (r)
			fprintf(stderr, "thread %d returned %d\n", i, (int)(intptr_t)r);
		CHECK(r == NULL);
	}
	if (atomic_load(&failed_thread))
		fprintf(stderr, "a thread failed with %d\n", atomic_load(&failed_thread));
	CHECK(atomic_load(&failed_thread) == 0);
	atomic_store(&failed_thread, 0);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

/* ---- exec'd peers ---- */

#define LONG_VAL_A "peer-value-A-long-enough-to-live-in-a-heap-block-of-its-own-0123456789"
#define LONG_VAL_B "peer-value-B-long-enough-to-live-in-a-heap-block-of-its-own-9876543210"

/* argv: uri -> replaces the chained value of "peer" (paused and killed). */
static int role_map_put(int argc, char **argv)
{
	struct shmkit_map *m;
	if (argc < 1 || shmkit_map_open(&m, argv[0]) != 0)
		return 2;
	return shmkit_map_put(m, "peer", 4, LONG_VAL_B, strlen(LONG_VAL_B)) == 0 ? 0 : 3;
}

/* argv: uri -> allocates a block too big for the magazines, then frees it. */
static int role_heap_op(int argc, char **argv)
{
	struct shmkit_heap *h;
	shmkit_off off;
	if (argc < 1 || shmkit_heap_open(&h, argv[0]) != 0)
		return 2;
	if (shmkit_heap_alloc(h, 16384, &off) != 0)
		return 3;
	return shmkit_heap_free(h, off) == 0 ? 0 : 4;
}

/* argv: uri -> sends (pid << 32 | n) until killed. */
static int role_mpmc_flood(int argc, char **argv)
{
	struct shmkit_queue *q;
	if (argc < 1 || shmkit_queue_open(&q, argv[0]) != 0)
		return 2;
	for (uint64_t n = 0;; n++) {
		uint64_t v = (uint64_t)getpid() << 32 | n;
		int r = shmkit_queue_send(q, &v, sizeof(v), SEC);
		if (r != 0 && r != -ETIMEDOUT)
			return 3;
	}
}

/* argv: uri -> publishes one message (paused inside it and killed). */
static int role_pub_once(int argc, char **argv)
{
	struct shmkit_pub *p;
	int v = -1;
	if (argc < 1 || shmkit_pub_open(&p, argv[0]) != 0)
		return 2;
	return shmkit_pub_send(p, &v, sizeof(v), 0) == 0 ? 0 : 3;
}

/* ---- map ---- */

static void *map_writer(void *arg)
{
	int id = (int)(intptr_t)arg;
	struct shmkit_map *m;
	char k[32], v[128], got[128];
	if (shmkit_map_open(&m, uri) != 0)
		return (void *)1;
	for (int i = 0; !atomic_load(&stop); i++) {
		snprintf(k, sizeof(k), "t%d-%d", id, i % 20);
		/* every third value is long: chained, so heap allocs under the lock */
		int n = snprintf(v, sizeof(v), i % 3 ? "%s=%d" : "%s=%d-%s", k, i, LONG_VAL_A);
		if (shmkit_map_put(m, k, strlen(k), v, (size_t)n) != 0) {
			thread_fail(2);
			break;
		}
		ssize_t g = shmkit_map_get(m, k, strlen(k), got, sizeof(got));
		if (g != n || memcmp(got, v, (size_t)n) != 0) {
			thread_fail(3);
			break;
		}
		if (i % 7 == 0 && shmkit_map_del(m, k, strlen(k)) != 0) {
			thread_fail(4);
			break;
		}
	}
	shmkit_map_close(m);
	return NULL;
}

static void test_map(void)
{
	static const char *const points[] = { "map.put.1",   "heap.alloc.1", "map.put.2",
					      "map.put.3",   "heap.free.1",  "heap.free.2",
					      "heap.free.3", "map.put.4",    NULL };
	struct shmkit_map *m;
	pthread_t t[NT];
	char buf[128];

	uri = test_uri("posix", "chaos-map");
	CHECK_OK(shmkit_map_create(&m, uri, 1 << 20, 0));
	CHECK_OK(shmkit_map_put(m, "peer", 4, LONG_VAL_A, strlen(LONG_VAL_A)));
	run_threads(map_writer, NT, NULL, 0, t);
	for (int i = 0; points[i]; i++) {
		const char *args[] = { uri, NULL };
		pid_t pid = test_spawn_paused(points[i], "map-put", args);
		sleep_ms(20); /* the writers pile up on the lock the peer holds */
		CHECK_RET(test_kill_stopped(pid), 128 + SIGKILL);
		sleep_ms(20);
		ssize_t n = shmkit_map_get(m, "peer", 4, buf, sizeof(buf));
		CHECK(n == (ssize_t)strlen(LONG_VAL_A) || n == (ssize_t)strlen(LONG_VAL_B));
		if (atomic_load(&stop))
			break;
	}
	join_threads(t, NT);
	printf("map: %d writer threads through a peer killed at 8 points\n", NT);
	CHECK_RET(shmkit_map_check(m), 0);
	CHECK_OK(shmkit_map_close(m));
}

/* ---- heap ---- */

static void *heap_user(void *arg)
{
	int id = (int)(intptr_t)arg + 1;
	struct shmkit_heap *h;
	shmkit_off offs[16];
	if (shmkit_heap_open(&h, uri) != 0)
		return (void *)1;
	for (int round = 0; !atomic_load(&stop); round++) {
		for (int i = 0; i < 16; i++) {
			size_t sz = (size_t)(16 + (i * 131 + round) % 12000); /* cached and not */
			if (shmkit_heap_alloc(h, sz, &offs[i]) != 0) {
				thread_fail(2);
				return NULL;
			}
			memset(shmkit_heap_ptr(h, offs[i]), id, 16);
		}
		for (int i = 0; i < 16; i++) {
			unsigned char *p = shmkit_heap_ptr(h, offs[i]);
			if (p[0] != id || p[15] != id) {
				thread_fail(3);
				return NULL;
			}
			if (shmkit_heap_free(h, offs[i]) != 0) {
				thread_fail(4);
				return NULL;
			}
		}
	}
	shmkit_heap_close(h);
	return NULL;
}

static void test_heap(void)
{
	static const char *const points[] = { "heap.alloc.1", "heap.alloc.2", "heap.alloc.3",
					      "heap.free.1",  "heap.free.2",  "heap.free.3",
					      NULL };
	struct shmkit_heap *h;
	pthread_t t[NT];

	uri = test_uri("posix", "chaos-heap");
	CHECK_OK(shmkit_heap_create(&h, uri, 4 << 20, 0));
	run_threads(heap_user, NT, NULL, 0, t);
	for (int i = 0; points[i] && !atomic_load(&stop); i++) {
		const char *args[] = { uri, NULL };
		pid_t pid = test_spawn_paused(points[i], "heap-op", args);
		sleep_ms(20);
		CHECK_RET(test_kill_stopped(pid), 128 + SIGKILL);
		sleep_ms(20);
	}
	join_threads(t, NT);
	printf("heap: %d threads through a peer killed at 6 points\n", NT);
	CHECK_RET(shmkit_heap_check(h), 0);
	CHECK_OK(shmkit_heap_close(h));
}

/* ---- MPMC queue ---- */

#define Q_MAX 200000 /* per in-process producer */
#define Q_KILLS 20
static _Atomic int q_seen[2 * Q_MAX];
static _Atomic int q_received, q_sent, q_peer_msgs, q_prod_stop, q_prod_done;

static void *q_producer(void *arg)
{
	int id = (int)(intptr_t)arg;
	struct shmkit_queue *q;
	if (shmkit_queue_open(&q, uri) != 0)
		return (void *)1;
	for (int i = 0; i < Q_MAX && !atomic_load(&q_prod_stop); i++) {
		uint64_t v = (uint64_t)(id * Q_MAX + i);
		int r, waits = 0;
		while ((r = shmkit_queue_send(q, &v, sizeof(v), SEC)) == -ETIMEDOUT && ++waits < 30)
			;
		if (r != 0) { /* -ETIMEDOUT: no room for 30 s, the queue is stuck */
			thread_fail(2);
			break;
		}
		atomic_fetch_add(&q_sent, 1);
	}
	shmkit_queue_close(q);
	atomic_fetch_add(&q_prod_done, 1);
	return NULL;
}

static int q_all_in(void)
{
	return atomic_load(&q_prod_done) == 2 && atomic_load(&q_received) >= atomic_load(&q_sent);
}

static void *q_consumer(void *arg)
{
	(void)arg;
	struct shmkit_queue *q;
	if (shmkit_queue_open(&q, uri) != 0)
		return (void *)1;
	/* until every in-process message is in, or nothing came for 20 s */
	int64_t quiet_since = test_now_ns();
	while (!q_all_in() && test_now_ns() - quiet_since < 20 * SEC) {
		uint64_t v;
		ssize_t n = shmkit_queue_recv(q, &v, sizeof(v), SEC / 10);
		if (n == -ETIMEDOUT)
			continue;
		if (n != sizeof(v)) {
			thread_fail(3);
			break;
		}
		quiet_since = test_now_ns();
		if (v >> 32) { /* a peer's */
			atomic_fetch_add(&q_peer_msgs, 1);
			continue;
		}
		if (v >= 2 * Q_MAX) {
			thread_fail(4);
			break;
		}
		atomic_fetch_add(&q_seen[v], 1);
		atomic_fetch_add(&q_received, 1);
	}
	shmkit_queue_close(q);
	return NULL;
}

static void test_mpmc(void)
{
	struct shmkit_queue_opts o = { .capacity = 32, .max_msg = 16, .multi_producer = 1,
				       .multi_consumer = 1 };
	struct shmkit_queue *q;
	pthread_t t[5];
	unsigned seed = (unsigned)getpid();

	uri = test_uri("posix", "chaos-mpmc");
	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	run_threads(q_producer, 2, q_consumer, 3, t);
	const char *args[] = { uri, NULL };
	pid_t peers[2] = { test_spawn_self("mpmc-flood", args), test_spawn_self("mpmc-flood", args) };
	/* kill -9 a peer at a random moment and start another, while the
	 * in-process producers keep sending */
	for (int k = 0; k < Q_KILLS && !atomic_load(&stop); k++) {
		sleep_ms(5 + (int)(rand_r(&seed) % 30));
		kill(peers[k % 2], SIGKILL);
		test_wait(peers[k % 2]);
		peers[k % 2] = test_spawn_self("mpmc-flood", args);
	}
	atomic_store(&q_prod_stop, 1);
	for (int i = 0; i < 2; i++) {
		kill(peers[i], SIGKILL);
		test_wait(peers[i]);
	}
	for (int i = 0; i < 5; i++) {
		void *r;
		pthread_join(t[i], &r);
		CHECK(r == NULL);
	}
	CHECK(atomic_load(&failed_thread) == 0);
	int missing = 0, dup = 0, sent = atomic_load(&q_sent);
	for (int i = 0; i < 2 * Q_MAX; i++) {
		int n = atomic_load(&q_seen[i]);
		dup += n > 1;
		missing += n == 0;
	}
	missing -= 2 * Q_MAX - sent; /* never sent */
	printf("mpmc: %d peer kills, %d peer messages, in-process %d sent: %d missing, %d duplicated\n",
	       Q_KILLS, atomic_load(&q_peer_msgs), sent, missing, dup);
	CHECK(missing == 0 && dup == 0);
	CHECK_OK(shmkit_queue_close(q));
}

/* ---- topic ---- */

#define T_MSGS 2000
static _Atomic int subs_joined;

static void *t_subscriber(void *arg)
{
	(void)arg;
	struct shmkit_sub *s;
	if (shmkit_sub_open(&s, uri) != 0)
		return (void *)1;
	atomic_fetch_add(&subs_joined, 1);
	int next = 0;
	int64_t deadline = test_now_ns() + 60 * SEC;
	while (next < T_MSGS && test_now_ns() < deadline) {
		int v;
		ssize_t n = shmkit_sub_recv(s, &v, sizeof(v), SEC / 10);
		if (n == -ETIMEDOUT || n == -EPIPE) { /* no publisher yet, or a dead one */
			if (n == -EPIPE)
				sleep_ms(1);
			continue;
		}
		if (n != sizeof(v) || (v != next && v != -1)) {
			fprintf(stderr, "subscriber: got %zd bytes, %d, want %d\n", n, v, next);
			thread_fail(2);
			break;
		}
		next += v == next;
	}
	if (next < T_MSGS)
		thread_fail(3);
	shmkit_sub_close(s);
	return NULL;
}

static void *t_publisher(void *arg)
{
	(void)arg;
	struct shmkit_pub *p;
	int r;
	/* the dead peer's place: taken over once the kernel has reaped it */
	int64_t deadline = test_now_ns() + 10 * SEC;
	while ((r = shmkit_pub_open(&p, uri)) == -EBUSY && test_now_ns() < deadline)
		sleep_ms(1);
	if (r != 0)
		return (void *)1;
	for (int i = 0; i < T_MSGS; i++)
		if (shmkit_pub_send(p, &i, sizeof(i), 10 * SEC) != 0)
			return (void *)2;
	shmkit_pub_close(p);
	return NULL;
}

static void topic_round(const char *point)
{
	struct shmkit_topic_opts o = { .slot_size = 16, .slots = 16, .reliable = 1 };
	pthread_t t[NT + 1];

	uri = test_uri("posix", "chaos-topic");
	shmkit_remove(uri);
	CHECK_OK(shmkit_topic_create(uri, &o));
	atomic_store(&subs_joined, 0);
	run_threads(t_subscriber, NT, NULL, 0, t);
	while (atomic_load(&subs_joined) < NT)
		sched_yield();
	const char *args[] = { uri, NULL };
	pid_t pid = test_spawn_paused(point, "pub-once", args);
	sleep_ms(20);
	CHECK_RET(test_kill_stopped(pid), 128 + SIGKILL);
	CHECK_RET(pthread_create(&t[NT], NULL, t_publisher, NULL), 0);
	for (int i = 0; i <= NT; i++) {
		void *r;
		pthread_join(t[i], &r);
		CHECK(r == NULL);
	}
	CHECK(atomic_load(&failed_thread) == 0);
	atomic_store(&failed_thread, 0);
	printf("topic: %d subscriber threads through a publisher killed at %s\n", NT, point);
	CHECK_OK(shmkit_remove(uri));
}

static void test_topic(void)
{
	topic_round("topic.loaned");
	topic_round("topic.published_slot");
}

int main(int argc, char **argv)
{
	static const struct test_role roles[] = {
		{ "map-put", role_map_put },
		{ "heap-op", role_heap_op },
		{ "mpmc-flood", role_mpmc_flood },
		{ "pub-once", role_pub_once },
		{ NULL, NULL },
	};
	test_child_dispatch(argc, argv, roles);
	test_map();
	test_heap();
	test_mpmc();
	test_topic();
	return test_done();
}
