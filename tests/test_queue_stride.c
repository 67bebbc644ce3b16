/* SPDX-License-Identifier: MIT */
/* The MPMC slot stride (docs/LAYOUT.md "Queue"): a multiple of 16, room for
 * the 16-byte header and max_msg, no slot on more cache lines than its bytes
 * need, the shortest such (checked for every max_msg up to 300); SPSC
 * strides unchanged; a queue made with line-rounded MPMC slots (before
 * slots shared lines) still opens and carries messages, any other stride
 * is refused; messages of every length intact through slots that share
 * lines, with two producer and two consumer processes. */
/* TIMEOUT: 60 */
#include "test.h"

#include <stdint.h>
#include <unistd.h>

#include "layout.h"

static struct shmkit__queue_shared *map_body(const char *uri, struct shmkit_seg **seg)
{
	CHECK_OK(shmkit_seg_open(seg, uri, 0, 0, 0));
	return (void *)((unsigned char *)shmkit_seg_addr(*seg) + SHMKIT__HEADER_SIZE);
}

static uint64_t stride_of(size_t max_msg, int multi)
{
	static const char *uri; /* one name, made and removed for each size */

	if (!uri)
		uri = test_uri("posix", "stride");
	struct shmkit_queue_opts o = { .capacity = 2, .max_msg = max_msg,
				       .multi_producer = multi, .multi_consumer = multi };
	struct shmkit_queue *q;
	struct shmkit_seg *seg;

	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	uint64_t stride = map_body(uri, &seg)->slot_stride;
	shmkit_seg_close(seg);
	shmkit_queue_close(q);
	CHECK_OK(shmkit_remove(uri));
	return stride;
}

static void test_mpmc_strides(void)
{
	for (uint64_t max = 1; max <= 300; max++)
		CHECK(test_shortest_stride(stride_of(max, 1), SHMKIT__QUEUE_SLOT_HDR + max));
	CHECK(stride_of(8, 1) == 32);
	CHECK(stride_of(64, 1) == 80);
	/* SPSC keeps its formats: marker and message in a line, or a payload
	 * line with the marker in an array */
	CHECK(stride_of(8, 0) == 64);
	CHECK(stride_of(64, 0) == 64);
	CHECK(stride_of(100, 0) == 128);
}

static void test_line_stride_accepted(void)
{
	const char *uri = test_uri("posix", "oldstride");
	struct shmkit_queue_opts o = { .capacity = 8, .max_msg = 64,
				       .multi_producer = 1, .multi_consumer = 1 };
	struct shmkit_queue *q;
	struct shmkit_seg *seg;
	unsigned char msg[64], got[64];

	/* 8 slots of 80 bytes hold 4 of 128 */
	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	CHECK_OK(shmkit_queue_close(q));
	struct shmkit__queue_shared *sh = map_body(uri, &seg);
	unsigned char *slots = (unsigned char *)sh + SHMKIT__QUEUE_SLOTS_OFF;
	for (uint64_t i = 0; i < 4; i++) /* FREE(i) in slot i, at the old places */
		*(uint64_t *)(slots + i * 128) = i << 8;
	sh->capacity = 4;
	sh->slot_stride = 96;
	CHECK_RET(shmkit_queue_open(&q, uri), -EBADMSG);
	sh->slot_stride = 128;
	CHECK_OK(shmkit_queue_open(&q, uri));
	for (uint64_t i = 0; i < 10; i++) {
		memset(msg, (int)(0x40 + i), sizeof(msg));
		CHECK_OK(shmkit_queue_send(q, msg, sizeof(msg), 0));
		/* message i in slot i % 4 at the stored stride */
		CHECK(slots[(i % 4) * 128 + SHMKIT__QUEUE_SLOT_HDR + 63] == 0x40 + i);
		CHECK_RET(shmkit_queue_recv(q, got, sizeof(got), 0), 64);
		CHECK(memcmp(got, msg, sizeof(msg)) == 0);
	}
	CHECK_OK(shmkit_queue_close(q));
	shmkit_seg_close(seg);
	CHECK_OK(shmkit_remove(uri));
}

/* Message k of producer p: 5..64 bytes: p, k, then bytes derived from
 * both. A 1-byte message tells a consumer to stop. */
#define PER_PRODUCER 20000

static size_t make_msg(unsigned char *buf, unsigned p, uint32_t k)
{
	size_t len = 5 + k % 60;
	buf[0] = (unsigned char)p;
	memcpy(buf + 1, &k, 4);
	for (size_t i = 5; i < len; i++)
		buf[i] = (unsigned char)(p * 131 + k * 7 + i);
	return len;
}

static int role_producer(int argc, char **argv)
{
	struct shmkit_queue *q;
	unsigned char buf[64];

	if (argc < 2 || shmkit_queue_open(&q, argv[0]) < 0)
		return 2;
	unsigned p = (unsigned)atoi(argv[1]);
	for (uint32_t k = 0; k < PER_PRODUCER; k++)
		if (shmkit_queue_send(q, buf, make_msg(buf, p, k), 10000000000ll) < 0)
			return 1;
	shmkit_queue_close(q);
	return 0;
}

/* Exit 0 if every message up to its stop was intact and each producer's
 * came in order (a consumer claims positions in order). */
static int role_consumer(int argc, char **argv)
{
	struct shmkit_queue *q;
	unsigned char buf[64], want[64];
	int64_t last[2] = { -1, -1 };

	if (argc < 1 || shmkit_queue_open(&q, argv[0]) < 0)
		return 2;
	for (;;) {
		ssize_t len = shmkit_queue_recv(q, buf, sizeof(buf), 10000000000ll);
		if (len == 1)
			break;
		if (len < 5)
			return 3;
		uint32_t k;
		unsigned p = buf[0];
		memcpy(&k, buf + 1, 4);
		if (p > 1 || (int64_t)k <= last[p] || make_msg(want, p, k) != (size_t)len ||
		    memcmp(want, buf, (size_t)len) != 0)
			return 4;
		last[p] = k;
	}
	shmkit_queue_close(q);
	return 0;
}

static const struct test_role roles[] = {
	{ "producer", role_producer },
	{ "consumer", role_consumer },
	{ NULL, NULL },
};

static void test_two_by_two(void)
{
	const char *uri = test_uri("posix", "twobytwo");
	struct shmkit_queue_opts o = { .capacity = 16, .max_msg = 64,
				       .multi_producer = 1, .multi_consumer = 1 };
	struct shmkit_queue *q;
	struct shmkit_queue_stats st;

	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	const char *pa[] = { uri, "0", NULL }, *pb[] = { uri, "1", NULL }, *ca[] = { uri, NULL };
	pid_t c1 = test_spawn_self("consumer", ca), c2 = test_spawn_self("consumer", ca);
	pid_t p1 = test_spawn_self("producer", pa), p2 = test_spawn_self("producer", pb);
	CHECK(test_wait(p1) == 0);
	CHECK(test_wait(p2) == 0);
	/* the consumers may still be draining a full queue: wait for room */
	CHECK_OK(shmkit_queue_send(q, "s", 1, 10000000000ll));
	CHECK_OK(shmkit_queue_send(q, "s", 1, 10000000000ll));
	CHECK(test_wait(c1) == 0);
	CHECK(test_wait(c2) == 0);
	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK(st.sent == 2 * PER_PRODUCER + 2 && st.received == st.sent && st.depth == 0);
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

int main(int argc, char **argv)
{
	test_child_dispatch(argc, argv, roles);
	test_mpmc_strides();
	test_line_stride_accepted();
	test_two_by_two();
	return test_done();
}
