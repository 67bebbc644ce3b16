/* SPDX-License-Identifier: MIT */
/* shmkit — an allocator inside a shared segment; links are offsets, never
 * pointers. See shmkit_heap(3). */
#ifndef SHMKIT_HEAP_H
#define SHMKIT_HEAP_H

#include <shmkit/common.h>
/* SHMKIT_PERSIST for a mode, shmkit_remove; with it <shmkit/seg.h>:
 * shmkit_heap_named()'s SHMKIT_CREATE and SHMKIT_EXCL */
#include <shmkit/managed.h>

SHMKIT_BEGIN_DECLS

typedef uint64_t shmkit_off; /* offset from the segment base; 0 = none */

struct shmkit_heap;

SHMKIT_API int shmkit_heap_create(struct shmkit_heap **h, const char *uri, size_t size, unsigned mode);
SHMKIT_API int shmkit_heap_open(struct shmkit_heap **h, const char *uri);
SHMKIT_API int shmkit_heap_alloc(struct shmkit_heap *h, size_t size, shmkit_off *off);
SHMKIT_API int shmkit_heap_free(struct shmkit_heap *h, shmkit_off off);
SHMKIT_API void *shmkit_heap_ptr(struct shmkit_heap *h, shmkit_off off);
/* flags SHMKIT_CREATE creates the block if missing (size bytes, zeroed), with
 * SHMKIT_EXCL fails -EEXIST if it exists; flags 0 only looks up (-ENOENT). */
SHMKIT_API int shmkit_heap_named(struct shmkit_heap *h, const char *name, size_t size, int flags,
				 shmkit_off *off);
/* Full consistency check of every block, free list, the live-start bitmap and
 * the totals. 0 consistent; 1 derived structures (free lists, bitmap, totals)
 * were wrong and have been rebuilt from the blocks; -EBADMSG corrupt beyond
 * repair. */
SHMKIT_API int shmkit_heap_check(struct shmkit_heap *h);

#define SHMKIT_HEAP_CLASSES 64

struct shmkit_heap_stats {
	uint64_t arena_bytes;    /* bytes of the arena (block headers included) */
	uint64_t used_bytes;     /* in live allocations, headers included */
	uint64_t free_bytes;     /* in free blocks, headers included */
	uint64_t largest_free;   /* largest size shmkit_heap_alloc can satisfy now */
	uint64_t n_used;         /* live allocations */
	uint64_t n_free;         /* free blocks */
	uint64_t n_named;        /* named objects */
	/* Per size class i: blocks of at most class_max[i] bytes (header
	 * included) and more than class_max[i-1]. */
	uint64_t class_max[SHMKIT_HEAP_CLASSES];
	uint64_t class_used[SHMKIT_HEAP_CLASSES];
	uint64_t class_free[SHMKIT_HEAP_CLASSES];
	uint64_t reserved[8]; /* zeroed by shmkit: room for fields added later (shmkit(3), STRUCTS THAT GROW) */
};

/* Walks every block (under the lock) and fills *st. 0 or -EBADMSG. */
SHMKIT_API int shmkit_heap_stats(struct shmkit_heap *h, struct shmkit_heap_stats *st);
/* The same stats of the heap (or map) at uri, taken without opening it: a
 * look (read-only mapping, no attach slot, no lock, nothing written or
 * repaired). The blocks are walked until two walks agree: -EBUSY if the heap
 * kept changing meanwhile; blocks other processes hold in their caches count
 * as used. System V only through a process that has it attached (-ENODATA). */
SHMKIT_API int shmkit_heap_stat(const char *uri, struct shmkit_heap_stats *st);
/* Usable bytes of the live allocation at off, or -EINVAL. */
SHMKIT_API ssize_t shmkit_heap_size(struct shmkit_heap *h, shmkit_off off);
/* How long a call on this handle waits for the heap's lock (held by another
 * process's alloc, free, named or check): SHMKIT_FOREVER (the default) waits
 * without limit; 0 tries once (-EAGAIN if held); > 0 gives up after that
 * many nanoseconds with -ETIMEDOUT. A call that gives up changes nothing;
 * shmkit_last_error_detail() names the holder's pid and whether it is
 * stopped ("the heap's lock is held by pid 1234 (stopped) for over 2 s").
 * A holder that died is taken over and its work repaired, timeout or not.
 * Each call waits once (a check too); a free that only caches a block, and
 * an alloc served from this thread's cache, never wait. shmkit_heap_close
 * still waits without limit when it has cached blocks to give back.
 * Any thread may set it; -EINVAL for timeout_ns < -1. */
SHMKIT_API int shmkit_heap_set_lock_timeout(struct shmkit_heap *h, int64_t timeout_ns);
/* The segment under the heap (for shmkit_seg_flush and friends). */
SHMKIT_API struct shmkit_seg *shmkit_heap_seg(struct shmkit_heap *h);
SHMKIT_API int shmkit_heap_close(struct shmkit_heap *h);

SHMKIT_END_DECLS

#endif
