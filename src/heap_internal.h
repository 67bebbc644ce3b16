/* Internal API of the heap for the layers built on it (the map): the
 * process-local handle, the lock with its owner-dead repair, and alloc/free
 * for callers that already hold the lock (_locked). */
#ifndef SHMKIT_HEAP_INTERNAL_H
#define SHMKIT_HEAP_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include <shmkit/heap.h>

#include "layout.h"
#include "managed.h"

/* A process's handle on a heap. Fields other than obj are copies of shared
 * values validated at open: later reads of the shared copies never matter. */
struct shmkit_heap {
	struct shmkit__obj obj;
	uint8_t *base;                      /* segment base: offsets are from here */
	uint64_t seg_size;
	struct shmkit__heap_shared *sh;
	_Atomic uint64_t *bitmap;           /* live-start bits (relaxed atomics) */
	uint64_t arena_off;
	uint64_t arena_end;
	uint64_t max_blocks;                /* bound for every walk */
	/* Repairs the object journal of the layer above (the map); called with
	 * the lock held after the heap itself is repaired. NULL for a bare heap. */
	int (*recover_upper)(struct shmkit_heap *h);
	void *upper;
};

/* Lays a fresh heap out in a zeroed body (creator only, before READY). */
int shmkit__heap_format(void *base, uint64_t seg_size);
/* Validates the shared heap header of a mapped segment and fills h's cached
 * fields (obj must already be set). -EBADMSG / -EPROTO. */
int shmkit__heap_attach(struct shmkit_heap *h, void *base, uint64_t seg_size);

/* Takes the heap lock; if its holder died (or a journal is pending, as after
 * a crash of a persistent file: heap) repairs the heap and the layer above
 * first. 0 with the lock held, or a negative errno without it. */
int shmkit__heap_lock(struct shmkit_heap *h);
void shmkit__heap_unlock(struct shmkit_heap *h);

/* Allocate / free with the lock held. alloc stores the payload offset to
 * *out (which may be a field of a shared journal) before the heap's own
 * journal is cleared, so a crash never loses track of the block. */
int shmkit__heap_alloc_locked(struct shmkit_heap *h, size_t size, uint64_t *out);
int shmkit__heap_free_locked(struct shmkit_heap *h, uint64_t off);

/* 1 if off is the payload offset of a live allocation, else 0. Lock-free. */
int shmkit__heap_live(const struct shmkit_heap *h, uint64_t off);

/* Opens a heap-based object of `kind` (HEAP or MAP) into h. */
int shmkit__heap_open_kind(struct shmkit_heap *h, const char *uri, uint32_t kind);

/* Compiler barrier: keeps stores that a recovering process depends on in
 * program order (a kill -9 can land between any two instructions; the
 * recoverer's lock acquisition is the hardware barrier). */
#define SHMKIT__ORDER() atomic_signal_fence(memory_order_seq_cst)

#endif
