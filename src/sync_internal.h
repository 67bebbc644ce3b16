/* SPDX-License-Identifier: MIT */
/* Maps the public opaque sync structs (include/shmkit/sync.h) onto their
 * shared layouts (src/layout.h). Never installed. */
#ifndef SHMKIT_SYNC_INTERNAL_H
#define SHMKIT_SYNC_INTERNAL_H

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>

#include <shmkit/sync.h>

#include "layout.h"

_Static_assert(sizeof(struct shmkit_mutex) == sizeof(struct shmkit__mutex_shared), "mutex");
_Static_assert(sizeof(struct shmkit_sem) == sizeof(struct shmkit__sem_shared), "sem");
_Static_assert(sizeof(struct shmkit_event) == sizeof(struct shmkit__event_shared), "event");
_Static_assert(_Alignof(struct shmkit_mutex) >= _Alignof(struct shmkit__mutex_shared), "mutex align");

/* 0 if an object's magic word says it was initialized; -EINVAL for a zeroed
 * (never initialized) object, -EBADMSG for anything else (scribbled). Acquire:
 * pairs with the release store of the magic at the end of *_init, so the rest
 * of the object as init wrote it is visible. */
static inline int shmkit__sync_check(_Atomic uint32_t *magic, uint32_t want)
{
	uint32_t got = atomic_load_explicit(magic, memory_order_acquire);
	if (__builtin_expect(got == want, 1))
		return 0;
	return got == 0 ? -EINVAL : -EBADMSG;
}

/* 1 if p is off the alignment of its public struct (8 bytes, 4 in an i386
 * build): every call then says -EINVAL. A pointer cast from any address
 * can be; the kernel refuses a futex word off a 4-byte boundary (each wait
 * failed at once with EINVAL, so a waiter spun on past its timeout, for
 * good once the holder died) and its robust list skips one (a dead holder
 * is never marked); a 4-byte atomic there may straddle two cache lines. */
static inline int shmkit__sync_misaligned(const void *p, size_t align)
{
	return ((uintptr_t)p & (align - 1)) != 0;
}

/* Who holds m, for messages (src/mutex.c): "held by pid 1234 (stopped)",
 * "held by pid 1234", or "held by a live process" when the word names no
 * thread we can read. The word is read once: the holder may change meanwhile. */
void shmkit__mutex_holder_text(struct shmkit_mutex *m, char *buf, size_t cap);

#endif
