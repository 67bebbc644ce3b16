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
/* Up to this many bytes shmkit__copy_small copies inline. */
#define SHMKIT__COPY_SMALL ((size_t)64)

void shmkit__copy_large(void *dst, const void *src, size_t n);

/* Asks for the first line of n slots `stride` bytes apart, p first, for
 * writing (PREFETCHW where the CPU has it): a producer about to fill a batch
 * of slots the consumer read a lap ago gets the lines' ownership requests
 * under way together, not one store at a time behind a full store buffer
 * (a batch of 32 64-byte messages: +26 % throughput, 22 of 24 paired runs). */
void shmkit__prefetch_write(const unsigned char *p, size_t n, size_t stride);

/* Up to 64 bytes without a call: two fixed-size copies that overlap in the
 * middle (the compiler turns each into moves). A call to memcpy makes the
 * queue's send and receive non-leaf functions, which then save and restore
 * five registers; the call, its dispatch on the length and that cost 20-25
 * of the ~100 instructions of a 64-byte send (callgrind). */
static inline void shmkit__copy_small(unsigned char *d, const unsigned char *s, size_t n)
{
	if (n >= 32) {
		/* 16-byte moves addressed from d and d + n: no pointer arithmetic
		 * (the 32-byte halves cost three more instructions a message) */
		memcpy(d, s, 16);
		memcpy(d + 16, s + 16, 16);
		memcpy(d + n - 32, s + n - 32, 16);
		memcpy(d + n - 16, s + n - 16, 16);
	} else if (n >= 16) {
		memcpy(d, s, 16);
		memcpy(d + n - 16, s + n - 16, 16);
	} else if (n >= 8) {
		memcpy(d, s, 8);
		memcpy(d + n - 8, s + n - 8, 8);
	} else if (n >= 4) {
		memcpy(d, s, 4);
		memcpy(d + n - 4, s + n - 4, 4);
	} else {
		for (size_t i = 0; i < n; i++)
			d[i] = s[i];
	}
}

/* memcpy for message payloads: dst and src do not overlap. Up to 64 bytes
 * inline, large copies take the routine measured fastest. */
static inline void shmkit__copy(void *dst, const void *src, size_t n)
{
	if (n <= SHMKIT__COPY_SMALL)
		shmkit__copy_small(dst, src, n);
	else if (n >= SHMKIT__COPY_LARGE)
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
