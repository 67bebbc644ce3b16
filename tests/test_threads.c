/* SPDX-License-Identifier: MIT */
/* Threads as the users, in one process: the in-process use ThreadSanitizer
 * checks (make check-tsan). Each thread has its own handle, as the API asks;
 * the shared objects are the same memory.
 *  - an MPMC queue: 4 producers, 4 consumers, every message exactly once;
 *  - a topic: 1 publisher thread, 3 subscriber threads, each sees all, in order;
 *  - a heap: 4 threads allocate, fill, check and free their own blocks;
 *  - a map: 4 writer threads (own keys) and 2 reader threads, values never torn;
 *  - a mutex: 4 threads increment a counter under it. */
/* TIMEOUT: 120 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "test.h"

#define SEC 1000000000LL
#define NT 4
#define PER_THREAD 2000

static const char *q_uri, *t_uri, *h_uri, *m_uri;

/* ---- MPMC queue ---- */

static _Atomic int seen[NT * PER_THREAD];
static _Atomic int received;

static void *producer(void *arg)
{
	int id = (int)(intptr_t)arg;
	struct shmkit_queue *q;
	if (shmkit_queue_open(&q, q_uri) != 0)
		return (void *)1;
	for (int i = 0; i < PER_THREAD; i++) {
		int v = id * PER_THREAD + i;
		if (shmkit_queue_send(q, &v, sizeof(v), 10 * SEC) != 0)
			return (void *)2;
	}
	shmkit_queue_close(q);
	return NULL;
}

static void *consumer(void *arg)
{
	(void)arg;
	struct shmkit_queue *q;
	if (shmkit_queue_open(&q, q_uri) != 0)
		return (void *)1;
	while (atomic_load(&received) < NT * PER_THREAD) {
		int v;
		ssize_t n = shmkit_queue_recv(q, &v, sizeof(v), SEC / 10);
		if (n == -ETIMEDOUT)
			continue;
		if (n != sizeof(v) || v < 0 || v >= NT * PER_THREAD)
			return (void *)2;
		atomic_fetch_add(&seen[v], 1);
		atomic_fetch_add(&received, 1);
	}
	shmkit_queue_close(q);
	return NULL;
}

static void run_threads(void *(*a)(void *), int na, void *(*b)(void *), int nb)
{
	pthread_t t[16];
	for (int i = 0; i < na; i++)
		CHECK_RET(pthread_create(&t[i], NULL, a, (void *)(intptr_t)i), 0);
	for (int i = 0; i < nb; i++)
		CHECK_RET(pthread_create(&t[na + i], NULL, b, (void *)(intptr_t)i), 0);
	for (int i = 0; i < na + nb; i++) {
		void *r;
		pthread_join(t[i], &r);
		if (r)
			fprintf(stderr, "thread %d returned %d\n", i, (int)(intptr_t)r);
		CHECK(r == NULL);
	}
}

static void test_queue_mpmc(void)
{
	struct shmkit_queue_opts o = { .capacity = 64, .max_msg = 16, .multi_producer = 1,
				       .multi_consumer = 1 };
	struct shmkit_queue *q;
	q_uri = test_uri("posix", "thr-q");
	CHECK_OK(shmkit_queue_create(&q, q_uri, &o));
	run_threads(producer, NT, consumer, NT);
	for (int i = 0; i < NT * PER_THREAD; i++)
		CHECK(atomic_load(&seen[i]) == 1);
	CHECK_OK(shmkit_queue_close(q));
}

/* ---- topic ---- */

#define T_MSGS 3000
static _Atomic int subs_joined;

static void *subscriber(void *arg)
{
	(void)arg;
	struct shmkit_sub *s;
	if (shmkit_sub_open(&s, t_uri) != 0)
		return (void *)1;
	atomic_fetch_add(&subs_joined, 1);
	for (int i = 0; i < T_MSGS; i++) {
		int v;
		if (shmkit_sub_recv(s, &v, sizeof(v), 10 * SEC) != sizeof(v) || v != i)
			return (void *)2;
	}
	shmkit_sub_close(s);
	return NULL;
}

static void *publisher(void *arg)
{
	(void)arg;
	struct shmkit_pub *p;
	while (atomic_load(&subs_joined) < 3)
		sched_yield();
	if (shmkit_pub_open(&p, t_uri) != 0)
		return (void *)1;
	for (int i = 0; i < T_MSGS; i++)
		if (shmkit_pub_send(p, &i, sizeof(i), 10 * SEC) != 0)
			return (void *)2;
	shmkit_pub_close(p);
	return NULL;
}

static void test_topic(void)
{
	struct shmkit_topic_opts o = { .slot_size = 16, .slots = 32, .reliable = 1 };
	t_uri = test_uri("posix", "thr-t");
	CHECK_OK(shmkit_topic_create(t_uri, &o));
	run_threads(publisher, 1, subscriber, 3);
}

/* ---- heap ---- */

static void *heap_user(void *arg)
{
	int id = (int)(intptr_t)arg;
	struct shmkit_heap *h;
	shmkit_off offs[32] = { 0 };
	if (shmkit_heap_open(&h, h_uri) != 0)
		return (void *)1;
	for (int round = 0; round < 200; round++) {
		for (int i = 0; i < 32; i++) {
			size_t sz = (size_t)(16 + (i * 37 + round) % 500);
			if (shmkit_heap_alloc(h, sz, &offs[i]) != 0)
				return (void *)2;
			memset(shmkit_heap_ptr(h, offs[i]), id, sz);
		}
		for (int i = 0; i < 32; i++) {
			unsigned char *p = shmkit_heap_ptr(h, offs[i]);
			if (p[0] != id || shmkit_heap_free(h, offs[i]) != 0)
				return (void *)3;
		}
	}
	shmkit_heap_close(h);
	return NULL;
}

static void test_heap(void)
{
	struct shmkit_heap *h;
	h_uri = test_uri("posix", "thr-h");
	CHECK_OK(shmkit_heap_create(&h, h_uri, 4 << 20, 0));
	run_threads(heap_user, NT, NULL, 0);
	CHECK_RET(shmkit_heap_check(h), 0);
	struct shmkit_heap_stats st;
	CHECK_OK(shmkit_heap_stats(h, &st));
	CHECK(st.n_used == 0);
	CHECK_OK(shmkit_heap_close(h));
}

/* ---- map ---- */

static _Atomic int writers_done;

static void *map_writer(void *arg)
{
	int id = (int)(intptr_t)arg;
	struct shmkit_map *m;
	char k[32], v[64];
	if (shmkit_map_open(&m, m_uri) != 0)
		return (void *)1;
	for (int i = 0; i < 1500; i++) {
		snprintf(k, sizeof(k), "w%d-%d", id, i % 50);
		int n = snprintf(v, sizeof(v), "w%d-%d=%d", id, i % 50, i);
		if (shmkit_map_put(m, k, strlen(k), v, (size_t)n) != 0)
			return (void *)2;
	}
	atomic_fetch_add(&writers_done, 1);
	shmkit_map_close(m);
	return NULL;
}

static void *map_reader(void *arg)
{
	(void)arg;
	struct shmkit_map *m;
	char k[32], v[64];
	if (shmkit_map_open(&m, m_uri) != 0)
		return (void *)1;
	for (int i = 0; atomic_load(&writers_done) < NT; i++) {
		int id = i % NT, key = i % 50;
		snprintf(k, sizeof(k), "w%d-%d", id, key);
		ssize_t n = shmkit_map_get(m, k, strlen(k), v, sizeof(v) - 1);
		if (n == -ENOENT)
			continue;
		if (n < 0)
			return (void *)2;
		v[n] = '\0';
		size_t kl = strlen(k);
		if (strncmp(v, k, kl) != 0 || v[kl] != '=') /* never torn */
			return (void *)3;
	}
	shmkit_map_close(m);
	return NULL;
}

static void test_map(void)
{
	struct shmkit_map *m;
	m_uri = test_uri("posix", "thr-m");
	CHECK_OK(shmkit_map_create(&m, m_uri, 4 << 20, 0));
	run_threads(map_writer, NT, map_reader, 2);
	CHECK_RET(shmkit_map_count(m), NT * 50);
	CHECK_RET(shmkit_map_check(m), 0);
	CHECK_OK(shmkit_map_close(m));
}

/* ---- mutex ---- */

static struct shmkit_mutex mtx;
static long counter; /* plain: the mutex is what orders it */

static void *incrementer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20000; i++) {
		if (shmkit_mutex_lock(&mtx, SHMKIT_FOREVER) != 0)
			return (void *)1;
		counter++;
		if (shmkit_mutex_unlock(&mtx) != 0)
			return (void *)2;
	}
	return NULL;
}

static void test_mutex(void)
{
	CHECK_OK(shmkit_mutex_init(&mtx));
	run_threads(incrementer, NT, NULL, 0);
	CHECK(counter == NT * 20000L);
}

int main(void)
{
	test_mutex();
	test_queue_mpmc();
	test_topic();
	test_heap();
	test_map();
	return test_done();
}
