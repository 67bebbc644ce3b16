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
};

static void open_target(struct target *t, const char *uri, int multi, size_t cap)
{
	struct shmkit_queue_opts o = { .capacity = cap, .max_msg = 40, .multi_producer = multi,
				       .multi_consumer = multi };
	CHECK_OK(shmkit_queue_create(&t->q, uri, &o));
	CHECK_OK(shmkit_seg_open(&t->raw, uri, 0, 0, 0));
	t->size = shmkit_seg_size(t->raw);
	t->sh = (void *)((char *)shmkit_seg_addr(t->raw) + 4096);
	t->slots = (unsigned char *)t->sh + SHMKIT__QUEUE_SLOTS_OFF;
	t->stride = t->sh->slot_stride;
	t->cap = t->sh->capacity;
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

static int allowed(long long r)
{
	return r >= 0 || r == -EBADMSG || r == -EAGAIN || r == -ETIMEDOUT || r == -EMSGSIZE ||
	       r == -EBUSY || r == -EINVAL;
}

static void test_targeted(int multi)
{
	const char *uri = test_uri("posix", "corrupt");
	struct target t;
	char *buf = malloc(40); /* exactly max_msg: ASan sees any overrun */
	open_target(&t, uri, multi, 4);

	/* a length beyond max_msg is never delivered */
	CHECK_OK(shmkit_queue_send(t.q, "hello", 5, 0));
	atomic_store(&slot(&t, 0)->len, 1000000);
	CHECK_RET(shmkit_queue_recv(t.q, buf, 40, 0), -EBADMSG);
	const void *p;
	CHECK(allowed(shmkit_queue_peek(t.q, &p, 0)));
	shmkit_queue_consume(t.q);

	/* a marker for another slot's position */
	CHECK_OK(shmkit_queue_send(t.q, "x", 1, 0));
	uint64_t h = atomic_load(&t.sh->head);
	atomic_store(&slot(&t, h)->seq, ((h + 1) << 8) | 1);
	CHECK_RET(shmkit_queue_recv(t.q, buf, 40, 0), -EBADMSG);

	/* head ahead of tail, tail far ahead of head */
	atomic_store(&t.sh->head, atomic_load(&t.sh->tail) + 1000);
	long long r = shmkit_queue_recv(t.q, buf, 40, 10 * MS);
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
	t.sh->capacity = saved;
	t.sh->max_msg = 1u << 29;
	CHECK_RET(shmkit_queue_open(&q2, uri), -EBADMSG);
	t.sh->max_msg = 40;
	t.sh->slot_stride = 16;
	CHECK_RET(shmkit_queue_open(&q2, uri), -EBADMSG);
	t.sh->slot_stride = t.stride;
	t.sh->flags = 0xff;
	CHECK_RET(shmkit_queue_open(&q2, uri), -EBADMSG);
	t.sh->flags = multi ? 3 : 0;
	CHECK(allowed(shmkit_queue_send(t.q, "z", 1, 0)));

	/* peer table garbage (MPMC): a waiter checks a random peer, in bounds */
	for (unsigned i = 0; i < SHMKIT__QUEUE_PEERS; i++)
		atomic_store(&t.sh->peers[i].state, 0xdeadbeefu * (i + 1));
	for (uint32_t i = 0; i < t.cap; i++)
		atomic_store(&slot(&t, i)->seq, ((uint64_t)i << 8) | 0x40 | (i * 13 & 0x3f));
	CHECK(allowed(shmkit_queue_recv(t.q, buf, 40, 5 * MS)));
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
	char *buf = malloc(40);
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
				off = SHMKIT__QUEUE_SLOTS_OFF + which * t.stride + RND() % 16;
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
			r = shmkit_queue_recv(t.q, buf, 40, tmo);
			break;
		case 7: {
			void *s;
			r = shmkit_queue_reserve(t.q, 40, &s, tmo);
			if (r == 0) {
				memset(s, 0xab, 40); /* the slot is ours: in bounds */
				r = shmkit_queue_commit(t.q, s, 40);
			}
			break;
		}
		case 8: {
			const void *p;
			r = shmkit_queue_peek(t.q, &p, tmo);
			if (r >= 0) {
				CHECK(r <= 40);
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

int main(int argc, char **argv)
{
	test_child_dispatch(argc, argv, NULL);
	test_targeted(0);
	test_targeted(1);
	for (unsigned s = 1; s <= 4; s++) {
		test_random(0, s);
		test_random(1, s);
	}
	return test_done();
}
