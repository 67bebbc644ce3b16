/* SPDX-License-Identifier: MIT */
/* Per-process magazines for the heap: a cache of free blocks per size class
 * that alloc and free use without the heap lock.
 *
 * A handle that caches owns one slot of the heap header's cache table (pid +
 * start time + boot, claimed under the lock). A cached block stays "used"
 * for the heap (totals, live bit) but its tag says CACHED and its first
 * payload bytes name the slot and the slot's generation, so:
 *  - it is no live allocation: shmkit_heap_ptr gives NULL, a second free
 *    -EINVAL, exactly as for a block in the free lists;
 *  - the offsets live in this process's memory (the magazine), but every
 *    cached block is found again from the block headers alone: when the
 *    owner is provably dead (ident), the next open, check, or allocation
 *    that runs out of space returns the slot's blocks to the free lists;
 *  - a kill -9 at any point leaves each block either USED (before the one
 *    tag store that caches it: as if free was never called), CACHED with its
 *    owner (reclaimed as above), or inside a journaled heap operation
 *    (refill and flush run alloc/free under the lock and the heap journal).
 * The magazine is bound to the first thread that uses the handle; other
 * threads of the process take the locked path, and a forked child gets its
 * own slot (pthread_atfork), never the parent's blocks. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "heap_internal.h"
#include "internal.h"

#define HDR 16u
#define SMALL_CLASSES 32 /* 32..528 byte blocks, one class per 16 bytes */
/* Bytes one class may cache: 16 KiB, or 1/4096 of the arena when smaller
 * (so 64 processes' caches keep under a fifth of a small heap). */
#define CLASS_BUDGET (16u << 10)
#define TABLE (SHMKIT__HEAP_MAG_MAX_BLOCK / 16 + 1)

unsigned shmkit__heap_fork_gen;
__thread uintptr_t shmkit__heap_thread;
static uintptr_t threads_seen;

uintptr_t shmkit__heap_thread_token(void)
{
	if (shmkit__heap_thread == 0)
		shmkit__heap_thread = __atomic_add_fetch(&threads_seen, 1, __ATOMIC_RELAXED);
	return shmkit__heap_thread;
}
uint8_t shmkit__heap_need_class[TABLE];
uint8_t shmkit__heap_block_class[TABLE];
uint32_t shmkit__heap_class_size[SHMKIT__HEAP_MAG_CLASSES];
static pthread_once_t setup_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
	shmkit__heap_fork_gen++; /* the child is single-threaded here */
}

/* ---- size classes ---- */

/* The class a request of `need` bytes (block size, multiple of 16, at most
 * SHMKIT__HEAP_MAG_MAX_BLOCK) takes. Above 528 bytes, four classes per power
 * of two: a request is rounded up to its class's size (heap.c), so any
 * cached block of the class fits it. */
static int class_of_need(uint64_t need)
{
	if (need <= 528)
		return (int)(need >> 4) - 2;
	unsigned lg = 63u - (unsigned)__builtin_clzll(need - 1); /* need in (2^lg, 2^(lg+1)] */
	uint64_t step = UINT64_C(1) << (lg - 2);
	uint64_t r = (need + step - 1) & ~(step - 1);
	return SMALL_CLASSES + (int)(lg - 9) * 4 + (int)(r / step) - 5;
}

static uint32_t size_of_class(int c)
{
	if (c < SMALL_CLASSES)
		return ((uint32_t)c + 2) * 16;
	unsigned k = (unsigned)c - SMALL_CLASSES, lg = 9 + k / 4;
	return (uint32_t)(k % 4 + 5) << (lg - 2);
}

/* The tables the inline fast path reads (once per process). */
static void setup(void)
{
	for (int c = 0; c < SHMKIT__HEAP_MAG_CLASSES; c++)
		shmkit__heap_class_size[c] = size_of_class(c);
	for (unsigned i = 0; i < TABLE; i++) {
		uint64_t size = (uint64_t)i * 16;
		int c = size < 32 ? 0 : class_of_need(size);
		shmkit__heap_need_class[i] = (uint8_t)c;
		/* a block serves the largest class whose size it holds */
		if (size >= 32 && size_of_class(c) > size)
			c--;
		shmkit__heap_block_class[i] = size < 32 ? SHMKIT__HEAP_MAG_NONE : (uint8_t)c;
	}
	pthread_atfork(NULL, NULL, on_fork_child);
}

void shmkit__heap_mag_setup(void)
{
	pthread_once(&setup_once, setup);
}

/* ---- the block fields a cached block uses ---- */

static inline volatile uint32_t *tag_of(const struct shmkit_heap *h, uint64_t poff)
{
	return (volatile uint32_t *)(h->base + poff - HDR);
}

static inline uint64_t *owner_of(const struct shmkit_heap *h, uint64_t poff)
{
	return (uint64_t *)(h->base + poff);
}

/* ---- slots (all under the heap lock) ---- */

int shmkit__heap_cache_released(const struct shmkit_heap *h, uint64_t owner)
{
	uint32_t slot = SHMKIT__CACHE_SLOT(owner);
	if ((owner >> 32) != SHMKIT__CACHE_MAGIC || slot >= SHMKIT__HEAP_CACHES)
		return 0; /* no owner word: not ours to judge */
	uint64_t w = h->sh->caches[slot].word;
	return SHMKIT__WORD_STATE(w) != SHMKIT__CACHE_OWNED ||
	       SHMKIT__WORD_GEN(w) != SHMKIT__CACHE_GEN(owner);
}

/* Claims a free slot for this process; -ENOSPC when all are held. */
static int claim_slot(struct shmkit_heap *h, unsigned *slot, uint64_t *owner)
{
	const struct shmkit__ident *me = shmkit__ident_self();

	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < SHMKIT__HEAP_CACHES; i++) {
			struct shmkit__heap_cache_slot *s = &h->sh->caches[i];
			uint64_t w = s->word;
			if (SHMKIT__WORD_STATE(w) != SHMKIT__CACHE_FREE)
				continue;
			uint32_t gen = (SHMKIT__WORD_GEN(w) + 1) & 0xffffffu;
			s->owner = *me;
			s->image = shmkit__image_token(); /* an exec'd successor tells it apart */
			SHMKIT__ORDER();
			s->word = SHMKIT__WORD(me->pid, SHMKIT__CACHE_OWNED, gen);
			*slot = i;
			*owner = SHMKIT__CACHE_OWNER(i, gen);
			return 0;
		}
		/* all held: free the slots of dead processes, then look again */
		if (pass == 0 && shmkit__heap_reclaim_locked(h) <= 0)
			break;
	}
	return -ENOSPC;
}

static void release_slot(struct shmkit_heap *h, unsigned slot)
{
	struct shmkit__heap_cache_slot *s = &h->sh->caches[slot];
	s->word = SHMKIT__WORD(0, SHMKIT__CACHE_FREE, SHMKIT__WORD_GEN(s->word));
}

/* 1 only if the owner of a cache slot is proven dead: returning a live
 * process's cache frees blocks its magazine still hands out. "Dead" by a
 * start time read in a /proc that is not the owner's pid namespace's
 * (unshare -fp without --mount-proc), or through another time namespace,
 * is no proof; one of another pid namespace (a container with its own
 * /proc) is judged by the kernel's lock on its attach slot, as a queue's
 * or topic's peers are, else it would keep its blocks for good. */
static int owner_dead(const struct shmkit_heap *h, const struct shmkit__ident *id)
{
	int a = shmkit__ident_alive(id);
	if (a == -EXDEV)
		return shmkit__obj_ident_alive(&h->obj, id) == 0;
	return a == 0 && shmkit__ident_dead_proven(id);
}

/* 1 if the owner is this very process in an image it replaced by
 * execve(2): exec dropped the magazine, so nothing can use or return those
 * blocks while the process lives (a second copy of the library, or a child
 * forked before the exec, keeps them: the attach table says). */
static int earlier_image(const struct shmkit_heap *h, const struct shmkit__ident *id, uint32_t image)
{
	return image != 0 && shmkit__ident_earlier_image(id, image, UINT32_MAX) &&
	       shmkit__obj_earlier_image_gone(&h->obj, image);
}

int shmkit__heap_reclaim_locked(struct shmkit_heap *h)
{
	int found = 0;

	for (unsigned i = 0; i < SHMKIT__HEAP_CACHES; i++) {
		struct shmkit__heap_cache_slot *s = &h->sh->caches[i];
		if (SHMKIT__WORD_STATE(s->word) != SHMKIT__CACHE_OWNED)
			continue;
		struct shmkit__ident id = s->owner; /* read once: untrusted */
		uint32_t image = (uint32_t)s->image;
		if (id.pid != SHMKIT__WORD_PID(s->word) ||
		    (!owner_dead(h, &id) && !earlier_image(h, &id, image)))
			continue; /* alive, or cannot tell: keep */
		if (!found && h->sh->hj.op == SHMKIT__HOP_NONE) {
			/* killed from here on: the next locker's rebuild frees the
			 * released slots' blocks (they would stay cached until a check) */
			h->sh->hj.op = SHMKIT__HOP_REBUILD;
			SHMKIT__ORDER();
		}
		release_slot(h, i);
		SHMKIT__TEST_POINT("heap.reclaim");
		found = 1;
	}
	if (!found)
		return 0;
	/* the released slots' blocks are orphans now: the rebuild frees them */
	int r = shmkit__heap_rebuild_locked(h);
	return r < 0 ? r : 1;
}

/* ---- the magazine of a handle ---- */

/* Gives back the oldest blocks of class c until `keep` remain (the newest
 * stay: they are the warm ones). Lock held. */
static int flush_class(struct shmkit_heap *h, struct shmkit__heap_mag *m, int c, uint32_t keep)
{
	uint32_t n = m->n[c], i = 0;
	int r = 0;

	while (i + keep < n && r == 0) {
		uint64_t p = m->blocks[c][i++];
		r = shmkit__heap_free_cached_locked(h, p, m->owner); /* a scribbled one is dropped */
	}
	memmove(m->blocks[c], m->blocks[c] + i, (n - i) * sizeof(m->blocks[c][0]));
	m->n[c] = n - i;
	return r;
}

static int flush_all(struct shmkit_heap *h, struct shmkit__heap_mag *m)
{
	int r = 0;
	for (int c = 0; c < SHMKIT__HEAP_MAG_CLASSES && r == 0; c++)
		r = flush_class(h, m, c, 0);
	return r;
}

/* The handle's magazine pointer: set once per process by compare-and-swap
 * (threads of one process may race to make it), read by every operation. */
static inline struct shmkit__heap_mag *mag_of(const struct shmkit_heap *h)
{
	/* acquire: pairs with the release of the CAS in mag_make(): the
	 * magazine is complete before a thread can see it */
	return __atomic_load_n(&h->mag, __ATOMIC_ACQUIRE);
}

/* Gives a slot back (a magazine that lost the race to be the handle's). */
static void drop_slot(struct shmkit_heap *h, unsigned slot)
{
	if (shmkit__heap_lock(h) == 0) {
		release_slot(h, slot);
		shmkit__heap_unlock(h);
	}
}

/* Makes this thread's magazine for h (a forked child replaces the parent's
 * copy: those blocks are the parent's). 0, or -errno: then no caching. */
static int mag_make(struct shmkit_heap *h)
{
	struct shmkit__heap_mag *old = mag_of(h), *m;

	if (old != NULL && old->fork_gen == shmkit__heap_fork_gen)
		return -EBUSY; /* bound to another thread of this process */
	shmkit__heap_mag_setup();
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return shmkit__no_memory("the heap's thread cache");
	int r = shmkit__heap_lock(h);
	if (r == 0) {
		r = claim_slot(h, &m->slot, &m->owner);
		shmkit__heap_unlock(h);
	}
	if (r < 0) {
		free(m);
		return r;
	}
	uint64_t arena = h->arena_end - h->arena_off;
	uint64_t budget = arena / 4096 < CLASS_BUDGET ? arena / 4096 : CLASS_BUDGET;
	for (int c = 0; c < SHMKIT__HEAP_MAG_CLASSES; c++) {
		uint64_t n = budget / shmkit__heap_class_size[c];
		m->cap[c] = n > SHMKIT__HEAP_MAG_CAP ? SHMKIT__HEAP_MAG_CAP : (uint32_t)n;
	}
	m->thread = shmkit__heap_thread_token();
	m->tid = gettid();
	m->fork_gen = shmkit__heap_fork_gen;
	/* release: pairs with the acquire in mag_of(); one thread wins */
	if (!__atomic_compare_exchange_n(&h->mag, &old, m, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		drop_slot(h, m->slot);
		free(m);
		return -EBUSY;
	}
	free(old); /* a forked child's copy of its parent's magazine */
	return 0;
}

/* Refills class c with up to half its capacity; 0 if at least one came. */
static int refill(struct shmkit_heap *h, struct shmkit__heap_mag *m, int c)
{
	uint64_t sz = shmkit__heap_class_size[c];
	uint32_t want = (m->cap[c] + 1) / 2;
	int r = shmkit__heap_lock(h);

	if (r < 0)
		return r;
	while (m->n[c] < want) {
		uint64_t p;
		if ((r = shmkit__heap_alloc_cached_locked(h, sz - HDR, m->owner, &p)) < 0)
			break;
		m->blocks[c][m->n[c]++] = p;
	}
	shmkit__heap_unlock(h);
	return m->n[c] > 0 ? 0 : r < 0 ? r : -ENOSPC;
}

/* Takes the top block of class c if it still says it is ours. */
static int pop(struct shmkit_heap *h, struct shmkit__heap_mag *m, int c, uint64_t *out)
{
	uint64_t p = m->blocks[c][--m->n[c]];

	/* atomic (relaxed): the locked path reads this tag as a neighbour's
	 * while we change it without the lock (a data race for TSan otherwise) */
	if (__atomic_load_n(tag_of(h, p), __ATOMIC_RELAXED) !=
		    (SHMKIT__BLOCK_MAGIC | SHMKIT__BLOCK_CACHED) ||
	    *owner_of(h, p) != m->owner)
		return -EBADMSG; /* scribbled while cached: left to check */
	/* one store: it is the caller's */
	__atomic_store_n(tag_of(h, p), SHMKIT__BLOCK_MAGIC | SHMKIT__BLOCK_USED, __ATOMIC_RELAXED);
	SHMKIT__TEST_POINT("heap.cache.alloc");
	*out = p;
	return 0;
}

/* What a failure to make or use the cache means: 1, take the locked path;
 * but a lock wait that ran out is the caller's answer (changed nothing), not
 * a reason to wait as long again on the locked path. */
static int no_cache(int r)
{
	return shmkit__heap_lock_gave_up(r) ? r : 1;
}

int shmkit__heap_mag_alloc(struct shmkit_heap *h, uint64_t need, uint64_t *out)
{
	struct shmkit__heap_mag *m = mag_of(h);

	if (need > SHMKIT__HEAP_MAG_MAX_BLOCK)
		return 1;
	int r;
	if (!shmkit__heap_mag_mine(m)) {
		if ((r = mag_make(h)) < 0)
			return no_cache(r);
		m = mag_of(h);
	}
	int c = shmkit__heap_need_class[need >> 4];
	if (m->cap[c] == 0)
		return 1; /* too big a share of this heap to cache */
	if (m->n[c] == 0 && (r = refill(h, m, c)) < 0)
		return no_cache(r); /* the locked path decides (and says -ENOSPC) */
	return pop(h, m, c, out);
}

int shmkit__heap_mag_free(struct shmkit_heap *h, uint64_t poff, uint64_t sz)
{
	struct shmkit__heap_mag *m = mag_of(h);

	if (sz > SHMKIT__HEAP_MAG_MAX_BLOCK || (sz & 15) != 0 || sz > h->arena_end - (poff - HDR))
		return 1;
	int c = shmkit__heap_block_class[sz >> 4];
	if (c == SHMKIT__HEAP_MAG_NONE)
		return 1;
	if (!shmkit__heap_mag_mine(m)) {
		int r = mag_make(h);
		if (r < 0)
			return no_cache(r);
		m = mag_of(h);
	}
	uint32_t cap = m->cap[c];
	if (cap == 0)
		return 1; /* too big a share of this heap: free for real */
	if (m->n[c] >= cap) {
		int r = shmkit__heap_lock(h);
		if (r < 0)
			return r;
		r = flush_class(h, m, c, cap / 2);
		shmkit__heap_unlock(h);
		if (r < 0)
			return r;
	}
	*owner_of(h, poff) = m->owner;
	SHMKIT__ORDER(); /* the owner is in place before the tag says cached */
	SHMKIT__TEST_POINT("heap.cache.free");
	__atomic_store_n(tag_of(h, poff), SHMKIT__BLOCK_MAGIC | SHMKIT__BLOCK_CACHED, __ATOMIC_RELAXED);
	m->blocks[c][m->n[c]++] = poff;
	return 0;
}

/* Whether thread tid of this process has exited. A tid reused by a new
 * thread of ours reads as alive: the safe side. Asked of the kernel
 * (tgkill, signal 0), not of /proc/self/task: tid is of our pid namespace,
 * and a /proc mounted for another one (unshare -fp without --mount-proc)
 * has no such entry for a live thread, whose cache another thread then
 * flushed while it popped and pushed it without the lock (blocks handed
 * out twice). Any other refusal (a seccomp filter) reads as alive. */
static bool thread_gone(pid_t tid)
{
	return tid > 0 && syscall(SYS_tgkill, getpid(), tid, 0) != 0 && errno == ESRCH;
}

/* The cache is bound to a thread of ours that has exited: its blocks would
 * stay cached until close (other threads take the locked path, and ran out
 * of space with them there). Take it over (one thread wins the exchange;
 * the exited one uses it no more). */
static bool adopt_orphan(struct shmkit__heap_mag *m)
{
	if (m == NULL || m->fork_gen != shmkit__heap_fork_gen ||
	    !thread_gone(__atomic_load_n(&m->tid, __ATOMIC_RELAXED)))
		return false;
	uintptr_t was = __atomic_load_n(&m->thread, __ATOMIC_RELAXED);
	if (!__atomic_compare_exchange_n(&m->thread, &was, shmkit__heap_thread_token(), 0,
					 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return false;
	__atomic_store_n(&m->tid, gettid(), __ATOMIC_RELAXED);
	return true;
}

int shmkit__heap_mag_flush_locked(struct shmkit_heap *h)
{
	struct shmkit__heap_mag *m = mag_of(h);
	return shmkit__heap_mag_mine(m) || adopt_orphan(m) ? flush_all(h, m) : 0;
}

void shmkit__heap_mag_close(struct shmkit_heap *h)
{
	struct shmkit__heap_mag *m = mag_of(h);

	__atomic_store_n(&h->mag, NULL, __ATOMIC_RELAXED); /* close: no other user */
	/* without the handle's lock timeout: blocks left cached by a live
	 * process would be out of use until it exits */
	if (m != NULL && m->fork_gen == shmkit__heap_fork_gen &&
	    shmkit__heap_lock_forever(h) == 0) {
		flush_all(h, m);
		release_slot(h, m->slot);
		shmkit__heap_unlock(h);
	}
	free(m);
}
