/* SPDX-License-Identifier: MIT */
/* The biased lease's slow side: taking, giving back, revoking (lease.h). */
#include <errno.h>
#include <sched.h>
#include <time.h>

#include "internal.h"
#include "sync/barrier.h"
#include "sync/ec.h"
#include "sync/lease.h"

uint32_t shmkit__lease_take(struct shmkit__lease_shared *l, uint32_t holder)
{
	/* relaxed: the CAS below decides */
	uint32_t w = atomic_load_explicit(&l->word, memory_order_relaxed);

	if (shmkit__lease_holder(w) != 0 || holder == 0 || holder > SHMKIT__LEASE_HOLDER_MASK)
		return 0;
	uint32_t mine = (w & ~(SHMKIT__LEASE_GEN_ONE - 1)) + SHMKIT__LEASE_GEN_ONE + holder;
	/* seq_cst: the full barrier between our take and the caller's look at
	 * who else uses the words (lease.h) */
	if (!atomic_compare_exchange_strong(&l->word, &w, mine))
		return 0;
	return mine;
}

void shmkit__lease_drop(struct shmkit__lease_shared *l, uint32_t mine)
{
	uint32_t free_word = mine & ~(SHMKIT__LEASE_GEN_ONE - 1);
	/* release: our plain stores before anyone's locked instructions */
	atomic_compare_exchange_strong_explicit(&l->word, &mine, free_word, memory_order_release,
						memory_order_relaxed);
}

/* Spins, then yields, then sleeps: a holder's window is a few instructions
 * unless it was preempted (or stopped) inside it. */
static void backoff(unsigned n)
{
	if (n < 64) {
		shmkit__spin_pause();
	} else if (n < 64 + SHMKIT__YIELDS) {
		sched_yield();
	} else {
		struct timespec ts = { .tv_sec = 0, .tv_nsec = 50000 };
		nanosleep(&ts, NULL);
	}
}

/* After the barrier: wait for the holder named in `w` to leave its window,
 * or to be gone. 0, or -ETIMEDOUT. */
static int wait_window(struct shmkit__lease_shared *l, uint32_t w, shmkit__lease_gone_fn gone,
		       void *ctx, int64_t deadline)
{
	for (unsigned n = 0;; n++) {
		/* acquire: pairs with the release store in shmkit__lease_leave() */
		if (atomic_load_explicit(&l->busy, memory_order_acquire) == 0)
			return 0;
		if (n >= 64 && gone(ctx, shmkit__lease_holder(w))) {
			/* relaxed: nobody else writes busy while the word says REVOKING */
			atomic_store_explicit(&l->busy, 0, memory_order_relaxed);
			return 0;
		}
		if (n >= 64 && shmkit__now_ns() >= deadline)
			return -ETIMEDOUT;
		backoff(n);
	}
}

int shmkit__lease_clear(struct shmkit__lease_shared *l, shmkit__lease_gone_fn gone, void *ctx,
			int64_t deadline)
{
	for (;;) {
		/* acquire: pairs with the release in shmkit__lease_drop() and below */
		uint32_t w = atomic_load_explicit(&l->word, memory_order_acquire);
		if (shmkit__lease_holder(w) == 0)
			return 0;
		if (!(w & SHMKIT__LEASE_REVOKING)) {
			uint32_t r = w | SHMKIT__LEASE_REVOKING;
			if (!atomic_compare_exchange_strong(&l->word, &w, r))
				continue;
			w = r;
		}
		/* every waiter barriers after it saw REVOKING: a waiter that
		 * relied on another's barrier could run ahead of it */
		shmkit__barrier_global();
		int rc = wait_window(l, w, gone, ctx, deadline);
		if (rc < 0)
			return rc;
		/* release: the holder's stores (acquired from busy) before our
		 * locked instructions, for whoever reads the free word */
		atomic_compare_exchange_strong_explicit(&l->word, &w,
							w & ~(SHMKIT__LEASE_GEN_ONE - 1),
							memory_order_acq_rel, memory_order_relaxed);
	}
}

void shmkit__lease_clear_dead(struct shmkit__lease_shared *l, uint32_t holder)
{
	/* acquire: pairs with the release CASes of other revokers */
	uint32_t w = atomic_load_explicit(&l->word, memory_order_acquire);

	while (shmkit__lease_holder(w) == holder) {
		if (!(w & SHMKIT__LEASE_REVOKING)) {
			atomic_compare_exchange_strong(&l->word, &w, w | SHMKIT__LEASE_REVOKING);
			continue; /* w is now what the word holds, either way */
		}
		/* relaxed: nobody else writes busy while the word says REVOKING */
		atomic_store_explicit(&l->busy, 0, memory_order_relaxed);
		/* release: busy = 0 before anyone takes the free word */
		atomic_compare_exchange_strong_explicit(&l->word, &w,
							w & ~(SHMKIT__LEASE_GEN_ONE - 1),
							memory_order_acq_rel, memory_order_acquire);
	}
}
