/* SPDX-License-Identifier: MIT */
/* MPMC protocol of the queue (see queue.c): a producer claims a slot by CAS
 * on its marker (FREE -> RESERVED|peer), a consumer by CAS (COMMITTED ->
 * CLAIMED|peer). head/tail are hints: they lag, usually by at most one
 * position (pass_hint). The peer index in the tag names an identity in the
 * peer table, so a slot held by a process that died is handed back (counted
 * as skipped/abandoned). A handle's spin adapts to whether its waits are
 * served while it spins (adaptive spinning, below). */
#include <stdlib.h>
#include <string.h>

#include "copy.h"
#include "queue_internal.h"
#include "sync/lease.h"

#define CAS_RETRIES 4096u

/* ---------------------------------------------------------------------
 * leases (SHMKIT__QUEUE_F_LEASE, sync/lease.h)
 *
 * A queue with one live producer lets it claim slots by a plain load and
 * store instead of a CAS: the CAS waits for the store buffer, which holds
 * the previous message's stores to lines the consumer reads, so each claim
 * would wait for a line transfer. A producer announces itself in its entry
 * (`sides`) before its first claim and then settles the lease (revoking
 * another's); it takes the lease if it is then the only producer that is
 * not provably dead. The queue stays on CAS while another producer has
 * sent; a handle on CAS tries again after LEASE_RETRY claims (the others
 * may have closed), twice as many after each failed try up to
 * LEASE_RETRY_MAX (a try looks at every peer entry and reads /proc for the
 * live ones: 10-100 us, a few % of a 2x2 stream if made every 16 K
 * messages). Only the first slot of a send or batch is claimed so: a batch
 * takes its next slots by CAS, and consumers always claim by CAS (measured
 * both ways: a consumer's lease added ~100 ns to a 64 B ping-pong and a
 * batch's plain claims slowed batches of 32, docs/PERF.md).
 * --------------------------------------------------------------------- */

#define LEASE_RETRY 16384u
#define LEASE_RETRY_MAX (1u << 26)

static int peer_dead(struct shmkit_queue *q, unsigned k);
static void lease_retry(struct shmkit_queue *q);
static void claim_trial_step(struct shmkit_queue *q);

/* ---------------------------------------------------------------------
 * Plain or CAS claims, by trial
 *
 * Which claim makes the lone producer's stream faster depends on the
 * machine: on a 2-vCPU AMD EPYC VM plain claims won in its slow and middle
 * modes and lost in its fastest (docs/PERF.md "MPMC 1x1 by leases"); on a
 * 2-vCPU Xeon a plain load then a store fetches a slot's line twice (shared,
 * then owned) where the CAS fetches it once, and the CAS won by 1.4-1.7x
 * (docs/PERF.md "MPMC on a Xeon"). So the holder times its own stream both
 * ways, as large copies choose their stores (copy.h): a trial of four runs
 * (plain, CAS, plain, CAS), each trial_half() claims untimed and as many
 * timed (the first half lets the other side settle into the new pace; one
 * clock read per half), keeps the faster of the two runs' sums (plain
 * after a CAS phase ran fast for two laps of the ring on the Xeon: a rule
 * that wanted both CAS runs faster than both plain ones kept plain in 2 of
 * 6 trials), and comes again TRIAL_EPOCH trials' claims later, twice as late
 * each time the answer repeats (up to TRIAL_EPOCH_MAX). What is timed is
 * the claim-to-claim pace, waits for room included: the stream's own pace.
 * The first trial comes after TRIAL_FIRST trials' worth of claims.
 * SHMKIT_LEASE_CLAIMS=plain|cas forces one (the environment when the lease
 * is taken).
 * --------------------------------------------------------------------- */

#define TRIAL_FIRST 4u
#define TRIAL_EPOCH 32u
#define TRIAL_EPOCH_MAX 1024u

/* Claims in half a run: four laps of the ring, 2048 to 32768. */
static uint64_t trial_half(const struct shmkit_queue *q)
{
	uint64_t n = 4 * q->cap;
	return n < 2048 ? 2048 : n > 32768 ? 32768 : n;
}

static void claim_trial_reset(struct shmkit_queue *q)
{
	struct shmkit__claim_trial *ct = &q->claim_trial;
	const char *e = getenv("SHMKIT_LEASE_CLAIMS");

	memset(ct, 0, sizeof(*ct));
	ct->forced = !e ? 0 : strcmp(e, "plain") == 0 ? 1 : strcmp(e, "cas") == 0 ? 2 : 0;
	ct->cas = ct->forced == 2;
	/* the first trial after TRIAL_FIRST trials' worth of plain claims: a
	 * short stream or ping-pong (the bench's 20 000 round trips) makes
	 * none, and pays none of its slower runs */
	ct->next = ct->forced ? UINT64_MAX : TRIAL_FIRST * 8 * trial_half(q);
	ct->epoch = TRIAL_EPOCH;
}

/* The trial's answer from its four timed halves. */
static void claim_trial_decide(struct shmkit_queue *q)
{
	struct shmkit__claim_trial *ct = &q->claim_trial;
	const int64_t *t = ct->ns;
	bool cas = t[1] + t[3] < t[0] + t[2];

	if (ct->decisions > 0 && cas == ct->last)
		ct->epoch = ct->epoch < TRIAL_EPOCH_MAX ? ct->epoch * 2 : TRIAL_EPOCH_MAX;
	else
		ct->epoch = TRIAL_EPOCH;
	ct->last = cas;
	ct->cas = cas;
	ct->decisions++;
	ct->step = 0;
	ct->next = ct->claims + ct->epoch * 8 * trial_half(q);
}

/* Due every trial_half() claims during a trial, then once at the next. */
static __attribute__((noinline)) void claim_trial_step(struct shmkit_queue *q)
{
	struct shmkit__claim_trial *ct = &q->claim_trial;
	int64_t now = shmkit__now_ns();

	if (ct->step == 0) {
		ct->cas = 0; /* run 0: plain, its first half untimed */
	} else if (ct->step % 2 == 1) {
		ct->t0 = now; /* a run's first half is over: time the second */
	} else {
		unsigned run = (ct->step - 1) / 2;
		ct->ns[run] = now - ct->t0;
		if (run == 3) {
			claim_trial_decide(q);
			return;
		}
		ct->cas = (run + 1) & 1;
	}
	ct->step++;
	ct->next = ct->claims + trial_half(q);
}

/* A producer's claim of a slot's marker, *expect -> want, as a CAS would:
 * by a plain load and store inside the lease's window while this handle
 * holds the lease, else by CAS. On failure *expect is the marker read. */
static inline bool mp_claim_marker(struct shmkit_queue *q, _Atomic uint64_t *seq,
				   uint64_t *expect, uint64_t want)
{
	uint32_t mine = q->lease_mine;

	if (mine) {
		struct shmkit__lease_shared *l = &q->sh->p_lease;
		if (SHMKIT__UNLIKELY(++q->claim_trial.claims >= q->claim_trial.next))
			claim_trial_step(q);
		if (q->claim_trial.cas) {
			/* chosen by trial: the lease is kept for the next one,
			 * while it is ours (relaxed: as the window's look) */
			if (atomic_load_explicit(&l->word, memory_order_relaxed) != mine)
				q->lease_mine = 0; /* revoked: another producer joined */
			goto cas;
		}
		if (SHMKIT__LIKELY(shmkit__lease_enter(l, mine))) {
			SHMKIT__TEST_POINT("queue.lease.window");
			/* acquire, release: as the CAS below */
			uint64_t m = atomic_load_explicit(seq, memory_order_acquire);
			bool ok = m == *expect;
			if (ok)
				atomic_store_explicit(seq, want, memory_order_release);
			shmkit__lease_leave(l);
			*expect = m;
			return ok;
		}
		q->lease_mine = 0; /* revoked: another producer joined */
	} else if (q->leased && SHMKIT__UNLIKELY(++q->cas_claims >= q->lease_retry)) {
		lease_retry(q);
	}
cas:
	/* acq_rel: acquire orders us after the slot's last user (payload
	 * included), release lets whoever sees our marker and moves the hint
	 * pass that on; on failure *expect is the marker, read with acquire */
	return atomic_compare_exchange_strong_explicit(seq, expect, want, memory_order_acq_rel,
						       memory_order_acquire);
}

/* Move a head/tail hint from pos to to, unless someone already moved it. */
static inline void advance_hint_to(_Atomic uint64_t *hint, uint64_t pos, uint64_t to)
{
	uint64_t expect = pos;
	/* release: pairs with the acquire load of the hint in mp_try_reserve()/
	 * mc_try_claim(): whoever reads the new hint also sees the slot marker
	 * that made us move it */
	atomic_compare_exchange_strong_explicit(hint, &expect, to, memory_order_release,
						memory_order_relaxed);
}

static inline void advance_hint(_Atomic uint64_t *hint, uint64_t pos)
{
	advance_hint_to(hint, pos, pos + 1);
}

/* We took position pos (our CAS on its marker won): move the hint past it.
 * A plain store, not a CAS: the CAS was a second locked instruction per
 * message and, with two producers (consumers) taking turns, a second
 * serialized transfer of the hint's line, where a store waits in the store
 * buffer. Only if the hint still reads pos: that load hits the line read at
 * the start of the attempt unless someone moved the hint since (then it is
 * theirs to move). A store racing with such a move can still set the hint
 * back by the positions taken in between; readers step forward again (the
 * d == 0 and stale cases below) and stats read past taken slots
 * (shmkit__mpmc_settle). */
static inline void pass_hint(_Atomic uint64_t *hint, uint64_t pos)
{
	/* relaxed: only compared, the store below carries the ordering */
	if (atomic_load_explicit(hint, memory_order_relaxed) == pos)
		/* release: as in advance_hint_to() */
		atomic_store_explicit(hint, pos + 1, memory_order_release);
}

static inline bool tag_held(unsigned tag)
{
	return (tag & (SHMKIT__QTAG_RESERVED | SHMKIT__QTAG_CLAIMED)) != 0 &&
	       (tag & (SHMKIT__QTAG_RESERVED | SHMKIT__QTAG_CLAIMED)) !=
		       (SHMKIT__QTAG_RESERVED | SHMKIT__QTAG_CLAIMED);
}

/* The least position a hint that reads pos can be moved to, given the
 * marker m of pos's slot (positions are taken strictly in order, by
 * producers and by consumers). For tail, every position up to m's was taken
 * if m is held or committed, m's position minus capacity if m is FREE. For
 * head, m's position was taken if m is CLAIMED; otherwise only m's position
 * minus capacity is known consumed (the slot was freed for m's lap): a
 * COMMITTED or RESERVED marker's own message is still to come. At most pos
 * when m is for pos itself and not taken, or for an earlier lap. */
static inline uint64_t hint_floor(const struct shmkit_queue *q, uint64_t pos, uint64_t m,
				  bool producer)
{
	uint64_t mpos = pos + (uint64_t)marker_dist(m, pos);
	unsigned tag = m & 0xff;
	bool taken = producer ? tag != SHMKIT__QTAG_FREE
			      : tag_held(tag) && (tag & SHMKIT__QTAG_CLAIMED) != 0;
	return taken ? mpos + 1 : mpos - q->cap + 1;
}

/* We read hint value pos, but the slot's marker m is for a later position:
 * our value is stale (set back by a racing pass_hint, or scribbled on).
 * Move the hint as far as the marker proves; never skips a position. */
static inline void catch_up_hint(struct shmkit_queue *q, _Atomic uint64_t *hint, uint64_t pos,
				 uint64_t m, bool producer)
{
	uint64_t floor = hint_floor(q, pos, m, producer);

	if ((int64_t)(floor - pos) > 0)
		advance_hint_to(hint, pos, floor);
}

/* ---------------------------------------------------------------------
 * MPMC protocol
 * --------------------------------------------------------------------- */

static inline int mp_try_reserve(struct shmkit_queue *q, struct attempt *a)
{
	_Atomic uint64_t *tail = &q->sh->tail;
	int64_t cap = (int64_t)q->cap;

	for (unsigned n = 0; n < CAS_RETRIES; n++) {
		/* acquire: pairs with the release store in pass_hint() and
		 * the release CAS in advance_hint_to() */
		uint64_t p = atomic_load_explicit(tail, memory_order_acquire);
		struct shmkit__queue_slot *s = slot_at(q, p);
		uint64_t m = marker(p, SHMKIT__QTAG_FREE);

		/* A poll looks first (a CAS would take the line from the
		 * consumer reading it); otherwise expect FREE: one CAS fetches
		 * the line owned, where a load then a CAS fetch it twice.
		 * acquire: pairs with the release store of FREE in
		 * shmkit__mc_consume() or shmkit__queue_reclaim_slot(): the last
		 * reader is done with the slot */
		if (a->waiting)
			m = atomic_load_explicit(&s->seq, memory_order_acquire);
		if (m == marker(p, SHMKIT__QTAG_FREE)) {
			uint64_t mine = marker(p, SHMKIT__QTAG_RESERVED | (unsigned)q->peer);
			/* acquire orders us after the last reader (as the load
			 * above); release lets whoever sees RESERVED and moves
			 * the hint pass that on (advance_hint_to) */
			if (mp_claim_marker(q, &s->seq, &m, mine)) {
				SHMKIT__TEST_POINT("queue.mpmc.reserved");
				pass_hint(tail, p);
				a->pos = p;
				return 0;
			}
			if (a->waiting)
				continue;
		}
		int64_t d = marker_dist(m, p);
		if (d % cap != 0)
			return -EBADMSG; /* a marker for a position of another slot */
		if (d == 0) { /* p is taken: the hint lags by one */
			advance_hint(tail, p);
			continue;
		}
		if (d > 0) { /* our tail value is stale */
			catch_up_hint(q, tail, p, m, true);
			continue;
		}
		if (d == -cap) { /* last lap's message still there: full */
			if (atomic_load_explicit(tail, memory_order_relaxed) != p)
				continue;
			a->stuck = tag_held(m & 0xff) ? m : 0;
			return -EAGAIN;
		}
		return -EBADMSG;
	}
	return -EAGAIN;
}

int shmkit__mp_try_reserve(struct shmkit_queue *q, struct attempt *a)
{
	return mp_try_reserve(q, a);
}

static inline void mp_commit(struct shmkit_queue *q, uint64_t pos, uint32_t len)
{
	struct shmkit__queue_slot *s = slot_at(q, pos);

	atomic_store_explicit(&s->len, len, memory_order_relaxed);
	/* release: pairs with the acquire load in shmkit__mc_try_claim(): payload and
	 * len are visible before COMMITTED */
	atomic_store_explicit(&s->seq, marker(pos, SHMKIT__QTAG_COMMITTED), memory_order_release);
	wake_data(q);
}

void shmkit__mp_commit(struct shmkit_queue *q, uint64_t pos, uint32_t len)
{
	mp_commit(q, pos, len);
}

/* We took position h (our CAS won): move the hint, hand the message out
 * unless its length is corrupt (then it is dropped). */
static int mc_claimed(struct shmkit_queue *q, struct shmkit__queue_slot *s, uint64_t h,
		      uint32_t len, struct attempt *a)
{
	SHMKIT__TEST_POINT("queue.mpmc.claimed");
	pass_hint(&q->sh->head, h);
	if (len > q->max_msg) { /* corrupt: drop it, do not deliver */
		atomic_store_explicit(&s->seq, marker(h + q->cap, SHMKIT__QTAG_FREE),
				      memory_order_release);
		return -EBADMSG;
	}
	a->pos = h;
	a->len = len;
	return 0;
}

/* First try of a caller who takes any length a slot can hold: claim
 * COMMITTED(h) with one CAS, which fetches the line owned at once (a load
 * then a CAS fetch it twice). -EAGAIN with *m the marker if it was not
 * COMMITTED(h). */
static inline int mc_claim_blind(struct shmkit_queue *q, struct shmkit__queue_slot *s,
				 uint64_t h, struct attempt *a, uint64_t *m)
{
	*m = marker(h, SHMKIT__QTAG_COMMITTED);
	/* acq_rel: acquire pairs with the release store in shmkit__mp_commit()
	 * (payload and len before COMMITTED); release for whoever moves the
	 * hint past CLAIMED. On failure *m is the marker, read with acquire */
	if (!atomic_compare_exchange_strong_explicit(
		    &s->seq, m, marker(h, SHMKIT__QTAG_CLAIMED | (unsigned)q->peer),
		    memory_order_acq_rel, memory_order_acquire))
		return -EAGAIN;
	/* relaxed: written before COMMITTED, which our CAS acquired */
	uint32_t len = atomic_load_explicit(&s->len, memory_order_relaxed);
	if (SHMKIT__UNLIKELY(len > a->limit)) {
		/* corrupt (limit >= max_msg): leave it as a look would have
		 * (release: as the producer's commit) */
		atomic_store_explicit(&s->seq, marker(h, SHMKIT__QTAG_COMMITTED),
				      memory_order_release);
		return -EBADMSG;
	}
	return mc_claimed(q, s, h, len, a);
}

/* Claim message pos, whose marker m read COMMITTED(pos): 0 if taken,
 * -EAGAIN if the marker moved, -EMSGSIZE or -EBADMSG (left in place) for a
 * length the caller cannot take. */
static inline int mc_claim_seen(struct shmkit_queue *q, struct shmkit__queue_slot *s,
				uint64_t pos, uint64_t m, struct attempt *a)
{
	uint32_t len = atomic_load_explicit(&s->len, memory_order_relaxed);

	if (len > a->limit) {
		/* acquire: len was read while the marker still said
		 * COMMITTED(pos), so it is this message's length */
		if (atomic_load_explicit(&s->seq, memory_order_acquire) != m)
			return -EAGAIN;
		return len > q->max_msg ? -EBADMSG : -EMSGSIZE;
	}
	uint64_t mine = marker(pos, SHMKIT__QTAG_CLAIMED | (unsigned)q->peer);
	/* acq_rel: the caller's acquire load ordered the payload; release for
	 * whoever moves the hint past CLAIMED */
	if (!atomic_compare_exchange_strong_explicit(&s->seq, &m, mine, memory_order_acq_rel,
						     memory_order_relaxed))
		return -EAGAIN;
	return mc_claimed(q, s, pos, len, a);
}

/* ---------------------------------------------------------------------
 * Messages handed back. A consumer that died holding a message (claimed,
 * not yet consumed) leaves it CLAIMED; whoever finds the holder dead puts
 * it back to COMMITTED at its own position, behind the head hint, and adds
 * one to `abandoned` (shmkit__queue_reclaim_slot). Consumers compare that
 * count, on the head's line, with the value at which they last looked and
 * found nothing: while it differs, each claim looks behind the head first,
 * oldest position first, so a single consumer receives the message again
 * in order. Positions behind the hint were all claimed once, so a
 * COMMITTED marker there is one handed back (or scribbled on: its length
 * is checked as any other's).
 * --------------------------------------------------------------------- */

static inline bool mc_none_handed_back(const struct shmkit_queue *q)
{
	/* relaxed: a hint; the look below reads it again with acquire */
	return atomic_load_explicit(&q->sh->abandoned, memory_order_relaxed) == q->abandoned_seen;
}

static __attribute__((noinline)) int mc_claim_handed_back(struct shmkit_queue *q,
							  struct attempt *a)
{
	/* acquire: pairs with the release add in shmkit__queue_reclaim_slot():
	 * the markers counted are visible to the look */
	uint64_t seen = atomic_load_explicit(&q->sh->abandoned, memory_order_acquire);
	/* acquire: as in mc_try_claim() */
	uint64_t h = atomic_load_explicit(&q->sh->head, memory_order_acquire);

	for (uint64_t pos = h > q->cap ? h - q->cap : 0; pos < h; pos++) {
		struct shmkit__queue_slot *s = slot_at(q, pos);
		uint64_t m = marker(pos, SHMKIT__QTAG_COMMITTED);
		/* acquire: pairs with the release CAS that handed it back */
		if (atomic_load_explicit(&s->seq, memory_order_acquire) != m)
			continue;
		int r = mc_claim_seen(q, s, pos, m, a);
		if (r != -EAGAIN)
			return r;
	}
	q->abandoned_seen = seen;
	return -EAGAIN;
}

static inline int mc_try_claim(struct shmkit_queue *q, struct attempt *a)
{
	_Atomic uint64_t *head = &q->sh->head;
	int64_t cap = (int64_t)q->cap;

	if (SHMKIT__UNLIKELY(!mc_none_handed_back(q))) {
		int r = mc_claim_handed_back(q, a);
		if (r != -EAGAIN)
			return r;
	}
	for (unsigned n = 0; n < CAS_RETRIES; n++) {
		/* acquire: pairs with the release store in pass_hint() and
		 * the release CAS in advance_hint_to() */
		uint64_t h = atomic_load_explicit(head, memory_order_acquire);
		struct shmkit__queue_slot *s = slot_at(q, h);
		uint64_t m;

		if (!a->waiting && a->limit >= q->max_msg) {
			int r = mc_claim_blind(q, s, h, a, &m);
			if (r != -EAGAIN)
				return r;
		} else {
			/* acquire: pairs with the release store in shmkit__mp_commit() */
			m = atomic_load_explicit(&s->seq, memory_order_acquire);
		}
		if (m == marker(h, SHMKIT__QTAG_COMMITTED)) {
			int r = mc_claim_seen(q, s, h, m, a);
			if (r != -EAGAIN)
				return r;
			continue;
		}
		int64_t d = marker_dist(m, h);
		unsigned tag = m & 0xff;
		if (d == 0) {
			if (tag == SHMKIT__QTAG_FREE)
				return -EAGAIN; /* empty */
			if (tag_held(tag) && (tag & SHMKIT__QTAG_RESERVED)) {
				a->stuck = m; /* a producer is writing it */
				return -EAGAIN;
			}
			if (tag_held(tag)) { /* claimed by another consumer: hint lags */
				advance_hint(head, h);
				continue;
			}
			return -EBADMSG;
		}
		if (d % cap != 0)
			return -EBADMSG; /* a marker for a position of another slot */
		if (d > 0) { /* our head value is stale */
			catch_up_hint(q, head, h, m, false);
			continue;
		}
		if (d == -cap && tag_held(tag) && (tag & SHMKIT__QTAG_CLAIMED)) {
			a->stuck = m; /* a slow consumer holds last lap's message: empty */
			return -EAGAIN;
		}
		if (d == -cap && tag == SHMKIT__QTAG_COMMITTED) {
			/* last lap's message, handed back by a dead consumer
			 * (found here if the look behind the head missed it) */
			int r = mc_claim_seen(q, s, h - q->cap, m, a);
			if (r != -EAGAIN)
				return r;
			continue;
		}
		return -EBADMSG;
	}
	return -EAGAIN;
}

int shmkit__mc_try_claim(struct shmkit_queue *q, struct attempt *a)
{
	return mc_try_claim(q, a);
}

static inline void mc_consume(struct shmkit_queue *q, uint64_t pos)
{
	/* release: pairs with the acquire load in shmkit__mp_try_reserve(): our reads of
	 * the payload are done before a producer may rewrite the slot */
	atomic_store_explicit(&slot_at(q, pos)->seq, marker(pos + q->cap, SHMKIT__QTAG_FREE),
			      memory_order_release);
	wake_space(q);
}

void shmkit__mc_consume(struct shmkit_queue *q, uint64_t pos)
{
	mc_consume(q, pos);
}

/* A live consumer gives back message pos, which it claimed (a peek) and
 * will not consume: its marker goes back to COMMITTED and the head hint back
 * to pos, so the next claim (any consumer's) takes it first, in order. Not
 * the dead consumer's hand-back (shmkit__queue_reclaim_slot): that one
 * counts `abandoned`, which stats show as a crash and which makes every
 * consumer look behind the head. Setting the hint back is what hints allow
 * (they may lag; claims step forward over slots taken since, as after a
 * racing pass_hint). Stats settle the head forward only over CLAIMED
 * markers, so with other consumers active they count the messages those
 * took after pos as waiting until the next claim moves the hint past them.
 * If such a consumer's pass_hint, its load made before our store, stores
 * after it, the hint skips pos: the message is then claimed when the head
 * comes round to its slot a lap later (mc_try_claim, d == -cap), not lost. */
void shmkit__mc_unclaim(struct shmkit_queue *q, uint64_t pos)
{
	struct shmkit__queue_slot *s = slot_at(q, pos);
	_Atomic uint64_t *head = &q->sh->head;
	uint64_t mine = marker(pos, SHMKIT__QTAG_CLAIMED | (unsigned)q->peer);

	/* release: pairs with the acquire loads and CASes of the marker in the
	 * claims (mc_claim_blind, mc_try_claim): our reads of the payload are
	 * done, and it is unchanged, before another consumer takes it. Fails
	 * only if someone judged us dead and handed it back already. */
	if (!atomic_compare_exchange_strong_explicit(&s->seq, &mine,
						     marker(pos, SHMKIT__QTAG_COMMITTED),
						     memory_order_release, memory_order_relaxed))
		return;
	/* relaxed: the marker's release store above orders the message; the
	 * hint only says where to look */
	uint64_t h = atomic_load_explicit(head, memory_order_relaxed);
	/* release: as in advance_hint_to(): a consumer that reads pos from the
	 * hint (acquire) then sees COMMITTED(pos) */
	while ((int64_t)(h - pos) > 0 &&
	       !atomic_compare_exchange_weak_explicit(head, &h, pos, memory_order_release,
						      memory_order_relaxed))
		;
	wake_data(q);
}

/* ---------------------------------------------------------------------
 * MPMC peers: who holds a slot, and giving back the slots of the dead
 * --------------------------------------------------------------------- */

/* Hand back a slot whose marker is still `m` (held by a dead peer): a
 * producer's reservation is skipped (the slot FREE for the next lap), a
 * consumer's message goes back to COMMITTED for another consumer ("Messages
 * handed back" above). */
int shmkit__queue_reclaim_slot(struct shmkit_queue *q, uint64_t m)
{
	uint64_t pos = m >> 8;
	struct shmkit__queue_slot *s = slot_at(q, pos);
	bool reserved = (m & SHMKIT__QTAG_RESERVED) != 0;
	uint64_t back = reserved ? marker(pos + q->cap, SHMKIT__QTAG_FREE)
				 : marker(pos, SHMKIT__QTAG_COMMITTED);

	/* release: pairs with the acquire loads of the marker in
	 * shmkit__mp_try_reserve()/shmkit__mc_try_claim(); acquire: orders us after the holder */
	if (!atomic_compare_exchange_strong_explicit(&s->seq, &m, back, memory_order_acq_rel,
						     memory_order_relaxed))
		return 0;
	if (reserved)
		atomic_fetch_add_explicit(&q->sh->skipped, 1, memory_order_relaxed);
	else /* release: pairs with the acquire load in mc_claim_handed_back() */
		atomic_fetch_add_explicit(&q->sh->abandoned, 1, memory_order_release);
	wake_data(q);
	wake_space(q);
	return 1;
}

/* ---------------------------------------------------------------------
 * peer entries
 *
 * state = gen << 8 | kind (SHMKIT__QPEER_*). Every claim of an entry (a free
 * one, or a dead owner's) is a CAS from the word looked at to a new
 * generation's CLAIMING, so it fails if the entry changed hands since the
 * look; the claimer then writes its identity at once, and ends with a CAS to
 * LIVE that fails if someone took the entry over meanwhile (then it claims
 * again). A CLAIMING entry whose identity is provably dead (the claimer
 * killed half-way, or the dead owner it was taking over, its identity not yet
 * replaced) is taken over in turn by the next registrant: at once if its
 * identity is the claim's own (id_word), else only as a last resort
 * (take_abandoned_claims); a waiter stuck on a slot it tags hands that
 * slot back at once (the slot's marker was read before the entry, so it is
 * the dead owner's, not a tag of a claimer that has since gone LIVE). Queues made before
 * SHMKIT__QUEUE_F_PEERGEN keep gen 0 (the words older libraries write) and
 * never take a CLAIMING entry over: an older claimer writes its identity
 * late and stores LIVE without a CAS.
 * --------------------------------------------------------------------- */

static inline uint32_t peer_kind(uint32_t st)
{
	return st & 0xffu;
}

/* The word after st with kind `kind`; a claim starts a new generation. */
static inline uint32_t peer_word(const struct shmkit_queue *q, uint32_t st, uint32_t kind)
{
	uint32_t gen = q->peergen ? st >> 8 : 0;
	if (kind == SHMKIT__QPEER_CLAIMING && q->peergen)
		gen++;
	return gen << 8 | kind;
}

/* Peer entry k's identity: 1 copied (LIVE, or CLAIMING on a queue that can
 * take those over), with the state word it belongs to in *word if word is
 * not NULL; 0 nobody; -EAGAIN claiming (older queues) or moved. */
SHMKIT__COLD static int peer_ident(struct shmkit_queue *q, unsigned k, struct shmkit__ident *id,
				   uint32_t *word)
{
	struct shmkit__queue_peer *pe = &q->sh->peers[k];
	/* acquire: pairs with the release store of LIVE in shmkit__queue_peer_register(): the
	 * identity is complete before LIVE */
	uint32_t st = atomic_load_explicit(&pe->state, memory_order_acquire);
	uint32_t kind = peer_kind(st);

	if (kind == SHMKIT__QPEER_CLAIMING && !q->peergen)
		return -EAGAIN; /* someone is registering or cleaning it up right now */
	if (kind != SHMKIT__QPEER_LIVE && kind != SHMKIT__QPEER_CLAIMING)
		return 0; /* nobody: whoever tagged the slot is gone */
	memcpy(id, &pe->id, sizeof(*id));
	/* acquire: the identity we copied belongs to the state we saw (a
	 * claimer writing its own over a dead one's may tear it: then it reads
	 * as dead, and the claimer, taken over, claims again) */
	if (atomic_load_explicit(&pe->state, memory_order_acquire) != st)
		return -EAGAIN;
	if (word)
		*word = st;
	return 1;
}

/* 1 if the peer entry k is provably not a live process, 0 otherwise. */
static int peer_dead(struct shmkit_queue *q, unsigned k)
{
	struct shmkit__ident id;
	int r = peer_ident(q, k, &id, NULL);

	if (r <= 0)
		return r == 0;
	return shmkit__obj_ident_alive(&q->obj, &id) == 0;
}

int shmkit__queue_holder(struct shmkit_queue *q, uint64_t m, struct shmkit__ident *id)
{
	return peer_ident(q, (unsigned)(m & SHMKIT__QTAG_PEER_MASK), id, NULL);
}

/* Slow path of a waiter stuck on a slot marked `m` by another peer: if that
 * peer is dead, give the slot back. Returns 1 if the slot changed. */
int shmkit__queue_reclaim_if_dead(struct shmkit_queue *q, uint64_t m)
{
	unsigned k = m & SHMKIT__QTAG_PEER_MASK;

	if (!peer_dead(q, k))
		return 0;
	shmkit__queue_reclaim_slot(q, m);
	return 1;
}

/* Give back every slot tagged with peer k (k is dead and ours to reuse). */
SHMKIT__COLD static void release_peer_slots(struct shmkit_queue *q, unsigned k)
{
	for (uint64_t i = 0; i < q->cap; i++) {
		struct shmkit__queue_slot *s = slot_at(q, i);
		uint64_t m = atomic_load_explicit(&s->seq, memory_order_relaxed);
		unsigned tag = m & 0xff;
		if (tag_held(tag) && (tag & SHMKIT__QTAG_PEER_MASK) == k)
			shmkit__queue_reclaim_slot(q, m);
	}
}

/* ---------------------------------------------------------------------
 * byte counters
 *
 * Each handle counts the bytes it commits and consumes in its own peer
 * entry, a line no other process writes: a plain add, where one counter
 * for all would cost a locked instruction per message on a line the other
 * producers (consumers) are taking turns on. Statistics add every entry to
 * the queue's totals; an entry's counts move into the totals when the entry
 * is next claimed (its handle closed, or its owner died). A process killed
 * in the middle of that move counts those bytes twice.
 * --------------------------------------------------------------------- */

static inline void mpmc_count(struct shmkit_queue *q, uint64_t len, bool sent)
{
	struct shmkit__queue_peer *pe = &q->sh->peers[q->peer];
	_Atomic uint64_t *c = sent ? &pe->bytes_sent : &pe->bytes_received;

	/* relaxed: only this handle writes its entry's counters; stats read a
	 * snapshot */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + len,
			      memory_order_relaxed);
}

void shmkit__mpmc_count(struct shmkit_queue *q, uint32_t len, bool sent)
{
	mpmc_count(q, len, sent);
}

/* The totals plus every entry's counts (a snapshot for statistics). */
void shmkit__mpmc_bytes(const struct shmkit_queue *q, uint64_t *sent, uint64_t *received)
{
	const struct shmkit__queue_shared *sh = q->sh;
	/* relaxed: a snapshot; the numbers may move while we read */
	uint64_t s = atomic_load_explicit(&sh->bytes_sent, memory_order_relaxed);
	uint64_t r = atomic_load_explicit(&sh->bytes_received, memory_order_relaxed);
	for (unsigned k = 0; k < SHMKIT__QUEUE_PEERS; k++) {
		s += atomic_load_explicit(&sh->peers[k].bytes_sent, memory_order_relaxed);
		r += atomic_load_explicit(&sh->peers[k].bytes_received, memory_order_relaxed);
	}
	*sent = s;
	*received = r;
}

/* Older queues (gen 0), after our CAS took a LIVE entry we judged dead:
 * is it still the dead owner's? Its owner may have been replaced between
 * the look and the CAS (released, then registered by a live process): then
 * it goes back to LIVE, unless that owner released it meanwhile (FREE, left
 * as is; a third process may claim it before our CAS puts LIVE back: the
 * window F_PEERGEN's generations close). */
SHMKIT__COLD static bool still_dead(struct shmkit__queue_peer *pe, const struct shmkit__ident *dead,
		       uint32_t mine, uint32_t was)
{
	if (memcmp(&pe->id, dead, sizeof(*dead)) == 0)
		return true;
	/* release: as the owner's own store of LIVE */
	atomic_compare_exchange_strong_explicit(&pe->state, &mine, was, memory_order_release,
						memory_order_relaxed);
	return false;
}

/* We hold entry k as `mine` (CLAIMING): write our identity before anything
 * else, so a look that finds it CLAIMING judges us, not the entry's last
 * owner. */
SHMKIT__COLD static void claim_entry(struct shmkit_queue *q, unsigned k, uint32_t mine)
{
	struct shmkit__queue_peer *pe = &q->sh->peers[k];

	SHMKIT__TEST_POINT("queue.peer.claimed");
	memcpy(&pe->id, shmkit__ident_self(), sizeof(struct shmkit__ident));
	/* release: pairs with the acquire load in look_dead(): seeing our word
	 * there means our identity is written, and no write of ours is left */
	if (q->peergen)
		atomic_store_explicit(&pe->id_word, mine, memory_order_release);
	q->peer_word = mine;
	SHMKIT__TEST_POINT("queue.peer.claiming");
}

/* Whether entry k names a provably dead identity: 1 with its word and that
 * identity copied, else 0. Also 1 with *claim_unsure for a CLAIMING entry
 * whose identity may still be its last owner's (its claimer had not
 * finished writing its own when we looked: it may be dead, or alive and
 * about to). */
SHMKIT__COLD static int look_dead(struct shmkit_queue *q, unsigned k, uint32_t *st,
				  struct shmkit__ident *id, bool *claim_unsure)
{
	/* acquire: pairs with the release store in claim_entry() */
	uint32_t idw = atomic_load_explicit(&q->sh->peers[k].id_word, memory_order_acquire);

	if (peer_ident(q, k, id, st) != 1)
		return 0;
	*claim_unsure = peer_kind(*st) == SHMKIT__QPEER_CLAIMING && idw != *st;
	if (*claim_unsure)
		return 1; /* the identity says nothing of its claimer: judged by time */
	return shmkit__obj_ident_alive(&q->obj, id) == 0;
}

/* Take entry k, seen as `st` naming `dead`, a provably dead identity: its
 * slots handed back, a lease naming it freed. true with the entry ours as
 * q->peer_word (CLAIMING). */
SHMKIT__COLD static bool take_entry(struct shmkit_queue *q, unsigned k, uint32_t st,
		       const struct shmkit__ident *dead)
{
	struct shmkit__queue_peer *pe = &q->sh->peers[k];
	uint32_t was = st, mine = peer_word(q, st, SHMKIT__QPEER_CLAIMING);

	SHMKIT__TEST_POINT("queue.peer.looked");
	/* acquire: orders us after the dead owner's stores */
	if (!atomic_compare_exchange_strong_explicit(&pe->state, &st, mine, memory_order_acquire,
						     memory_order_relaxed) ||
	    (!q->peergen && !still_dead(pe, dead, mine, was)))
		return false;
	claim_entry(q, k, mine);
	release_peer_slots(q, k);
	/* k's owner may have died inside its lease window: free a lease
	 * naming k before k is reused, or every revoker would wait on the new
	 * owner for that window */
	shmkit__lease_clear_dead(&q->sh->p_lease, k + 1);
	return true;
}

/* Give back an entry we claimed as `mine` (unless it was taken over). */
SHMKIT__COLD static void free_claimed_entry(struct shmkit_queue *q, unsigned k, uint32_t mine)
{
	struct shmkit__queue_peer *pe = &q->sh->peers[k];

	/* relaxed, then release: as shmkit__queue_peer_release(); its byte
	 * counts stay there: the next owner adds to them */
	atomic_store_explicit(&pe->sides, 0, memory_order_relaxed);
	atomic_compare_exchange_strong_explicit(&pe->state, &mine,
						peer_word(q, mine, SHMKIT__QPEER_FREE),
						memory_order_release, memory_order_relaxed);
}

/* Claims whose identity may be the entry's last owner's (CLAIMING, id_word
 * not the claim's; that identity, dead or alive, says nothing of the
 * claimer): taken over only when no other entry is left, and only if they
 * look the same after SHMKIT__CLAIM_STABLE_NS (a claimer alive and about
 * to write its identity would write over ours; it would have to stall that
 * long in a few instructions). */
struct abandoned_claims {
	uint64_t seen; /* bit k: entry k looked abandoned */
	uint32_t st[SHMKIT__QUEUE_PEERS];
	struct shmkit__ident id[SHMKIT__QUEUE_PEERS];
};

/* Take every such claim that still looks the same, handing back what it
 * holds; the first becomes ours (q->peer_word), the others are freed. The
 * index kept, or -1. */
SHMKIT__COLD static int take_abandoned_claims(struct shmkit_queue *q,
					      const struct abandoned_claims *a)
{
	int kept = -1;

	shmkit__sleep_ns(SHMKIT__CLAIM_STABLE_NS);
	for (unsigned k = 0; k < SHMKIT__QUEUE_PEERS; k++) {
		uint32_t st;
		struct shmkit__ident id;
		bool unsure;
		if (!(a->seen >> k & 1) || !look_dead(q, k, &st, &id, &unsure) || st != a->st[k] ||
		    memcmp(&id, &a->id[k], sizeof(id)) != 0 || !take_entry(q, k, st, &id))
			continue;
		if (kept < 0)
			kept = (int)k;
		else
			free_claimed_entry(q, k, q->peer_word);
	}
	return kept;
}

/* Claim a free entry: its index, or -1. */
SHMKIT__COLD static int claim_free_entry(struct shmkit_queue *q)
{
	for (unsigned k = 0; k < SHMKIT__QUEUE_PEERS; k++) {
		struct shmkit__queue_peer *pe = &q->sh->peers[k];
		uint32_t st = atomic_load_explicit(&pe->state, memory_order_relaxed);
		if (peer_kind(st) != SHMKIT__QPEER_FREE)
			continue;
		uint32_t mine = peer_word(q, st, SHMKIT__QPEER_CLAIMING);
		/* acquire: orders us after the last owner's release in shmkit__queue_peer_release() */
		if (atomic_compare_exchange_strong_explicit(&pe->state, &st, mine, memory_order_acquire,
							    memory_order_relaxed)) {
			claim_entry(q, k, mine);
			return (int)k;
		}
	}
	return -1;
}

/* A new registration first clears every entry of a dead process, so what
 * a consumer killed in the middle of a receive held is handed back now
 * (to this process's first claim, oldest first), not when producers come
 * round to its slot a lap later; one of those entries, or else a free
 * one, or else an abandoned claim, becomes ours. -1 if none is left. */
SHMKIT__COLD static int claim_some_entry(struct shmkit_queue *q)
{
	struct abandoned_claims a;
	int k = -1;
	uint32_t mine = 0;

	a.seen = 0;
	for (unsigned i = 0; i < SHMKIT__QUEUE_PEERS; i++) {
		uint32_t st;
		struct shmkit__ident id;
		bool unsure;
		if (!look_dead(q, i, &st, &id, &unsure))
			continue;
		if (unsure) {
			a.seen |= 1ull << i;
			a.st[i] = st;
			a.id[i] = id;
		} else if (take_entry(q, i, st, &id)) {
			if (k < 0) {
				k = (int)i;
				mine = q->peer_word;
			} else {
				free_claimed_entry(q, i, q->peer_word);
			}
		}
	}
	if (k < 0)
		k = claim_free_entry(q);
	else
		q->peer_word = mine;
	if (k < 0 && a.seen)
		k = take_abandoned_claims(q, &a);
	return k;
}

/* Make the claimed entry k ours: LIVE. false if it was taken over. */
SHMKIT__COLD static bool activate_entry(struct shmkit_queue *q, unsigned k)
{
	struct shmkit__queue_peer *pe = &q->sh->peers[k];
	uint32_t mine = q->peer_word, live = peer_word(q, mine, SHMKIT__QPEER_LIVE);

	/* Its byte counts stay: we add to them (statistics add every entry's
	 * to the totals). Moving them into the totals, as builds before did,
	 * let a stat between the add and the zeroing count too little: with
	 * handles that park and claim again per sleep, the counters went
	 * backwards while traffic ran. relaxed: covered by the release CAS */
	atomic_store_explicit(&pe->sides, 0, memory_order_relaxed);
	/* release: pairs with the acquire load in peer_ident(): identity first */
	if (!atomic_compare_exchange_strong_explicit(&pe->state, &mine, live, memory_order_release,
						     memory_order_relaxed))
		return false;
	q->peer_word = live;
	return true;
}

/* ---------------------------------------------------------------------
 * parking
 *
 * A handle holds its entry from its first send or receive, and a slot it
 * takes is tagged with the entry's index; but a handle that sleeps holds
 * no slot, so entries held by sleepers would only lock others out: 64
 * senders asleep on a full queue left no entry for the receiver that would
 * drain it. So a wait gives the entry back (park) right before it sleeps,
 * after its last look found nothing (the eventcount's SLEEP bit is up by
 * then, so no wake-up is lost), as close does: its byte counts stay in the
 * entry (its next owner adds to them), a lease it holds is given back. When a
 * wake-up comes it looks at the ring without claiming (shmkit__mpmc_look)
 * and registers again only if a slot may be taken: its last entry first if
 * still free, then any free one, and only then (at most every
 * SHMKIT__LIVENESS_NS) the full registration that clears dead entries and
 * reads /proc. A poll without a descriptor that finds nothing over 1 ms
 * after its last such poll parks too (src/queue.c park_if_polls_apart):
 * its caller sleeps by itself. A spin, faster polls and the fast path keep
 * the entry: a stream that does not sleep pays nothing, one that sleeps
 * pays a release and a claim on its own entry's line per sleep, next to
 * a futex wait and a wake-up. A registration that finds every entry held
 * by live processes waits for one, in slices, until the call's deadline.
 * Crash safety is registration's and close's: a process killed parking or
 * registering again leaves a LIVE or CLAIMING entry of a dead identity,
 * which the next registrant takes over ("peer entries" above).
 * --------------------------------------------------------------------- */

#define REJOIN_SLICE_MIN_NS 1000000 /* a registration's first wait for an entry */

/* Claim the entry we gave back if it is still free, else any free one
 * (no /proc reads): the index, or -1. */
SHMKIT__COLD static int claim_free_again(struct shmkit_queue *q)
{
	int k = q->last_peer;

	if (k >= 0 && k < (int)SHMKIT__QUEUE_PEERS) {
		struct shmkit__queue_peer *pe = &q->sh->peers[k];
		uint32_t st = atomic_load_explicit(&pe->state, memory_order_relaxed);
		uint32_t mine = peer_word(q, st, SHMKIT__QPEER_CLAIMING);
		/* acquire: as in claim_free_entry() */
		if (peer_kind(st) == SHMKIT__QPEER_FREE &&
		    atomic_compare_exchange_strong_explicit(&pe->state, &st, mine,
							    memory_order_acquire,
							    memory_order_relaxed)) {
			claim_entry(q, (unsigned)k, mine);
			SHMKIT__TEST_POINT("queue.peer.reclaimed");
			return k;
		}
	}
	return claim_free_entry(q);
}

/* One registration: 0, -ENOSPC (every entry held by a live process, or
 * cannot be judged yet), -EBUSY (every claim was taken over). */
SHMKIT__COLD static int register_once(struct shmkit_queue *q, bool gated)
{
	/* a claim is lost only to a process that judged us dead in the few
	 * instructions before our identity was written: rare, so bounded */
	for (int attempt = 0; attempt < 64; attempt++) {
		int k = -1;
		if (q->parked || gated)
			k = claim_free_again(q);
		if (k < 0 && gated) {
			/* a waiter's look clears the dead at most every
			 * SHMKIT__LIVENESS_NS (it reads /proc for each entry) */
			int64_t now = shmkit__now_ns();
			if (now < q->dead_scan_at)
				return -ENOSPC;
			q->dead_scan_at = now + SHMKIT__LIVENESS_NS;
		}
		if (k < 0)
			k = claim_some_entry(q);
		if (k < 0)
			return -ENOSPC;
		if (activate_entry(q, (unsigned)k)) {
			q->peer = k;
			return 0;
		}
	}
	return shmkit__fail(-EBUSY, "queue peer table: every claim was taken over");
}

/* Every entry is held by a live process: err (-EAGAIN or -ETIMEDOUT) with
 * a detail that says so and names one of them. */
SHMKIT__COLD static int peer_table_full(struct shmkit_queue *q, int err)
{
	struct shmkit__ident id;
	uint32_t pid = 0;

	q->peer_full = true;
	for (unsigned k = 0; k < SHMKIT__QUEUE_PEERS && !pid; k++)
		if (peer_ident(q, k, &id, NULL) == 1)
			pid = id.pid;
	if (!pid)
		return shmkit__fail(err, "all %u peer entries of this MPMC queue are held "
				    "(being registered)", SHMKIT__QUEUE_PEERS);
	return shmkit__fail(err, "all %u peer entries of this MPMC queue are held by live "
			    "processes (e.g. pid %u): each open handle that has sent or received "
			    "holds one, except while it sleeps waiting", SHMKIT__QUEUE_PEERS, pid);
}

bool shmkit__queue_peer_full(const struct shmkit_queue *q)
{
	return q && q->multi && q->peer_full && !peer_joined(q, false);
}

/* Registers, waiting for a free entry until *timeout_ns runs out (left
 * holding what remains); `gated`: a waiter's look, which does not wait
 * (*timeout_ns is 0) and clears the dead only now and then. A call that
 * does not wait (a poll) after this handle's last registration found every
 * entry held is gated too: a free entry is looked for at each call, the
 * full registration (a /proc read per entry, ~250 us) made at most every
 * SHMKIT__LIVENESS_NS; 70 handles polling 0.3 ms apart, a few of them
 * locked out at any moment, spent over 1.5 of 2 CPUs in those reads. */
SHMKIT__COLD static int peer_register(struct shmkit_queue *q, int64_t *timeout_ns, bool gated)
{
	const struct shmkit__ident *me = shmkit__ident_self();
	int64_t deadline = 0, slice = REJOIN_SLICE_MIN_NS;
	int r;

	if (!me)
		return -ESRCH;
	if (q->peer_gen != shmkit__fork_gen())
		q->parked = false; /* a forked child registers anew */
	bool caller_poll = *timeout_ns == 0 && !gated; /* a caller's, not a waiter's look */
	if (*timeout_ns == 0 && q->peer_full)
		gated = true; /* a poll, after a registration found no entry */
	q->peer = -1;
	while ((r = register_once(q, gated)) == -ENOSPC) {
		if (*timeout_ns == 0) {
			if (caller_poll) /* its descriptor, if any, tries again later */
				shmkit__queue_fds_quiet(q);
			return peer_table_full(q, -EAGAIN);
		}
		if (!deadline)
			deadline = shmkit__deadline(*timeout_ns);
		int64_t now = shmkit__now_ns();
		if (now >= deadline)
			return peer_table_full(q, -ETIMEDOUT);
		peer_table_full(q, -ETIMEDOUT); /* the detail, should the caller stop us */
		/* nothing wakes us when an entry is given back: look again in
		 * slices, 1 ms doubling to SHMKIT__LIVENESS_NS */
		shmkit__sleep_ns(slice < deadline - now ? slice : deadline - now);
		slice = slice * 2 < SHMKIT__LIVENESS_NS ? slice * 2 : SHMKIT__LIVENESS_NS;
		q->dead_scan_at = 0; /* each try clears the dead */
	}
	if (deadline)
		*timeout_ns = shmkit__timeout_left(*timeout_ns, deadline);
	if (r < 0)
		return r;
	shmkit__queue_fds_loud(q); /* a locked-out poll's quieted descriptors */
	q->peer_full = false;
	q->rejoined = q->parked;
	q->peer_pid = me->pid;
	q->peer_gen = shmkit__fork_gen();
	q->mp_joined = false; /* a forked child does not own its parent's lease */
	q->lease_mine = 0;
	if (!q->parked) {
		q->resv_active = false; /* a forked child does not own its parent's slots */
		q->peek_active = false;
		q->cas_claims = 0;
		q->lease_retry = LEASE_RETRY;
		q->lease_parked = false;
	}
	q->parked = false;
	return 0;
}

SHMKIT__COLD int shmkit__queue_peer_register(struct shmkit_queue *q, int64_t *timeout_ns)
{
	return peer_register(q, timeout_ns, false);
}

SHMKIT__COLD int shmkit__queue_rejoin(struct shmkit_queue *q, bool producer)
{
	int64_t none = 0;
	int r = 0;

	if (!peer_joined(q, false))
		r = peer_register(q, &none, true);
	if (r < 0 || !producer || q->mp_joined)
		return r;
	return shmkit__queue_producer_join(q, &none);
}

SHMKIT__COLD void shmkit__queue_peer_release(struct shmkit_queue *q)
{
	const struct shmkit__ident *me = shmkit__ident_self();

	if (q->peer < 0 || !me || me->pid != q->peer_pid)
		return;
	if (q->lease_mine)
		shmkit__lease_drop(&q->sh->p_lease, q->lease_mine);
	q->lease_mine = 0;
	/* release: a look at sides that sees 0 (other_producer()) also sees
	 * the lease given back above */
	atomic_store_explicit(&q->sh->peers[q->peer].sides, 0, memory_order_release);
	uint32_t mine = q->peer_word;
	SHMKIT__TEST_POINT("queue.peer.releasing");
	/* release: pairs with the acquire CAS in claim_free_entry(); fails only
	 * if the entry was taken from us (judged dead: not ours to free) */
	atomic_compare_exchange_strong_explicit(&q->sh->peers[q->peer].state, &mine,
						peer_word(q, mine, SHMKIT__QPEER_FREE),
						memory_order_release, memory_order_relaxed);
	q->last_peer = q->peer;
	q->peer = -1;
}

SHMKIT__COLD void shmkit__queue_peer_park(struct shmkit_queue *q)
{
	if (q->peer < 0 || q->peer_gen != shmkit__fork_gen() || q->resv_active || q->peek_active)
		return;
	q->lease_parked = q->lease_mine != 0;
	SHMKIT__TEST_POINT("queue.peer.parking");
	shmkit__queue_peer_release(q);
	q->parked = q->peer < 0;
}

int shmkit__mpmc_look(struct shmkit_queue *q, struct attempt *a, bool producer)
{
	_Atomic uint64_t *hint = producer ? &q->sh->tail : &q->sh->head;
	/* acquire: as in mp_try_reserve()/mc_try_claim() */
	uint64_t p = atomic_load_explicit(hint, memory_order_acquire);
	/* acquire: as the attempts' loads of the marker */
	uint64_t m = atomic_load_explicit(&slot_at(q, p)->seq, memory_order_acquire);
	int64_t d = marker_dist(m, p), cap = (int64_t)q->cap;
	unsigned tag = m & 0xff;
	bool held = tag_held(tag);

	if (producer) {
		if (d != -cap) /* free, or a lagging or stale hint: the attempt sorts it out */
			return 1;
		a->stuck = held ? m : 0; /* last lap's message still there: full */
		return 0;
	}
	if (!mc_none_handed_back(q))
		return 1;
	if (d == 0 && tag == SHMKIT__QTAG_FREE)
		return 0; /* empty */
	if ((d == 0 && held && (tag & SHMKIT__QTAG_RESERVED)) ||
	    (d == -cap && held && (tag & SHMKIT__QTAG_CLAIMED))) {
		a->stuck = m; /* a producer writing it, a consumer a lap behind */
		return 0;
	}
	return 1;
}

/* Whether another peer entry, not provably dead, has sent. An entry being
 * registered or cleaned up (CLAIMING) counts if its bit is set and its
 * identity is not dead. */
static bool other_producer(struct shmkit_queue *q)
{
	for (unsigned k = 0; k < SHMKIT__QUEUE_PEERS; k++) {
		struct shmkit__queue_peer *pe = &q->sh->peers[k];
		if ((int)k == q->peer)
			continue;
		/* acquire: pairs with the release store of LIVE in
		 * shmkit__queue_peer_register(); sides is read after it */
		uint32_t st = atomic_load_explicit(&pe->state, memory_order_acquire);
		/* acquire: pairs with the release store in shmkit__queue_peer_release() */
		if (peer_kind(st) == SHMKIT__QPEER_FREE ||
		    !(atomic_load_explicit(&pe->sides, memory_order_acquire) &
		      SHMKIT__QPEER_SIDE_PRODUCER))
			continue;
		if (peer_dead(q, k))
			continue;
		return true;
	}
	return false;
}

/* The holder named in a lease word is gone: its entry is ours now (an entry
 * is reused only after its holder gave the lease back or died), or it is
 * free or dead. */
static bool lease_holder_gone(void *ctx, uint32_t holder)
{
	struct shmkit_queue *q = ctx;
	unsigned k = holder - 1;

	return k >= SHMKIT__QUEUE_PEERS || (int)k == q->peer || peer_dead(q, k) == 1;
}

/* Take the lease if it is free and we are the only producer. Only a process
 * registered for expedited membarriers: a revoker's barrier must reach our
 * CPU (sync/lease.h). */
static void lease_try_take(struct shmkit_queue *q, bool keep_trial)
{
	struct shmkit__lease_shared *l = &q->sh->p_lease;

	if (!shmkit__barrier_registered())
		return;
	uint32_t mine = shmkit__lease_take(l, (uint32_t)q->peer + 1);
	if (!mine)
		return;
	shmkit__fence_full(); /* our take before our look at the others (lease.h) */
	if (other_producer(q)) {
		shmkit__lease_drop(l, mine);
		return;
	}
	q->lease_mine = mine;
	if (!keep_trial || q->claim_trial.next == 0)
		claim_trial_reset(q);
}

static __attribute__((noinline)) void lease_retry(struct shmkit_queue *q)
{
	struct shmkit__lease_shared *l = &q->sh->p_lease;

	q->cas_claims = 0;
	/* relaxed: a hint; the take's CAS decides */
	uint32_t w = atomic_load_explicit(&l->word, memory_order_relaxed);
	/* A revocation that timed out leaves the word REVOKING: settle it if
	 * its holder has left the window since (we announced ourselves when
	 * we joined, as lease_clear asks), or nobody would take it again. */
	if ((w & SHMKIT__LEASE_REVOKING) &&
	    shmkit__lease_clear(l, lease_holder_gone, q, shmkit__now_ns()) == 0)
		w = 0;
	if (shmkit__lease_holder(w) == 0)
		lease_try_take(q, false);
	if (q->lease_mine)
		q->lease_retry = LEASE_RETRY;
	else if (q->lease_retry < LEASE_RETRY_MAX)
		q->lease_retry *= 2;
}

int shmkit__queue_producer_join(struct shmkit_queue *q, int64_t *timeout_ns)
{
	if (q->leased) {
		_Atomic uint32_t *sides = &q->sh->peers[q->peer].sides;
		/* relaxed: only this handle writes its entry's sides */
		atomic_store_explicit(sides,
				      atomic_load_explicit(sides, memory_order_relaxed) |
					      SHMKIT__QPEER_SIDE_PRODUCER,
				      memory_order_relaxed);
		shmkit__fence_full(); /* announced before we read the lease (lease.h) */
		int64_t deadline = shmkit__deadline(*timeout_ns);
		int r = shmkit__lease_clear(&q->sh->p_lease, lease_holder_gone, q, deadline);
		if (r < 0)
			return *timeout_ns == 0 ? -EAGAIN : r;
		*timeout_ns = shmkit__timeout_left(*timeout_ns, deadline); /* for the send's wait */
		/* back from a sleep: only a holder takes the lease again (and
		 * keeps its trial's answer); the others try on their schedule
		 * (lease_retry), not at every wake-up */
		if (!q->rejoined || q->lease_parked)
			lease_try_take(q, q->rejoined);
		q->lease_parked = false;
	}
	q->mp_joined = true;
	return 0;
}

/* ---------------------------------------------------------------------
 * the copy calls: shmkit_queue_send/recv on an MPMC queue, whole here so
 * the attempt, the publication and the count are inlined (a call per step
 * and the checks made twice cost a third of a 64 B stream's time)
 * --------------------------------------------------------------------- */

/* The handle is registered by the process using it, holds its side's role
 * if the side is single, and has no zero-copy operation of this kind
 * outstanding: nothing for mpmc_prepare() to do. */
static inline bool mpmc_ready(const struct shmkit_queue *q, bool producer)
{
	uint32_t gen = shmkit__fork_gen();
	unsigned role = producer ? SHMKIT__ROLE_PRODUCER : SHMKIT__ROLE_CONSUMER;

	return SHMKIT__LIKELY(q->op_gen == gen && q->peer >= 0 && q->peer_gen == gen &&
			      (!producer || q->mp_joined) &&
			      ((producer ? q->mp : q->mc) || q->obj.role_word[role] != 0) &&
			      !(producer ? q->resv_active : q->peek_active));
}

/* The first call of a handle, after fork, or with an operation outstanding;
 * *timeout_ns is left holding what a producer's join did not use. */
static __attribute__((noinline)) int mpmc_prepare(struct shmkit_queue *q, bool producer,
						  int64_t *timeout_ns)
{
	int r;

	forget_inherited(q);
	if ((r = claim_role(q, producer)) < 0)
		return r;
	if ((r = peer_join(q, producer, timeout_ns)) < 0)
		return r;
	return (producer ? q->resv_active : q->peek_active) ? -EBUSY : 0;
}

/* The common first attempt, inline: the position the tail hint reads is
 * FREE for it, and one CAS takes it (as mp_try_reserve's first try). The
 * whole attempt loop out of line costs a call and its set-up per message. */
static inline bool mp_reserve_at_hint(struct shmkit_queue *q, struct attempt *a)
{
	_Atomic uint64_t *tail = &q->sh->tail;
	/* acquire: as in mp_try_reserve() */
	uint64_t p = atomic_load_explicit(tail, memory_order_acquire);
	uint64_t m = marker(p, SHMKIT__QTAG_FREE);

	/* as in mp_try_reserve(); on failure nothing is used */
	if (!mp_claim_marker(q, &slot_at(q, p)->seq, &m,
			     marker(p, SHMKIT__QTAG_RESERVED | (unsigned)q->peer)))
		return false;
	SHMKIT__TEST_POINT("queue.mpmc.reserved");
	pass_hint(tail, p);
	a->pos = p;
	return true;
}

/* The claim at the tail hint failed: the marker is worth a look before
 * another claim, then the attempt loop and the waiting machinery. */
static inline int mp_take_missed(struct shmkit_queue *q, struct attempt *a, int64_t timeout_ns)
{
	a->waiting = true;
	int r = shmkit__mp_try_reserve(q, a);
	if (SHMKIT__UNLIKELY(r == -EAGAIN))
		r = shmkit__mpmc_wait(q, shmkit__mp_try_reserve, a, true, timeout_ns);
	return r;
}

/* A receive's attempt loop and waiting machinery (a->waiting set if a
 * first claim already failed). */
static inline int mc_take_rest(struct shmkit_queue *q, struct attempt *a, int64_t timeout_ns)
{
	int r = shmkit__mc_try_claim(q, a);
	if (SHMKIT__UNLIKELY(r == -EAGAIN))
		r = shmkit__mpmc_wait(q, shmkit__mc_try_claim, a, false, timeout_ns);
	return r;
}

/* A send's (a batch's first) slot: ready the handle, one attempt inline,
 * then the attempt loop and the waiting machinery. */
static inline int mp_take_first(struct shmkit_queue *q, struct attempt *a, int64_t timeout_ns)
{
	int r;

	if (!mpmc_ready(q, true)) {
		int64_t left = timeout_ns; /* its address taken here only, off the fast path */
		if ((r = mpmc_prepare(q, true, &left)) < 0)
			return r;
		timeout_ns = left;
	}
	if (SHMKIT__LIKELY(mp_reserve_at_hint(q, a)))
		return 0;
	return mp_take_missed(q, a, timeout_ns);
}

/* A receive's (a batch's first) message, as mp_take_first. */
static inline int mc_take_first(struct shmkit_queue *q, struct attempt *a, int64_t timeout_ns)
{
	int r;

	if (!mpmc_ready(q, false)) {
		int64_t left = timeout_ns; /* its address taken here only, off the fast path */
		if ((r = mpmc_prepare(q, false, &left)) < 0)
			return r;
		timeout_ns = left;
	}
	if (SHMKIT__LIKELY(a->limit >= q->max_msg && mc_none_handed_back(q))) {
		uint64_t h = atomic_load_explicit(&q->sh->head, memory_order_acquire), m;
		r = mc_claim_blind(q, slot_at(q, h), h, a, &m);
		if (SHMKIT__LIKELY(r != -EAGAIN))
			return r;
		a->waiting = true; /* as in mp_take_first() */
	}
	return mc_take_rest(q, a, timeout_ns);
}

/* Everything the send's leaf path leaves: a message over 64 bytes, a
 * handle to ready, a slot not free at the hint (`missed`: the leaf's claim
 * failed, so the marker is worth a look before another claim). */
static __attribute__((noinline)) int mp_send_rest(struct shmkit_queue *q, const void *msg,
						  size_t len, int64_t timeout_ns, bool missed)
{
	struct attempt a = { 0 };
	int r;

	if (SHMKIT__UNLIKELY(len > q->max_msg))
		return -EMSGSIZE;
	r = missed ? mp_take_missed(q, &a, timeout_ns) : mp_take_first(q, &a, timeout_ns);
	if (r < 0)
		return r;
	if (len)
		shmkit__copy_in(&q->copy_pick, payload_at(q, a.pos), msg, len);
	mp_commit(q, a.pos, (uint32_t)len);
	mpmc_count(q, (uint32_t)len, true);
	return 0;
}

/* The common send, a leaf: a ready handle, a message of up to 64 bytes,
 * the slot at the tail hint free. Each side of a 1x1 stream waits for a
 * line transfer per message at its claim, which is a full barrier (a CAS)
 * or follows one's miss, so nothing of one message's work overlaps the
 * next's and every instruction adds to the time a message takes (a
 * two-process harness on a 2-vCPU Xeon: 25 dependent instructions more per
 * side slowed a minimal CAS ring from 6.8e7 to 4.2e7 msg/s). Here the slot
 * is computed once and nothing is called (~160 instructions a side before,
 * through mp_take_first, mp_commit and the wake-up call; docs/PERF.md
 * "MPMC on a Xeon"). */
int shmkit__mp_send(struct shmkit_queue *q, const void *msg, size_t len, int64_t timeout_ns)
{
	if (SHMKIT__LIKELY(len <= SHMKIT__COPY_SMALL && len <= q->max_msg && mpmc_ready(q, true))) {
		_Atomic uint64_t *tail = &q->sh->tail;
		/* acquire: as in mp_try_reserve() */
		uint64_t p = atomic_load_explicit(tail, memory_order_acquire);
		struct shmkit__queue_slot *s = slot_at(q, p);
		uint64_t m = marker(p, SHMKIT__QTAG_FREE);
		/* as in mp_try_reserve(); on failure nothing is used */
		if (SHMKIT__UNLIKELY(!mp_claim_marker(
			    q, &s->seq, &m, marker(p, SHMKIT__QTAG_RESERVED | (unsigned)q->peer))))
			return mp_send_rest(q, msg, len, timeout_ns, true);
		SHMKIT__TEST_POINT("queue.mpmc.reserved");
		pass_hint(tail, p);
		shmkit__copy_small((unsigned char *)s + q->slot_hdr, msg, len);
		atomic_store_explicit(&s->len, (uint32_t)len, memory_order_relaxed);
		/* release: as in mp_commit() */
		atomic_store_explicit(&s->seq, marker(p, SHMKIT__QTAG_COMMITTED), memory_order_release);
		if (SHMKIT__UNLIKELY(!shmkit__ec_quiet(&q->data_ec)))
			wake_data(q);
		mpmc_count(q, len, true);
		return 0;
	}
	return mp_send_rest(q, msg, len, timeout_ns, false);
}

/* Everything the receive's leaf path leaves, as mp_send_rest(). */
static __attribute__((noinline)) ssize_t mc_recv_rest(struct shmkit_queue *q, void *buf,
						      size_t cap, int64_t timeout_ns, bool missed)
{
	struct attempt a = { .limit = cap };
	int r;

	a.waiting = missed;
	r = missed ? mc_take_rest(q, &a, timeout_ns) : mc_take_first(q, &a, timeout_ns);
	if (r < 0)
		return r;
	if (a.len)
		shmkit__copy(buf, payload_at(q, a.pos), a.len);
	mc_consume(q, a.pos);
	mpmc_count(q, a.len, false);
	return (ssize_t)a.len;
}

/* The leaf claimed a message whose length is corrupt: as mc_claim_blind(). */
static __attribute__((noinline)) ssize_t mc_recv_corrupt(struct shmkit_queue *q,
							 struct shmkit__queue_slot *s, uint64_t h,
							 uint32_t len, size_t cap)
{
	struct attempt a = { .limit = cap };

	if (len > cap) {
		/* leave it as a look would have (release: as the producer's commit) */
		atomic_store_explicit(&s->seq, marker(h, SHMKIT__QTAG_COMMITTED),
				      memory_order_release);
		return -EBADMSG;
	}
	return mc_claimed(q, s, h, len, &a); /* drops it: -EBADMSG */
}

/* The common receive, a leaf, as shmkit__mp_send: a ready handle, a
 * buffer that takes any message of a queue of messages up to 64 bytes,
 * the message at the head hint committed. It does not look for messages
 * handed back, to keep its instructions to the claim and the copy (see
 * shmkit__mp_send): its first miss does (mc_try_claim), and a new
 * registration's first receive goes through mc_take_first(). */
ssize_t shmkit__mc_recv(struct shmkit_queue *q, void *buf, size_t cap, int64_t timeout_ns)
{
	if (SHMKIT__LIKELY(q->max_msg <= SHMKIT__COPY_SMALL && cap >= q->max_msg &&
			   mpmc_ready(q, false))) {
		_Atomic uint64_t *head = &q->sh->head;
		/* acquire: as in mc_try_claim() */
		uint64_t h = atomic_load_explicit(head, memory_order_acquire);
		struct shmkit__queue_slot *s = slot_at(q, h);
		uint64_t m = marker(h, SHMKIT__QTAG_COMMITTED);
		/* acq_rel, acquire: as in mc_claim_blind() */
		if (SHMKIT__UNLIKELY(!atomic_compare_exchange_strong_explicit(
			    &s->seq, &m, marker(h, SHMKIT__QTAG_CLAIMED | (unsigned)q->peer),
			    memory_order_acq_rel, memory_order_acquire)))
			return mc_recv_rest(q, buf, cap, timeout_ns, true);
		/* relaxed: written before COMMITTED, which our CAS acquired */
		uint32_t len = atomic_load_explicit(&s->len, memory_order_relaxed);
		if (SHMKIT__UNLIKELY(len > q->max_msg))
			return mc_recv_corrupt(q, s, h, len, cap);
		SHMKIT__TEST_POINT("queue.mpmc.claimed");
		pass_hint(head, h);
		shmkit__copy_small(buf, (unsigned char *)s + q->slot_hdr, len);
		/* release: as in mc_consume() */
		atomic_store_explicit(&s->seq, marker(h + q->cap, SHMKIT__QTAG_FREE),
				      memory_order_release);
		if (SHMKIT__UNLIKELY(!shmkit__ec_quiet(&q->space_ec)))
			wake_space(q);
		mpmc_count(q, len, false);
		return (ssize_t)len;
	}
	return mc_recv_rest(q, buf, cap, timeout_ns, false);
}

/* ---------------------------------------------------------------------
 * batches (DESIGN §9 "Batches"): the first slot is taken as by a single
 * call (waiting if need be); the next ones only while each is free
 * (committed) for its position right now, with one CAS that expects so. A
 * batch never waits for a slot, never holds one it cannot fill (or read)
 * at once, and takes at most MPMC_BATCH_MAX. The hint moves, the other
 * side is woken and the bytes are counted once per batch. (Taking the whole
 * run first and then copying measured no faster and lets a producer
 * preempted or killed mid-batch hold up to MPMC_BATCH_MAX slots.)
 * --------------------------------------------------------------------- */

#define MPMC_BATCH_MAX 32u

/* The hint reads `from` (we moved it there): move it on to `to`. */
static inline void pass_hint_to(_Atomic uint64_t *hint, uint64_t from, uint64_t to)
{
	/* relaxed: only compared; release: as in pass_hint() */
	if (atomic_load_explicit(hint, memory_order_relaxed) == from)
		atomic_store_explicit(hint, to, memory_order_release);
}

/* Reserve pos if its slot is FREE for it now. */
static inline bool mp_take_free(struct shmkit_queue *q, uint64_t pos)
{
	uint64_t m = marker(pos, SHMKIT__QTAG_FREE);
	/* acq_rel: as in mp_try_reserve() (a CAS even under the lease: see
	 * "leases" above) */
	return atomic_compare_exchange_strong_explicit(
		&slot_at(q, pos)->seq, &m, marker(pos, SHMKIT__QTAG_RESERVED | (unsigned)q->peer),
		memory_order_acq_rel, memory_order_relaxed);
}

/* msgs[0..k) are valid and each fits a slot (checked by the caller). */
ssize_t shmkit__mp_send_many(struct shmkit_queue *q, const struct iovec *msgs, size_t k,
			     int64_t timeout_ns)
{
	struct attempt a = { 0 };
	uint64_t bytes = 0;
	size_t n = 1;
	int r;

	if ((r = mp_take_first(q, &a, timeout_ns)) < 0)
		return r;
	k = k < MPMC_BATCH_MAX ? k : MPMC_BATCH_MAX;
	/* take, write, publish, one slot at a time: a producer preempted (or
	 * killed) inside the batch holds at most one slot, as send does */
	for (;;) {
		uint64_t pos = a.pos + n - 1;
		struct shmkit__queue_slot *s = slot_at(q, pos);
		size_t len = msgs[n - 1].iov_len;
		if (len)
			shmkit__copy_in(&q->copy_pick, payload_at(q, pos), msgs[n - 1].iov_base,
					len);
		atomic_store_explicit(&s->len, (uint32_t)len, memory_order_relaxed);
		/* release: as in mp_commit() */
		atomic_store_explicit(&s->seq, marker(pos, SHMKIT__QTAG_COMMITTED),
				      memory_order_release);
		SHMKIT__TEST_POINT("queue.batch.sent");
		bytes += len;
		if (n == k || !mp_take_free(q, pos + 1))
			break;
		n++;
	}
	if (n > 1)
		pass_hint_to(&q->sh->tail, a.pos + 1, a.pos + n);
	wake_data(q);
	mpmc_count(q, bytes, true);
	return (ssize_t)n;
}

/* Claim pos if its slot holds a COMMITTED message of at most `limit`
 * bytes now: its length, or -1 (left as it was). */
static inline int64_t mc_take_committed(struct shmkit_queue *q, uint64_t pos, size_t limit)
{
	struct shmkit__queue_slot *s = slot_at(q, pos);
	uint64_t m = marker(pos, SHMKIT__QTAG_COMMITTED);
	uint64_t mine = marker(pos, SHMKIT__QTAG_CLAIMED | (unsigned)q->peer);
	uint32_t len;

	if (limit < q->max_msg) { /* look first: a message too long stays */
		/* acquire: as in mc_try_claim() */
		if (atomic_load_explicit(&s->seq, memory_order_acquire) != m)
			return -1;
		/* relaxed: read after COMMITTED(pos), our CAS below proves it current */
		len = atomic_load_explicit(&s->len, memory_order_relaxed);
		if (len > limit)
			return -1;
	}
	/* acq_rel: as in mc_claim_blind() */
	if (!atomic_compare_exchange_strong_explicit(&s->seq, &m, mine, memory_order_acq_rel,
						     memory_order_relaxed))
		return -1;
	/* relaxed: written before COMMITTED, which our CAS acquired */
	len = atomic_load_explicit(&s->len, memory_order_relaxed);
	if (SHMKIT__UNLIKELY(len > limit || len > q->max_msg)) {
		/* corrupt: leave it for a single receive to report */
		atomic_store_explicit(&s->seq, m, memory_order_release);
		return -1;
	}
	return len;
}

ssize_t shmkit__mc_recv_many(struct shmkit_queue *q, struct iovec *bufs, size_t n,
			     int64_t timeout_ns)
{
	struct attempt a = { .limit = bufs[0].iov_len };
	uint64_t bytes = 0;
	size_t k = 0;
	int r;

	if ((r = mc_take_first(q, &a, timeout_ns)) < 0)
		return r;
	n = n < MPMC_BATCH_MAX ? n : MPMC_BATCH_MAX;
	/* claim, copy, free, one message at a time: a consumer killed inside
	 * the batch abandons at most the message it was copying, as recv */
	for (int64_t len = a.len;;) {
		uint64_t pos = a.pos + k;
		if (len)
			shmkit__copy(bufs[k].iov_base, payload_at(q, pos), (size_t)len);
		bufs[k].iov_len = (size_t)len;
		/* release: as in mc_consume() */
		atomic_store_explicit(&slot_at(q, pos)->seq, marker(pos + q->cap, SHMKIT__QTAG_FREE),
				      memory_order_release);
		SHMKIT__TEST_POINT("queue.batch.received");
		bytes += (uint64_t)len;
		if (++k == n || (len = mc_take_committed(q, pos + 1, bufs[k].iov_len)) < 0)
			break;
	}
	if (k > 1)
		pass_hint_to(&q->sh->head, a.pos + 1, a.pos + k);
	wake_space(q);
	mpmc_count(q, bytes, false);
	return (ssize_t)k;
}

/* ---------------------------------------------------------------------
 * adaptive spinning
 *
 * Spinning pays only while the peer that will free a slot (or fill one)
 * runs on another CPU. With more processes than CPUs (2 producers and 2
 * consumers on 2 CPUs) that peer is often queued behind us on our own CPU:
 * then every spin is lost time, and every poll of a slot the other CPU is
 * writing pulls its line across for nothing. So each handle learns from its
 * own waits: a wait that ended within its spin budget (plus the few yields
 * that cost a microsecond when nobody else wants the CPU) doubles the budget
 * up to the set one; a wait that needed a yield to a busy CPU or a sleep
 * halves it, down to no spinning at all (yields first, then the futex).
 * 0 ("never spin") and -1 ("spin for ever") are the caller's and stay as set.
 * --------------------------------------------------------------------- */

#define MPMC_SPIN_OFF 7u		/* spin_shift from which a wait does not spin */
#define MPMC_SPIN_GRACE_NS 2000	/* a wait this much longer than its spin still counts */

int64_t shmkit__mpmc_spin(const struct shmkit_queue *q)
{
	if (q->spin_ns <= 0)
		return q->spin_ns;
	return q->spin_shift >= MPMC_SPIN_OFF ? 0 : q->spin_ns >> q->spin_shift;
}

void shmkit__mpmc_spin_learn(struct shmkit_queue *q, int64_t spun_ns, int64_t waited_ns)
{
	if (q->spin_ns <= 0)
		return;
	if (waited_ns <= spun_ns + MPMC_SPIN_GRACE_NS) {
		if (q->spin_shift > 0)
			q->spin_shift--;
	} else if (q->spin_shift < MPMC_SPIN_OFF) {
		q->spin_shift++;
	}
}

/* Polls before the waiting machinery (its set-up reads the clock twice,
 * about 50 ns here): a ping-pong's reply or a stream's next message usually
 * comes within a few pauses. Not while this handle has learned not to spin. */
#define MPMC_SPINS 64u

int shmkit__mpmc_wait(struct shmkit_queue *q, attempt_fn fn, struct attempt *a, bool producer,
		      int64_t timeout_ns)
{
	a->waiting = true;
	if (timeout_ns != 0 && shmkit__mpmc_spin(q) != 0) {
		for (unsigned i = 0; i < MPMC_SPINS; i++) {
			shmkit__spin_pause();
			a->stuck = 0;
			int r = fn(q, a);
			if (r != -EAGAIN) {
				shmkit__mpmc_spin_learn(q, 0, 0); /* served while spinning */
				return r;
			}
		}
	}
	return shmkit__queue_wait(q, fn, a, producer, timeout_ns);
}

/* ---------------------------------------------------------------------
 * statistics
 * --------------------------------------------------------------------- */

/* The position after the last one taken, from hint value pos: moves on as
 * far as the markers prove (hint_floor), so a quiet queue's counts are exact
 * however far back a racing pass_hint set the hints. */
uint64_t shmkit__mpmc_settle(const struct shmkit_queue *q, uint64_t pos, bool producer)
{
	for (uint64_t n = 0; n <= 2 * q->cap; n++) {
		/* relaxed: a snapshot for statistics */
		uint64_t m = atomic_load_explicit(&slot_at(q, pos)->seq, memory_order_relaxed);
		uint64_t floor = hint_floor(q, pos, m, producer);
		if ((int64_t)(floor - pos) <= 0)
			break;
		pos = floor;
	}
	return pos;
}

/* Messages past head (settled: not taken) that are taken already: a
 * consumer that gave its claim back (shmkit__mc_unclaim) set the hint back
 * to it, behind those other consumers took meanwhile, where settling stops.
 * Looks at most TAKEN_AHEAD_MAX positions: statistics stay cheap on a deep
 * queue, and exact unless more than that were taken past a given-back one. */
#define TAKEN_AHEAD_MAX 256
uint64_t shmkit__mpmc_taken_ahead(const struct shmkit_queue *q, uint64_t head, uint64_t tail)
{
	uint64_t n = 0;

	for (uint64_t pos = head + 1; (int64_t)(tail - pos) > 0 && pos - head <= TAKEN_AHEAD_MAX;
	     pos++) {
		/* relaxed: a snapshot for statistics */
		uint64_t m = atomic_load_explicit(&slot_at(q, pos)->seq, memory_order_relaxed);
		n += (int64_t)(hint_floor(q, pos, m, false) - pos) > 0; /* CLAIMED, or consumed */
	}
	return n;
}

/* Messages handed back and not yet received again: COMMITTED markers in the
 * lap behind head (settled). Only looked for once one was handed back. */
uint64_t shmkit__mpmc_handed_back(const struct shmkit_queue *q, uint64_t head)
{
	uint64_t n = 0;

	/* relaxed: a snapshot for statistics */
	if (atomic_load_explicit(&q->sh->abandoned, memory_order_relaxed) == 0)
		return 0;
	for (uint64_t pos = head > q->cap ? head - q->cap : 0; pos < head; pos++)
		n += atomic_load_explicit(&slot_at(q, pos)->seq, memory_order_relaxed) ==
		     marker(pos, SHMKIT__QTAG_COMMITTED);
	return n;
}
