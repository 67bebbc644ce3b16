/* SPDX-License-Identifier: MIT */
/* Bounded message queue in a managed segment: a ring of fixed slots, each
 * carrying its own commit marker (Vyukov/DPDK), copy and zero-copy APIs,
 * blocking waits on shared futexes, and recovery from peers that die in the
 * middle of an operation. Layout: src/layout.h and docs/LAYOUT.md "Queue".
 *
 * Two protocols, chosen at creation (src/queue_spsc.c, src/queue_mpmc.c;
 * this file: waiting, the public entry points, create/open/stats, descriptors):
 *  - SPSC: no atomic read-modify-write on the hot path. The producer owns
 *    `tail` and the slots' markers, the consumer owns `head`. The consumer
 *    polls the slot's marker (so an 8-byte message moves in one cache line);
 *    the producer caches head and re-reads it only when the ring looks full.
 *  - MPMC (either multi_* flag): a producer claims a slot by CAS on its
 *    marker (FREE -> RESERVED|peer), a consumer by CAS (COMMITTED ->
 *    CLAIMED|peer). head/tail are hints that lag at most one position. The
 *    peer index in the tag names an identity in the peer table, so a slot held
 *    by a process that died is handed back: a producer's reservation is
 *    skipped, a consumer's message is delivered again (counted as
 *    skipped/abandoned).
 *
 * Waiting and waking go through the wake-up core (src/sync/ec.h): one
 * eventcount per side (data_ec: consumers wait for messages, space_ec:
 * producers wait for room). A waker makes no system call unless a waiter
 * sleeps or a descriptor listener (shmkit_queue_fd) is armed; its barrier is
 * the core's asymmetric one (src/sync/barrier.h). */
#include <shmkit/managed.h>
#include <shmkit/queue.h>
#include <shmkit/seg.h>

#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "copy.h"
#include "queue_internal.h"

/* ---------------------------------------------------------------------
 * waiting
 * --------------------------------------------------------------------- */

/* The predicate the wake-up core waits on: one attempt; in the slow phases
 * a slot held by a peer is looked at (is its holder dead?) once per
 * SHMKIT__LIVENESS_NS, and sleeps are cut to that slice while stuck. */
struct queue_wait {
	struct shmkit_queue *q;
	attempt_fn fn;
	struct attempt *a;
	struct shmkit__wait_policy *pol;
	int64_t next_peer_check;
	bool slow; /* a slow look was made */
	bool producer;
};

static int unstick(struct shmkit_queue *q, struct attempt *a, int64_t *next_check)
{
	int64_t now = shmkit__now_ns();

	if (now < *next_check)
		return 0;
	*next_check = now + SHMKIT__LIVENESS_NS;
	int r = shmkit__queue_reclaim_if_dead(q, a->stuck);
	if (r)
		*next_check = 0; /* a dead holder may hold the next slots too (a batch) */
	return r;
}

/* One attempt. An MPMC handle that gave its entry back to sleep (parked,
 * queue_mpmc.c "parking") first looks without claiming, and registers again
 * only if a slot may be taken; an entry it cannot get now (every one held)
 * is looked for again after a short sleep. */
static int queue_try(struct queue_wait *w)
{
	struct shmkit_queue *q = w->q;

	w->a->stuck = 0;
	if (SHMKIT__LIKELY(!q->multi || peer_joined(q, w->producer)))
		return w->fn(q, w->a);
	if (!shmkit__mpmc_look(q, w->a, w->producer)) {
		q->peer_full = false; /* we wait for the ring, not for an entry */
		return -EAGAIN;
	}
	int r = shmkit__queue_rejoin(q, w->producer);
	if (r == -EAGAIN) {
		if (w->pol->slice_ns > SHMKIT__LIVENESS_NS)
			w->pol->slice_ns = SHMKIT__LIVENESS_NS; /* nothing wakes us for an entry */
		return r;
	}
	if (r < 0)
		return r;
	w->a->stuck = 0;
	return w->fn(q, w->a);
}

static int queue_pred(void *arg, int slow)
{
	struct queue_wait *w = arg;

	w->slow |= slow != 0;
	int r = queue_try(w);
	if (r != -EAGAIN || !slow || !w->a->stuck)
		return r;
	w->pol->slice_ns = SHMKIT__LIVENESS_NS; /* watch the holder while we sleep */
	if (!unstick(w->q, w->a, &w->next_peer_check))
		return r;
	return queue_try(w);
}

/* Before a futex sleep: an MPMC handle gives its entry back. */
static void queue_before_sleep(void *arg)
{
	struct queue_wait *w = arg;

	shmkit__queue_peer_park(w->q);
}

static int wait_slow(struct shmkit_queue *q, attempt_fn fn, struct attempt *a, bool producer,
		     int64_t timeout_ns)
{
	int64_t spin = q->multi ? shmkit__mpmc_spin(q) : q->spin_ns;
	struct shmkit__wait_policy pol = {
		.spin_ns = spin,
		.yields = q->spin_ns != 0 ? SHMKIT__YIELDS : 0,
		.slice_ns = SHMKIT__SLEEP_SLICE_NS,
		.before_sleep = q->multi ? queue_before_sleep : NULL,
	};
	struct queue_wait w = { q, fn, a, &pol, 0, 0, producer };
	int64_t t0 = q->multi ? shmkit__now_ns() : 0;
	int r = shmkit__ec_wait(producer ? &q->space_ec : &q->data_ec, &pol,
				shmkit__deadline(timeout_ns), queue_pred, &w);

	/* A wait served before its first slow look (64 pauses) was served
	 * within any spin: no clock read, which would lie between the message
	 * and what the caller does with it (a reply, in a ping-pong) */
	if (q->multi)
		shmkit__mpmc_spin_learn(q, spin, w.slow ? shmkit__now_ns() - t0 : 0);
	return r;
}

static void unwatch_holder(struct shmkit__holder_watch *w)
{
	if (w->pidfd >= 0) {
		/* explicitly: a close alone leaves the set only once no forked
		 * child holds a copy, and an exited holder's pidfd stays readable */
		epoll_ctl(w->ep, EPOLL_CTL_DEL, w->pidfd, NULL);
		close(w->pidfd);
	}
	w->pidfd = -1;
	w->marker = 0;
}

/* 1 if the watched holder has exited: its slot can be handed back now. */
static int holder_exited(const struct shmkit__holder_watch *w)
{
	struct pollfd p = {.fd = w->pidfd, .events = POLLIN};
	return w->pidfd >= 0 && poll(&p, 1, 0) == 1;
}

/* After a poll left the descriptor armed behind a slot held by another peer
 * (marker `stuck`, 0 if none): put the holder's pidfd in the descriptor's
 * set, so its death makes the descriptor readable. Opened once per held
 * slot, and only for an identity that is alive after the open (the pidfd
 * then names that process, not a reuse of its pid; one in another pid
 * namespace is not watched). A holder already gone: readable at once. */
static void watch_holder(struct shmkit_queue *q, struct shmkit__holder_watch *w,
			 struct shmkit__lis *l, uint64_t stuck)
{
	struct shmkit__ident id;

	if (w->ep < 0 || (stuck && stuck == w->marker && w->pidfd >= 0))
		return;
	unwatch_holder(w);
	if (!stuck)
		return;
	int r = shmkit__queue_holder(q, stuck, &id);
	if (r <= 0 || id.pid == 0 || id.pid > INT_MAX) {
		if (r == 0)
			shmkit__lis_found(l); /* nobody holds it any more: look again */
		return;
	}
	int fd = (int)syscall(SYS_pidfd_open, (pid_t)id.pid, 0); /* close-on-exec */
	if (fd < 0) {
		if (errno == ESRCH)
			shmkit__lis_found(l);
		return;
	}
	fd = shmkit__fd_above_stdio(fd);
	struct epoll_event ev = {.events = EPOLLIN};
	int alive = shmkit__ident_alive(&id);
	if (alive != 1 || epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		if (alive == 0)
			shmkit__lis_found(l);
		return;
	}
	w->pidfd = fd;
	w->marker = stuck;
}

/* An MPMC poll without a descriptor found nothing over SHMKIT__EC_HOLD_NS
 * (and a clock tick) after the last one did: its caller sleeps between polls by itself, and
 * would hold its peer entry through each sleep (64 such pollers locked
 * every other handle out). Give it back, as a wait does before its futex
 * sleep; the next call claims one again. A loop polling faster keeps it,
 * and so does a first empty poll (nothing yet says the polls are apart). */
static void park_if_polls_apart(struct shmkit_queue *q)
{
	/* the coarse clock (6 ns against 21 here; a tick of 1-10 ms): a loop
	 * polling within one tick sees no time pass and keeps its entry */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;

	if (q->empty_poll_at && now - q->empty_poll_at > SHMKIT__EC_HOLD_NS)
		shmkit__queue_peer_park(q);
	q->empty_poll_at = now;
}

/* A poll (timeout 0) found nothing. Look at a stuck slot's holder now and
 * then (at once if its watched pidfd says it exited); if this side has a
 * descriptor, arm it (it turns readable when the other side next
 * publishes, or the holder of the slot we wait behind exits) and look once
 * more, since a message that came in between would otherwise not make it
 * readable. */
static int poll_empty(struct shmkit_queue *q, attempt_fn fn, struct attempt *a, bool producer)
{
	struct shmkit__lis *l = producer ? &q->send_lis : &q->recv_lis;
	struct shmkit__holder_watch *w = producer ? &q->send_watch : &q->recv_watch;
	int r = -EAGAIN;

	if (a->stuck && holder_exited(w))
		q->next_peer_check = 0;
	if (a->stuck && unstick(q, a, &q->next_peer_check)) {
		a->stuck = 0;
		r = fn(q, a);
	}
	if (r != -EAGAIN || l->fd < 0) {
		if (w->pidfd >= 0)
			unwatch_holder(w); /* a pidfd of an exited holder stays readable */
		if (r == -EAGAIN && q->multi)
			park_if_polls_apart(q);
		return r;
	}
	if (shmkit__lis_arm(l, producer ? &q->space_ec : &q->data_ec) == 1) {
		a->stuck = 0;
		r = fn(q, a);
		if (r != -EAGAIN) {
			shmkit__lis_found(l);
			unwatch_holder(w);
			return r;
		}
	}
	watch_holder(q, w, l, a->stuck);
	if (q->multi) /* the caller waits on the descriptor: as before a futex sleep */
		shmkit__queue_peer_park(q);
	return -EAGAIN;
}

int shmkit__queue_wait(struct shmkit_queue *q, attempt_fn fn, struct attempt *a, bool producer,
		       int64_t timeout_ns)
{
	if (timeout_ns == 0)
		return poll_empty(q, fn, a, producer);
	return wait_slow(q, fn, a, producer, timeout_ns);
}

static inline int attempt_or_wait(struct shmkit_queue *q, attempt_fn fn, struct attempt *a,
				  bool producer, int64_t timeout_ns)
{
	a->stuck = 0;
	int r = fn(q, a);
	if (SHMKIT__LIKELY(r != -EAGAIN))
		return r;
	if (q->multi)
		return shmkit__mpmc_wait(q, fn, a, producer, timeout_ns);
	return shmkit__queue_wait(q, fn, a, producer, timeout_ns);
}

/* ---------------------------------------------------------------------
 * public API: producer side (the SPSC copy calls are whole in queue_spsc.c)
 * --------------------------------------------------------------------- */

static int reserve_pos(struct shmkit_queue *q, size_t len, int64_t timeout_ns, uint64_t *pos)
{
	struct attempt a = { 0 };
	int r;

	if (SHMKIT__UNLIKELY(len > q->max_msg))
		return -EMSGSIZE;
	forget_inherited(q);
	if ((r = claim_role(q, true)) < 0)
		return r;
	if (q->multi) {
		r = peer_join(q, true, &timeout_ns);
		if (r < 0)
			return r;
	}
	if (SHMKIT__UNLIKELY(q->resv_active))
		return -EBUSY;
	if (q->multi)
		r = attempt_or_wait(q, shmkit__mp_try_reserve, &a, true, timeout_ns);
	else
		r = attempt_or_wait(q, shmkit__sp_try_reserve, &a, true, timeout_ns);
	if (r < 0)
		return r;
	*pos = a.pos;
	return 0;
}

static inline void commit_pos(struct shmkit_queue *q, uint64_t pos, uint32_t len)
{
	if (!q->multi) {
		shmkit__sp_commit(q, pos, len);
		return;
	}
	shmkit__mpmc_count(q, len, true);
	shmkit__mp_commit(q, pos, len);
}

SHMKIT_API int shmkit_queue_send(struct shmkit_queue *q, const void *msg, size_t len,
				 int64_t timeout_ns)
{
	if (!q || (!msg && len))
		return -EINVAL;
	if (SHMKIT__LIKELY(!q->multi))
		return shmkit__sp_send(q, msg, len, timeout_ns);
	return shmkit__mp_send(q, msg, len, timeout_ns);
}

SHMKIT_API int shmkit_queue_reserve(struct shmkit_queue *q, size_t len, void **slot,
				    int64_t timeout_ns)
{
	uint64_t pos;
	int r;

	if (!q || !slot)
		return -EINVAL;
	if (SHMKIT__LIKELY(!q->multi))
		r = shmkit__sp_reserve_pos(q, len, timeout_ns, &pos);
	else
		r = reserve_pos(q, len, timeout_ns, &pos);
	if (r < 0)
		return r;
	q->resv_active = true;
	q->resv_pos = pos;
	*slot = payload_at(q, pos);
	return 0;
}

SHMKIT_API int shmkit_queue_commit(struct shmkit_queue *q, void *slot, size_t len)
{
	if (q)
		forget_inherited(q);
	if (!q || !q->resv_active || slot != payload_at(q, q->resv_pos))
		return -EINVAL;
	if (len > q->max_msg)
		return -EMSGSIZE;
	q->resv_active = false;
	commit_pos(q, q->resv_pos, (uint32_t)len);
	return 0;
}

/* ---------------------------------------------------------------------
 * public API: consumer side
 * --------------------------------------------------------------------- */

static int claim(struct shmkit_queue *q, size_t limit, int64_t timeout_ns, struct attempt *a)
{
	a->limit = limit;
	if (q->multi)
		return attempt_or_wait(q, shmkit__mc_try_claim, a, false, timeout_ns);
	return attempt_or_wait(q, shmkit__sc_try_peek, a, false, timeout_ns);
}

static inline void consume_pos(struct shmkit_queue *q, uint64_t pos, uint32_t len)
{
	if (!q->multi) {
		shmkit__sc_consume(q, pos, len);
		return;
	}
	shmkit__mpmc_count(q, len, false);
	shmkit__mc_consume(q, pos);
}

SHMKIT_API ssize_t shmkit_queue_recv(struct shmkit_queue *q, void *buf, size_t cap,
				     int64_t timeout_ns)
{
	if (!q || (!buf && cap))
		return -EINVAL;
	if (SHMKIT__LIKELY(!q->multi))
		return shmkit__sc_recv(q, buf, cap, timeout_ns);
	return shmkit__mc_recv(q, buf, cap, timeout_ns);
}

/* ---------------------------------------------------------------------
 * batches (DESIGN §9 "Batches"): one publication of the shared index per
 * batch. SPSC writes (reads) each slot's marker as always, so the other
 * side sees every message at once, but moves tail (head) and wakes once
 * (queue_spsc.c). MPMC claims slot by slot, then moves its hint and wakes
 * once (queue_mpmc.c).
 * --------------------------------------------------------------------- */

/* How many of msgs[0..n) can go in one batch: all valid, each fits a slot. */
static int batch_len(const struct shmkit_queue *q, const struct iovec *msgs, size_t n, size_t *k)
{
	size_t i = 0;
	for (; i < n; i++) {
		if (!msgs[i].iov_base && msgs[i].iov_len)
			return -EINVAL;
		if (msgs[i].iov_len > q->max_msg)
			break;
	}
	*k = i;
	return i == 0 ? -EMSGSIZE : 0;
}

/* SPSC batches check each iovec as they reach it (queue_spsc.c); MPMC ones
 * check them all first. */
SHMKIT_API ssize_t shmkit_queue_send_many(struct shmkit_queue *q, const struct iovec *msgs,
					  size_t n, int64_t timeout_ns)
{
	size_t k;
	int r;

	if (!q || !msgs || n == 0)
		return -EINVAL;
	if (!q->multi)
		return shmkit__sp_send_many(q, msgs, n, timeout_ns);
	if ((r = batch_len(q, msgs, n, &k)) < 0)
		return r;
	return shmkit__mp_send_many(q, msgs, k, timeout_ns);
}

SHMKIT_API ssize_t shmkit_queue_recv_many(struct shmkit_queue *q, struct iovec *bufs, size_t n,
					  int64_t timeout_ns)
{
	if (!q || !bufs || n == 0)
		return -EINVAL;
	if (!q->multi)
		return shmkit__sc_recv_many(q, bufs, n, timeout_ns);
	for (size_t i = 0; i < n; i++)
		if (!bufs[i].iov_base && bufs[i].iov_len)
			return -EINVAL;
	return shmkit__mc_recv_many(q, bufs, n, timeout_ns);
}

SHMKIT_API ssize_t shmkit_queue_peek(struct shmkit_queue *q, const void **msg, int64_t timeout_ns)
{
	struct attempt a = { 0 };
	int r;

	if (!q || !msg)
		return -EINVAL;
	forget_inherited(q);
	if ((r = claim_role(q, false)) < 0)
		return r;
	if (q->multi && (r = peer_join(q, false, &timeout_ns)) < 0)
		return r;
	if (q->peek_active) {
		*msg = payload_at(q, q->peek_pos); /* peeking again: the same message */
		return q->peek_len;
	}
	r = q->multi ? claim(q, SIZE_MAX, timeout_ns, &a) : shmkit__sc_peek_pos(q, timeout_ns, &a);
	if (r < 0)
		return r;
	q->peek_active = true;
	q->peek_pos = a.pos;
	q->peek_len = a.len;
	*msg = payload_at(q, a.pos);
	return (ssize_t)a.len;
}

/* Finding fewer than i + 1 messages arms this side's descriptor, as a
 * receive that finds the queue empty does: a sender with messages in
 * flight (the bridge) can then wait on it for the next one. */
SHMKIT_API ssize_t shmkit_queue_peek_at(struct shmkit_queue *q, size_t i, const void **msg)
{
	if (!q || !msg)
		return -EINVAL;
	forget_inherited(q);
	if (q->multi)
		return -EOPNOTSUPP;
	/* the consumer's, as peek and recv: two bridges on one queue each sent
	 * the first window of messages before the second consume was refused */
	ssize_t r = claim_role(q, false);
	if (r < 0)
		return r;
	r = shmkit__sc_peek_at(q, i, msg);
	if (r != -EAGAIN || q->recv_lis.fd < 0 || i >= q->cap)
		return r;
	if (shmkit__lis_arm(&q->recv_lis, &q->data_ec) != 1)
		return -EAGAIN;
	r = shmkit__sc_peek_at(q, i, msg);
	if (r != -EAGAIN)
		shmkit__lis_found(&q->recv_lis);
	return r;
}

SHMKIT_API int shmkit_queue_consume(struct shmkit_queue *q)
{
	if (q)
		forget_inherited(q);
	if (!q || !q->peek_active)
		return -EINVAL;
	q->peek_active = false;
	consume_pos(q, q->peek_pos, q->peek_len);
	return 0;
}

int shmkit__queue_unpeek(struct shmkit_queue *q)
{
	if (q)
		forget_inherited(q);
	if (!q || !q->peek_active)
		return -EINVAL;
	q->peek_active = false;
	/* SPSC: a peek moved nothing shared (the head moves at consume) */
	if (q->multi)
		shmkit__mc_unclaim(q, q->peek_pos);
	return 0;
}

/* ---------------------------------------------------------------------
 * create, open, close, stats
 * --------------------------------------------------------------------- */

static uint64_t round64(uint64_t n)
{
	return (n + 63) & ~(uint64_t)63;
}

/* Where slots, payloads and markers lie for this protocol and max_msg
 * (docs/LAYOUT.md "Queue"); cap, max_msg and flags already in range. */
static int slot_geometry(struct shmkit__queue_geometry *g)
{
	uint64_t markers = 0;

	if (g->flags != 0) { /* MPMC: 16-byte header, then the payload */
		g->slot_hdr = SHMKIT__QUEUE_SLOT_HDR;
		g->stride = (uint32_t)shmkit__slot_stride(SHMKIT__QUEUE_SLOT_HDR + (uint64_t)g->max_msg);
	} else if (g->max_msg <= SHMKIT__QUEUE_SPSC_INLINE_MAX) { /* marker + message: one line */
		g->slot_hdr = SHMKIT__QUEUE_SP_HDR;
		g->stride = 64;
	} else { /* payloads line-aligned, markers in an array after them */
		g->slot_hdr = 0;
		g->stride = (uint32_t)round64(g->max_msg);
		markers = round64(g->cap * 8);
	}
	uint64_t ring = g->cap * g->stride; /* <= 2^30 * (2^30 + 80): no overflow */
	if (ring > ((uint64_t)1 << 40))
		return -ENOMEM;
	uint64_t body = SHMKIT__QUEUE_SLOTS_OFF + ring + markers;
	/* a 32-bit process: what its size_t (and address space) cannot hold */
	if (body > SIZE_MAX - SHMKIT__HEADER_SIZE)
		return -EFBIG;
	g->markers_off = markers ? SHMKIT__QUEUE_SLOTS_OFF + ring : 0;
	g->body_size = (size_t)body;
	return 0;
}

static int geometry(const struct shmkit_queue_opts *o, struct shmkit__queue_geometry *g)
{
	if (!o)
		return -EINVAL;
	/* say which bound: "Invalid argument" alone leaves a user guessing */
	if (o->capacity == 0 || o->capacity > SHMKIT__QUEUE_MAX_CAPACITY)
		return shmkit__fail(-EINVAL, "capacity %zu is not 1 to %u messages", o->capacity,
				    SHMKIT__QUEUE_MAX_CAPACITY);
	if (o->max_msg == 0 || o->max_msg > SHMKIT__QUEUE_MAX_MSG)
		return shmkit__fail(-EINVAL, "max_msg %zu is not 1 to %u bytes", o->max_msg,
				    SHMKIT__QUEUE_MAX_MSG);
	if (shmkit__reserved_zero(o->reserved, sizeof(o->reserved), "queue options") < 0)
		return -EINVAL;
	g->cap = 1;
	while (g->cap < o->capacity)
		g->cap <<= 1;
	g->max_msg = (uint32_t)o->max_msg;
	g->flags = (o->multi_producer ? SHMKIT__QUEUE_F_MP : 0) |
		   (o->multi_consumer ? SHMKIT__QUEUE_F_MC : 0);
	if (g->flags != 0)
		g->flags |= SHMKIT__QUEUE_F_LEASE | SHMKIT__QUEUE_F_PEERGEN;
	int r = slot_geometry(g);
	if (r < 0) /* the ring alone: "Cannot allocate memory" said nothing more */
		return shmkit__fail(-ENOMEM,
				    "capacity %zu and max_msg %zu make a ring of %llu slots of %u "
				    "bytes: more than %s",
				    o->capacity, o->max_msg, (unsigned long long)g->cap, g->stride,
				    r == -EFBIG ? "a 32-bit process can map"
						: "the 1 TiB a queue takes");
	return 0;
}

int shmkit__queue_create_check(const struct shmkit_queue_opts *o)
{
	struct shmkit__queue_geometry g;

	shmkit__detail_clear();
	return geometry(o, &g);
}

/* Fresh markers: MPMC slot i is FREE for position i; SPSC slot i holds the
 * consumed message of position i - capacity (so it reads as empty). */
static void init_slots(const struct shmkit__queue_geometry *g, unsigned char *body)
{
	unsigned char *slots = body + SHMKIT__QUEUE_SLOTS_OFF;

	for (uint64_t i = 0; i < g->cap; i++) {
		if (g->flags == 0) {
			unsigned char *m = g->markers_off ? body + g->markers_off + i * 8 : slots + i * g->stride;
			atomic_store_explicit((_Atomic uint64_t *)m, SHMKIT__QUEUE_SP_MARK(i - g->cap, 0),
					      memory_order_relaxed);
			continue;
		}
		struct shmkit__queue_slot *s = (void *)(slots + i * g->stride);
		atomic_store_explicit(&s->seq, marker(i, SHMKIT__QTAG_FREE), memory_order_relaxed);
		atomic_store_explicit(&s->len, 0, memory_order_relaxed);
		s->reserved = 0;
	}
}

/* Creator: fill a fresh (or taken-over) body before READY is published. */
static int queue_init_body(void *body, size_t body_size, void *arg)
{
	const struct shmkit__queue_geometry *g = arg;
	struct shmkit__queue_shared *sh = body;

	if (body_size < g->body_size)
		return -EINVAL;
	memset(sh, 0, sizeof(*sh));
	sh->flags = g->flags;
	sh->capacity = (uint32_t)g->cap;
	sh->max_msg = g->max_msg;
	sh->slot_stride = g->stride;
	sh->slots_off = SHMKIT__QUEUE_SLOTS_OFF;
	sh->markers_off = g->markers_off;
	sh->slot_hdr = g->slot_hdr;
	shmkit__ec_init_shared(&sh->data_ec);
	shmkit__ec_init_shared(&sh->space_ec);
	init_slots(g, body);
	return 0; /* the managed layer publishes READY with release */
}

/* Known flags only, and the lease and peer generations only on an MPMC
 * queue (LAYOUT.md). */
static bool queue_flags_valid(uint32_t flags)
{
	uint32_t multi = SHMKIT__QUEUE_F_MP | SHMKIT__QUEUE_F_MC;
	uint32_t mpmc_only = SHMKIT__QUEUE_F_LEASE | SHMKIT__QUEUE_F_PEERGEN;
	if ((flags & ~(multi | mpmc_only)) != 0)
		return false;
	return (flags & mpmc_only) == 0 || (flags & multi) != 0;
}

/* The geometry the configuration words describe, if they are consistent
 * with each other and with the real body size. */
int shmkit__queue_read_geometry(const struct shmkit__queue_shared *sh, size_t body_size,
				struct shmkit__queue_geometry *g)
{
	g->flags = sh->flags;
	g->cap = sh->capacity;
	g->max_msg = sh->max_msg;
	if (g->cap == 0 || g->cap > SHMKIT__QUEUE_MAX_CAPACITY || (g->cap & (g->cap - 1)) != 0 ||
	    g->max_msg == 0 || g->max_msg > SHMKIT__QUEUE_MAX_MSG || !queue_flags_valid(g->flags) ||
	    slot_geometry(g) < 0)
		return -EBADMSG;
	uint64_t stride = sh->slot_stride;
	if (g->flags != 0 && stride != g->stride &&
	    stride == shmkit__slot_stride_lines(SHMKIT__QUEUE_SLOT_HDR + (uint64_t)g->max_msg)) {
		/* MPMC made before slots shared lines: the same queue, longer slots */
		uint64_t ring = g->cap * stride; /* <= 2^30 * 2^32 */
		if (ring > body_size || SHMKIT__QUEUE_SLOTS_OFF > body_size - ring)
			return -EBADMSG;
		g->stride = (uint32_t)stride;
		g->body_size = SHMKIT__QUEUE_SLOTS_OFF + (size_t)ring;
	}
	if (stride != g->stride || sh->slots_off != SHMKIT__QUEUE_SLOTS_OFF ||
	    sh->markers_off != g->markers_off || sh->slot_hdr != g->slot_hdr ||
	    g->body_size > body_size)
		return -EBADMSG;
	return 0;
}

/* lis_table.judge: a descriptor owner of another pid namespace, by its
 * attach slot's lock. */
static int queue_judge(const void *obj, const struct shmkit__ident *id)
{
	return shmkit__obj_ident_alive(obj, id);
}

/* Read the configuration once, check it against the real body size, and
 * keep local copies: nothing below trusts these words again. */
static int queue_attach(struct shmkit_queue *q)
{
	struct shmkit__queue_shared *sh = q->obj.body;
	struct shmkit__queue_geometry g;

	if (!sh || q->obj.body_size < SHMKIT__QUEUE_SLOTS_OFF ||
	    shmkit__queue_read_geometry(sh, q->obj.body_size, &g) < 0)
		return -EBADMSG;
	q->sh = sh;
	q->slots = (unsigned char *)sh + SHMKIT__QUEUE_SLOTS_OFF;
	shmkit__copy_pick_init(&q->copy_pick, g.cap);
	q->cap = g.cap;
	q->mask = g.cap - 1;
	q->max_msg = g.max_msg;
	q->stride = g.stride;
	q->slot_hdr = g.slot_hdr;
	q->markers = g.markers_off ? (unsigned char *)sh + g.markers_off : q->slots;
	q->mstride = g.markers_off ? 8 : g.stride;
	q->mp = (g.flags & SHMKIT__QUEUE_F_MP) != 0;
	q->mc = (g.flags & SHMKIT__QUEUE_F_MC) != 0;
	q->multi = q->mp || q->mc;
	q->leased = (g.flags & SHMKIT__QUEUE_F_LEASE) != 0;
	q->peergen = (g.flags & SHMKIT__QUEUE_F_PEERGEN) != 0;
	/* large messages: wait through the writing of one (src/copy.h) */
	int64_t write_ns = shmkit__copy_ns(g.max_msg);
	q->spin_ns = write_ns > SHMKIT__SPIN_NS ? write_ns : SHMKIT__SPIN_NS;
	struct shmkit__lis_table lis = {
		.base = (unsigned char *)&sh->listeners[0].l,
		.stride = sizeof(sh->listeners[0]),
		.ident_off = -(ptrdiff_t)offsetof(struct shmkit__queue_listener, l),
		.n = SHMKIT__QUEUE_LISTENERS,
		.judge = queue_judge,
		.judge_ctx = &q->obj,
	};
	if (shmkit__ec_bind(&q->data_ec, &sh->data_ec, QUEUE_SIDE_RECV, &lis) < 0 ||
	    shmkit__ec_bind(&q->space_ec, &sh->space_ec, QUEUE_SIDE_SEND, &lis) < 0)
		return -EBADMSG;
	q->recv_lis.fd = -1;
	q->send_lis.fd = -1;
	q->recv_watch.ep = q->recv_watch.pidfd = q->recv_watch.timer = -1;
	q->send_watch.ep = q->send_watch.pidfd = q->send_watch.timer = -1;
	q->op_gen = shmkit__fork_gen();
	q->peer = -1;
	q->last_peer = -1;
	return 0;
}

/* The end of create and open: the handle q attaches to the object the call
 * before made (r: its result) and goes to *out, or is closed and freed. */
static int queue_adopt(struct shmkit_queue *q, int r, struct shmkit_queue **out)
{
	if (r >= 0 && (r = queue_attach(q)) < 0)
		shmkit__obj_close(&q->obj);
	if (r < 0) {
		free(q);
		return r;
	}
	*out = q;
	return 0;
}

SHMKIT_API int shmkit_queue_create(struct shmkit_queue **out, const char *uri,
				   const struct shmkit_queue_opts *o)
{
	shmkit__detail_clear();
	struct shmkit__queue_geometry g;
	struct shmkit_queue *q;
	int r;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!uri)
		return -EINVAL;
	r = geometry(o, &g);
	if (r < 0)
		return r;
	q = calloc(1, sizeof(*q));
	if (!q)
		return shmkit__no_memory("a queue handle");
	r = shmkit__obj_create(&q->obj, uri, SHMKIT_KIND_QUEUE, g.body_size, o->mode ? o->mode : 0600,
			       queue_init_body, &g);
	return queue_adopt(q, r, out);
}

SHMKIT_API int shmkit_queue_open(struct shmkit_queue **out, const char *uri)
{
	shmkit__detail_clear();
	struct shmkit_queue *q;
	int r;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!uri)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return shmkit__no_memory("a queue handle");
	r = shmkit__obj_open(&q->obj, uri, SHMKIT_KIND_QUEUE, 0);
	return queue_adopt(q, r, out);
}

/* Give back what this handle holds: an outstanding peek is consumed, an
 * outstanding reservation is dropped (MPMC: counted as skipped). */
static void release_outstanding(struct shmkit_queue *q)
{
	forget_inherited(q);
	if (q->multi) {
		const struct shmkit__ident *me = shmkit__ident_self();
		if (q->peer < 0 || !me || me->pid != q->peer_pid)
			return; /* inherited over fork: the parent's, not ours */
	}
	if (q->peek_active)
		shmkit_queue_consume(q);
	if (q->resv_active) {
		q->resv_active = false;
		if (q->multi)
			shmkit__queue_reclaim_slot(q, marker(q->resv_pos, SHMKIT__QTAG_RESERVED | (unsigned)q->peer));
	}
}

/* Not unwatch_holder: the set may be shared with a process forked with the
 * handle that polls on behind the same holder, and a delete from it (the
 * set is one kernel object) would take the watch from that reader. Our
 * copies alone go; the set and its pidfd with the last of them. */
static void close_watch(struct shmkit__holder_watch *w)
{
	if (w->pidfd >= 0)
		close(w->pidfd);
	w->pidfd = -1;
	if (w->timer >= 0)
		close(w->timer);
	w->timer = -1;
	w->quiet = false;
	if (w->ep >= 0)
		close(w->ep);
	w->ep = -1;
}

static struct shmkit__queue_listener *listener_entry(const struct shmkit__lis *l)
{
	return (struct shmkit__queue_listener *)((unsigned char *)l->sh -
						  offsetof(struct shmkit__queue_listener, l));
}

/* Closes our descriptor. If a process forked with the handle still holds
 * the socket, the entry stays registered for it, marked left: taken back
 * once nobody holds the socket, though we live on (claim_listener). */
static void close_listener(struct shmkit__lis *l)
{
	if (l->fd < 0)
		return;
	struct shmkit__queue_listener *e = listener_entry(l);
	/* our claim, read while we hold the socket (a claimer may take the
	 * entry once it is closed everywhere: its claim must not read left).
	 * relaxed: read by claimers that also bind-test the socket */
	uint32_t own = atomic_load_explicit(&e->owner_state, memory_order_relaxed);
	if (shmkit__lis_close(l) == 1)
		atomic_store_explicit(&e->left_claim, own, memory_order_relaxed);
}

SHMKIT_API int shmkit_queue_close(struct shmkit_queue *q)
{
	int r;

	if (!q)
		return 0;
	release_outstanding(q);
	if (q->multi)
		shmkit__queue_peer_release(q);
	close_watch(&q->recv_watch);
	close_watch(&q->send_watch);
	close_listener(&q->recv_lis);
	close_listener(&q->send_lis);
	r = shmkit__obj_close(&q->obj);
	free(q);
	return r;
}

SHMKIT_API int shmkit_queue_stats(struct shmkit_queue *q, struct shmkit_queue_stats *st)
{
	if (!q || !st)
		return -EINVAL;
	struct shmkit__queue_shared *sh = q->sh;
	/* relaxed: a snapshot for tools; the numbers may move while we read */
	uint64_t tail = atomic_load_explicit(&sh->tail, memory_order_relaxed);
	uint64_t head = atomic_load_explicit(&sh->head, memory_order_relaxed);

	if (!q->multi && sp_tail_behind(q, tail))
		tail++;
	uint64_t handed_back = 0; /* MPMC: behind head, to be received again */
	uint64_t taken_ahead = 0; /* MPMC: past head, received already */
	if (q->multi) { /* MPMC head/tail are hints that may lag */
		tail = shmkit__mpmc_settle(q, tail, true);
		head = shmkit__mpmc_settle(q, head, false);
		handed_back = shmkit__mpmc_handed_back(q, head);
		taken_ahead = shmkit__mpmc_taken_ahead(q, head, tail);
	}
	uint64_t skipped = atomic_load_explicit(&sh->skipped, memory_order_relaxed);
	uint64_t abandoned = atomic_load_explicit(&sh->abandoned, memory_order_relaxed);
	uint64_t bytes_sent = atomic_load_explicit(&sh->bytes_sent, memory_order_relaxed);
	uint64_t bytes_received = atomic_load_explicit(&sh->bytes_received, memory_order_relaxed);
	if (q->multi) /* MPMC: each handle counts in its peer entry */
		shmkit__mpmc_bytes(q, &bytes_sent, &bytes_received);

	memset(st, 0, sizeof(*st));
	st->capacity = q->cap;
	st->max_msg = q->max_msg;
	st->depth = tail - head > q->cap ? (head > tail ? 0 : q->cap) : tail - head;
	st->depth = st->depth + handed_back > q->cap ? q->cap : st->depth + handed_back;
	st->depth = st->depth >= taken_ahead ? st->depth - taken_ahead : 0;
	st->sent = tail >= skipped ? tail - skipped : 0;
	st->received = head >= skipped + handed_back ? head - skipped - handed_back : 0;
	st->received += taken_ahead;
	st->skipped = skipped;
	st->abandoned = abandoned;
	st->recv_waiters = shmkit__ec_waiters(&q->data_ec);
	st->send_waiters = shmkit__ec_waiters(&q->space_ec);
	st->waiters = st->recv_waiters + st->send_waiters;
	st->multi_producer = q->mp;
	st->multi_consumer = q->mc;
	st->bytes_sent = bytes_sent;
	st->bytes_received = bytes_received;
	return 0;
}

SHMKIT_API int shmkit_queue_stat(const char *uri, struct shmkit_queue_stats *st)
{
	shmkit__detail_clear();
	struct shmkit_queue *q;
	if (!uri || !st)
		return -EINVAL;
	if (!(q = calloc(1, sizeof(*q))))
		return shmkit__no_memory("a queue handle");
	/* a look: read-only, no attach slot, nothing repaired (stats only reads) */
	int r = shmkit__obj_look(&q->obj, uri, SHMKIT_KIND_QUEUE);
	if (r == 0) {
		if ((r = queue_attach(q)) == 0)
			r = shmkit_queue_stats(q, st);
		shmkit__obj_close(&q->obj);
	}
	free(q);
	return r;
}

SHMKIT_API int shmkit_queue_set_spin(struct shmkit_queue *q, int64_t spin_ns)
{
	if (!q || spin_ns < -1)
		return -EINVAL;
	q->spin_ns = spin_ns;
	return 0;
}

SHMKIT_API struct shmkit_seg *shmkit_queue_seg(struct shmkit_queue *q)
{
	return q ? q->obj.seg : NULL;
}

/* ---------------------------------------------------------------------
 * pollable descriptors
 * --------------------------------------------------------------------- */

/* Entry k's state and owner, copied consistently: the state, 0 if it moved
 * (FREE is 0 too: nothing to take back either way); *unsure for a claim
 * whose owner is not yet its claimer's identity (owner_state). */
static uint32_t look_listener(struct shmkit__queue_listener *e, struct shmkit__ident *id,
			      bool *unsure)
{
	/* acquire: pairs with the release store of owner_state in queue_lis_fd() */
	uint32_t own = atomic_load_explicit(&e->owner_state, memory_order_acquire);
	uint32_t st = atomic_load_explicit(&e->l.state, memory_order_acquire);

	memcpy(id, &e->owner, sizeof(*id)); /* untrusted: a copy */
	/* acquire: the copy belongs to st if st is still there */
	if (atomic_load_explicit(&e->l.state, memory_order_acquire) != st)
		return 0;
	*unsure = shmkit__lis_kind(st) == SHMKIT__LIS_CLAIMING && own != st;
	return st;
}

/* CAS entry e from st to a new CLAIMING generation: the word, or 0. */
static uint32_t take_listener(struct shmkit__queue_listener *e, uint32_t st)
{
	uint32_t mine = shmkit__lis_make((st >> 4) + 1, 0, SHMKIT__LIS_CLAIMING);
	/* acquire: orders us after the last owner's release */
	return atomic_compare_exchange_strong_explicit(&e->l.state, &st, mine, memory_order_acquire,
						       memory_order_relaxed)
		       ? mine
		       : 0;
}

/* A claim whose owner may still be the last owner's (its claimer killed, or
 * stalled, between its CAS and its owner write) says nothing of its claimer:
 * taken back only when nothing else is left, if it has not moved 100 ms
 * later (a live claimer would have to stall that long in a few
 * instructions, and would then write its identity over ours). */

static struct shmkit__queue_listener *take_unsure_listener(struct shmkit_queue *q, uint32_t *mine,
							   uint32_t seen[], const struct shmkit__ident seen_id[])
{
	struct shmkit__queue_listener *t = q->sh->listeners;

	shmkit__sleep_ns(SHMKIT__CLAIM_STABLE_NS);
	for (unsigned k = 0; k < SHMKIT__QUEUE_LISTENERS; k++) {
		struct shmkit__ident id;
		bool unsure;
		if (seen[k] && look_listener(&t[k], &id, &unsure) == seen[k] &&
		    memcmp(&id, &seen_id[k], sizeof(id)) == 0 && (*mine = take_listener(&t[k], seen[k])))
			return &t[k];
	}
	return NULL;
}

/* Entry e (owner id, copied out) is free to take back: its owner is
 * provably dead, or closed its handle (left_claim), and no process holds
 * its socket (a child forked with the handle may poll on). */
static int listener_gone(const struct shmkit_queue *q, struct shmkit__queue_listener *e,
			 const struct shmkit__ident *id)
{
	/* relaxed: a stale word only keeps the entry for the next look */
	uint32_t own = atomic_load_explicit(&e->owner_state, memory_order_relaxed);
	if (atomic_load_explicit(&e->left_claim, memory_order_relaxed) != own &&
	    shmkit__obj_ident_alive(&q->obj, id) != 0)
		return 0;
	return !shmkit__lis_held(&e->l, id);
}

/* A free entry of the listener table, taken (CLAIMING, the word in *mine)
 * for us; entries of owners that are provably dead, and whose sockets no
 * child forked with the handle still holds, are taken back first if none
 * is free, and claims that never got their owner last. */
static struct shmkit__queue_listener *claim_listener(struct shmkit_queue *q, uint32_t *mine)
{
	struct shmkit__queue_listener *t = q->sh->listeners;
	uint32_t unsure_st[SHMKIT__QUEUE_LISTENERS] = {0};
	struct shmkit__ident unsure_id[SHMKIT__QUEUE_LISTENERS];
	bool any_unsure = false;

	for (int pass = 0; pass < 2; pass++) {
		for (unsigned k = 0; k < SHMKIT__QUEUE_LISTENERS; k++) {
			struct shmkit__ident id;
			bool unsure;
			uint32_t st = look_listener(&t[k], &id, &unsure);
			if (shmkit__lis_kind(st) != SHMKIT__LIS_FREE) {
				if (pass == 0)
					continue;
				if (unsure) {
					unsure_st[k] = st;
					unsure_id[k] = id;
					any_unsure = true;
					continue;
				}
				if (!listener_gone(q, &t[k], &id))
					continue;
			}
			if ((*mine = take_listener(&t[k], st)))
				return &t[k];
		}
	}
	return any_unsure ? take_unsure_listener(q, mine, unsure_st, unsure_id) : NULL;
}

/* The descriptor handed out: an epoll set of the listener's socket and,
 * while a poll waits behind a held slot, the holder's pidfd (watch_holder). */
static int queue_watch_fd(struct shmkit__holder_watch *w, struct shmkit__lis *l)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0)
		return -errno;
	ep = shmkit__fd_above_stdio(ep);
	if (epoll_ctl(ep, EPOLL_CTL_ADD, l->fd, &ev) < 0) {
		int err = -errno;
		close(ep);
		return err;
	}
	w->ep = ep;
	w->ep_gen = shmkit__fork_gen();
	w->ep_forks = atomic_load_explicit(&shmkit__forks_made, memory_order_relaxed);
	return ep;
}

/* Locked out: a poll that finds every peer entry held by a live process
 * returns -EAGAIN before it looks at the queue (queue_mpmc.c
 * peer_register), so it cannot arm the listener, whose token then keeps the
 * descriptor readable: an event loop would call again at once for as long
 * as the lockout lasts (over a million -EAGAINs a second, a whole CPU). And
 * nothing signals an entry given back (a wait looks again in slices). So
 * the descriptor does what a wait does: the listener goes off in the set
 * and a one-shot timer in it makes the descriptor readable after
 * SHMKIT__LIVENESS_NS, for the next try (each locked-out poll sets it
 * again); a registration that succeeds puts the listener back
 * (shmkit__queue_fds_loud). Only MPMC descriptors are sets. */
static void quiet_watch(struct shmkit__holder_watch *w, const struct shmkit__lis *l)
{
	const struct itimerspec later = {.it_value = {.tv_nsec = SHMKIT__LIVENESS_NS}};
	struct epoll_event off = {.events = 0};

	if (w->ep < 0 || l->fd < 0)
		return;
	/* A set shared over fork is one kernel object: a listener we turned
	 * off there would stay off for the other process, which waits on it
	 * registered (or locked out with no timer of its own once we exit or
	 * close), and never looks again. Such a set stays as before:
	 * readable while we are locked out. */
	if (w->ep_gen != shmkit__fork_gen() ||
	    w->ep_forks != atomic_load_explicit(&shmkit__forks_made, memory_order_relaxed))
		return;
	if (w->timer < 0) {
		struct epoll_event ev = {.events = EPOLLIN};
		int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (fd < 0)
			return; /* readable at once, as before */
		fd = shmkit__fd_above_stdio(fd);
		if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			return;
		}
		w->timer = fd;
	}
	/* already quiet (the last poll was locked out too): the timer again */
	if (timerfd_settime(w->timer, 0, &later, NULL) == 0 &&
	    (w->quiet || epoll_ctl(w->ep, EPOLL_CTL_MOD, l->fd, &off) == 0))
		w->quiet = true;
}

/* Disarming the timer also clears an expiry not yet read. */
static void loud_watch(struct shmkit__holder_watch *w, const struct shmkit__lis *l)
{
	const struct itimerspec never = { 0 };
	struct epoll_event on = {.events = EPOLLIN};

	if (!w->quiet)
		return;
	timerfd_settime(w->timer, 0, &never, NULL);
	epoll_ctl(w->ep, EPOLL_CTL_MOD, l->fd, &on);
	w->quiet = false;
}

void shmkit__queue_fds_quiet(struct shmkit_queue *q)
{
	quiet_watch(&q->recv_watch, &q->recv_lis);
	quiet_watch(&q->send_watch, &q->send_lis);
}

void shmkit__queue_fds_loud(struct shmkit_queue *q)
{
	loud_watch(&q->recv_watch, &q->recv_lis);
	loud_watch(&q->send_watch, &q->send_lis);
}

/* What shmkit_queue_fd hands out. Only an MPMC slot can be held by a peer
 * that dies before publishing it (an SPSC reservation is invisible to the
 * consumer until committed), so only an MPMC queue needs the set; an SPSC
 * queue's descriptor is the socket itself: one wait queue fewer per wake-up. */
static int queue_handed_fd(struct shmkit_queue *q, struct shmkit__holder_watch *w,
			   struct shmkit__lis *l)
{
	return q->multi ? queue_watch_fd(w, l) : l->fd;
}

static int queue_lis_fd(struct shmkit_queue *q, struct shmkit__lis *l, uint32_t side)
{
	const struct shmkit__ident *me = shmkit__ident_self();
	struct shmkit__holder_watch *w = side == QUEUE_SIDE_SEND ? &q->send_watch : &q->recv_watch;

	if (w->ep >= 0)
		return w->ep;
	if (l->fd >= 0)
		return queue_handed_fd(q, w, l);
	if (!me)
		return -ESRCH;
	int r = -EAGAIN;
	/* a claim is lost only to a process that judged it abandoned: rare */
	for (int attempt = 0; attempt < 8 && r == -EAGAIN; attempt++) {
		uint32_t mine;
		struct shmkit__queue_listener *e = claim_listener(q, &mine);
		if (!e)
			return shmkit__fail(-ENOSPC, "the queue's %u descriptor entries are held by "
						     "live handles (or by processes holding their "
						     "descriptors)", SHMKIT__QUEUE_LISTENERS);
		SHMKIT__TEST_POINT("queue.listener.claimed");
		memcpy(&e->owner, me, sizeof(*me));
		/* release: pairs with the acquire load in look_listener() */
		atomic_store_explicit(&e->owner_state, mine, memory_order_release);
		r = shmkit__lis_open(l, &e->l, side, mine, me);
		if (r < 0 && r != -EAGAIN) {
			/* release: give the entry back free, unless taken over */
			atomic_compare_exchange_strong_explicit(
				&e->l.state, &mine, shmkit__lis_make((mine >> 4) + 1, 0, SHMKIT__LIS_FREE),
				memory_order_release, memory_order_relaxed);
			return r;
		}
	}
	if (r < 0)
		return r;
	/* no descriptor to hand out (MPMC's epoll set): a failed call keeps
	 * neither the socket nor one of the queue's listener entries */
	int fd = queue_handed_fd(q, w, l);
	if (fd < 0)
		close_listener(l);
	return fd;
}

SHMKIT_API int shmkit_queue_fd(struct shmkit_queue *q)
{
	shmkit__detail_clear();
	if (!q)
		return -EINVAL;
	return shmkit__pollfd_error(queue_lis_fd(q, &q->recv_lis, QUEUE_SIDE_RECV), "queue");
}

SHMKIT_API int shmkit_queue_send_fd(struct shmkit_queue *q)
{
	shmkit__detail_clear();
	if (!q)
		return -EINVAL;
	return shmkit__pollfd_error(queue_lis_fd(q, &q->send_lis, QUEUE_SIDE_SEND), "queue");
}
