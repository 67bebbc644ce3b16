/* SPDX-License-Identifier: MIT */
/* Shared memory is untrusted: scribble on a queue's indices, markers, lengths
 * and configuration between operations, through a second raw mapping. Every
 * call must return (never hang past its timeout), give a valid answer or
 * -EBADMSG, and never write outside the caller's buffer or the segment
 * (AddressSanitizer watches in the sanitizer build). */
/* TIMEOUT: 60 */
#include "test.h"

#include <stdint.h>
#include <unistd.h>

#include "layout.h"

#define MS 1000000ll

struct target {
	struct shmkit_queue *q;
	struct shmkit_seg *raw;
	struct shmkit__queue_shared *sh;
	unsigned char *slots;
	size_t size; /* bytes of the raw mapping */
	uint32_t stride, cap;
	int multi;
	size_t max_msg;
	uint64_t markers_off; /* as created (the shared copy gets scribbled on) */
};

/* 40: SPSC keeps marker and message in one line; 100: SPSC markers in their
 * own array, payloads line-aligned (docs/LAYOUT.md "Queue"). */
static size_t max_msg_of(int multi)
{
	return multi == 2 ? 100 : 40;
}

/* multi: 0 SPSC (max_msg 40), 1 MPMC (40), 2 SPSC with a marker array (100) */
static void open_target(struct target *t, const char *uri, int multi, size_t cap)
{
	t->multi = multi == 1;
	t->max_msg = max_msg_of(multi);
	struct shmkit_queue_opts o = { .capacity = cap, .max_msg = t->max_msg,
				       .multi_producer = t->multi, .multi_consumer = t->multi };
	CHECK_OK(shmkit_queue_create(&t->q, uri, &o));
	CHECK_OK(shmkit_seg_open(&t->raw, uri, 0, 0, 0));
	t->size = shmkit_seg_size(t->raw);
	t->sh = (void *)((char *)shmkit_seg_addr(t->raw) + 4096);
	t->slots = (unsigned char *)t->sh + SHMKIT__QUEUE_SLOTS_OFF;
	t->stride = t->sh->slot_stride;
	t->cap = t->sh->capacity;
	t->markers_off = t->sh->markers_off;
}

static void close_target(struct target *t, const char *uri)
{
	CHECK_OK(shmkit_queue_close(t->q));
	CHECK_OK(shmkit_seg_close(t->raw));
	CHECK_OK(shmkit_remove(uri));
}

static struct shmkit__queue_slot *slot(struct target *t, uint64_t i)
{
	return (void *)(t->slots + (i % t->cap) * t->stride);
}

/* The offset (from the body) of slot i's commit marker. */
static size_t marker_off(struct target *t, uint64_t i)
{
	if (t->markers_off)
		return t->markers_off + (i % t->cap) * 8;
	return SHMKIT__QUEUE_SLOTS_OFF + (i % t->cap) * t->stride;
}

static _Atomic uint64_t *mark(struct target *t, uint64_t i)
{
	return (_Atomic uint64_t *)((unsigned char *)t->sh + marker_off(t, i));
}

/* Slot i now says: the message of position pos, len bytes. */
static void set_marker(struct target *t, uint64_t i, uint64_t pos, uint32_t len)
{
	if (t->multi) {
		atomic_store(&slot(t, i)->len, len);
		atomic_store(&slot(t, i)->seq, pos << 8 | SHMKIT__QTAG_COMMITTED);
	} else {
		atomic_store(mark(t, i), SHMKIT__QUEUE_SP_MARK(pos, len));
	}
}

static int allowed(long long r)
{
	return r >= 0 || r == -EBADMSG || r == -EAGAIN || r == -ETIMEDOUT || r == -EMSGSIZE ||
	       r == -EBUSY || r == -EINVAL;
}

static void test_targeted(int multi)
{
	const char *uri = test_uri("posix", "corrupt");
	struct target t;
	open_target(&t, uri, multi, 4);
	size_t mm = t.max_msg;
	char *buf = malloc(mm); /* exactly max_msg: ASan sees any overrun */

	/* a length beyond max_msg is never delivered */
	CHECK_OK(shmkit_queue_send(t.q, "hello", 5, 0));
	set_marker(&t, 0, 0, 1000000);
	CHECK_RET(shmkit_queue_recv(t.q, buf, mm, 0), -EBADMSG);
	set_marker(&t, 0, 0, (uint32_t)mm + 1);
	CHECK_RET(shmkit_queue_recv(t.q, buf, mm, 0), -EBADMSG);
	const void *p;
	CHECK(allowed(shmkit_queue_peek(t.q, &p, 0)));
	shmkit_queue_consume(t.q);

	/* a marker for another slot's position */
	CHECK_OK(shmkit_queue_send(t.q, "x", 1, 0));
	uint64_t h = atomic_load(&t.sh->head);
	set_marker(&t, h, h + 1, 1);
	CHECK_RET(shmkit_queue_recv(t.q, buf, mm, 0), -EBADMSG);
	set_marker(&t, h, h + t.cap + 1, 1);
	CHECK_RET(shmkit_queue_recv(t.q, buf, mm, 0), -EBADMSG);
	CHECK_RET(shmkit_queue_peek_at(t.q, 0, &p), t.multi ? -EOPNOTSUPP : -EAGAIN);

	/* head ahead of tail, tail far ahead of head */
	atomic_store(&t.sh->head, atomic_load(&t.sh->tail) + 1000);
	long long r = shmkit_queue_recv(t.q, buf, mm, 10 * MS);
	CHECK(r == -EBADMSG || r == -ETIMEDOUT || r == -EAGAIN);
	atomic_store(&t.sh->tail, atomic_load(&t.sh->head) + 1000);
	r = shmkit_queue_send(t.q, "y", 1, 10 * MS);
	CHECK(allowed(r));
	atomic_store(&t.sh->tail, 0);
	r = shmkit_queue_send(t.q, "y", 1, 10 * MS);
	CHECK(allowed(r));

	/* configuration: a new opener refuses it, the open handle keeps its copy */
	struct shmkit_queue *q2;
	uint32_t saved = t.sh->capacity;
	t.sh->capacity = 3;
	CHECK_RET(shmkit_queue_open(&q2, uri), -EBADMSG);
	t.sh->capacity = 1u << 20;
	CHECK_RET(shmkit_queue_open(&q2, uri), -EBADMSG);
	/* rings of 2^32 bytes and more: what a 32-bit size_t wrapped to a
	 * small size, whose slots then lay past the segment */
	for (uint32_t c = 1u << 26; c && c <= (1u << 30); c <<= 1) {
		t.sh->capacity = c;
		CHECK_RET(shmkit_queue_open(&q2, uri), -EBADMSG);
	}
	t.sh->capacity = saved;
	t.sh->max_msg = 1u << 29;
	CHECK_RET(shmkit_queue_open(&q2, uri), -EBADMSG);
	t.sh->max_msg = (uint32_t)mm;
	t.sh->slot_stride = 16;
	CHECK_RET(shmkit_queue_open(&q2, uri), -EBADMSG);
	t.sh->slot_stride = t.stride;
	t.sh->flags = 0xff;
	CHECK_RET(shmkit_queue_open(&q2, uri), -EBADMSG);
	t.sh->flags = t.multi ? 0 : 1; /* the other slot format */
	CHECK_RET(shmkit_queue_open(&q2, uri), -EBADMSG);
	t.sh->flags = t.multi ? 3 : 0;
	uint32_t hdr = t.sh->slot_hdr;
	t.sh->slot_hdr = hdr ^ 8;
	CHECK_RET(shmkit_queue_open(&q2, uri), -EBADMSG);
	t.sh->slot_hdr = hdr;
	uint64_t moff = t.sh->markers_off;
	t.sh->markers_off = moff ? moff + 64 : 1u << 30;
	CHECK_RET(shmkit_queue_open(&q2, uri), -EBADMSG);
	t.sh->markers_off = moff;
	CHECK_OK(shmkit_queue_open(&q2, uri));
	CHECK_OK(shmkit_queue_close(q2));
	CHECK(allowed(shmkit_queue_send(t.q, "z", 1, 0)));

	/* peer table garbage (MPMC): a waiter checks a random peer, in bounds */
	for (unsigned i = 0; i < SHMKIT__QUEUE_PEERS; i++)
		atomic_store(&t.sh->peers[i].state, 0xdeadbeefu * (i + 1));
	for (uint32_t i = 0; i < t.cap; i++)
		atomic_store(mark(&t, i), ((uint64_t)i << 8) | 0x40 | (i * 13 & 0x3f));
	CHECK(allowed(shmkit_queue_recv(t.q, buf, mm, 5 * MS)));
	CHECK(allowed(shmkit_queue_send(t.q, "w", 1, 5 * MS)));

	free(buf);
	close_target(&t, uri);
}

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Random 1..8-byte scribbles over the control area and slot headers,
 * interleaved with random operations on short timeouts. */
static void test_random(int multi, unsigned seed)
{
	const char *uri = test_uri("posix", "fuzz");
	struct target t;
	open_target(&t, uri, multi, 8);
	size_t mm = t.max_msg;
	char *buf = malloc(mm);
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
#define RND() xorshift(&x)
	int rounds = 3000;
	for (int i = 0; i < rounds; i++) {
		int what = (int)(RND() % 10);
		if (what < 3) { /* scribble */
			size_t span = 320 + 64 * SHMKIT__QUEUE_PEERS;
			size_t off;
			if (RND() & 1) {
				off = RND() % span;
			} else {
				size_t which = RND() % t.cap;
				off = marker_off(&t, which) + RND() % (t.multi ? 16 : 8);
			}
			off &= ~(size_t)7;
			uint64_t v = RND();
			if (RND() & 1)
				v &= 0xff; /* small values hit valid-looking states */
			if (RND() & 1) { /* a plausible tag sometimes */
				uint64_t tag = RND() & 1 ? 0x01 : 0x40 | (RND() & 0x3f);
				v = (v & ~0xffull) | tag;
			}
			memcpy((char *)t.sh + off, &v, RND() % 8 + 1);
			continue;
		}
		long long r;
		int64_t tmo = (RND() & 1) ? 0 : 1 * MS;
		switch (what) {
		case 3:
		case 4:
			r = shmkit_queue_send(t.q, "payload", 7, tmo);
			break;
		case 5:
		case 6:
			r = shmkit_queue_recv(t.q, buf, mm, tmo);
			break;
		case 7: {
			void *s;
			r = shmkit_queue_reserve(t.q, mm, &s, tmo);
			if (r == 0) {
				memset(s, 0xab, mm); /* the slot is ours: in bounds */
				r = shmkit_queue_commit(t.q, s, mm);
			}
			break;
		}
		case 8: {
			const void *p;
			r = shmkit_queue_peek(t.q, &p, tmo);
			if (r >= 0) {
				CHECK(r <= (long long)mm);
				volatile unsigned char sink = 0;
				for (long long k = 0; k < r; k++)
					sink ^= ((const unsigned char *)p)[k];
				(void)sink;
				r = shmkit_queue_consume(t.q);
			}
			break;
		}
		default: {
			struct shmkit_queue_stats st;
			r = shmkit_queue_stats(t.q, &st);
			CHECK(st.depth <= st.capacity);
			break;
		}
		}
		if (!allowed(r)) {
			fprintf(stderr, "round %d op %d: %lld\n", i, what, r);
			CHECK(allowed(r));
		}
	}
	free(buf);
	close_target(&t, uri);
}

/* A ring a 32-bit process cannot map is refused at create (a size_t that
 * wrapped made a segment of a few KiB and wrote markers past it), and
 * nothing is left behind. A 64-bit process would make these (4 GiB and
 * more of tmpfs): only the 32-bit build asks. */
static void test_too_large_for_32bit(void)
{
	static const struct {
		size_t cap, max_msg;
		int multi;
	} sizes[] = { { 1u << 26, 8, 0 },   { 1u << 26, 48, 1 }, { 1u << 27, 56, 0 },
		      { 4, 1u << 30, 0 },   { 4, 1u << 30, 1 },  { 1u << 25, 120, 0 },
		      { 1u << 30, 1, 0 },   { 1u << 25, 128, 0 } };
	const char *uri = test_uri("posix", "too-large");
	struct shmkit_stat st;

	if (sizeof(size_t) > 4)
		return;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct shmkit_queue_opts o = { .capacity = sizes[i].cap,
					       .max_msg = sizes[i].max_msg,
					       .multi_producer = sizes[i].multi,
					       .multi_consumer = sizes[i].multi };
		struct shmkit_queue *q;
		CHECK_RET(shmkit_queue_create(&q, uri, &o), -ENOMEM);
		CHECK(strstr(shmkit_last_error_detail(), "a 32-bit process can map") != NULL);
		CHECK_RET(shmkit_stat(uri, &st), -ENOENT);
	}
}

int main(int argc, char **argv)
{
	test_child_dispatch(argc, argv, NULL);
	for (int multi = 0; multi <= 2; multi++)
		test_targeted(multi);
	test_too_large_for_32bit();
	for (unsigned s = 1; s <= 4; s++)
		for (int multi = 0; multi <= 2; multi++)
			test_random(multi, s);
	return test_done();
}
