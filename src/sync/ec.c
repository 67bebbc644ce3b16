/* SPDX-License-Identifier: MIT */
/* The eventcount's waiting and slow waking paths (ec.h). */
#include <limits.h>
#include <sched.h>

#include "futex.h"
#include "sync/ec.h"
#include "sync/listener.h"

int shmkit__ec_bind(struct shmkit__ec *ec, struct shmkit__ec_shared *sh, uint32_t side,
		    const struct shmkit__lis_table *lis)
{
	/* untrusted: a mode other than these three is corrupt at open; one
	 * scribbled later makes wakers fence and sleepers barrier (the safe
	 * side) */
	uint32_t mode = atomic_load_explicit(&sh->mode, memory_order_relaxed);

	if (mode != SHMKIT__BARRIER_FENCE && mode != SHMKIT__BARRIER_MEMBARRIER &&
	    mode != SHMKIT__BARRIER_SWITCHING)
		return -EBADMSG;
	ec->word = &sh->word;
	ec->mode = &sh->mode;
	ec->side = side;
	ec->unheard_word = 0;
	ec->unheard_skips = 0;
	if (lis)
		ec->lis = *lis;
	else
		ec->lis = (struct shmkit__lis_table){0};
	shmkit__barrier_attach();
	return 0;
}

void shmkit__ec_init_shared(struct shmkit__ec_shared *sh)
{
	atomic_store_explicit(&sh->word, 0, memory_order_relaxed);
	atomic_store_explicit(&sh->mode, shmkit__barrier_choose(), memory_order_relaxed);
}

/* After signalling the listeners: the FD bit comes down if the word is
 * still w (no listener armed behind our scan: arming always moves the word)
 * and every token went out. Else it stays up and the next waker scans
 * again; so does it when we are killed before this. */
static void fd_done(const struct shmkit__ec *ec, uint32_t w, int all_sent)
{
	/* seq_cst: after our scan's loads and CASes of the entries */
	if (all_sent && (w & SHMKIT__EC_FD))
		atomic_compare_exchange_strong_explicit(ec->word, &w, w & ~SHMKIT__EC_FD,
							memory_order_seq_cst, memory_order_relaxed);
}

/* Wakes between two scans that find only listeners we cannot reach (a
 * consumer armed in another network namespace, say): the next scan also
 * drops one that died meanwhile. */
#define UNHEARD_SKIPS 1024

void shmkit__ec_wake_slow(struct shmkit__ec *ec, uint32_t w, uint32_t step)
{
	const uint32_t bits = SHMKIT__EC_SLEEP | SHMKIT__EC_FD;

	/* The word as our last wake left it, when that wake left armed only
	 * listeners we cannot reach: nobody armed or went to sleep since
	 * (both move the word), so there is nobody we could wake, and our
	 * publish needs no more (a waiter arming after the load that read w
	 * looks again and sees it, as when no bit is up). Without this every
	 * wake scanned the table and read the clock while such a listener
	 * stayed armed: 45-52 ns a send instead of 9, 845 ns a publication to
	 * a topic of 1000 subscribers. */
	if (step && ec->unheard_skips && w == ec->unheard_word) {
		ec->unheard_skips--;
		return;
	}
	ec->unheard_skips = 0;
	/* A failed CAS reloads w: if another waker cleared SLEEP it also woke
	 * the sleepers; if a new waiter set a bit, try again. */
	while (w & bits) {
		uint32_t next = (w + step) & ~SHMKIT__EC_SLEEP; /* FD: see fd_done */
		/* acq_rel: release pairs with the waiters' acquire load of the
		 * word (our publish is visible to whoever sees the new seq);
		 * acquire pairs with the listener's seq_cst CAS that set FD, so
		 * its ARMED entry (stored before) is visible to our scan */
		if (atomic_compare_exchange_weak_explicit(ec->word, &w, next, memory_order_acq_rel,
							  memory_order_relaxed)) {
			if (w & SHMKIT__EC_SLEEP)
				shmkit__futex_wake(ec->word, INT_MAX);
			SHMKIT__TEST_POINT("ec.wake.bumped");
			if (w & SHMKIT__EC_FD) {
				int sent = shmkit__lis_signal_armed(ec);
				fd_done(ec, next, sent == SHMKIT__LIS_ALL_SENT);
				if (sent == SHMKIT__LIS_UNREACHED && !(w & SHMKIT__EC_SLEEP)) {
					ec->unheard_word = next;
					ec->unheard_skips = UNHEARD_SKIPS;
				}
			}
			return;
		}
	}
}

void shmkit__ec_wake_all(const struct shmkit__ec *ec)
{
	/* acq_rel, a full barrier: the caller's state change before the word
	 * moves (pairs with the waiters' acquire loads); a sleeper whose bit we
	 * do not see re-checks after its seq_cst CAS and sees the change */
	uint32_t old = atomic_fetch_add_explicit(ec->word, SHMKIT__EC_ONE, memory_order_seq_cst);
	old = atomic_fetch_and_explicit(ec->word, ~SHMKIT__EC_SLEEP, memory_order_seq_cst);
	if (old & SHMKIT__EC_SLEEP)
		shmkit__futex_wake(ec->word, INT_MAX);
	/* every armed one, FD bit or not */
	fd_done(ec, old & ~SHMKIT__EC_SLEEP,
		shmkit__lis_signal_armed(ec) == SHMKIT__LIS_ALL_SENT);
}

uint32_t shmkit__ec_waiters(const struct shmkit__ec *ec)
{
	uint32_t w = atomic_load_explicit(ec->word, memory_order_relaxed);
	return (w & SHMKIT__EC_SLEEP ? 1u : 0u) + shmkit__lis_count_armed(ec);
}

/* One sleep: announce it (SLEEP bit), look once more, sleep at most one
 * slice. Returns pred's verdict from that last look. */
static int sleep_once(const struct shmkit__ec *ec, struct shmkit__wait_policy *pol, int64_t now,
		      int64_t deadline, shmkit__ec_pred pred, void *arg, uint32_t *slept_on,
		      int first)
{
	/* acquire: pairs with the release CAS in shmkit__ec_wake_slow() */
	uint32_t seen = atomic_load_explicit(ec->word, memory_order_acquire);

	/* Dekker: pairs with shmkit__barrier_waker() in shmkit__ec_wake(); the
	 * bit is visible before we look at the state again */
	while (!(seen & SHMKIT__EC_SLEEP) &&
	       !atomic_compare_exchange_weak_explicit(ec->word, &seen, seen | SHMKIT__EC_SLEEP,
						      memory_order_seq_cst, memory_order_acquire))
		;
	seen |= SHMKIT__EC_SLEEP;
	*slept_on = seen;
	/* Dekker, asymmetric half (MEMBARRIER mode): pairs with the wakers'
	 * compiler barrier */
	int covered = shmkit__barrier_sleeper(ec->mode);
	int r = pred(arg, 1);
	if (r != -EAGAIN)
		return r;
	int64_t slice = covered ? pol->slice_ns : SHMKIT__NO_BARRIER_SLICE_NS;
	/* A wait's first sleep keeps what before_sleep would give back, for at
	 * most SHMKIT__EC_HOLD_NS: most sleeps of a stream end sooner, and a
	 * waiter then pays no give-back and re-claim per sleep */
	if (pol->before_sleep && first && slice > SHMKIT__EC_HOLD_NS)
		slice = SHMKIT__EC_HOLD_NS;
	else if (pol->before_sleep && !first)
		pol->before_sleep(arg);
	int64_t until = slice < deadline - now ? now + slice : deadline;
	shmkit__futex_wait(ec->word, seen, until);
	return -EAGAIN;
}

/* A sleeper that leaves while the SLEEP bit it set is still up (no waker
 * came since: its deadline passed, or a slice ended and its predicate was
 * then satisfied) takes the bit down, so that statistics do not show it
 * asleep after it left and the next waker makes no system call for it.
 * Other sleepers may share the bit (set in the same seq): they are woken to
 * look again and set it anew (a futex sleep not yet started sees the word
 * changed and returns at once), so none is left asleep unannounced. Once a
 * waker has moved seq the bit, if up, is newer sleepers' and stays. */
static void leave_sleep(const struct shmkit__ec *ec, uint32_t slept_on)
{
	/* relaxed: the bit orders nothing; the futex wake below follows the
	 * CAS in program order, and a woken sleeper re-checks from scratch.
	 * A load first: after a wake-up the word has moved, and a failed CAS
	 * would take its line from the waker for nothing */
	uint32_t w = atomic_load_explicit(ec->word, memory_order_relaxed);

	while ((w & SHMKIT__EC_SLEEP) && (w >> 2) == (slept_on >> 2))
		if (atomic_compare_exchange_weak_explicit(ec->word, &w, w & ~SHMKIT__EC_SLEEP,
							  memory_order_relaxed,
							  memory_order_relaxed)) {
			shmkit__futex_wake(ec->word, INT_MAX);
			return;
		}
}

static int wait_loop(const struct shmkit__ec *ec, struct shmkit__wait_policy *pol, int64_t deadline,
		     shmkit__ec_pred pred, void *arg, uint32_t *slept_on)
{
	int64_t now = shmkit__now_ns();
	/* a spin longer than the clock can count (set_spin(INT64_MAX)) never ends */
	int64_t spin_until = pol->spin_ns < 0 || pol->spin_ns > SHMKIT__NO_DEADLINE - now
				     ? SHMKIT__NO_DEADLINE
				     : now + pol->spin_ns;
	unsigned yields = 0, sleeps = 0;

	for (unsigned i = 1;; i++) {
		int r = pred(arg, 0);
		if (r != -EAGAIN)
			return r;
		/* the clock is read once every 64 pauses while spinning */
		if (now < spin_until && (i & 63) != 0) {
			shmkit__spin_pause();
			continue;
		}
		now = shmkit__now_ns();
		r = pred(arg, 1);
		if (r != -EAGAIN)
			return r;
		if (now >= deadline)
			return -ETIMEDOUT;
		if (now < spin_until) {
			shmkit__spin_pause();
			continue;
		}
		if (yields < pol->yields) {
			/* More runnable processes than CPUs: let the peer that
			 * shares our CPU run before paying for a futex sleep. */
			yields++;
			sched_yield();
			continue;
		}
		r = sleep_once(ec, pol, now, deadline, pred, arg, slept_on, sleeps++ == 0);
		if (r != -EAGAIN)
			return r;
		now = shmkit__now_ns();
	}
}

int shmkit__ec_wait(const struct shmkit__ec *ec, struct shmkit__wait_policy *pol, int64_t deadline,
		    shmkit__ec_pred pred, void *arg)
{
	uint32_t slept_on = 0; /* the word of the last sleep; 0: never slept */
	int r = wait_loop(ec, pol, deadline, pred, arg, &slept_on);

	if (slept_on)
		leave_sleep(ec, slept_on);
	return r;
}
