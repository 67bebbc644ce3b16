/* SPDX-License-Identifier: MIT */
/* SPSC protocol of the queue (see queue.c): no atomic read-modify-write on
 * the hot path. The producer owns `tail` and the slots' markers, the
 * consumer owns `head`. The consumer polls the slot's marker (so an 8-byte
 * message moves in one cache line); the producer caches head and re-reads it
 * only when the ring looks full. */
#include <string.h>

#include "queue_internal.h"

int shmkit__sp_try_reserve(struct shmkit_queue *q, struct attempt *a)
{
	/* relaxed: only the producer writes tail */
	uint64_t t = atomic_load_explicit(&q->sh->tail, memory_order_relaxed);

	if (SHMKIT__UNLIKELY(sp_tail_behind(q, t))) {
		/* a producer died before publishing tail: step over every slot it
		 * committed (a batch commits several, shmkit_queue_send_many) */
		for (uint64_t n = 0; n < q->cap && sp_tail_behind(q, t); n++)
			t++;
		/* relaxed: as in shmkit__sp_commit() */
		atomic_store_explicit(&q->sh->tail, t, memory_order_relaxed);
	}
	if (t - q->cached_head >= q->cap) {
		/* acquire: pairs with the release store of head in shmkit__sc_consume():
		 * the consumer finished reading a slot before it moved head past it */
		uint64_t h = atomic_load_explicit(&q->sh->head, memory_order_acquire);
		if (t - h > q->cap)
			return -EBADMSG;
		q->cached_head = h;
		if (t - h == q->cap)
			return -EAGAIN;
	}
	a->pos = t;
	return 0;
}

void shmkit__sp_commit(struct shmkit_queue *q, uint64_t pos, uint32_t len)
{
	struct shmkit__queue_slot *s = slot_at(q, pos);

	atomic_store_explicit(&s->len, len, memory_order_relaxed);
	/* release: pairs with the acquire load of the marker in shmkit__sc_try_peek():
	 * payload and len are visible before COMMITTED */
	atomic_store_explicit(&s->seq, marker(pos, SHMKIT__QTAG_COMMITTED), memory_order_release);
	/* relaxed: tail is read by this producer and by stats only */
	atomic_store_explicit(&q->sh->tail, pos + 1, memory_order_relaxed);
	wake_data(q);
}

int shmkit__sc_try_peek(struct shmkit_queue *q, struct attempt *a)
{
	/* relaxed: only the consumer writes head */
	uint64_t h = atomic_load_explicit(&q->sh->head, memory_order_relaxed);
	struct shmkit__queue_slot *s = slot_at(q, h);
	/* acquire: pairs with the release store in shmkit__sp_commit() */
	uint64_t m = atomic_load_explicit(&s->seq, memory_order_acquire);

	if (SHMKIT__LIKELY(m == marker(h, SHMKIT__QTAG_COMMITTED))) {
		uint32_t len = atomic_load_explicit(&s->len, memory_order_relaxed);
		if (len > q->max_msg)
			return -EBADMSG;
		if (len > a->limit)
			return -EMSGSIZE;
		a->pos = h;
		a->len = len;
		return 0;
	}
	if (m == marker(h - q->cap, SHMKIT__QTAG_COMMITTED) || m == marker(h, SHMKIT__QTAG_FREE))
		return -EAGAIN; /* last lap's message, or never written: empty */
	return -EBADMSG;
}

void shmkit__sc_consume(struct shmkit_queue *q, uint64_t pos)
{
	/* release: pairs with the acquire load of head in shmkit__sp_try_reserve():
	 * our reads of the slot are done before the producer may reuse it */
	atomic_store_explicit(&q->sh->head, pos + 1, memory_order_release);
	wake_space(q);
}

/* Batches (shmkit_queue_send_many/recv_many in queue.c). */

/* Of the `want` slots from t, how many are free now (head read at most once). */
size_t shmkit__sp_room(struct shmkit_queue *q, uint64_t t, size_t want)
{
	if (t + want - q->cached_head > q->cap) {
		/* acquire: pairs with the release store of head in shmkit__sc_consume() and
		 * recv_many(): the consumer finished reading a slot before head passed it */
		uint64_t h = atomic_load_explicit(&q->sh->head, memory_order_acquire);
		if (t - h <= q->cap)
			q->cached_head = h;
	}
	uint64_t room = q->cap - (t - q->cached_head);
	return room < want ? (size_t)room : want;
}

/* One message into slot pos, marker last; tail and wake-up are the batch's. */
void shmkit__sp_fill(struct shmkit_queue *q, uint64_t pos, const struct iovec *m)
{
	struct shmkit__queue_slot *s = slot_at(q, pos);

	if (m->iov_len)
		memcpy(payload_at(q, pos), m->iov_base, m->iov_len);
	atomic_store_explicit(&s->len, (uint32_t)m->iov_len, memory_order_relaxed);
	/* release: pairs with the acquire load of the marker in shmkit__sc_try_peek() and
	 * recv_many(): payload and len are visible before COMMITTED */
	atomic_store_explicit(&s->seq, marker(pos, SHMKIT__QTAG_COMMITTED), memory_order_release);
}

/* The message at pos if committed and fitting cap: its length, else -1. */
ssize_t shmkit__sc_ready(struct shmkit_queue *q, uint64_t pos, size_t cap)
{
	struct shmkit__queue_slot *s = slot_at(q, pos);
	/* acquire: pairs with the release store in shmkit__sp_fill() / shmkit__sp_commit() */
	uint64_t m = atomic_load_explicit(&s->seq, memory_order_acquire);
	if (m != marker(pos, SHMKIT__QTAG_COMMITTED))
		return -1;
	uint32_t len = atomic_load_explicit(&s->len, memory_order_relaxed);
	return len <= q->max_msg && len <= cap ? (ssize_t)len : -1; /* else: the next recv says why */
}
