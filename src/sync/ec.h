/* SPDX-License-Identifier: MIT */
/* The wake-up core: one eventcount with a wait policy, serving shmkit_event,
 * queues and topics (after Concurrency Kit's ck_ec: ck_ec_wait_pred and its
 * ops struct). Never installed.
 *
 * The shared word (struct shmkit__ec_shared in src/layout.h) is
 * seq << 2 | FD | SLEEP. The state a waiter waits for lives elsewhere (a
 * ring's slot markers, an event's seq): the waiter passes a predicate that
 * looks at it. A waiter spins, yields, then sets SLEEP and sleeps on the
 * word; a pollable-descriptor listener sets FD when it arms (listener.h).
 * A waker, after publishing its change, reads the word (after the
 * asymmetric barrier, barrier.h) and makes a system call only if a bit is
 * set: it clears SLEEP while advancing seq (one CAS), then wakes the futex
 * sleepers and/or signals the armed listeners, and takes FD down only after
 * that (listener.h: a waker killed midway leaves it for the next).
 *
 * Nothing counts waiters: a waiter killed at any instruction leaves at most
 * a bit set, which the next waker clears, paying one wasted system call
 * once; a waiter that leaves by its deadline clears the bit it set itself. Every sleep is also bounded (SHMKIT__SLEEP_SLICE_NS) so a waker
 * killed between its publish and its wake cannot strand a sleeper. */
#ifndef SHMKIT_SYNC_EC_H
#define SHMKIT_SYNC_EC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "layout.h"
#include "sync/barrier.h"

#define SHMKIT__EC_SLEEP 1u
#define SHMKIT__EC_FD 2u
#define SHMKIT__EC_ONE 4u /* one step of seq */

/* ---- the one definition of each waiting constant ---- */

/* Spin budget before yielding, and sched_yield()s before sleeping. */
#define SHMKIT__SPIN_NS 20000
#define SHMKIT__YIELDS 4
/* The longest single futex sleep: a waker killed between publishing and
 * waking costs a sleeper at most this much delay. */
#define SHMKIT__SLEEP_SLICE_NS 100000000
/* How often a waiter re-checks whether the peer it waits for is alive
 * (topics: SHMKIT_TOPIC_LIVENESS_MS; queues: a slot held by a dead peer). */
#define SHMKIT__LIVENESS_NS 10000000
/* Sleep slice of a sleeper not covered by the barrier (a waker may miss its
 * bit), so it looks again this often. Kept for safety: a sleeper whose
 * membarrier(2) the kernel refuses now switches the object to FENCE
 * instead (barrier.h). */
#define SHMKIT__NO_BARRIER_SLICE_NS 1000000

/* Where a waker finds the descriptor listeners it must signal: `n` entries,
 * `stride` bytes apart from `base`; each entry's owner identity lies
 * `ident_off` bytes from its listener. n == 0: none. `end`, if set, is a
 * shared bound (read once, clamped to n) below which every entry that ever
 * had a listener lies: an owner raises it before its first arm, so a waker
 * that sees the FD bit sees the raise (a table of thousands of entries
 * with a listener in the first few costs a few lines, not all). */
struct shmkit__lis_table {
	unsigned char *base;
	size_t stride;
	ptrdiff_t ident_off;
	uint32_t n;
	_Atomic uint32_t *end;
	/* If set: judges an owner of another pid namespace, which /proc cannot
	 * (shmkit__ident_alive: -EXDEV), as shmkit__obj_ident_alive() does (by
	 * the kernel lock on its attach slot): 1 alive, 0 provably dead,
	 * negative: cannot tell. For a waker whose token such an owner's
	 * listener refused (listener.c): only a provably dead one is dropped. */
	int (*judge)(const void *ctx, const struct shmkit__ident *id);
	const void *judge_ctx;
};

/* A process's view of one shared eventcount. */
struct shmkit__ec {
	_Atomic uint32_t *word;
	_Atomic uint32_t *mode; /* the shared mode: MEMBARRIER may turn FENCE, never back */
	uint32_t side;		/* listeners of this side are this eventcount's */
	struct shmkit__lis_table lis;
	/* Our last wake left armed only listeners this process cannot reach
	 * (listener.c "unreachable"): the word it left, and how many wakes may
	 * still find the word so and skip the scan (ec.c); 0: none. */
	uint32_t unheard_word;
	uint32_t unheard_skips;
};

/* Binds a local view; -EBADMSG if the shared mode is not one we know.
 * Registers this process for the barrier (shmkit__barrier_attach). */
int shmkit__ec_bind(struct shmkit__ec *ec, struct shmkit__ec_shared *sh, uint32_t side,
		    const struct shmkit__lis_table *lis);

/* Creator: a fresh word and the measured barrier mode. */
void shmkit__ec_init_shared(struct shmkit__ec_shared *sh);

/* How a wait spends its time before each sleep. */
struct shmkit__wait_policy {
	int64_t spin_ns;  /* spin this long (-1: for ever, 0: not at all) */
	unsigned yields;  /* then sched_yield() this many times */
	int64_t slice_ns; /* then sleep at most this long at a time */
	/* If set: called before each futex sleep but a wait's first, after the
	 * last look found nothing (the SLEEP bit is up, so a wake after that
	 * look is not lost); the first sleep then lasts at most
	 * SHMKIT__EC_HOLD_NS. A queue's MPMC handle gives back its peer entry
	 * there (queue.c "waiting"): held through a short sleep, never for
	 * longer than that. */
	void (*before_sleep)(void *arg);
};

/* How long a waiter sleeps before before_sleep gives back what it holds. */
#define SHMKIT__EC_HOLD_NS 1000000 /* 1 ms */

/* Returns -EAGAIN while the waiter must keep waiting, anything else to stop
 * (that value is returned). `slow` is 0 in the tight spin and 1 otherwise:
 * only then may it do expensive checks (liveness of peers via /proc). */
typedef int (*shmkit__ec_pred)(void *arg, int slow);

/* Waits until pred stops returning -EAGAIN or the absolute deadline
 * (SHMKIT__NO_DEADLINE: none) passes (-ETIMEDOUT). pred is evaluated once
 * more after the deadline is seen, so a state that changed in time is not
 * reported as a timeout. pred may lower pol->slice_ns for the next sleep
 * (a waiter stuck behind a peer it must watch). */
int shmkit__ec_wait(const struct shmkit__ec *ec, struct shmkit__wait_policy *pol, int64_t deadline,
		    shmkit__ec_pred pred, void *arg);

/* Slow half of the wakes below: the word was `w` (with a bit set); clear
 * the bits, advancing seq by `step`, and wake whom they name. */
void shmkit__ec_wake_slow(struct shmkit__ec *ec, uint32_t w, uint32_t step);

/* The common case of shmkit__ec_wake() alone: MEMBARRIER mode, this
 * process registered, nobody asleep or armed, the mode unchanged after the
 * word was read. 1: nothing more to do; 0: call shmkit__ec_wake(), which
 * checks again with the barrier the mode needs. For hot paths that must
 * make no call in the common case (the SPSC queue's send and receive). */
static inline int shmkit__ec_quiet(const struct shmkit__ec *ec)
{
	_Atomic uint32_t *mode = ec->mode, *word = ec->word;
	uint32_t m = atomic_load_explicit(mode, memory_order_relaxed);

	if (m != SHMKIT__BARRIER_MEMBARRIER ||
	    atomic_load_explicit(&shmkit__barrier_state, memory_order_relaxed) !=
		    (shmkit__fork_gen() << 1 | 1u))
		return 0;
	/* Dekker, as in shmkit__ec_wake() (MEMBARRIER: a compiler barrier) */
	atomic_signal_fence(memory_order_seq_cst);
	/* acquire: the mode re-read below comes after this load */
	uint32_t w = atomic_load_explicit(word, memory_order_acquire);
	return (w & (SHMKIT__EC_SLEEP | SHMKIT__EC_FD)) == 0 &&
	       atomic_load_explicit(mode, memory_order_relaxed) == m;
}

/* After publishing a state change with a plain (release) store: wake
 * whoever waits, if anyone. No system call when nobody sleeps or is armed. */
static inline void shmkit__ec_wake(struct shmkit__ec *ec)
{
	/* Dekker: pairs with the seq_cst CAS that sets a bit in
	 * shmkit__ec_wait()/shmkit__lis_arm() and the sleeper's barrier after
	 * it: our publish is ordered before this read, so either we see the
	 * bit or the waiter's re-check sees our change */
	uint32_t m = atomic_load_explicit(ec->mode, memory_order_relaxed);
	shmkit__barrier_waker(m);
	/* acquire: the mode re-read below comes after this load */
	uint32_t w = atomic_load_explicit(ec->word, memory_order_acquire);
	/* A sleeper may have turned the mode to FENCE (and then run one last
	 * membarrier) while we were between the two reads: then we fence now
	 * and read again (barrier.h, "switching") */
	if (__builtin_expect(m == SHMKIT__BARRIER_MEMBARRIER &&
				 atomic_load_explicit(ec->mode, memory_order_relaxed) != m,
			     0)) {
		shmkit__fence_full();
		w = atomic_load_explicit(ec->word, memory_order_relaxed);
	}
	if (__builtin_expect((w & (SHMKIT__EC_SLEEP | SHMKIT__EC_FD)) != 0, 0))
		shmkit__ec_wake_slow(ec, w, SHMKIT__EC_ONE);
}

/* The state change IS the eventcount (shmkit_event): advance seq with one
 * RMW (a full barrier itself). Returns the new word: if it has a bit set,
 * the caller must pass it to shmkit__ec_wake_slow(ec, w, 0). Split so that
 * a caller builds its view of the eventcount only then (shmkit_event keeps
 * none: making one per signal cost it 1 ns of 6). */
static inline uint32_t shmkit__ec_advance(_Atomic uint32_t *word)
{
	/* release: the signaller's writes before it are visible to whoever
	 * sees the new seq; pairs with the acquire loads of the word */
	return atomic_fetch_add_explicit(word, SHMKIT__EC_ONE, memory_order_release) +
	       SHMKIT__EC_ONE;
}

static inline int shmkit__ec_must_wake(uint32_t w)
{
	return __builtin_expect((w & (SHMKIT__EC_SLEEP | SHMKIT__EC_FD)) != 0, 0);
}

/* Wakes every sleeper and signals every armed listener whatever the bits
 * say: for state changes rare enough not to need the fast path (a topic's
 * publisher closing). */
void shmkit__ec_wake_all(const struct shmkit__ec *ec);

/* Waiters the word and table show right now: 1 for the SLEEP bit (one or
 * more sleepers, or one killed asleep since the last wake) plus the armed
 * listeners. For statistics only. */
uint32_t shmkit__ec_waiters(const struct shmkit__ec *ec);

#endif
