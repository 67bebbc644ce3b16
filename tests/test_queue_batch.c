/* SPDX-License-Identifier: MIT */
/* shmkit_queue_send_many / shmkit_queue_recv_many (DESIGN §9 "Batches"):
 *  - order and exactly-once across processes, SPSC and MPMC, batches of
 *    mixed sizes against single sends and receives on the other side
 *    (4..53 bytes, and 4..303 bytes: a batch of both copies inline the
 *    messages up to 64 bytes and calls for the others);
 *  - partial batches: a full queue takes what fits, a message too large for
 *    its buffer stays for the next call (-EMSGSIZE there), timeouts;
 *  - crash points: a producer killed inside a batch (pause point
 *    queue.batch.sent after its 3rd slot) delivers exactly its committed
 *    messages and the next producer goes on without overwriting any; a
 *    consumer killed inside a batch (queue.batch.received) loses nothing;
 *    MPMC: a producer or consumer killed inside a batch holds no slot
 *    beyond the one a single call would.
 * TIMEOUT: 120 */
#include <signal.h>
#include <stdint.h>
#include <sys/uio.h>
#include <unistd.h>

#include "test.h"

#define N 20000
#define BIG_MAX 320 /* max_msg of the queues with messages over 64 bytes */

/* Messages of up to 303 bytes (else 53): set in the parent by test_order(),
 * in the producer by its argument. */
static int big_msgs;

static struct shmkit_queue *make(const char *uri, size_t cap, size_t max_msg, int multi)
{
	struct shmkit_queue_opts o = { .capacity = cap, .max_msg = max_msg,
				       .multi_producer = multi, .multi_consumer = multi };
	struct shmkit_queue *q = NULL;
	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	return q;
}

/* Message i: its number, then (i % 50) bytes of a pattern (big_msgs: i * 7 %
 * 300 bytes). */
static size_t msg_of(uint32_t i, unsigned char *buf)
{
	size_t len = big_msgs ? 4 + i * 7 % 300 : 4 + i % 50;
	memcpy(buf, &i, 4);
	for (size_t j = 4; j < len; j++)
		buf[j] = (unsigned char)(i + j);
	return len;
}

static int msg_ok(uint32_t want, const unsigned char *buf, size_t len)
{
	unsigned char ref[BIG_MAX];
	return len == msg_of(want, ref) && memcmp(buf, ref, len) == 0;
}

/* Producer: N messages in batches of 1..32 (or one by one). */
static int role_produce(int argc, char **argv)
{
	struct shmkit_queue *q;
	static unsigned char bufs[32][BIG_MAX];
	struct iovec iov[32];
	int single = argc > 1 && strcmp(argv[1], "single") == 0;
	big_msgs = argc > 2 && strcmp(argv[2], "big") == 0;
	CHECK_OK(shmkit_queue_open(&q, argv[0]));
	for (uint32_t i = 0; i < N;) {
		size_t b = single ? 1 : 1 + i % 32;
		if (b > N - i)
			b = N - i;
		for (size_t k = 0; k < b; k++)
			iov[k] = (struct iovec){ bufs[k], msg_of(i + (uint32_t)k, bufs[k]) };
		ssize_t r = single ? shmkit_queue_send(q, bufs[0], iov[0].iov_len, -1)
			: shmkit_queue_send_many(q, iov, b, -1);
		if (r < 0) {
			CHECK_OK(r);
			return 1;
		}
		i += single ? 1 : (uint32_t)r;
	}
	shmkit_queue_close(q);
	return 0;
}

/* Consumer side in this process: every message once, in order. */
static void consume_all(struct shmkit_queue *q, int single)
{
	static unsigned char bufs[32][BIG_MAX];
	size_t room = big_msgs ? BIG_MAX : 64;
	struct iovec iov[32];
	uint32_t next = 0;
	while (next < N) {
		size_t b = single ? 1 : 1 + next % 31;
		for (size_t k = 0; k < b; k++)
			iov[k] = (struct iovec){ bufs[k], room };
		ssize_t r = single ? shmkit_queue_recv(q, bufs[0], room, 5000000000ll)
			: shmkit_queue_recv_many(q, iov, b, 5000000000ll);
		if (r < 0) {
			CHECK_OK(r);
			return;
		}
		if (single)
			iov[0].iov_len = (size_t)r, r = 1;
		for (ssize_t k = 0; k < r; k++, next++)
			if (!msg_ok(next, bufs[k], iov[k].iov_len)) {
				fprintf(stderr, "message %u wrong or out of order\n", next);
				CHECK(0);
				return;
			}
	}
}

/* Payload bytes of messages 0..N-1. */
static uint64_t bytes_of_all(void)
{
	unsigned char buf[BIG_MAX];
	uint64_t n = 0;
	for (uint32_t i = 0; i < N; i++)
		n += msg_of(i, buf);
	return n;
}

/* max_msg 56: SPSC marker and message share a line; 64: markers in their
 * own array (docs/LAYOUT.md "Queue"); the messages are 4..53 bytes. With
 * max_msg BIG_MAX they are 4..303 bytes. */
static void test_order(int multi, int prod_single, int cons_single, size_t max_msg)
{
	const char *uri = test_uri("posix", "batch");
	struct shmkit_queue *q = make(uri, 64, max_msg, multi);
	big_msgs = max_msg == BIG_MAX;
	const char *args[] = { uri, prod_single ? "single" : "batch", big_msgs ? "big" : "small", NULL };
	pid_t pid = test_spawn_self("produce", args);
	consume_all(q, cons_single);
	CHECK(test_wait(pid) == 0);
	struct iovec one = { (char[BIG_MAX]){ 0 }, BIG_MAX };
	CHECK_RET(shmkit_queue_recv_many(q, &one, 1, 0), -EAGAIN); /* nothing more */
	struct shmkit_queue_stats st;
	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK(st.sent == N && st.received == N);
	CHECK(st.bytes_sent == bytes_of_all() && st.bytes_received == bytes_of_all());
	shmkit_queue_close(q);
	shmkit_remove(uri);
	big_msgs = 0;
}

static void test_partial(int multi)
{
	const char *uri = test_uri("posix", "batch-partial");
	struct shmkit_queue *q = make(uri, 8, 16, multi);
	char big[32] = "0123456789abcdefXYZ", b[10][16];
	struct iovec m[10], r[10];
	for (int i = 0; i < 10; i++)
		m[i] = (struct iovec){ b[i], (size_t)snprintf(b[i], 16, "m%d", i) };
	/* 8 slots: a batch of 10 sends 8, then the full queue times out */
	CHECK_RET(shmkit_queue_send_many(q, m, 10, 0), 8);
	CHECK_RET(shmkit_queue_send_many(q, m + 8, 2, 0), -EAGAIN);
	CHECK_RET(shmkit_queue_send_many(q, m + 8, 2, 1000000), -ETIMEDOUT);
	char rb[10][16];
	for (int i = 0; i < 10; i++)
		r[i] = (struct iovec){ rb[i], 16 };
	r[3].iov_len = 1; /* too small for "m3": the batch stops before it */
	CHECK_RET(shmkit_queue_recv_many(q, r, 10, 0), 3);
	CHECK(r[0].iov_len == 2 && memcmp(rb[0], "m0", 2) == 0 && memcmp(rb[2], "m2", 2) == 0);
	CHECK_RET(shmkit_queue_recv_many(q, r + 3, 1, 0), -EMSGSIZE);
	r[3].iov_len = 16;
	CHECK_RET(shmkit_queue_recv_many(q, r + 3, 7, 0), 5);
	CHECK(memcmp(rb[3], "m3", 2) == 0 && memcmp(rb[7], "m7", 2) == 0);
	/* a message over max_msg: the batch stops before it; alone it is refused */
	struct iovec mix[3] = { m[0], { big, sizeof(big) }, m[1] };
	CHECK_RET(shmkit_queue_send_many(q, mix, 3, 0), 1);
	CHECK_RET(shmkit_queue_send_many(q, mix + 1, 2, 0), -EMSGSIZE);
	CHECK_RET(shmkit_queue_send_many(q, NULL, 1, 0), -EINVAL);
	CHECK_RET(shmkit_queue_send_many(q, m, 0, 0), -EINVAL);
	CHECK_RET(shmkit_queue_recv_many(NULL, r, 1, 0), -EINVAL);
	/* an iovec with no base but a length, past the first: -EINVAL and
	 * nothing sent (received), though the ones before it were valid */
	struct iovec bad[3] = { m[2], m[3], { NULL, 2 } };
	CHECK_RET(shmkit_queue_send_many(q, bad, 3, 0), -EINVAL);
	struct iovec rbad[3] = { { rb[0], 16 }, { NULL, 16 }, { rb[2], 16 } };
	CHECK_RET(shmkit_queue_send_many(q, m + 4, 2, 0), 2);
	CHECK_RET(shmkit_queue_recv_many(q, rbad, 3, 0), -EINVAL);
	CHECK_RET(shmkit_queue_recv_many(q, r, 10, 0), 3); /* m[0] from above, m[4], m[5] */
	CHECK(r[0].iov_len == 2 && memcmp(rb[0], "m0", 2) == 0 && memcmp(rb[1], "m4", 2) == 0 &&
	      memcmp(rb[2], "m5", 2) == 0);
	shmkit_queue_close(q);
	shmkit_remove(uri);
}

/* Sends 10 numbered messages (from argv[1]) in one batch. */
static int role_batch10(int argc, char **argv)
{
	struct shmkit_queue *q;
	uint32_t first = argc > 1 ? (uint32_t)atoi(argv[1]) : 0, v[10];
	struct iovec m[10];
	CHECK_OK(shmkit_queue_open(&q, argv[0]));
	for (int i = 0; i < 10; i++) {
		v[i] = first + (uint32_t)i;
		m[i] = (struct iovec){ &v[i], 4 };
	}
	CHECK_RET(shmkit_queue_send_many(q, m, 10, -1), 10);
	shmkit_queue_close(q);
	return 0;
}

/* Receives one batch of up to 10 (killed inside it). */
static int role_recv10(int argc, char **argv)
{
	struct shmkit_queue *q;
	uint32_t v[10];
	struct iovec r[10];
	(void)argc;
	CHECK_OK(shmkit_queue_open(&q, argv[0]));
	for (int i = 0; i < 10; i++)
		r[i] = (struct iovec){ &v[i], 4 };
	CHECK(shmkit_queue_recv_many(q, r, 10, -1) > 0);
	shmkit_queue_close(q);
	return 0;
}

static void test_crash_producer(size_t max_msg)
{
	const char *uri = test_uri("posix", "batch-crash");
	struct shmkit_queue *q = make(uri, 32, max_msg, 0);
	const char *args[] = { uri, "0", NULL };
	/* the pause point stops at the first slot written; resume it twice so
	 * three slots are committed when it is killed */
	pid_t pid = test_spawn_paused("queue.batch.sent", "batch10", args);
	for (int i = 0; i < 2; i++) {
		kill(pid, SIGCONT);
		CHECK(test_wait_stopped(pid, 10ll * 1000000000) == 0);
	}
	CHECK_RET(test_kill_stopped(pid), 128 + SIGKILL);
	const char *args2[] = { uri, "100", NULL };
	CHECK(test_wait(test_spawn_self("batch10", args2)) == 0);
	/* exactly 0, 1, 2 from the dead batch, then 100..109: none overwritten */
	uint32_t v[16];
	struct iovec r[16];
	for (int i = 0; i < 16; i++)
		r[i] = (struct iovec){ &v[i], 4 };
	CHECK_RET(shmkit_queue_recv_many(q, r, 16, 0), 13);
	for (int i = 0; i < 13; i++)
		CHECK(v[i] == (i < 3 ? (uint32_t)i : 100 + (uint32_t)(i - 3)));
	CHECK_RET(shmkit_queue_recv_many(q, r, 16, 0), -EAGAIN);
	/* counts exact; the byte counter may miss the dead batch (monitoring) */
	struct shmkit_queue_stats st;
	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK(st.sent == 13 && st.received == 13 && st.bytes_received == 13 * 4);
	CHECK(st.bytes_sent >= 10 * 4 && st.bytes_sent <= 13 * 4);
	shmkit_queue_close(q);
	shmkit_remove(uri);
}

static void test_crash_consumer(size_t max_msg)
{
	const char *uri = test_uri("posix", "batch-crash-recv");
	struct shmkit_queue *q = make(uri, 32, max_msg, 0);
	const char *args[] = { uri, "0", NULL };
	CHECK(test_wait(test_spawn_self("batch10", args)) == 0);
	const char *rargs[] = { uri, NULL };
	pid_t pid = test_spawn_paused("queue.batch.received", "recv10", rargs);
	CHECK_RET(test_kill_stopped(pid), 128 + SIGKILL);
	/* the dead consumer never moved head: all 10 are still here (a consumer
	 * killed mid-receive gets its messages re-delivered, as for recv) */
	uint32_t v[16];
	struct iovec r[16];
	for (int i = 0; i < 16; i++)
		r[i] = (struct iovec){ &v[i], 4 };
	CHECK_RET(shmkit_queue_recv_many(q, r, 16, 0), 10);
	for (int i = 0; i < 10; i++)
		CHECK(v[i] == (uint32_t)i);
	shmkit_queue_close(q);
	shmkit_remove(uri);
}

/* Receives until `want` messages arrived (waiting through slots a dead
 * peer holds: they are handed back once its death is seen). */
static void recv_n(struct shmkit_queue *q, uint32_t *v, int want)
{
	int got = 0;
	while (got < want) {
		struct iovec r[16];
		int k = want - got < 16 ? want - got : 16;
		for (int i = 0; i < k; i++)
			r[i] = (struct iovec){ &v[got + i], 4 };
		ssize_t n = shmkit_queue_recv_many(q, r, (size_t)k, 5ll * 1000000000);
		CHECK(n > 0);
		if (n <= 0)
			return;
		got += (int)n;
	}
}

/* MPMC: a producer killed inside a batch after committing 3 of its 10
 * slots: those 3 arrive, it held no other slot (nothing to skip), and the
 * next producer's batch arrives whole after them, nothing overwritten. */
static void test_crash_producer_mpmc(void)
{
	const char *uri = test_uri("posix", "batch-crash-mp");
	struct shmkit_queue *q = make(uri, 32, 16, 1);
	const char *args[] = { uri, "0", NULL };
	pid_t pid = test_spawn_paused("queue.batch.sent", "batch10", args);
	for (int i = 0; i < 2; i++) {
		kill(pid, SIGCONT);
		CHECK(test_wait_stopped(pid, 10ll * 1000000000) == 0);
	}
	CHECK_RET(test_kill_stopped(pid), 128 + SIGKILL);
	const char *args2[] = { uri, "100", NULL };
	CHECK(test_wait(test_spawn_self("batch10", args2)) == 0);
	uint32_t v[16];
	recv_n(q, v, 13);
	for (int i = 0; i < 13; i++)
		CHECK(v[i] == (i < 3 ? (uint32_t)i : 100 + (uint32_t)(i - 3)));
	struct iovec one = { v, 4 };
	CHECK_RET(shmkit_queue_recv_many(q, &one, 1, 0), -EAGAIN);
	struct shmkit_queue_stats st;
	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK(st.sent == 13 && st.received == 13 && st.skipped == 0 && st.abandoned == 0);
	shmkit_queue_close(q);
	shmkit_remove(uri);
}

/* MPMC: a consumer killed inside a batch, after its first message: it
 * abandons nothing more than a single receive would (the message it was
 * handling is done, the rest were never claimed), so all 9 others and a
 * later batch arrive here, each once, in order. */
static void test_crash_consumer_mpmc(void)
{
	const char *uri = test_uri("posix", "batch-crash-mc");
	struct shmkit_queue *q = make(uri, 32, 16, 1);
	const char *args[] = { uri, "0", NULL };
	CHECK(test_wait(test_spawn_self("batch10", args)) == 0);
	const char *rargs[] = { uri, NULL };
	pid_t pid = test_spawn_paused("queue.batch.received", "recv10", rargs);
	CHECK_RET(test_kill_stopped(pid), 128 + SIGKILL);
	const char *args2[] = { uri, "100", NULL };
	CHECK(test_wait(test_spawn_self("batch10", args2)) == 0);
	uint32_t v[19];
	recv_n(q, v, 19);
	for (int i = 0; i < 19; i++)
		CHECK(v[i] == (i < 9 ? 1 + (uint32_t)i : 100 + (uint32_t)(i - 9)));
	struct shmkit_queue_stats st;
	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK(st.sent == 20 && st.received == 20 && st.abandoned == 0 && st.skipped == 0);
	shmkit_queue_close(q);
	shmkit_remove(uri);
}

int main(int argc, char **argv)
{
	static const struct test_role roles[] = {
		{ "produce", role_produce },
		{ "batch10", role_batch10 },
		{ "recv10", role_recv10 },
		{ NULL, NULL },
	};
	test_child_dispatch(argc, argv, roles);
	for (int multi = 0; multi < 2; multi++) {
		static const size_t mms[] = { 56, 64, BIG_MAX };
		for (size_t j = 0; j < sizeof(mms) / sizeof(mms[0]); j++) {
			test_order(multi, 0, 0, mms[j]);
			test_order(multi, 0, 1, mms[j]);
			test_order(multi, 1, 0, mms[j]);
			test_order(multi, 1, 1, mms[j]);
		}
		test_partial(multi);
	}
	for (size_t mm = 8; mm <= 64; mm += 56) {
		test_crash_producer(mm);
		test_crash_consumer(mm);
	}
	test_crash_producer_mpmc();
	test_crash_consumer_mpmc();
	return test_done();
}
