/* SPDX-License-Identifier: MIT */
/* Exactly-once, FIFO per producer, no torn messages: SPSC and MPMC with
 * several exec'd producers and consumers (mappings at other addresses),
 * variable-length messages with checksums and per-producer sequence numbers.
 * About a million messages in all; fewer under ASan or SHMKIT_TEST_QUICK. */
/* TIMEOUT: 120 */
#include "test.h"

#include <stdint.h>
#include <unistd.h>

#define MAX_PRODUCERS 8
#define STOP_ID 0xffffffffu

struct msg {
	uint32_t producer;
	uint32_t len;
	uint64_t seq;
	uint64_t sum; /* over the payload after the header */
	unsigned char payload[];
};

struct result {
	uint64_t count[MAX_PRODUCERS];
	uint64_t seq_sum[MAX_PRODUCERS];
	uint64_t bad;
};

static uint64_t fnv(const unsigned char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static int quick(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return 1;
#else
	return getenv("SHMKIT_TEST_QUICK") != NULL;
#endif
}

static size_t fill(struct msg *m, uint32_t id, uint64_t seq)
{
	size_t n = (seq * 7 + id) % 97;
	m->producer = id;
	m->seq = seq;
	for (size_t i = 0; i < n; i++)
		m->payload[i] = (unsigned char)(seq * 31 + id + i);
	m->len = (uint32_t)n;
	m->sum = fnv(m->payload, n);
	return sizeof(*m) + n;
}

/* argv: uri id count zero_copy */
static int role_producer(int argc, char **argv)
{
	struct shmkit_queue *q;
	if (argc < 4 || shmkit_queue_open(&q, argv[0]) < 0)
		return 2;
	uint32_t id = (uint32_t)atoi(argv[1]);
	uint64_t count = strtoull(argv[2], NULL, 10);
	int zc = atoi(argv[3]);
	unsigned char buf[256];
	for (uint64_t s = 0; s < count; s++) {
		if (zc) {
			void *slot;
			int r = shmkit_queue_reserve(q, 256, &slot, SHMKIT_FOREVER);
			if (r < 0) {
				fprintf(stderr, "producer %u: reserve: %s\n", id, shmkit_strerror(r));
				return 3;
			}
			size_t n = fill(slot, id, s);
			if (shmkit_queue_commit(q, slot, n) < 0)
				return 4;
		} else {
			size_t n = fill((struct msg *)buf, id, s);
			int r = shmkit_queue_send(q, buf, n, SHMKIT_FOREVER);
			if (r < 0) {
				fprintf(stderr, "producer %u: send: %s\n", id, shmkit_strerror(r));
				return 5;
			}
		}
	}
	shmkit_queue_close(q);
	return 0;
}

/* argv: uri results_uri zero_copy */
static int role_consumer(int argc, char **argv)
{
	struct shmkit_queue *q, *rq;
	struct result res;
	int64_t last[MAX_PRODUCERS];
	unsigned char buf[256];

	if (argc < 3 || shmkit_queue_open(&q, argv[0]) < 0 || shmkit_queue_open(&rq, argv[1]) < 0)
		return 2;
	int zc = atoi(argv[2]);
	memset(&res, 0, sizeof(res));
	for (int i = 0; i < MAX_PRODUCERS; i++)
		last[i] = -1;
	for (;;) {
		const struct msg *m;
		ssize_t n;
		if (zc) {
			const void *p;
			n = shmkit_queue_peek(q, &p, SHMKIT_FOREVER);
			m = p;
		} else {
			n = shmkit_queue_recv(q, buf, sizeof(buf), SHMKIT_FOREVER);
			m = (const struct msg *)buf;
		}
		if (n < 0) {
			fprintf(stderr, "consumer: %s\n", shmkit_strerror((int)n));
			return 3;
		}
		if (n == sizeof(*m) && m->producer == STOP_ID) {
			if (zc)
				shmkit_queue_consume(q);
			break;
		}
		if ((size_t)n < sizeof(*m) || m->producer >= MAX_PRODUCERS ||
		    (size_t)n != sizeof(*m) + m->len || fnv(m->payload, m->len) != m->sum ||
		    (int64_t)m->seq <= last[m->producer]) {
			res.bad++;
		} else {
			last[m->producer] = (int64_t)m->seq;
			res.count[m->producer]++;
			res.seq_sum[m->producer] += m->seq;
		}
		if (zc)
			shmkit_queue_consume(q);
	}
	if (shmkit_queue_send(rq, &res, sizeof(res), SHMKIT_FOREVER) < 0)
		return 4;
	shmkit_queue_close(rq);
	shmkit_queue_close(q);
	return 0;
}

static void run(const char *name, int producers, int consumers, uint64_t per_producer,
		size_t capacity, int zc)
{
	const char *uri = test_uri("posix", name);
	const char *ruri = test_uri("posix", "results");
	struct shmkit_queue_opts o = { .capacity = capacity, .max_msg = 256,
				       .multi_producer = producers > 1,
				       .multi_consumer = consumers > 1 };
	struct shmkit_queue_opts ro = { .capacity = 16, .max_msg = sizeof(struct result),
					.multi_producer = 1 };
	struct shmkit_queue *q, *rq;
	pid_t pp[MAX_PRODUCERS], cp[MAX_PRODUCERS];
	char ids[MAX_PRODUCERS][16], count[32], zcs[4];

	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	CHECK_OK(shmkit_queue_create(&rq, ruri, &ro));
	snprintf(count, sizeof(count), "%llu", (unsigned long long)per_producer);
	snprintf(zcs, sizeof(zcs), "%d", zc);
	int64_t t0 = test_now_ns();
	for (int c = 0; c < consumers; c++) {
		const char *args[] = { uri, ruri, zcs, NULL };
		cp[c] = test_spawn_self("consumer", args);
	}
	for (int p = 0; p < producers; p++) {
		snprintf(ids[p], sizeof(ids[p]), "%d", p);
		const char *args[] = { uri, ids[p], count, zcs, NULL };
		pp[p] = test_spawn_self("producer", args);
	}
	for (int p = 0; p < producers; p++)
		CHECK_RET(test_wait(pp[p]), 0);
	struct msg stop = { .producer = STOP_ID };
	for (int c = 0; c < consumers; c++)
		CHECK_OK(shmkit_queue_send(q, &stop, sizeof(stop), SHMKIT_FOREVER));

	struct result total;
	memset(&total, 0, sizeof(total));
	for (int c = 0; c < consumers; c++) {
		struct result r;
		CHECK_RET(shmkit_queue_recv(rq, &r, sizeof(r), 30000ll * 1000000), sizeof(r));
		for (int p = 0; p < MAX_PRODUCERS; p++) {
			total.count[p] += r.count[p];
			total.seq_sum[p] += r.seq_sum[p];
		}
		total.bad += r.bad;
	}
	for (int c = 0; c < consumers; c++)
		CHECK_RET(test_wait(cp[c]), 0);
	double secs = (double)(test_now_ns() - t0) / 1e9;
	CHECK(total.bad == 0);
	for (int p = 0; p < producers; p++) {
		CHECK(total.count[p] == per_producer);
		CHECK(total.seq_sum[p] == per_producer * (per_producer - 1) / 2);
	}
	struct shmkit_queue_stats st;
	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK(st.depth == 0 && st.skipped == 0 && st.abandoned == 0);
	CHECK(st.sent == per_producer * (uint64_t)producers + (uint64_t)consumers);
	CHECK(st.received == st.sent);
	printf("%s: %d x %d, %llu messages in %.2f s (%.0f/s)\n", name, producers, consumers,
	       (unsigned long long)(per_producer * (uint64_t)producers), secs,
	       (double)per_producer * producers / secs);
	CHECK_OK(shmkit_queue_close(rq));
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
	CHECK_OK(shmkit_remove(ruri));
}

int main(int argc, char **argv)
{
	static const struct test_role roles[] = {
		{ "producer", role_producer },
		{ "consumer", role_consumer },
		{ NULL, NULL },
	};
	test_child_dispatch(argc, argv, roles);
	uint64_t scale = quick() ? 10 : 1;
	run("spsc", 1, 1, 300000 / scale, 256, 0);
	run("spsc-zc", 1, 1, 100000 / scale, 8, 1);
	run("mpmc", 3, 3, 100000 / scale, 64, 0);
	run("mpmc-zc", 4, 2, 40000 / scale, 16, 1);
	run("mpsc", 2, 1, 50000 / scale, 4, 0);
	return test_done();
}
