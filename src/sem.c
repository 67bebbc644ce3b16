/* SPDX-License-Identifier: MIT */
/* Counting semaphore on one futex word: word = (count << 1) | waiters_bit.
 *
 * A waiter that finds count 0 sets waiters_bit and sleeps on the word. post
 * adds one and clears the bit in the same CAS; if the bit was set it wakes
 * every sleeper, and the ones that find no count set the bit again and go
 * back to sleep. So post makes no system call when nobody sleeps, and a
 * waiter killed while asleep costs at most one extra wake later (no waiter
 * counter that a dead process could leave raised forever). */
#include <limits.h>

#include "futex.h"
#include "internal.h"
#include "sync_internal.h"

#define SEM_VALUE_MAX_ (UINT32_MAX >> 1)

static inline struct shmkit__sem_shared *sem_shared(struct shmkit_sem *s)
{
	return (struct shmkit__sem_shared *)(void *)s;
}

/* NULL, or off the struct's alignment (shmkit__sync_misaligned): -EINVAL. */
static inline int sem_unusable(const struct shmkit_sem *sem)
{
	return !sem || shmkit__sync_misaligned(sem, _Alignof(struct shmkit_sem));
}

SHMKIT_API int shmkit_sem_init(struct shmkit_sem *sem, unsigned value)
{
	shmkit__detail_clear();
	if (SHMKIT__UNLIKELY(sem_unusable(sem)))
		return shmkit__sync_init_refused(sem, _Alignof(struct shmkit_sem), "semaphore");
	struct shmkit__sem_shared *s = sem_shared(sem);

	if (value > SEM_VALUE_MAX_)
		return shmkit__fail(-EINVAL, "value %u is more than a semaphore holds (%u)", value,
				    (unsigned)SEM_VALUE_MAX_);
	atomic_store_explicit(&s->word, value << 1, memory_order_relaxed);
	s->reserved = 0;
	/* Release: pairs with the acquire in shmkit__sync_check(). */
	atomic_store_explicit(&s->magic, SHMKIT__SEM_MAGIC, memory_order_release);
	return 0;
}

SHMKIT_API int shmkit_sem_post(struct shmkit_sem *sem)
{
	if (SHMKIT__UNLIKELY(sem_unusable(sem)))
		return -EINVAL;
	struct shmkit__sem_shared *s = sem_shared(sem);
	int r = shmkit__sync_check(&s->magic, SHMKIT__SEM_MAGIC);
	uint32_t v;

	if (SHMKIT__UNLIKELY(r))
		return r;
	v = atomic_load_explicit(&s->word, memory_order_relaxed);
	do {
		if ((v >> 1) >= SEM_VALUE_MAX_)
			return -EOVERFLOW;
		/* Release: pairs with the acquire CAS in sem_trydown(); what the
		 * poster wrote before post is visible to the waiter it admits. */
	} while (!atomic_compare_exchange_weak_explicit(&s->word, &v, (v + 2) & ~1u,
							memory_order_release, memory_order_relaxed));
	if (v & 1)
		shmkit__futex_wake(&s->word, INT_MAX);
	return 0;
}

/* Takes one unit if count > 0: 1 if taken, 0 if count is 0. `rearm` keeps or
 * sets the waiters bit: a waiter that was woken cannot know whether others
 * still sleep, so it leaves the bit set for the next post to wake them. */
static int sem_trydown(struct shmkit__sem_shared *s, uint32_t rearm)
{
	uint32_t v = atomic_load_explicit(&s->word, memory_order_relaxed);

	while (v >> 1) {
		/* Acquire: pairs with the release CAS in shmkit_sem_post(). */
		if (atomic_compare_exchange_weak_explicit(&s->word, &v, (v - 2) | rearm,
							  memory_order_acquire, memory_order_relaxed))
			return 1;
	}
	return 0;
}

SHMKIT_API int shmkit_sem_wait(struct shmkit_sem *sem, int64_t timeout_ns)
{
	if (SHMKIT__UNLIKELY(sem_unusable(sem)))
		return -EINVAL;
	struct shmkit__sem_shared *s = sem_shared(sem);
	int r = shmkit__sync_check(&s->magic, SHMKIT__SEM_MAGIC);
	int64_t deadline;

	if (SHMKIT__UNLIKELY(r))
		return r;
	if (sem_trydown(s, 0))
		return 0;
	if (timeout_ns == 0)
		return -EAGAIN;
	deadline = shmkit__deadline(timeout_ns);
	for (;;) {
		uint32_t v = atomic_load_explicit(&s->word, memory_order_relaxed);
		if (v >> 1) {
			/* Woken (or raced): keep the bit so the other sleepers
			 * are still woken by the next post. */
			if (sem_trydown(s, 1))
				return 0;
			continue;
		}
		/* Relaxed is enough: the bit and the count share one word, so
		 * the kernel's compare in futex_wait sees any post after it. */
		if (!(v & 1) && !atomic_compare_exchange_weak_explicit(&s->word, &v, v | 1,
									memory_order_relaxed,
									memory_order_relaxed))
			continue;
		r = shmkit__futex_wait(&s->word, v | 1, deadline);
		if (r == -ETIMEDOUT)
			return sem_trydown(s, 1) ? 0 : -ETIMEDOUT;
		if (r < 0)
			return r;
	}
}
