/* SPDX-License-Identifier: MIT */
/* SPSC protocol of the queue (see queue.c): no atomic read-modify-write on
 * the hot path. The producer owns `tail`, `bytes_sent` and the slots'
 * markers, the consumer owns `head` and `bytes_received`. The consumer polls
 * the slot's marker (position and length in one word, docs/LAYOUT.md "SPSC
 * slot"), so a message up to 56 bytes moves with its marker in one cache
 * line and a 64-byte one fills one line of its own; the producer caches head
 * and re-reads it only when the ring looks full.
 *
 * The copy calls (send, recv, their batches) are whole here so that their
 * fast path is one function with no call but the copy; they leave the file
 * only to wait (shmkit__queue_wait). */
#include <string.h>

#include "copy.h"
#include "queue_internal.h"


/* ---------------------------------------------------------------------
 * producer
 * --------------------------------------------------------------------- */

/* A producer killed before it published tail left committed slots after
 * it: step over every one (a batch commits several). */
static __attribute__((noinline)) uint64_t sp_repair_tail(struct shmkit_queue *q, uint64_t t)
{
	for (uint64_t n = 0; n < q->cap && sp_tail_behind(q, t); n++)
		t++;
	/* relaxed: as in sp_publish_tail() */
	atomic_store_explicit(&q->sh->tail, t, memory_order_relaxed);
	return t;
}

static inline int sp_try_reserve(struct shmkit_queue *q, struct attempt *a)
{
	/* relaxed: only the producer writes tail */
	uint64_t t = atomic_load_explicit(&q->sh->tail, memory_order_relaxed);

	if (SHMKIT__UNLIKELY(sp_tail_behind(q, t)))
		t = sp_repair_tail(q, t);
	if (t - q->cached_head >= q->cap) {
		/* acquire: pairs with the release store of head in sc_publish_head():
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

int shmkit__sp_try_reserve(struct shmkit_queue *q, struct attempt *a)
{
	return sp_try_reserve(q, a);
}

/* The message at pos is complete: its marker, last. */
static inline void sp_publish(struct shmkit_queue *q, uint64_t pos, uint32_t len)
{
	/* release: pairs with the acquire load of the marker in sc_try_peek() /
	 * sc_ready(): the payload is visible before the marker names pos */
	atomic_store_explicit(sp_marker(q, pos), SHMKIT__QUEUE_SP_MARK(pos, len),
			      memory_order_release);
}

/* After the markers of [.., t): move tail and the byte counter. */
static inline void sp_store_tail(struct shmkit_queue *q, uint64_t t, uint64_t bytes)
{
	struct shmkit__queue_shared *sh = q->sh;
	/* relaxed: tail and bytes_sent are read by this producer and by stats
	 * only (the consumer reads markers); both on the producer's own line */
	atomic_store_explicit(&sh->tail, t, memory_order_relaxed);
	atomic_store_explicit(&sh->bytes_sent,
			      atomic_load_explicit(&sh->bytes_sent, memory_order_relaxed) + bytes,
			      memory_order_relaxed);
}

/* ... and wake. */
static inline void sp_publish_tail(struct shmkit_queue *q, uint64_t t, uint64_t bytes)
{
	sp_store_tail(q, t, bytes);
	wake_data(q);
}

static inline void sp_commit(struct shmkit_queue *q, uint64_t pos, uint32_t len)
{
	sp_publish(q, pos, len);
	sp_publish_tail(q, pos + 1, len);
}

void shmkit__sp_commit(struct shmkit_queue *q, uint64_t pos, uint32_t len)
{
	sp_commit(q, pos, len);
}

/* Checks and role shared by every producer call; then one attempt, waiting
 * if the ring is full. */
static inline int sp_reserve(struct shmkit_queue *q, size_t len, int64_t timeout_ns,
			     struct attempt *a)
{
	int r;

	if (SHMKIT__UNLIKELY(len > q->max_msg))
		return -EMSGSIZE;
	forget_inherited(q);
	if ((r = claim_role(q, true)) < 0)
		return r;
	if (SHMKIT__UNLIKELY(q->resv_active))
		return -EBUSY;
	r = sp_try_reserve(q, a);
	if (SHMKIT__UNLIKELY(r == -EAGAIN))
		r = shmkit__queue_wait(q, shmkit__sp_try_reserve, a, true, timeout_ns);
	return r;
}

/* Anything the fast path does not handle: the first send of a handle (role
 * claim), after fork, an outstanding reservation, a full ring (waiting). */
static __attribute__((noinline)) int sp_send_slow(struct shmkit_queue *q, const void *msg,
						  size_t len, int64_t timeout_ns)
{
	struct attempt a = { 0 };
	int r = sp_reserve(q, len, timeout_ns, &a);

	if (r < 0)
		return r;
	if (len)
		shmkit__copy_in(&q->copy_pick, payload_at(q, a.pos), msg, len);
	shmkit__sp_commit(q, a.pos, (uint32_t)len);
	return 0;
}

/* This handle holds the producer (consumer) role in the process that uses
 * it, with no zero-copy operation outstanding: the copy calls' fast path. */
static inline bool sp_ready(const struct shmkit_queue *q, unsigned role, bool busy)
{
	return SHMKIT__LIKELY(q->op_gen == shmkit__fork_gen() && q->obj.role_word[role] != 0 &&
			      !busy);
}

/* Before the waiting machinery (which reads the clock and calls through a
 * predicate: ~100 ns) look again a few times: in a stream the other side
 * frees a slot (publishes a message) within a cache-line transfer or two.
 * Not for polls (timeout 0) nor for handles told to sleep at once. */
#define SP_SPINS 64

static inline bool sp_spin_ok(const struct shmkit_queue *q, int64_t timeout_ns)
{
	return timeout_ns != 0 && q->spin_ns != 0;
}

/* The ring looked full at t: a fresh head that leaves room, or false.
 * While spinning it waits for a little more room than one slot (up to
 * SP_ROOM): a producer that resumes at every freed slot re-reads `head`
 * once per message, pulling the line the consumer writes per message.
 * For the same reason, in a queue of messages up to 64 bytes, it looks at
 * `head` only every SP_ROOM_PAUSES pauses: each look takes that line from
 * the consumer, whose next store of head must fetch it back before the
 * stores behind it can drain (a consumer behind a full ring on a 2-vCPU
 * Xeon: 62 ns a message with a look per pause; docs/PERF.md "A full
 * ring"). It spins no longer than the send's timeout or the handle's spin
 * time allow; the waiting machinery then takes over. */
#define SP_ROOM 32u
#define SP_ROOM_PAUSES 32u

/* How long sp_spin_room() may spin: the smaller of the timeout and the
 * handle's spin time, or -1 for as long as its looks last. */
static int64_t sp_room_budget(const struct shmkit_queue *q, int64_t timeout_ns)
{
	int64_t b = q->spin_ns;
	if (timeout_ns >= 0 && (b < 0 || timeout_ns < b))
		b = timeout_ns;
	return b;
}

static __attribute__((noinline)) bool sp_spin_room(struct shmkit_queue *q, uint64_t t,
						   int64_t timeout_ns)
{
	uint64_t want = q->cap / 4 < SP_ROOM ? q->cap / 4 : SP_ROOM;
	uint64_t h = q->cached_head;
	/* a slot of a larger message frees after its copy, many transfers
	 * long: there a look costs little and a late one loses time, and the
	 * 64 looks are over too soon to need the clock */
	unsigned pauses = q->max_msg <= SHMKIT__COPY_SMALL ? SP_ROOM_PAUSES : 1;
	int64_t budget = pauses > 1 ? sp_room_budget(q, timeout_ns) : -1;
	int64_t start = budget >= 0 ? shmkit__now_ns() : 0;

	for (unsigned i = 0; i < SP_SPINS; i++) {
		/* acquire: as in sp_try_reserve() */
		h = atomic_load_explicit(&q->sh->head, memory_order_acquire);
		if (t - h > q->cap)
			return false; /* corrupt: the slow path says */
		if (q->cap - (t - h) >= want && t - h < q->cap)
			break;
		if (!sp_spin_ok(q, timeout_ns) ||
		    (budget >= 0 && shmkit__now_ns() - start >= budget))
			break;
		for (unsigned k = 0; k < pauses; k++)
			shmkit__spin_pause();
	}
	if (t - h >= q->cap)
		return false;
	q->cached_head = h;
	return true;
}

/* Everything shmkit__sp_send's leaf path leaves: a message over 64 bytes
 * (its copy calls), the checks' failures, a full ring. */
static __attribute__((noinline)) int sp_send_rest(struct shmkit_queue *q, const void *msg,
						  size_t len, int64_t timeout_ns)
{
	if (SHMKIT__UNLIKELY(len > q->max_msg))
		return -EMSGSIZE;
	if (!sp_ready(q, SHMKIT__ROLE_PRODUCER, q->resv_active))
		return sp_send_slow(q, msg, len, timeout_ns);
	/* relaxed: as in shmkit__sp_send() */
	uint64_t t = atomic_load_explicit(&q->sh->tail, memory_order_relaxed);
	if (SHMKIT__UNLIKELY(t - q->cached_head >= q->cap) && !sp_spin_room(q, t, timeout_ns))
		return sp_send_slow(q, msg, len, timeout_ns);
	if (len)
		shmkit__copy_in(&q->copy_pick, payload_at(q, t), msg, len);
	sp_commit(q, t, (uint32_t)len);
	return 0;
}

/* The wake-up a quiet check could not rule out, after a send. */
static __attribute__((noinline)) int sp_wake(struct shmkit_queue *q)
{
	wake_data(q);
	return 0;
}

/* The common send is a leaf function: every other case leaves by a tail
 * call, so it saves no register and makes no call (callgrind: 20 of ~60
 * instructions were the frame of the calls it did not make). */
int shmkit__sp_send(struct shmkit_queue *q, const void *msg, size_t len, int64_t timeout_ns)
{
	if (SHMKIT__UNLIKELY(len > q->max_msg || len > SHMKIT__COPY_SMALL ||
			     !sp_ready(q, SHMKIT__ROLE_PRODUCER, q->resv_active)))
		return sp_send_rest(q, msg, len, timeout_ns);
	/* relaxed: only the producer writes tail. A tail left behind by a
	 * producer that died is repaired by the slow path, which every handle
	 * takes first (the role claim) and after fork. */
	uint64_t t = atomic_load_explicit(&q->sh->tail, memory_order_relaxed);
	if (SHMKIT__UNLIKELY(t - q->cached_head >= q->cap))
		return sp_send_rest(q, msg, len, timeout_ns);
	shmkit__copy_small(payload_at(q, t), msg, len);
	sp_publish(q, t, (uint32_t)len);
	sp_store_tail(q, t + 1, len);
	if (SHMKIT__UNLIKELY(!shmkit__ec_quiet(&q->data_ec)))
		return sp_wake(q);
	return 0;
}

/* shmkit_queue_reserve on an SPSC queue: the position of a free slot. The
 * fast path (role held, nothing outstanding, room known) is inline here, as
 * for send; everything else through sp_reserve. */
int shmkit__sp_reserve_pos(struct shmkit_queue *q, size_t len, int64_t timeout_ns, uint64_t *pos)
{
	struct attempt a = { 0 };

	if (SHMKIT__LIKELY(len <= q->max_msg && sp_ready(q, SHMKIT__ROLE_PRODUCER, q->resv_active))) {
		/* relaxed: only the producer writes tail (a dead producer's tail
		 * is repaired by the slow path, taken first: shmkit__sp_send) */
		uint64_t t = atomic_load_explicit(&q->sh->tail, memory_order_relaxed);
		if (SHMKIT__LIKELY(t - q->cached_head < q->cap)) {
			*pos = t;
			return 0;
		}
	}
	int r = sp_reserve(q, len, timeout_ns, &a);
	*pos = a.pos;
	return r;
}

/* Of the `want` slots from t, how many are free now (head read at most once). */
static size_t sp_room(struct shmkit_queue *q, uint64_t t, size_t want)
{
	if (t + want - q->cached_head > q->cap) {
		/* acquire: as in sp_try_reserve() */
		uint64_t h = atomic_load_explicit(&q->sh->head, memory_order_acquire);
		if (t - h <= q->cap)
			q->cached_head = h;
	}
	uint64_t room = q->cap - (t - q->cached_head);
	return room < want ? (size_t)room : want;
}

/* Of the k slots from pos, how many lie before the ring wraps: a batch is
 * at most two runs of consecutive slots, walked by stepping addresses. */
static inline size_t sp_run(const struct shmkit_queue *q, uint64_t pos, size_t k)
{
	uint64_t left = q->cap - (pos & q->mask);
	return k < left ? k : (size_t)left;
}

/* Copies msgs[0..k) into the slots from pos, checking each iovec on the
 * way: how many were copied (a message too large ends the batch before
 * it), or -EINVAL. Nothing is published yet, so an error leaves no trace.
 * One comparison sends a message to the inline copy (up to 64 bytes and
 * max_msg); the rest is the rare path. */
static ssize_t sp_copy_batch(struct shmkit_queue *q, const struct iovec *msgs,
			     uint64_t pos, size_t k)
{
	const size_t max = q->max_msg, stride = q->stride;
	const size_t small = max < SHMKIT__COPY_SMALL ? max : SHMKIT__COPY_SMALL;
	const struct iovec *v = msgs, *const stop = msgs + k;

	while (v < stop) {
		const struct iovec *const end =
			v + sp_run(q, pos + (uint64_t)(v - msgs), (size_t)(stop - v));
		unsigned char *pay = payload_at(q, pos + (uint64_t)(v - msgs));
		shmkit__prefetch_write(pay, (size_t)(end - v), stride);
		for (; v < end; v++, pay += stride) {
			size_t len = v->iov_len;
			if (SHMKIT__UNLIKELY(!v->iov_base) && len)
				return -EINVAL;
			if (SHMKIT__LIKELY(len <= small))
				shmkit__copy_small(pay, v->iov_base, len);
			else if (len <= max)
				shmkit__copy_in(&q->copy_pick, pay, v->iov_base, len);
			else
				return v - msgs;
		}
	}
	return (ssize_t)k;
}

/* Each slot of msgs[0..k) gets its marker as one message would, so the
 * consumer sees every message at once; returns the bytes. The lengths were
 * checked (<= max_msg < 2^32) by sp_copy_batch(). */
static uint64_t sp_mark_batch(const struct shmkit_queue *q, const struct iovec *msgs,
			      uint64_t pos, size_t k)
{
	const size_t mstride = q->mstride;
	const struct iovec *v = msgs, *const stop = msgs + k;
	uint64_t bytes = 0;

	while (v < stop) {
		uint64_t p = pos + (uint64_t)(v - msgs);
		const struct iovec *end = v + sp_run(q, p, (size_t)(stop - v));
		unsigned char *mk = (unsigned char *)sp_marker(q, p);
		uint64_t m = SHMKIT__QUEUE_SP_MARK(p, 0);
		for (; v < end; v++, mk += mstride, m += SHMKIT__QUEUE_SP_MARK(1, 0)) {
			/* release: as in sp_publish() */
			atomic_store_explicit((_Atomic uint64_t *)mk, m | v->iov_len, memory_order_release);
			bytes += v->iov_len;
			SHMKIT__TEST_POINT("queue.batch.sent");
		}
	}
	return bytes;
}

/* Every payload first, then every marker: the consumer, polling the first
 * marker, then finds the whole batch published within a few lines' stores
 * instead of racing a marker store per copy. Tail, the byte counter and
 * the wake-up are the batch's. The iovecs are checked as they are copied
 * (not in a pass of their own: that cost 5-10 % of a 64-byte batch). */
ssize_t shmkit__sp_send_many(struct shmkit_queue *q, const struct iovec *msgs, size_t n,
			     int64_t timeout_ns)
{
	uint64_t t;

	if (!msgs[0].iov_base && msgs[0].iov_len)
		return -EINVAL;
	int r = shmkit__sp_reserve_pos(q, msgs[0].iov_len, timeout_ns, &t);
	if (r < 0)
		return r;
	size_t k = 1 + sp_room(q, t + 1, n - 1);
	ssize_t c = sp_copy_batch(q, msgs, t, k);
	if (c < 0)
		return c;
	uint64_t bytes = sp_mark_batch(q, msgs, t, (size_t)c);
	/* a producer killed before this leaves tail behind committed slots,
	 * which the next reserve steps over (sp_repair_tail) */
	sp_store_tail(q, t + (uint64_t)c, bytes);
	if (SHMKIT__UNLIKELY(!shmkit__ec_quiet(&q->data_ec)))
		wake_data(q);
	return c;
}

/* ---------------------------------------------------------------------
 * consumer
 * --------------------------------------------------------------------- */

static inline int sc_try_peek(struct shmkit_queue *q, struct attempt *a)
{
	/* relaxed: only the consumer writes head */
	uint64_t h = atomic_load_explicit(&q->sh->head, memory_order_relaxed);
	/* acquire: pairs with the release store in sp_publish() */
	uint64_t m = atomic_load_explicit(sp_marker(q, h), memory_order_acquire);

	if (SHMKIT__LIKELY(sp_mark_pos(m) == (uint32_t)h)) {
		uint32_t len = (uint32_t)m;
		if (len > q->max_msg)
			return -EBADMSG;
		if (len > a->limit)
			return -EMSGSIZE;
		a->pos = h;
		a->len = len;
		return 0;
	}
	if (sp_mark_pos(m) == (uint32_t)(h - q->cap))
		return -EAGAIN; /* last lap's message (or a fresh slot): empty */
	return -EBADMSG;
}

int shmkit__sc_try_peek(struct shmkit_queue *q, struct attempt *a)
{
	return sc_try_peek(q, a);
}

/* 0 when d = marker - SHMKIT__QUEUE_SP_MARK(pos, 0) says the marker names
 * pos (d < 2^32). Added to the payload's address, it makes the payload's
 * loads wait for the marker's: without it the CPU, predicting "ready", loads
 * the payload of a slot the producer has not filled yet, taking that line
 * from the producer at its heels (a 64-byte stream there: 1-5 % of the
 * receives found the slot empty, and the rate fell 1.5e8 -> 0.7e8 msg/s as
 * they rose). The empty asm keeps the compiler from folding it to the 0
 * the checks after it imply. docs/PERF.md "Fifth round". */
static inline uint64_t sc_marker_dep(uint64_t d)
{
	uint64_t hi = d >> 32;
	__asm__("" : "+r"(hi));
	return hi;
}

/* Slots before `h` are read: hand them back, count their bytes. */
static inline void sc_store_head(struct shmkit_queue *q, uint64_t h, uint64_t bytes)
{
	struct shmkit__queue_shared *sh = q->sh;
	/* release: pairs with the acquire load of head in sp_try_reserve() /
	 * sp_room(): our reads of the slots are done before they are reused */
	atomic_store_explicit(&sh->head, h, memory_order_release);
	/* relaxed: a statistic on the consumer's own line */
	atomic_store_explicit(&sh->bytes_received,
			      atomic_load_explicit(&sh->bytes_received, memory_order_relaxed) + bytes,
			      memory_order_relaxed);
}

/* ... and wake. */
static inline void sc_publish_head(struct shmkit_queue *q, uint64_t h, uint64_t bytes)
{
	sc_store_head(q, h, bytes);
	wake_space(q);
}

void shmkit__sc_consume(struct shmkit_queue *q, uint64_t pos, uint32_t len)
{
	sc_publish_head(q, pos + 1, len);
}

/* Checks and role shared by the consumer's copy calls; then one attempt,
 * waiting if the ring is empty. */
static inline int sc_claim(struct shmkit_queue *q, size_t limit, int64_t timeout_ns,
			   struct attempt *a)
{
	int r;

	forget_inherited(q);
	if ((r = claim_role(q, false)) < 0)
		return r;
	if (SHMKIT__UNLIKELY(q->peek_active))
		return -EBUSY;
	a->limit = limit;
	r = sc_try_peek(q, a);
	if (SHMKIT__UNLIKELY(r == -EAGAIN))
		r = shmkit__queue_wait(q, shmkit__sc_try_peek, a, false, timeout_ns);
	return r;
}

/* Anything the fast path does not handle: the first receive of a handle,
 * after fork, an outstanding peek, an empty ring (waiting), an error. */
static __attribute__((noinline)) ssize_t sc_recv_slow(struct shmkit_queue *q, void *buf,
						      size_t cap, int64_t timeout_ns)
{
	struct attempt a = { 0 };
	int r = sc_claim(q, cap, timeout_ns, &a);

	if (r < 0)
		return r;
	if (a.len)
		shmkit__copy(buf, payload_at(q, a.pos), a.len);
	sc_publish_head(q, a.pos + 1, a.len);
	return (ssize_t)a.len;
}

/* shmkit_queue_peek on an SPSC queue with no peek outstanding: the next
 * message's position and length. Fast path inline, as for recv. */
int shmkit__sc_peek_pos(struct shmkit_queue *q, int64_t timeout_ns, struct attempt *a)
{
	if (SHMKIT__LIKELY(sp_ready(q, SHMKIT__ROLE_CONSUMER, q->peek_active))) {
		/* relaxed: only the consumer writes head */
		uint64_t h = atomic_load_explicit(&q->sh->head, memory_order_relaxed);
		/* acquire: pairs with the release store in sp_publish() */
		uint64_t m = atomic_load_explicit(sp_marker(q, h), memory_order_acquire);
		if (SHMKIT__LIKELY(sp_mark_pos(m) == (uint32_t)h && (uint32_t)m <= q->max_msg)) {
			a->pos = h;
			a->len = (uint32_t)m;
			return 0;
		}
	}
	return sc_claim(q, SIZE_MAX, timeout_ns, a);
}

/* The slot at h looked empty (marker m): its marker once it names h, or m. */
static __attribute__((noinline)) uint64_t sc_spin_msg(struct shmkit_queue *q, uint64_t h,
						      uint64_t m, int64_t timeout_ns)
{
	for (unsigned i = 0; i < SP_SPINS && sp_spin_ok(q, timeout_ns); i++) {
		if (sp_mark_pos(m) != (uint32_t)(h - q->cap))
			return m; /* a message, or corrupt: the caller looks */
		shmkit__spin_pause();
		/* acquire: pairs with the release store in sp_publish() */
		m = atomic_load_explicit(sp_marker(q, h), memory_order_acquire);
	}
	return m;
}

/* Everything shmkit__sc_recv's leaf path leaves: an empty ring (spin a
 * little, then wait), a message over 64 bytes, the checks' failures. */
static __attribute__((noinline)) ssize_t sc_recv_rest(struct shmkit_queue *q, void *buf,
						      size_t cap, int64_t timeout_ns)
{
	if (!sp_ready(q, SHMKIT__ROLE_CONSUMER, q->peek_active))
		return sc_recv_slow(q, buf, cap, timeout_ns);
	/* relaxed, acquire: as in shmkit__sc_recv() */
	uint64_t h = atomic_load_explicit(&q->sh->head, memory_order_relaxed);
	uint64_t m = atomic_load_explicit(sp_marker(q, h), memory_order_acquire);
	if (SHMKIT__UNLIKELY(sp_mark_pos(m) != (uint32_t)h))
		m = sc_spin_msg(q, h, m, timeout_ns);
	uint32_t len = (uint32_t)m;
	if (SHMKIT__UNLIKELY(sp_mark_pos(m) != (uint32_t)h || len > q->max_msg || len > cap))
		return sc_recv_slow(q, buf, cap, timeout_ns);
	if (len)
		shmkit__copy(buf, payload_at(q, h), len);
	sc_publish_head(q, h + 1, len);
	return (ssize_t)len;
}

/* The wake-up a quiet check could not rule out, after a receive. */
static __attribute__((noinline)) ssize_t sc_wake(struct shmkit_queue *q, ssize_t len)
{
	wake_space(q);
	return len;
}

/* A consumer behind its producer takes the messages one at a time, each
 * payload line a transfer from the producer's cache that starts only when
 * its receive loads it. Asking for the line SC_AHEAD messages on, when its
 * marker says it is there (never a slot still being written), overlaps
 * those transfers (64-byte stream on a 2-vCPU Xeon: 4.3e7 -> 8.1e7 msg/s;
 * docs/PERF.md "A full ring"). A consumer at its producer's heels finds the
 * marker not there: one load of a line it reads SC_AHEAD messages later.
 * Only where the wake check needs no fence (quiet): a fence waits for that
 * load, a miss per message (FENCE mode: 4.0e7 -> 2.8e7 with it). */
#define SC_AHEAD 16u

static inline void sc_prefetch_ahead(const struct shmkit_queue *q, uint64_t h)
{
	uint64_t a = h + SC_AHEAD;
	if (q->cap <= 2 * SC_AHEAD)
		return;
	/* relaxed: a hint; the receive of a reads the marker with acquire */
	uint64_t m = atomic_load_explicit(sp_marker(q, a), memory_order_relaxed);
	if (sp_mark_pos(m) == (uint32_t)a)
		__builtin_prefetch(payload_at(q, a), 0, 3);
}

/* A leaf function in the common case, as shmkit__sp_send(). */
ssize_t shmkit__sc_recv(struct shmkit_queue *q, void *buf, size_t cap, int64_t timeout_ns)
{
	if (!sp_ready(q, SHMKIT__ROLE_CONSUMER, q->peek_active))
		return sc_recv_rest(q, buf, cap, timeout_ns);
	/* relaxed: only the consumer writes head */
	uint64_t h = atomic_load_explicit(&q->sh->head, memory_order_relaxed);
	/* acquire: pairs with the release store in sp_publish() */
	uint64_t m = atomic_load_explicit(sp_marker(q, h), memory_order_acquire);
	uint32_t len = (uint32_t)m;
	uint64_t dep = sc_marker_dep(m - SHMKIT__QUEUE_SP_MARK(h, 0));
	if (SHMKIT__UNLIKELY(sp_mark_pos(m) != (uint32_t)h || len > q->max_msg || len > cap ||
			     len > SHMKIT__COPY_SMALL))
		return sc_recv_rest(q, buf, cap, timeout_ns);
	shmkit__copy_small(buf, payload_at(q, h) + dep, len);
	sc_store_head(q, h + 1, len);
	if (SHMKIT__UNLIKELY(!shmkit__ec_quiet(&q->space_ec)))
		return sc_wake(q, (ssize_t)len);
	sc_prefetch_ahead(q, h);
	return (ssize_t)len;
}

/* A batch's payload lines are fetched one by one as the loop below reaches
 * them: asked for at once, their transfers from the producer's cache overlap
 * (64-byte batches of 32: 9.3e7 -> 1.2e8 msg/s on a 2-vCPU Xeon). Only when
 * the run's last marker says all k are published (markers are stored in
 * order, each with release): a prefetch of a slot the producer is still
 * writing would take its line from under it. At most SC_PREFETCH_MAX
 * lines: more would evict each other before the loop reaches them. */
#define SC_PREFETCH_MIN 4u
#define SC_PREFETCH_MAX 64u

static inline void sc_prefetch_run(const struct shmkit_queue *q, const unsigned char *pay,
				   const unsigned char *mk, uint64_t want, size_t k)
{
	if (k < SC_PREFETCH_MIN)
		return;
	if (k > SC_PREFETCH_MAX)
		k = SC_PREFETCH_MAX;
	/* relaxed: a hint; the loop reads every marker with acquire */
	uint64_t last = atomic_load_explicit((const _Atomic uint64_t *)(mk + (k - 1) * q->mstride),
					     memory_order_relaxed);
	if (sp_mark_pos(last) != sp_mark_pos(want + SHMKIT__QUEUE_SP_MARK(k - 1, 0)))
		return;
	for (size_t i = 0; i < k; i++, pay += q->stride)
		__builtin_prefetch(pay, 0, 3);
}

/* Where sc_take_small() stopped, and the bytes it took. */
struct sc_take {
	uint64_t bytes;
	uint64_t m;  /* large: the marker of the message it stopped at, read once */
	bool large;  /* it stopped at a message over 64 bytes, ready and fitting */
};

/* Takes the messages of up to 64 bytes ready from pos that fit bufs[0..n):
 * how many, or -EINVAL for a buffer with no base. It stops at a message not
 * ready, corrupt or too long for its buffer (the next receive says why), and
 * at one over 64 bytes (t->large). A leaf function: with the copy call of
 * larger messages in the loop, the compiler kept the loop's values on the
 * stack (callgrind: ~45 instructions per 64-byte message; ~36 here). */
static __attribute__((noinline)) ssize_t sc_take_small(const struct shmkit_queue *q,
						       struct iovec *bufs, uint64_t pos, size_t n,
						       struct sc_take *t)
{
	const size_t max = q->max_msg, mstride = q->mstride, stride = q->stride;
	struct iovec *b = bufs;
	const struct iovec *const stop = bufs + n;
	uint64_t sum = 0, m = 0;

	while (b < stop) {
		uint64_t p = pos + (uint64_t)(b - bufs);
		const struct iovec *const end = b + sp_run(q, p, (size_t)(stop - b));
		const unsigned char *mk = (const unsigned char *)sp_marker(q, p);
		const unsigned char *pay = payload_at(q, p);
		/* the marker naming p: position in the high half (mod 2^32) */
		uint64_t want = SHMKIT__QUEUE_SP_MARK(p, 0);
		sc_prefetch_run(q, pay, mk, want, (size_t)(end - b));
		for (; b < end; b++, mk += mstride, pay += stride, want += SHMKIT__QUEUE_SP_MARK(1, 0)) {
			/* acquire: pairs with the release store in sp_publish() */
			m = atomic_load_explicit((_Atomic uint64_t *)mk, memory_order_acquire);
			/* m - want is the length if m names p, else >= 2^32 (mod
			 * 2^64): one comparison checks position, max_msg and room */
			uint64_t len = m - want, room = b->iov_len;
			if (len > (room < max ? room : max))
				goto out;
			if (SHMKIT__UNLIKELY(!b->iov_base) && room)
				return -EINVAL;
			if (len > SHMKIT__COPY_SMALL) {
				t->large = true;
				t->m = m;
				goto out;
			}
			shmkit__copy_small(b->iov_base, pay, len);
			b->iov_len = len;
			sum += len;
			SHMKIT__TEST_POINT("queue.batch.received");
		}
	}
out:
	t->bytes += sum;
	return b - bufs;
}

/* sc_take_small() stopped at i, at a message over 64 bytes: copy it and go
 * on, until the batch ends. How many in all, or -EINVAL. */
static __attribute__((noinline)) ssize_t sc_take_large(const struct shmkit_queue *q,
						       struct iovec *bufs, uint64_t pos, size_t n,
						       size_t i, struct sc_take *t)
{
	while (t->large) {
		size_t len = (uint32_t)t->m; /* checked by sc_take_small() */
		shmkit__copy(bufs[i].iov_base, payload_at(q, pos + i), len);
		bufs[i].iov_len = len;
		t->bytes += len;
		t->large = false;
		SHMKIT__TEST_POINT("queue.batch.received");
		i++;
		ssize_t k = sc_take_small(q, bufs + i, pos + i, n - i, t);
		if (k < 0)
			return k;
		i += (size_t)k;
	}
	return (ssize_t)i;
}

/* Receives the messages ready from pos that fit bufs[0..n), in one pass:
 * marker, length into the iovec, copy. Returns how many (a message not
 * ready, too long for its buffer or corrupt ends the batch before it: the
 * next receive says why), or -EINVAL for a buffer with no base; their
 * bytes into t->bytes. Nothing is consumed until head moves. */
static inline ssize_t sc_take_batch(const struct shmkit_queue *q, struct iovec *bufs,
				    uint64_t pos, size_t n, struct sc_take *t)
{
	ssize_t k = sc_take_small(q, bufs, pos, n, t);
	if (SHMKIT__UNLIKELY(k >= 0 && t->large))
		k = sc_take_large(q, bufs, pos, n, (size_t)k, t);
	return k;
}

/* The messages at head did not make a batch (none ready, or the handle not
 * ready): the checks and the wait of a single receive, then the batch. */
static __attribute__((noinline)) ssize_t sc_recv_many_slow(struct shmkit_queue *q,
							   struct iovec *bufs, size_t n,
							   int64_t timeout_ns)
{
	struct attempt a = { 0 };
	struct sc_take t = { 0 };
	int r = sc_claim(q, bufs[0].iov_len, timeout_ns, &a);

	if (r < 0)
		return r;
	ssize_t k = sc_take_batch(q, bufs, a.pos, n, &t);
	if (k < 0)
		return k;
	sc_publish_head(q, a.pos + (uint64_t)k, t.bytes);
	return k;
}

/* Fast path as for recv: a handle ready to receive takes what is ready at
 * head; only an empty batch (nothing ready, or the first message one the
 * next receive must report) goes through the checks and the wait. */
ssize_t shmkit__sc_recv_many(struct shmkit_queue *q, struct iovec *bufs, size_t n,
			     int64_t timeout_ns)
{
	struct sc_take t = { 0 };

	if (!bufs[0].iov_base && bufs[0].iov_len)
		return -EINVAL;
	if (n > q->cap)
		n = (size_t)q->cap;
	if (!sp_ready(q, SHMKIT__ROLE_CONSUMER, q->peek_active))
		return sc_recv_many_slow(q, bufs, n, timeout_ns);
	/* relaxed: only the consumer writes head */
	uint64_t h = atomic_load_explicit(&q->sh->head, memory_order_relaxed);
	ssize_t k = sc_take_batch(q, bufs, h, n, &t);
	if (k <= 0)
		return k < 0 ? k : sc_recv_many_slow(q, bufs, n, timeout_ns);
	sc_store_head(q, h + (uint64_t)k, t.bytes);
	if (SHMKIT__UNLIKELY(!shmkit__ec_quiet(&q->space_ec)))
		wake_space(q);
	return k;
}

/* The i-th waiting message, not consumed (shmkit_queue_peek_at). */
ssize_t shmkit__sc_peek_at(struct shmkit_queue *q, size_t i, const void **msg)
{
	if (i >= q->cap)
		return -EAGAIN;
	/* relaxed: only the consumer (this handle's process) writes head */
	uint64_t pos = atomic_load_explicit(&q->sh->head, memory_order_relaxed) + i;
	/* acquire: pairs with the release store in sp_publish() */
	uint64_t m = atomic_load_explicit(sp_marker(q, pos), memory_order_acquire);

	if (sp_mark_pos(m) != (uint32_t)pos)
		return -EAGAIN;
	if ((uint32_t)m > q->max_msg)
		return -EBADMSG;
	*msg = payload_at(q, pos);
	return (ssize_t)(uint32_t)m;
}
