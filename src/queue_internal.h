/* SPDX-License-Identifier: MIT */
/* Internal to the queue (queue.c, queue_spsc.c, queue_mpmc.c): the
 * process-local handle, slot addressing and markers, and each protocol's
 * attempt/commit steps. Layout: src/layout.h and docs/LAYOUT.md "Queue". */
#ifndef SHMKIT_QUEUE_INTERNAL_H
#define SHMKIT_QUEUE_INTERNAL_H

#include <shmkit/queue.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "copy.h"
#include "internal.h"
#include "layout.h"
#include "managed.h"
#include "sync/ec.h"
#include "sync/listener.h"

/* Listener sides in the queue's table (struct shmkit__queue_listener). */
#define QUEUE_SIDE_RECV 0u
#define QUEUE_SIDE_SEND 1u

/* A descriptor's view of the process holding the slot it waits behind. A
 * kill -9 wakes nobody: a synchronous wait checks the holder in liveness
 * slices, a descriptor has no slices, so its epoll set also holds the
 * holder's pidfd, readable once that process exits (as a subscriber's does
 * for its publisher, src/topic_sub.c). */
/* A queue's ring as its configuration words describe it. */
struct shmkit__queue_geometry {
	uint32_t flags;
	uint64_t cap;
	uint32_t max_msg;
	uint32_t stride;      /* bytes per slot */
	uint32_t slot_hdr;    /* payload offset in a slot */
	uint64_t markers_off; /* SPSC marker array (body offset), or 0 */
	size_t body_size;
};

/* The geometry sh's configuration words describe, if they agree with each
 * other and fit body_size (what an open checks): 0 or -EBADMSG. gc's look
 * at what a queue holds trusts no word this has not checked. */
int shmkit__queue_read_geometry(const struct shmkit__queue_shared *sh, size_t body_size,
				struct shmkit__queue_geometry *g);

/* Whether a create with these arguments could succeed anywhere: 0 when
 * each is in the library's range, else the negative errno, with its detail,
 * that the create returns for them (before it touches any URI). The CLI
 * calls it first: an argument no create takes is a usage error there. */
int shmkit__queue_create_check(const struct shmkit_queue_opts *o);

struct shmkit__holder_watch {
	int ep;		 /* the descriptor handed out: listener socket + pidfd; -1 until asked */
	int pidfd;	 /* the holder's, in the set; -1: none watched */
	uint64_t marker; /* the held slot's marker the pidfd was opened for */
	int timer;	 /* a timerfd in the set while locked out (queue.c "locked out"); -1: none */
	bool quiet;	 /* locked out: the listener off in the set, the timer set */
	uint32_t ep_gen;   /* shmkit__fork_gen() when the set was made */
	uint32_t ep_forks; /* shmkit__forks_made then: a fork since shares the set */
};

/* How the holder of an MPMC queue's producers' lease claims its slots:
 * by plain loads and stores (what the lease is for) or by CAS, whichever
 * its own stream ran faster with in the last trial (queue_mpmc.c "Plain
 * or CAS claims, by trial"). */
struct shmkit__claim_trial {
	uint64_t claims; /* claim attempts made holding the lease */
	uint64_t next;   /* `claims` at which the next step is due */
	int64_t t0;      /* the clock at the timed half's start */
	int64_t ns[4];   /* the trial's runs (plain, CAS, plain, CAS): their timed halves */
	uint64_t epoch;  /* claims from one trial's end to the next trial */
	uint32_t step;   /* 0: between trials; 1..8: the half-run under way */
	uint32_t decisions; /* trials completed */
	uint8_t cas;     /* claim by CAS now (the lease kept for the next trial) */
	uint8_t last;    /* the last trial's answer */
	uint8_t forced;  /* SHMKIT_LEASE_CLAIMS: 0 measure, 1 plain, 2 cas */
};

struct shmkit_queue {
	struct shmkit__obj obj;
	struct shmkit__queue_shared *sh;
	unsigned char *slots;
	/* validated copies of the configuration: never re-read from the segment */
	uint64_t cap;
	uint64_t mask;
	uint32_t max_msg;
	uint32_t stride;   /* bytes per slot */
	uint32_t slot_hdr; /* payload offset in a slot */
	uint32_t mstride;  /* SPSC: bytes between markers (stride, or 8 in the marker array) */
	unsigned char *markers; /* SPSC: marker of slot 0 (slots, or the marker array) */
	bool multi;
	bool mp, mc;
	int64_t spin_ns;
	unsigned spin_shift; /* MPMC: this handle spins spin_ns >> spin_shift (queue_mpmc.c) */
	struct shmkit__ec data_ec;  /* consumers wait on it, producers wake it */
	struct shmkit__ec space_ec; /* producers wait on it, consumers wake it */
	struct shmkit__lis recv_lis; /* shmkit_queue_fd(), fd < 0 until asked */
	struct shmkit__lis send_lis; /* shmkit_queue_send_fd() */
	struct shmkit__holder_watch recv_watch; /* what shmkit_queue_fd() returns */
	struct shmkit__holder_watch send_watch; /* what shmkit_queue_send_fd() returns */
	int64_t next_peer_check;     /* polls (timeout 0): when to look at a stuck slot's owner */
	uint64_t cached_head; /* SPSC producer: a head value seen (<= the real one) */
	struct shmkit__copy_pick copy_pick; /* how large sends copy into slots */
	/* MPMC: our peer entry, registered lazily by the process using the handle */
	int peer;
	uint32_t peer_pid;
	uint32_t peer_gen; /* fork_generation when registered: a forked child re-registers */
	uint32_t op_gen;   /* fork_generation of the process that owns resv/peek below */
	/* MPMC queue with a producers' lease (SHMKIT__QUEUE_F_LEASE,
	 * sync/lease.h): whether this registration has joined the producers,
	 * the lease word it holds (0: none), claims by CAS since the last try
	 * to take the lease, and how many before the next try */
	bool leased;
	bool mp_joined;
	bool peergen; /* SHMKIT__QUEUE_F_PEERGEN: entry claims start generations */
	uint32_t lease_mine;
	uint32_t cas_claims;
	uint32_t lease_retry;
	struct shmkit__claim_trial claim_trial; /* the holder's claims: plain or CAS */
	uint64_t abandoned_seen; /* MPMC consumer: `abandoned` when a look behind the
				  * head last found no message handed back */
	/* the one outstanding zero-copy operation of each kind */
	bool resv_active;
	bool peek_active;
	uint64_t resv_pos;
	uint64_t peek_pos;
	uint32_t peek_len;
	uint32_t peer_word; /* our entry's state word (queue_mpmc.c "peer entries") */
	/* MPMC: a wait gives the entry back before it sleeps and registers
	 * again to take a slot (queue_mpmc.c "parking") */
	int last_peer;	    /* the entry given back, tried first again; -1: none */
	bool parked;	    /* the entry was given back by a wait, not by close */
	bool lease_parked;  /* we held the producers' lease when we gave it back */
	bool rejoined;	    /* this registration followed a park */
	bool peer_full;	    /* the last registration found every entry held */
	int64_t dead_scan_at; /* a rejoin's next look for dead entries (clock) */
	int64_t empty_poll_at; /* when a poll without a descriptor last found nothing */
};

/* What one attempt hands back. */
struct attempt {
	uint64_t pos;
	uint32_t len;   /* consumer: length of the message at pos */
	size_t limit;   /* consumer: largest length the caller accepts */
	uint64_t stuck; /* marker of a slot held by a peer that blocks us, or 0 */
	bool waiting;   /* MPMC: a wait's poll (look before a CAS, queue_mpmc.c) */
};

typedef int (*attempt_fn)(struct shmkit_queue *q, struct attempt *a);

/* ---------------------------------------------------------------------
 * small helpers
 * --------------------------------------------------------------------- */

static inline uint64_t marker(uint64_t pos, unsigned tag)
{
	return pos << 8 | tag;
}

/* Signed distance from pos to the marker's position, modulo 2^56. */
static inline int64_t marker_dist(uint64_t m, uint64_t pos)
{
	return (int64_t)(((m >> 8) - pos) << 8) >> 8;
}

static inline struct shmkit__queue_slot *slot_at(const struct shmkit_queue *q, uint64_t pos)
{
	return (struct shmkit__queue_slot *)(q->slots + (pos & q->mask) * q->stride);
}

static inline unsigned char *payload_at(const struct shmkit_queue *q, uint64_t pos)
{
	return q->slots + (pos & q->mask) * q->stride + q->slot_hdr;
}

/* SPSC: the commit marker of pos's slot (SHMKIT__QUEUE_SP_MARK). */
static inline _Atomic uint64_t *sp_marker(const struct shmkit_queue *q, uint64_t pos)
{
	return (_Atomic uint64_t *)(q->markers + (pos & q->mask) * q->mstride);
}

/* SPSC: the position (low 32 bits) a marker names. */
static inline uint32_t sp_mark_pos(uint64_t m)
{
	return (uint32_t)(m >> 32);
}

/* After publishing a message (or a freed slot): wake the other side's
 * waiters, if any. */
static inline void wake_data(struct shmkit_queue *q)
{
	shmkit__ec_wake(&q->data_ec);
}

static inline void wake_space(struct shmkit_queue *q)
{
	shmkit__ec_wake(&q->space_ec);
}

/* A child that inherited a handle over fork does not own the parent's
 * outstanding reservation or peeked message: forget them (one load). */
static inline void forget_inherited(struct shmkit_queue *q)
{
	uint32_t gen = shmkit__fork_gen();
	if (SHMKIT__UNLIKELY(q->op_gen != gen)) {
		q->op_gen = gen;
		q->resv_active = false;
		q->peek_active = false;
	}
}

/* Copies the identity of the MPMC peer that tagged marker m (a held slot):
 * 1 if that peer entry is LIVE, 0 if it is free or dead (the slot's holder
 * is gone), -EAGAIN while the entry is being (re)claimed. queue_mpmc.c. */
int shmkit__queue_holder(struct shmkit_queue *q, uint64_t m, struct shmkit__ident *id);

/* A producer killed between publishing a slot's marker and moving tail
 * (sp_commit) leaves tail one behind a committed message: the slot at tail
 * then already carries tail's own marker (consuming does not touch markers). Reading it keeps "tail = messages committed" exact at every kill
 * point, which the bridge's exactly-once record relies on (docs/BRIDGE.md). */
static inline bool sp_tail_behind(const struct shmkit_queue *q, uint64_t t)
{
	/* relaxed: only producers write markers, and this one is ours or a dead one's */
	return sp_mark_pos(atomic_load_explicit(sp_marker(q, t), memory_order_relaxed)) ==
	       (uint32_t)t;
}

/* SPSC protocol (queue_spsc.c): whole copy operations (the fast paths stay
 * in one file, inlined), and the steps the zero-copy calls are made of. */
int shmkit__sp_send(struct shmkit_queue *q, const void *msg, size_t len, int64_t timeout_ns);
ssize_t shmkit__sc_recv(struct shmkit_queue *q, void *buf, size_t cap, int64_t timeout_ns);
ssize_t shmkit__sp_send_many(struct shmkit_queue *q, const struct iovec *msgs, size_t k,
			     int64_t timeout_ns);
ssize_t shmkit__sc_recv_many(struct shmkit_queue *q, struct iovec *bufs, size_t n,
			     int64_t timeout_ns);
int shmkit__sp_try_reserve(struct shmkit_queue *q, struct attempt *a);
void shmkit__sp_commit(struct shmkit_queue *q, uint64_t pos, uint32_t len);
int shmkit__sc_try_peek(struct shmkit_queue *q, struct attempt *a);
void shmkit__sc_consume(struct shmkit_queue *q, uint64_t pos, uint32_t len);
ssize_t shmkit__sc_peek_at(struct shmkit_queue *q, size_t i, const void **msg);
int shmkit__sp_reserve_pos(struct shmkit_queue *q, size_t len, int64_t timeout_ns, uint64_t *pos);
int shmkit__sc_peek_pos(struct shmkit_queue *q, int64_t timeout_ns, struct attempt *a);

/* Waiting (queue.c): the attempt `fn` found nothing (-EAGAIN); poll (timeout
 * 0) or wait for the other side, trying again. */
int shmkit__queue_wait(struct shmkit_queue *q, attempt_fn fn, struct attempt *a, bool producer,
		       int64_t timeout_ns);

/* A single-producer (single-consumer) queue has one producer (consumer):
 * the role is claimed on first use and held until close (DESIGN §8). */
static inline int claim_role(struct shmkit_queue *q, bool producer)
{
	unsigned role = producer ? SHMKIT__ROLE_PRODUCER : SHMKIT__ROLE_CONSUMER;
	if ((producer ? q->mp : q->mc) || SHMKIT__LIKELY(q->obj.role_word[role] != 0))
		return 0;
	return shmkit__role_claim(&q->obj, role);
}

/* MPMC protocol and its peer table (queue_mpmc.c); the copy calls whole */
int shmkit__mp_send(struct shmkit_queue *q, const void *msg, size_t len, int64_t timeout_ns);
ssize_t shmkit__mc_recv(struct shmkit_queue *q, void *buf, size_t cap, int64_t timeout_ns);
ssize_t shmkit__mp_send_many(struct shmkit_queue *q, const struct iovec *msgs, size_t k,
			     int64_t timeout_ns);
ssize_t shmkit__mc_recv_many(struct shmkit_queue *q, struct iovec *bufs, size_t n,
			     int64_t timeout_ns);
int shmkit__mp_try_reserve(struct shmkit_queue *q, struct attempt *a);
void shmkit__mp_commit(struct shmkit_queue *q, uint64_t pos, uint32_t len);
int shmkit__mc_try_claim(struct shmkit_queue *q, struct attempt *a);
void shmkit__mc_consume(struct shmkit_queue *q, uint64_t pos);
void shmkit__mc_unclaim(struct shmkit_queue *q, uint64_t pos);
int shmkit__queue_reclaim_slot(struct shmkit_queue *q, uint64_t m);
/* Gives back the message an outstanding shmkit_queue_peek() holds, not
 * consumed and not counted anywhere: the next peek or receive (MPMC: of
 * any consumer) gets it, as if the peek had not happened. -EINVAL with no
 * peek outstanding. For a caller that cannot deliver what it peeked (the
 * CLI's recv when standard output fails). queue.c. */
int shmkit__queue_unpeek(struct shmkit_queue *q);
int shmkit__queue_reclaim_if_dead(struct shmkit_queue *q, uint64_t m);
int shmkit__queue_peer_register(struct shmkit_queue *q, int64_t *timeout_ns);
void shmkit__queue_peer_release(struct shmkit_queue *q);
/* A waiter about to sleep (a futex wait, or a descriptor armed) gives its
 * peer entry back unless it holds a slot (a reservation or a peek of this
 * handle outstanding): what close does, the byte counts left counted and a
 * lease it holds given back. Its next claim registers again. */
void shmkit__queue_peer_park(struct shmkit_queue *q);
/* A parked waiter's look, reading only: 1 if a claim might succeed now
 * (worth registering again for), 0 if the queue is still full (producer)
 * or empty (consumer), with a->stuck the marker of a slot held by a peer
 * it waits behind, if any. */
int shmkit__mpmc_look(struct shmkit_queue *q, struct attempt *a, bool producer);
/* After a look found a slot worth trying: peer_join() without waiting (a
 * full table is -EAGAIN, with its detail), the dead cleared at most every
 * SHMKIT__LIVENESS_NS. */
int shmkit__queue_rejoin(struct shmkit_queue *q, bool producer);
/* Whether the handle's last operation ended (-EAGAIN, -ETIMEDOUT) without
 * a peer entry because every one was held by a live process: the error
 * detail then says so. For the CLI, which would otherwise report a full
 * (empty) queue. */
bool shmkit__queue_peer_full(const struct shmkit_queue *q);
/* A poll found every peer entry held: the handle's descriptors turn
 * readable again in SHMKIT__LIVENESS_NS, not at once (queue.c "locked
 * out"); shmkit__queue_fds_loud() puts them back as they were. */
void shmkit__queue_fds_quiet(struct shmkit_queue *q);
void shmkit__queue_fds_loud(struct shmkit_queue *q);
int shmkit__mpmc_wait(struct shmkit_queue *q, attempt_fn fn, struct attempt *a, bool producer,
		      int64_t timeout_ns);
int64_t shmkit__mpmc_spin(const struct shmkit_queue *q);
void shmkit__mpmc_spin_learn(struct shmkit_queue *q, int64_t spun_ns, int64_t waited_ns);
uint64_t shmkit__mpmc_settle(const struct shmkit_queue *q, uint64_t pos, bool producer);
uint64_t shmkit__mpmc_handed_back(const struct shmkit_queue *q, uint64_t head);
uint64_t shmkit__mpmc_taken_ahead(const struct shmkit_queue *q, uint64_t head, uint64_t tail);
void shmkit__mpmc_count(struct shmkit_queue *q, uint32_t len, bool sent);
void shmkit__mpmc_bytes(const struct shmkit_queue *q, uint64_t *sent, uint64_t *received);

/* MPMC handles are registered per process: a child that inherited the
 * handle over fork gets its own entry on first use. A registration that
 * finds every entry held waits for one (*timeout_ns as in peer_join). */
static inline int peer_ensure(struct shmkit_queue *q, int64_t *timeout_ns)
{
	if (SHMKIT__LIKELY(q->peer >= 0 && q->peer_gen == shmkit__fork_gen()))
		return 0;
	return shmkit__queue_peer_register(q, timeout_ns);
}

/* Before a handle's first claim as a producer (per registration): announce
 * it and settle the producers' lease (queue_mpmc.c "leases"). Waiting for
 * the lease uses up *timeout_ns, which is left holding what remains. */
int shmkit__queue_producer_join(struct shmkit_queue *q, int64_t *timeout_ns);

/* peer_ensure(), and for a producer its join (*timeout_ns as there). */
static inline int peer_join(struct shmkit_queue *q, bool producer, int64_t *timeout_ns)
{
	int r = peer_ensure(q, timeout_ns);

	if (r < 0 || !producer || SHMKIT__LIKELY(q->mp_joined))
		return r;
	return shmkit__queue_producer_join(q, timeout_ns);
}

/* Whether peer_join() has nothing to do (registered by this process, and
 * joined as a producer if one). */
static inline bool peer_joined(const struct shmkit_queue *q, bool producer)
{
	return q->peer >= 0 && q->peer_gen == shmkit__fork_gen() && (!producer || q->mp_joined);
}

#endif
