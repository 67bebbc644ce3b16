/* SPDX-License-Identifier: MIT */
/* shmkit_event on the wake-up core (src/sync/ec.h): the eventcount's own
 * seq is the event's sequence (30 bits, wraps), and the state a waiter waits
 * for is "seq differs from what I saw".
 *
 * signal advances seq with one RMW; only if a waiter's SLEEP bit was set
 * does it make a system call (clear the bit, wake every sleeper). A waiter
 * sleeps only after setting the bit, and the kernel re-checks the whole word
 * as it queues the waiter, so a signal that follows wait(seen)'s read of seq
 * is never lost. A waiter killed while asleep leaves the bit set: the next
 * signal makes one wake nobody needed, and clears it. */
#include <limits.h>

#include "internal.h"
#include "sync/ec.h"
#include "sync_internal.h"

#define SEQ_MASK_ (UINT32_MAX >> 2)

static inline struct shmkit__event_shared *event_shared(struct shmkit_event *e)
{
	return (struct shmkit__event_shared *)(void *)e;
}

/* The local eventcount view of an event: its RMW signal is a full barrier,
 * so it never needs the asymmetric barrier (FENCE mode, no listeners). */
static _Atomic uint32_t event_mode = SHMKIT__BARRIER_FENCE;

static inline struct shmkit__ec event_ec(struct shmkit__event_shared *e)
{
	struct shmkit__ec ec = {.word = &e->word, .mode = &event_mode};
	return ec;
}

/* NULL, or off the struct's alignment (shmkit__sync_misaligned): -EINVAL. */
static inline int event_unusable(const struct shmkit_event *ev)
{
	return !ev || shmkit__sync_misaligned(ev, _Alignof(struct shmkit_event));
}

SHMKIT_API int shmkit_event_init(struct shmkit_event *ev)
{
	shmkit__detail_clear();
	if (SHMKIT__UNLIKELY(event_unusable(ev)))
		return shmkit__sync_init_refused(ev, _Alignof(struct shmkit_event), "event");
	struct shmkit__event_shared *e = event_shared(ev);

	atomic_store_explicit(&e->word, 0, memory_order_relaxed);
	e->reserved = 0;
	/* Release: pairs with the acquire in shmkit__sync_check(). */
	atomic_store_explicit(&e->magic, SHMKIT__EVENT_MAGIC, memory_order_release);
	return 0;
}

SHMKIT_API uint32_t shmkit_event_seq(struct shmkit_event *ev)
{
	if (SHMKIT__UNLIKELY(event_unusable(ev)))
		return 0;
	struct shmkit__event_shared *e = event_shared(ev);

	/* Acquire: pairs with the release RMW in shmkit__ec_advance(): a caller
	 * that sees the new seq also sees what was written before the signal.
	 * A caller that reads seq, then finds nothing to do, then waits on that
	 * seq cannot miss a signal made after the writes. */
	return atomic_load_explicit(&e->word, memory_order_acquire) >> 2;
}

SHMKIT_API int shmkit_event_signal(struct shmkit_event *ev)
{
	if (SHMKIT__UNLIKELY(event_unusable(ev)))
		return -EINVAL;
	struct shmkit__event_shared *e = event_shared(ev);
	int r = shmkit__sync_check(&e->magic, SHMKIT__EVENT_MAGIC);

	if (SHMKIT__UNLIKELY(r))
		return r;
	uint32_t w = shmkit__ec_advance(&e->word);
	if (shmkit__ec_must_wake(w)) {
		struct shmkit__ec ec = event_ec(e);
		shmkit__ec_wake_slow(&ec, w, 0);
	}
	return 0;
}

struct seq_moved {
	struct shmkit__event_shared *e;
	uint32_t seen;
};

static int seq_moved(void *arg, int slow)
{
	struct seq_moved *m = arg;
	(void)slow;
	/* Acquire: pairs with the release RMW in shmkit__ec_advance(). */
	uint32_t v = atomic_load_explicit(&m->e->word, memory_order_acquire);
	return (v >> 2) != m->seen ? 0 : -EAGAIN;
}

SHMKIT_API int shmkit_event_wait(struct shmkit_event *ev, uint32_t seen, int64_t timeout_ns)
{
	if (SHMKIT__UNLIKELY(event_unusable(ev)))
		return -EINVAL;
	struct shmkit__event_shared *e = event_shared(ev);
	int r = shmkit__sync_check(&e->magic, SHMKIT__EVENT_MAGIC);

	if (SHMKIT__UNLIKELY(r))
		return r;
	struct seq_moved m = {e, seen & SEQ_MASK_};
	if (seq_moved(&m, 1) == 0)
		return 0;
	if (timeout_ns == 0)
		return -EAGAIN;
	/* An event waiter sleeps at once (no spin): it has no peer it could
	 * see finishing sooner, and callers spin themselves if they want. */
	struct shmkit__wait_policy pol = {0, 0, SHMKIT__SLEEP_SLICE_NS, NULL};
	struct shmkit__ec ec = event_ec(e);
	/* The clock is read only when about to wait: a later start can only
	 * lengthen the wait, never shorten it. */
	return shmkit__ec_wait(&ec, &pol, shmkit__deadline(timeout_ns), seq_moved, &m);
}
