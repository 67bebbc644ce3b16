/* SPDX-License-Identifier: MIT */
/* Copying message bytes into and out of shared slots (src/copy.c). */
#ifndef SHMKIT_COPY_H
#define SHMKIT_COPY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* From this many bytes on, shmkit__copy may pick another routine than
 * memcpy (src/copy.c says which and why). */
#define SHMKIT__COPY_LARGE ((size_t)256 << 10)

void shmkit__copy_large(void *dst, const void *src, size_t n);

/* memcpy for message payloads: dst and src do not overlap. Small copies stay
 * an inlined memcpy; large ones take the routine measured fastest. */
static inline void shmkit__copy(void *dst, const void *src, size_t n)
{
	if (n >= SHMKIT__COPY_LARGE)
		shmkit__copy_large(dst, src, n);
	else
		memcpy(dst, src, n);
}

/* A generous time (ns) for writing or copying n bytes: 8 bytes a ns (AMD
 * EPYC Zen 4 measured 44-60 on 1 MiB, 20-45 when loaded), at most 1 ms.
 * A receiver of messages up to n bytes spins at least this long before it
 * sleeps: with a shorter spin it falls asleep while the sender is still
 * writing a large message, and the futex wake-up then costs about as much
 * again (measured at 1 MiB: 41-45 us one-way with a 20 us spin, 23-26 us
 * without the sleep). Past 1 ms of spinning, a wake-up's tens of us matter
 * little against the message's own time. */
static inline int64_t shmkit__copy_ns(size_t n)
{
	size_t ns = n / 8;
	return ns > 1000000 ? 1000000 : (int64_t)ns;
}

#endif
