/* SPDX-License-Identifier: MIT */
/* A biased lease: one process may change some shared words with plain loads
 * and stores where every other would need a locked instruction, for as long
 * as it is the only one using them (biased locking, as in HotSpot's biased
 * locks or the asymmetric Dekker of Dice, Moir and Scherer). Never installed.
 *
 * Why: a locked instruction waits until the store buffer has drained. A
 * queue producer's previous stores went to lines the consumer was reading,
 * so each claim by CAS waits for a line transfer; the same claim by a plain
 * store overlaps them (docs/PERF.md "MPMC 1x1 by leases").
 *
 * The shared pair (struct shmkit__lease_shared, src/layout.h): `word` =
 * gen << 9 | REVOKING | holder (holder = peer index + 1, 0: nobody), and
 * `busy`, set by the holder around each plain-store change. The holder's
 * window: busy = 1, compiler barrier, word still ours? ... busy = 0. Anyone
 * else first makes the lease free (shmkit__lease_clear): word -> REVOKING,
 * then membarrier(2), which runs a full barrier on the holder's CPU, so
 * either the holder's busy = 1 is visible to us or its read of the word sees
 * REVOKING; we then wait for busy == 0 (or the holder gone) before anyone
 * uses locked instructions on the words. `gen` grows at each take, so a
 * waiter from an earlier revocation cannot free a later holder's lease.
 *
 * Who may take it is the caller's business (the queue: its only live
 * producer); the take must be followed by a full barrier and that check, and
 * every peer that may use locked instructions must announce itself, full
 * barrier, then read the word (Dekker again: one of the two sees the other). */
#ifndef SHMKIT_SYNC_LEASE_H
#define SHMKIT_SYNC_LEASE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "layout.h"

#define SHMKIT__LEASE_HOLDER_MASK 0xffu
#define SHMKIT__LEASE_REVOKING 0x100u
#define SHMKIT__LEASE_GEN_ONE 0x200u

static inline uint32_t shmkit__lease_holder(uint32_t word)
{
	return word & SHMKIT__LEASE_HOLDER_MASK;
}

/* The holder's window. `mine` is the word its take stored. False: the
 * lease was revoked (or never ours): use locked instructions from now on. */
static inline bool shmkit__lease_enter(struct shmkit__lease_shared *l, uint32_t mine)
{
	/* relaxed, then a compiler barrier: a revoker's membarrier orders the
	 * two for us (file comment) */
	atomic_store_explicit(&l->busy, 1, memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst);
	if (__builtin_expect(atomic_load_explicit(&l->word, memory_order_relaxed) == mine, 1))
		return true;
	/* release: as in shmkit__lease_leave() */
	atomic_store_explicit(&l->busy, 0, memory_order_release);
	return false;
}

static inline void shmkit__lease_leave(struct shmkit__lease_shared *l)
{
	/* release: pairs with the acquire load of busy in shmkit__lease_clear():
	 * our plain stores in the window are visible before busy reads 0 */
	atomic_store_explicit(&l->busy, 0, memory_order_release);
}

/* Takes a free lease for holder `holder` (1..255): the word now ours, or 0
 * if the lease was not free. The CAS is a full barrier; the caller then
 * checks it is alone and gives the lease back (shmkit__lease_drop) if not. */
uint32_t shmkit__lease_take(struct shmkit__lease_shared *l, uint32_t holder);

/* Gives back a lease whose word is still `mine` (nothing if revoked). */
void shmkit__lease_drop(struct shmkit__lease_shared *l, uint32_t mine);

/* Whether the holder named in a lease word is gone (dead, or its entry
 * reused): then its window can be ignored. */
typedef bool (*shmkit__lease_gone_fn)(void *ctx, uint32_t holder);

/* Makes the lease free of any holder, waiting for a holder inside its
 * window until `deadline` (absolute CLOCK_MONOTONIC ns, SHMKIT__NO_DEADLINE:
 * none). 0, or -ETIMEDOUT (the lease then stays REVOKING: its holder
 * has lost it, the next clear waits for its window again). The
 * caller has announced itself (file comment), so nobody takes it after. */
int shmkit__lease_clear(struct shmkit__lease_shared *l, shmkit__lease_gone_fn gone, void *ctx,
			int64_t deadline);

/* Frees a lease that names `holder`, a holder proven dead (busy may have
 * been left 1): no barrier and no wait, the holder runs on no CPU. The
 * caller keeps anyone from becoming `holder` again meanwhile. */
void shmkit__lease_clear_dead(struct shmkit__lease_shared *l, uint32_t holder);

#endif
