/* SPDX-License-Identifier: MIT */
/* Copying message bytes into and out of shared slots (src/copy.c). */
#ifndef SHMKIT_COPY_H
#define SHMKIT_COPY_H

#include <stddef.h>
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

#endif
