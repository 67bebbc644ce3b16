/* Futex eventcount: word = (seq << 1) | waiters_bit; seq is 31 bits and wraps.
 *
 * signal adds 2 (seq + 1). Only if the waiters bit was set does it clear the
 * bit and wake every sleeper, so signal makes no system call when nobody
 * waits. A waiter sleeps only while seq still equals the `seen` it was given
 * and only after setting the bit, and the kernel re-checks the whole word as
 * it queues the waiter, so a signal that follows wait(seen)'s read of seq is
 * never lost. A waiter killed while asleep leaves the bit set: the next
 * signal makes one wake nobody needed, and clears it. */
#include <limits.h>

#include "futex.h"
#include "internal.h"
#include "sync_internal.h"

#define SEQ_MASK_ (UINT32_MAX >> 1)

static inline struct shmkit__event_shared *event_shared(struct shmkit_event *e)
{
	return (struct shmkit__event_shared *)(void *)e;
}

SHMKIT_API int shmkit_event_init(struct shmkit_event *ev)
{
	struct shmkit__event_shared *e = event_shared(ev);

	atomic_store_explicit(&e->word, 0, memory_order_relaxed);
	e->reserved = 0;
	/* Release: pairs with the acquire in shmkit__sync_check(). */
	atomic_store_explicit(&e->magic, SHMKIT__EVENT_MAGIC, memory_order_release);
	return 0;
}

SHMKIT_API uint32_t shmkit_event_seq(struct shmkit_event *ev)
{
	struct shmkit__event_shared *e = event_shared(ev);

	/* Acquire: pairs with the release fetch_add in shmkit_event_signal():
	 * a caller that sees the new seq also sees what was written before
	 * the signal. A caller that reads seq, then finds nothing to do, then
	 * waits on that seq cannot miss a signal made after the writes. */
	return atomic_load_explicit(&e->word, memory_order_acquire) >> 1;
}

SHMKIT_API int shmkit_event_signal(struct shmkit_event *ev)
{
	struct shmkit__event_shared *e = event_shared(ev);
	int r = shmkit__sync_check(&e->magic, SHMKIT__EVENT_MAGIC);
	uint32_t old, cur;

	if (SHMKIT__UNLIKELY(r))
		return r;
	/* Release: pairs with the acquire loads in shmkit_event_seq() and
	 * shmkit_event_wait(): the signaller's writes before this are visible
	 * to whoever sees the new seq. */
	old = atomic_fetch_add_explicit(&e->word, 2, memory_order_release);
	if (SHMKIT__LIKELY(!(old & 1)))
		return 0;
	/* Clear the bit only if nothing changed since our add: a newer waiter
	 * may have set it again for a later seq. Left set, it costs one wake. */
	cur = old + 2;
	atomic_compare_exchange_strong_explicit(&e->word, &cur, cur & ~1u, memory_order_relaxed,
						memory_order_relaxed);
	r = shmkit__futex_wake(&e->word, INT_MAX);
	return r < 0 ? r : 0;
}

SHMKIT_API int shmkit_event_wait(struct shmkit_event *ev, uint32_t seen, int64_t timeout_ns)
{
	struct shmkit__event_shared *e = event_shared(ev);
	int r = shmkit__sync_check(&e->magic, SHMKIT__EVENT_MAGIC);
	int64_t deadline = SHMKIT__NO_DEADLINE;
	int have_deadline = 0;

	if (SHMKIT__UNLIKELY(r))
		return r;
	seen &= SEQ_MASK_;
	for (;;) {
		/* Acquire: pairs with the release fetch_add in signal. */
		uint32_t v = atomic_load_explicit(&e->word, memory_order_acquire);
		if ((v >> 1) != seen)
			return 0;
		if (timeout_ns == 0)
			return -EAGAIN;
		if (!have_deadline) {
			/* Read the clock only when about to sleep: a later start
			 * can only lengthen the wait, never shorten it. */
			deadline = shmkit__futex_deadline(timeout_ns);
			have_deadline = 1;
		}
		/* Relaxed: seq and bit share the word, and the kernel compares
		 * the whole word as it queues us, so a signal between this CAS
		 * and the sleep makes futex_wait return at once. */
		if (!(v & 1) && !atomic_compare_exchange_weak_explicit(&e->word, &v, v | 1,
									memory_order_relaxed,
									memory_order_relaxed))
			continue;
		r = shmkit__futex_wait(&e->word, v | 1, deadline);
		if (r == -ETIMEDOUT)
			return (shmkit_event_seq(ev) != seen) ? 0 : -ETIMEDOUT;
		if (r < 0)
			return r;
	}
}
