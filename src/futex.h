/* SPDX-License-Identifier: MIT */
/* Shared futex wait/wake: the system-call layer under the
 * wake-up core (src/sync/ec.h) and the mutex and semaphore. Never installed.
 *
 * The futexes are SHARED (no FUTEX_PRIVATE_FLAG): the word lives in memory
 * shared between processes, possibly mapped at different addresses, and the
 * kernel keys it by (inode/page, offset), not by virtual address.
 *
 * Timeouts are absolute CLOCK_MONOTONIC deadlines (FUTEX_WAIT_BITSET), so a
 * signal (EINTR) or a spurious wake-up that makes the caller loop never
 * shortens or stretches the caller's timeout: it waits again for what is left
 * of the same deadline. */
#ifndef SHMKIT_FUTEX_H
#define SHMKIT_FUTEX_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static inline struct timespec shmkit__ns_to_timespec(int64_t ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };
	return ts;
}

/* Sleeps while *word == expect, until woken or until the absolute
 * CLOCK_MONOTONIC deadline (SHMKIT__NO_DEADLINE = none).
 * Returns 0 when the caller should re-check its condition (woken, the word
 * already differed, EINTR or a spurious wake-up) and -ETIMEDOUT only when the
 * deadline has passed. The kernel compares *word with expect atomically with
 * queueing the waiter, so a wake that follows a change of *word is never
 * lost; the change itself must be ordered by the caller's atomics. */
static inline int shmkit__futex_wait(_Atomic uint32_t *word, uint32_t expect, int64_t deadline_ns)
{
	struct timespec ts, *tsp = NULL;

	if (deadline_ns != SHMKIT__NO_DEADLINE) {
		ts = shmkit__ns_to_timespec(deadline_ns);
		tsp = &ts;
	}
	/* FUTEX_WAIT_BITSET takes an absolute timeout on CLOCK_MONOTONIC (no
	 * FUTEX_CLOCK_REALTIME); plain FUTEX_WAIT would take a relative one. */
	long r = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET, expect, tsp, NULL,
			 FUTEX_BITSET_MATCH_ANY);
	if (r == 0)
		return 0;
	switch (errno) {
	case ETIMEDOUT:
		return -ETIMEDOUT;
	case EAGAIN: /* *word != expect already */
	case EINTR:
		return 0;
	default:
		return shmkit__neg_errno(); /* EFAULT/EINVAL: a caller bug */
	}
}

/* Wakes up to n waiters (INT_MAX = all) sleeping on word, in any process.
 * Returns how many were woken or a negative errno. */
static inline int shmkit__futex_wake(_Atomic uint32_t *word, int n)
{
	long r = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, n, NULL, NULL, 0);
	return r < 0 ? shmkit__neg_errno() : (int)r;
}

#endif
