/* SPDX-License-Identifier: MIT */
/* Double-fetch attacker: a process that maps an object and flips every
 * message length in it between a valid value and a huge one, as fast as it
 * can, while a producer writes and a consumer reads through the library.
 * A length read twice (once to check, once to copy) would copy past the
 * caller's buffer or the segment; under ASan a copy past the exact-size heap
 * buffer the consumer passes is reported, and a read past the segment
 * faults. The library must hand out only lengths it checked: every result is
 * a message no longer than the buffer, or an error.
 *   queue: slot len (u32) flipped 8 <-> 0xffffffff / max_msg + 1
 *   topic: slot len (u64) flipped 8 <-> 2^63 / slot_size + 1
 *   map:   inline bucket vlen/klen flipped 4 <-> 0x7fffffff (lock-free get)
 * Each runs ~1.5 s. */
/* TIMEOUT: 120 */
#include "test.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "layout.h"

#define RUN_NS 1500000000LL

static _Atomic int *stop; /* shared: the consumer's "done" for the others */

/* Flips the 32- or 64-bit word at each offset between good and bad. */
struct flipper {
	const char *uri;
	uint64_t offs[256];
	size_t n;
	int wide;
	uint64_t good, bad[2];
};

static int attacker(void *arg)
{
	struct flipper *f = arg;
	struct shmkit_seg *seg;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (shmkit_seg_open(&seg, f->uri, 0, 0, 0) != 0)
		return 2;
	char *base = shmkit_seg_addr(seg);
	for (uint64_t i = 0; !atomic_load_explicit(stop, memory_order_relaxed); i++) {
		for (size_t k = 0; k < f->n; k++) {
			uint64_t v = (i & 1) ? f->bad[(i >> 1) & 1] : f->good;
			if (f->wide)
				atomic_store_explicit((_Atomic uint64_t *)(void *)(base + f->offs[k]), v,
						      memory_order_relaxed);
			else
				atomic_store_explicit((_Atomic uint32_t *)(void *)(base + f->offs[k]),
						      (uint32_t)v, memory_order_relaxed);
		}
	}
	shmkit_seg_close(seg);
	return 0;
}

static volatile unsigned touched; /* the reads must happen: a sink the compiler keeps */

static void touch(const void *p, size_t len)
{
	const volatile unsigned char *c = p;
	for (size_t i = 0; i < len; i++)
		touched += c[i];
}

static void in_segment(struct shmkit_seg *seg, const void *p, size_t len)
{
	const char *b = shmkit_seg_addr(seg), *c = p;
	size_t size = shmkit_seg_size(seg);
	int inside = c >= b && c <= b + size && len <= (size_t)(b + size - c);
	CHECK(inside);
	if (inside)
		touch(p, len);
}

/* ---- queue ---- */

static const char *q_uri;

static int q_producer(void *arg)
{
	(void)arg;
	struct shmkit_queue *q;
	char msg[64];
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (shmkit_queue_open(&q, q_uri) != 0)
		return 2;
	memset(msg, 'p', sizeof(msg));
	for (size_t i = 0; !atomic_load(stop); i++)
		if (shmkit_queue_send(q, msg, 1 + i % sizeof(msg), 0) == -EAGAIN)
			usleep(50);
	shmkit_queue_close(q);
	return 0;
}

static void test_queue(void)
{
	struct shmkit_queue_opts o = { .capacity = 8, .max_msg = 64 };
	struct shmkit_queue *q;
	struct flipper f = { .wide = 0, .good = 8, .bad = { 0xffffffffu, 65 } };
	q_uri = test_uri("posix", "dfetch-q");
	CHECK_RET(shmkit_queue_create(&q, q_uri, &o), 0);
	struct shmkit_seg *seg = shmkit_queue_seg(q);
	const struct shmkit__queue_shared *qs =
	    (const void *)((char *)shmkit_seg_addr(seg) + SHMKIT__HEADER_SIZE);
	/* SPSC with max_msg 64: markers in their own array, the length in each
	 * marker's low 32 bits (docs/LAYOUT.md "Queue") */
	for (uint32_t i = 0; i < qs->capacity && f.n < 256; i++)
		f.offs[f.n++] = SHMKIT__HEADER_SIZE + qs->markers_off + (uint64_t)i * 8;
	f.uri = q_uri;
	atomic_store(stop, 0);
	pid_t att = test_fork(attacker, &f), prod = test_fork(q_producer, NULL);
	long got = 0, bad = 0, peeked = 0;
	char *buf = malloc(o.max_msg); /* exactly max_msg: a longer copy is an ASan report */
	int64_t end = test_now_ns() + RUN_NS;
	while (test_now_ns() < end) {
		ssize_t n = shmkit_queue_recv(q, buf, o.max_msg, 0);
		if (n >= 0) {
			CHECK(n <= (ssize_t)o.max_msg);
			got++;
		} else if (n == -EBADMSG || n == -EMSGSIZE) {
			bad++;
		}
		const void *msg;
		n = shmkit_queue_peek(q, &msg, 0);
		if (n >= 0) {
			CHECK(n <= (ssize_t)o.max_msg);
			in_segment(seg, msg, (size_t)n);
			shmkit_queue_consume(q);
			peeked++;
		}
	}
	atomic_store(stop, 1);
	CHECK(test_wait(att) == 0);
	CHECK(test_wait(prod) == 0);
	printf("queue: %ld received, %ld peeked, %ld refused while lengths flipped\n", got, peeked,
	       bad);
	CHECK(got + peeked + bad > 0);
	free(buf);
	shmkit_queue_close(q);
	shmkit_remove(q_uri);
}

/* ---- topic ---- */

static const char *t_uri;

static void test_topic(void)
{
	struct shmkit_topic_opts o = { .slot_size = 64, .slots = 8, .max_subs = 4 };
	struct shmkit_pub *p;
	struct shmkit_sub *s;
	struct shmkit_seg *seg;
	struct flipper f = { .wide = 1, .good = 8, .bad = { 1ull << 63, 65 } };
	t_uri = test_uri("posix", "dfetch-t");
	CHECK_RET(shmkit_pub_create(&p, t_uri, &o), 0);
	CHECK_RET(shmkit_sub_open(&s, t_uri), 0);
	CHECK_RET(shmkit_seg_open(&seg, t_uri, 0, SHMKIT_RDONLY, 0), 0);
	const struct shmkit__topic_shared *ts =
	    (const void *)((char *)shmkit_seg_addr(seg) + SHMKIT__HEADER_SIZE);
	for (uint64_t i = 0; i < ts->slots && f.n < 256; i++)
		f.offs[f.n++] = SHMKIT__HEADER_SIZE + ts->ring_off + i * ts->slot_stride +
				offsetof(struct shmkit__topic_slot, len);
	f.uri = t_uri;
	atomic_store(stop, 0);
	pid_t att = test_fork(attacker, &f);
	char msg[64], *buf = malloc(o.slot_size);
	memset(msg, 't', sizeof(msg));
	long got = 0, bad = 0;
	int64_t end = test_now_ns() + RUN_NS;
	for (size_t i = 0; test_now_ns() < end; i++) {
		shmkit_pub_send(p, msg, 1 + i % sizeof(msg), 0);
		ssize_t n = shmkit_sub_recv(s, buf, o.slot_size, 0);
		if (n >= 0) {
			CHECK(n <= (ssize_t)o.slot_size);
			got++;
		} else if (n == -EBADMSG || n == -EMSGSIZE) {
			bad++;
		}
		shmkit_pub_send(p, msg, 8, 0);
		const void *m;
		n = shmkit_sub_peek(s, &m, 0);
		if (n >= 0) {
			CHECK(n <= (ssize_t)o.slot_size);
			/* the subscriber's own mapping: no bounds to compare with;
			 * reading every byte faults if it leaves the mapping */
			touch(m, (size_t)n);
			shmkit_sub_release(s);
		}
	}
	atomic_store(stop, 1);
	CHECK(test_wait(att) == 0);
	printf("topic: %ld received, %ld refused while lengths flipped\n", got, bad);
	free(buf);
	shmkit_seg_close(seg);
	shmkit_sub_close(s);
	shmkit_pub_close(p);
	shmkit_remove(t_uri);
}

/* ---- map: lock-free readers against flipped inline lengths ---- */

static void test_map(void)
{
	struct shmkit_map *m;
	struct flipper f = { .wide = 0, .good = 4, .bad = { 0x7fffffffu, 41 } };
	const char *uri = test_uri("posix", "dfetch-m");
	CHECK_RET(shmkit_map_create(&m, uri, 64 * 1024, 0), 0);
	for (int i = 0; i < 32; i++) {
		char k[8];
		snprintf(k, sizeof(k), "k%02d", i);
		CHECK_RET(shmkit_map_put(m, k, 3, "valu", 4), 0);
	}
	struct shmkit_seg *seg = shmkit_heap_seg(shmkit_map_heap(m));
	char *base = shmkit_seg_addr(seg);
	const struct shmkit__heap_shared *hs = (const void *)(base + SHMKIT__HEADER_SIZE);
	const struct shmkit__map_shared *ms = (const void *)(base + hs->root);
	for (uint64_t b = 0; b < ms->nbuckets && f.n < 254; b++) {
		uint64_t at = ms->buckets_off + b * sizeof(struct shmkit__map_bucket);
		const struct shmkit__map_bucket *bk = (const void *)(base + at);
		if (bk->klen == SHMKIT__MAP_NONE)
			continue;
		f.offs[f.n++] = at + offsetof(struct shmkit__map_bucket, vlen);
	}
	CHECK(f.n > 0);
	f.uri = uri;
	atomic_store(stop, 0);
	pid_t att = test_fork(attacker, &f);
	char *buf = malloc(16);
	long got = 0, bad = 0;
	int64_t end = test_now_ns() + RUN_NS;
	for (int i = 0; test_now_ns() < end; i++) {
		char k[8];
		snprintf(k, sizeof(k), "k%02d", i % 32);
		ssize_t n = shmkit_map_get(m, k, 3, buf, 16);
		if (n >= 0) {
			CHECK(n <= 16);
			got++;
		} else if (n == -EBADMSG || n == -EMSGSIZE) {
			bad++;
		}
		ssize_t l = shmkit_map_len(m, k, 3);
		CHECK(l < 0 || l <= 64 * 1024);
	}
	atomic_store(stop, 1);
	CHECK(test_wait(att) == 0);
	printf("map: %ld gets, %ld refused while lengths flipped\n", got, bad);
	free(buf);
	shmkit_map_close(m);
	shmkit_remove(uri);
}

int main(void)
{
	stop = mmap(NULL, sizeof(*stop), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(stop != MAP_FAILED);
	test_queue();
	test_topic();
	test_map();
	return test_done();
}
