/* SPDX-License-Identifier: MIT */
/* Internal API of the heap for the layers built on it (the map): the
 * process-local handle, the lock with its owner-dead repair, and alloc/free
 * for callers that already hold the lock (_locked). */
#ifndef SHMKIT_HEAP_INTERNAL_H
#define SHMKIT_HEAP_INTERNAL_H

#include <errno.h>
#include <pthread.h>
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
	struct shmkit__heap_mag *mag;       /* this process's block cache, or NULL */
	/* How long a call waits for the lock (shmkit_heap_set_lock_timeout):
	 * SHMKIT_FOREVER from attach. Relaxed atomics: any thread may set it,
	 * and only the lock's slow path reads it. */
	int64_t lock_timeout_ns;
	/* Set once this handle recomputed sh->named_bits under the lock (at
	 * open, else at its first free): until then a free cannot trust the
	 * filter (a heap from before it has names and no bits), so it takes
	 * the locked path. Relaxed atomics: any thread may set it. */
	int named_fresh;
};

/* Whether a create with these arguments could succeed anywhere: 0 when
 * each is in the library's range, else the negative errno, with its detail,
 * that the create returns for them (before it touches any URI). The CLI
 * calls it first: an argument no create takes is a usage error there. */
int shmkit__heap_create_check(size_t size);
/* Lays a fresh heap out in a zeroed body (creator only, before READY). */
int shmkit__heap_format(void *base, uint64_t seg_size);
/* Validates the shared heap header of a mapped segment and fills h's cached
 * fields (obj must already be set). -EBADMSG / -EPROTO. */
int shmkit__heap_attach(struct shmkit_heap *h, void *base, uint64_t seg_size);

/* Takes the heap lock; if its holder died (or a journal is pending, as after
 * a crash of a persistent file: heap) repairs the heap and the layer above
 * first. 0 with the lock held, or a negative errno without it. */
int shmkit__heap_lock(struct shmkit_heap *h);
/* The same without the handle's lock timeout: for a close, which must give
 * this process's cached blocks back rather than leave them out of use. */
int shmkit__heap_lock_forever(struct shmkit_heap *h);
void shmkit__heap_unlock(struct shmkit_heap *h);
/* 1 if r is what shmkit__heap_lock gives when the handle's lock timeout
 * passed (-ETIMEDOUT, or -EAGAIN for timeout 0): the call changed nothing. */
static inline int shmkit__heap_lock_gave_up(int r)
{
	return r == -ETIMEDOUT || r == -EAGAIN;
}
/* "held by pid 1234 (stopped)": who holds the heap's lock, for messages. */
void shmkit__heap_lock_holder(struct shmkit_heap *h, char *buf, size_t cap);

/* Allocate / free with the lock held. alloc stores the payload offset to
 * *out (which may be a field of a shared journal) before the heap's own
 * journal is cleared, so a crash never loses track of the block. */
int shmkit__heap_alloc_locked(struct shmkit_heap *h, size_t size, uint64_t *out);
/* The same, the offset also to *off: a caller that journals the block in
 * shared memory (*journal) uses *off, never the journal read back, which
 * another process may have rewritten meanwhile. */
int shmkit__heap_alloc_journaled(struct shmkit_heap *h, size_t size, uint64_t *journal,
				 uint64_t *off);
int shmkit__heap_free_locked(struct shmkit_heap *h, uint64_t off);

/* ---- the block cache (src/heap_cache.c) ---- */
#define SHMKIT__HEAP_MAG_CLASSES 48
#define SHMKIT__HEAP_MAG_CAP 32        /* most blocks one class holds */
#define SHMKIT__HEAP_MAG_MAX_BLOCK 8192u /* larger blocks are never cached */
#define SHMKIT__HEAP_MAG_NONE 0xffu

/* A handle's magazine: process-local, used by one thread (heap.c's inline
 * fast path pops and pushes here; heap_cache.c refills and flushes). */
struct shmkit__heap_mag {
	uintptr_t thread;       /* shmkit__heap_thread_token() of the one thread that uses it */
	pid_t tid;              /* that thread's id: once it exits, another may adopt it */
	unsigned fork_gen;      /* shmkit__heap_fork_gen when made: a forked child's is stale */
	unsigned slot;
	uint64_t owner;         /* SHMKIT__CACHE_OWNER(slot, gen), in each cached block */
	uint32_t n[SHMKIT__HEAP_MAG_CLASSES];
	/* Most blocks per class: its share of the heap (0: never cached). */
	uint32_t cap[SHMKIT__HEAP_MAG_CLASSES];
	uint64_t blocks[SHMKIT__HEAP_MAG_CLASSES][SHMKIT__HEAP_MAG_CAP]; /* payload offsets */
};

/* Bumped in a forked child: a magazine made before the fork is the parent's. */
extern unsigned shmkit__heap_fork_gen;
/* Index size / 16 (size <= SHMKIT__HEAP_MAG_MAX_BLOCK): the class a request
 * of that block size takes, the class a block of that size serves (or
 * SHMKIT__HEAP_MAG_NONE); and per class its block size. */
extern uint8_t shmkit__heap_need_class[SHMKIT__HEAP_MAG_MAX_BLOCK / 16 + 1];
extern uint8_t shmkit__heap_block_class[SHMKIT__HEAP_MAG_MAX_BLOCK / 16 + 1];
extern uint32_t shmkit__heap_class_size[SHMKIT__HEAP_MAG_CLASSES];

/* This thread's identity for the cache: a number no other thread of this
 * process had before (a forked child's is its parent's, which fork_gen
 * tells apart), 0 until shmkit__heap_thread_token() gives it one. Not the
 * thread pointer: glibc gives a new thread the control block (and so the
 * thread pointer) of one that exited, and that thread then used the exited
 * one's cache on the fast path while another thread took the cache over
 * (adopt_orphan, heap_cache.c), so a block was handed out twice.
 * The default TLS model, not initial-exec: that one marks the library
 * DF_STATIC_TLS, and glibc then places its whole TLS block (over 1 KiB:
 * the error detail, the held-locks list) in the static TLS surplus at
 * dlopen, where a second copy of the library, or another library's
 * initial-exec TLS loaded after it, no longer fit (helper h36g). */
extern __thread uintptr_t shmkit__heap_thread;

static inline uintptr_t shmkit__thread_id(void)
{
	return shmkit__heap_thread;
}

/* This thread's identity, given it on its first call (never 0). */
uintptr_t shmkit__heap_thread_token(void);

/* This thread may use m (bound to it, made in this process). */
static inline int shmkit__heap_mag_mine(const struct shmkit__heap_mag *m)
{
	/* atomic: another thread may take over the cache of one that exited;
	 * a thread without a token yet (0) never matches */
	return m != NULL && __atomic_load_n(&m->thread, __ATOMIC_RELAXED) == shmkit__thread_id() &&
	       m->fork_gen == shmkit__heap_fork_gen;
}

/* Fills the tables above (once per process; every attach calls it). */
void shmkit__heap_mag_setup(void);
/* The slow halves: make the magazine, refill or flush a class. 0 done, 1
 * not cacheable here (take the locked path), or a negative errno. */
int shmkit__heap_mag_alloc(struct shmkit_heap *h, uint64_t need, uint64_t *out);
int shmkit__heap_mag_free(struct shmkit_heap *h, uint64_t poff, uint64_t size);
/* Gives this thread's cached blocks back (lock held); those of the thread
 * the cache was bound to too, once that thread has exited (this thread
 * then takes the cache over). */
int shmkit__heap_mag_flush_locked(struct shmkit_heap *h);
/* Flushes, releases the slot and frees the magazine (at close). */
void shmkit__heap_mag_close(struct shmkit_heap *h);
/* 1 if owner is a cache owner word whose slot is no longer held by it
 * (released, or claimed again: another generation). */
int shmkit__heap_cache_released(const struct shmkit_heap *h, uint64_t owner);
/* Releases the slots of provably dead processes and returns their blocks:
 * 1 if any, 0 none, or a negative errno (lock held). */
int shmkit__heap_reclaim_locked(struct shmkit_heap *h);
/* heap.c: alloc straight into the cache (tag CACHED, owner in the payload) and
 * free of a cached block, both journaled; and the rebuild from the headers. */
int shmkit__heap_alloc_cached_locked(struct shmkit_heap *h, size_t size, uint64_t owner,
				     uint64_t *out);
int shmkit__heap_free_cached_locked(struct shmkit_heap *h, uint64_t poff, uint64_t owner);
int shmkit__heap_rebuild_locked(struct shmkit_heap *h);

/* shmkit_heap_check with the lock held (the map checks its own layer under
 * the same hold). */
int shmkit__heap_check_locked(struct shmkit_heap *h);

/* 1 if off is the payload offset of a live allocation, else 0. Lock-free. */
int shmkit__heap_live(const struct shmkit_heap *h, uint64_t off);

/* Opens a heap-based object of `kind` (HEAP or MAP) into h. */
int shmkit__heap_open_kind(struct shmkit_heap *h, const char *uri, uint32_t kind);

/* Compiler barrier: keeps stores that a recovering process depends on in
 * program order (a kill -9 can land between any two instructions; the
 * recoverer's lock acquisition is the hardware barrier). */
#define SHMKIT__ORDER() atomic_signal_fence(memory_order_seq_cst)

#endif
