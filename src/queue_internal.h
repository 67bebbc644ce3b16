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

#include "internal.h"
#include "layout.h"
#include "managed.h"
#include "sync/ec.h"
#include "sync/listener.h"

/* Listener sides in the queue's table (struct shmkit__queue_listener). */
#define QUEUE_SIDE_RECV 0u
#define QUEUE_SIDE_SEND 1u

struct shmkit_queue {
	struct shmkit__obj obj;
	struct shmkit__queue_shared *sh;
	unsigned char *slots;
	/* validated copies of the configuration: never re-read from the segment */
	uint64_t cap;
	uint64_t mask;
	uint32_t max_msg;
	uint32_t stride;
	bool multi;
	bool mp, mc;
	int64_t spin_ns;
	struct shmkit__ec data_ec;  /* consumers wait on it, producers wake it */
	struct shmkit__ec space_ec; /* producers wait on it, consumers wake it */
	struct shmkit__lis recv_lis; /* shmkit_queue_fd(), fd < 0 until asked */
	struct shmkit__lis send_lis; /* shmkit_queue_send_fd() */
	int64_t next_peer_check;     /* polls (timeout 0): when to look at a stuck slot's owner */
	uint64_t cached_head; /* SPSC producer: a head value seen (<= the real one) */
	/* MPMC: our peer entry, registered lazily by the process using the handle */
	int peer;
	uint32_t peer_pid;
	uint32_t peer_gen; /* fork_generation when registered: a forked child re-registers */
	uint32_t op_gen;   /* fork_generation of the process that owns resv/peek below */
	/* the one outstanding zero-copy operation of each kind */
	bool resv_active;
	bool peek_active;
	uint64_t resv_pos;
	uint64_t peek_pos;
	uint32_t peek_len;
};

/* What one attempt hands back. */
struct attempt {
	uint64_t pos;
	uint32_t len;   /* consumer: length of the message at pos */
	size_t limit;   /* consumer: largest length the caller accepts */
	uint64_t stuck; /* marker of a slot held by a peer that blocks us, or 0 */
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
	return (unsigned char *)slot_at(q, pos) + SHMKIT__QUEUE_SLOT_HDR;
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

/* A producer killed between publishing a slot's marker and moving tail
 * (shmkit__sp_commit) leaves tail one behind a committed message: the slot at tail
 * then already carries tail's own COMMITTED marker (consuming does not touch
 * markers). Reading it keeps "tail = messages committed" exact at every kill
 * point, which the bridge's exactly-once record relies on (docs/BRIDGE.md). */
static inline bool sp_tail_behind(const struct shmkit_queue *q, uint64_t t)
{
	/* relaxed: only producers write markers, and this one is ours or a dead one's */
	return atomic_load_explicit(&slot_at(q, t)->seq, memory_order_relaxed) ==
	       marker(t, SHMKIT__QTAG_COMMITTED);
}

/* SPSC protocol (queue_spsc.c) */
int shmkit__sp_try_reserve(struct shmkit_queue *q, struct attempt *a);
void shmkit__sp_commit(struct shmkit_queue *q, uint64_t pos, uint32_t len);
int shmkit__sc_try_peek(struct shmkit_queue *q, struct attempt *a);
void shmkit__sc_consume(struct shmkit_queue *q, uint64_t pos);
size_t shmkit__sp_room(struct shmkit_queue *q, uint64_t t, size_t want);
void shmkit__sp_fill(struct shmkit_queue *q, uint64_t pos, const struct iovec *m);
ssize_t shmkit__sc_ready(struct shmkit_queue *q, uint64_t pos, size_t cap);

/* MPMC protocol and its peer table (queue_mpmc.c) */
int shmkit__mp_try_reserve(struct shmkit_queue *q, struct attempt *a);
void shmkit__mp_commit(struct shmkit_queue *q, uint64_t pos, uint32_t len);
int shmkit__mc_try_claim(struct shmkit_queue *q, struct attempt *a);
void shmkit__mc_consume(struct shmkit_queue *q, uint64_t pos);
int shmkit__queue_reclaim_slot(struct shmkit_queue *q, uint64_t m);
int shmkit__queue_reclaim_if_dead(struct shmkit_queue *q, uint64_t m);
int shmkit__queue_peer_register(struct shmkit_queue *q);
void shmkit__queue_peer_release(struct shmkit_queue *q);

/* MPMC handles are registered per process: a child that inherited the
 * handle over fork gets its own entry on first use. */
static inline int peer_ensure(struct shmkit_queue *q)
{
	if (SHMKIT__LIKELY(q->peer >= 0 && q->peer_gen == shmkit__fork_gen()))
		return 0;
	return shmkit__queue_peer_register(q);
}

#endif
