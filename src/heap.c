/* SPDX-License-Identifier: MIT */
/* The heap: an allocator inside a managed segment.
 *
 * The arena is one contiguous run of blocks; each starts with a 16-byte
 * header (tag, previous block's size, own size), so the blocks can always be
 * walked from the first to the last. Free blocks sit in 64 segregated bins:
 * 32 exact small classes (32..528 bytes) and 32 power-of-two ranges; a small
 * request pops its exact class in O(1), a large one takes the best fit of its
 * range or the first block of a larger non-empty bin (a bitmap finds it).
 * Freed blocks coalesce with free neighbours at once (boundary tags).
 * A bitmap with one bit per 16 arena bytes marks live allocations, so
 * shmkit_heap_ptr and shmkit_heap_free can tell a real allocation from any
 * other offset.
 *
 * Crash safety: everything is guarded by one robust mutex. Before alloc or
 * free mutates anything it records the block it works on in the heap journal
 * (sh->hj) and clears it after the last store. The walk of block headers is
 * the ground truth and each step changes it with one 8-byte store, ordered
 * by compiler barriers; bins, bitmap and totals are derived. So the process
 * that inherits the lock from a dead holder rolls the journaled block back
 * (alloc: the caller never got it) or forward (free), and rebuilds everything
 * derived from the headers. The object journal (sh->oj) does the same for
 * multi-step operations above the heap: named objects here, the map there.
 *
 * Shared memory is untrusted: every offset is bounds-checked before use and
 * every walk is bounded by the number of blocks that can exist. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <shmkit/heap.h>
#include <shmkit/seg.h>
#include <shmkit/sync.h>

#include "heap_internal.h"
#include "internal.h"
#include "sync_internal.h"

#define HDR ((uint64_t)sizeof(struct shmkit__heap_block))
#define MIN_BLOCK ((uint64_t)SHMKIT__HEAP_MIN_BLOCK)
#define TAG_FREE (SHMKIT__BLOCK_MAGIC | SHMKIT__BLOCK_FREE)
#define TAG_USED (SHMKIT__BLOCK_MAGIC | SHMKIT__BLOCK_USED)
#define TAG_CACHED (SHMKIT__BLOCK_MAGIC | SHMKIT__BLOCK_CACHED)
#define MAX_BLOCK_SIZE ((uint64_t)UINT32_MAX * 16) /* prev_units is 32 bits */
/* The few helpers of the alloc/free paths: inlined, their calls cost more
 * than their bodies (~8 % of an alloc+free pair). */
#define HOT_INLINE inline __attribute__((always_inline))

static inline struct shmkit__heap_block *blk(const struct shmkit_heap *h, uint64_t off)
{
	return (struct shmkit__heap_block *)(h->base + off);
}

static inline struct shmkit__heap_links *links(const struct shmkit_heap *h, uint64_t off)
{
	return (struct shmkit__heap_links *)(h->base + off + HDR);
}

/* off could be a block start: aligned, header and links inside the arena. */
static inline int in_arena(const struct shmkit_heap *h, uint64_t off)
{
	return off >= h->arena_off && off <= h->arena_end - MIN_BLOCK && (off & 15) == 0;
}

/* Reads the header at off once and checks it describes a block that fits. */
static HOT_INLINE int read_block(const struct shmkit_heap *h, uint64_t off, uint32_t *state,
				 uint64_t *size)
{
	if (!in_arena(h, off))
		return -EBADMSG;
	const struct shmkit__heap_block *b = blk(h, off);
	/* atomic (relaxed): a magazine flips a cached neighbour's tag without
	 * the lock (mag_pop/mag_push, heap_cache.c); its size it never changes */
	uint32_t tag = __atomic_load_n(&b->tag, __ATOMIC_RELAXED);
	uint64_t sz = b->size;
	uint32_t st = tag & 0xffu;

	if ((tag & ~0xffu) != SHMKIT__BLOCK_MAGIC || st < SHMKIT__BLOCK_FREE ||
	    st > SHMKIT__BLOCK_CACHED)
		return -EBADMSG;
	if (sz < MIN_BLOCK || (sz & 15) != 0 || sz > h->arena_end - off)
		return -EBADMSG;
	*state = st;
	*size = sz;
	return 0;
}

static unsigned bin_of(uint64_t size)
{
	uint64_t units = size >> 4;

	if (units < 2 + SHMKIT__HEAP_SMALL_BINS)
		return (unsigned)(units - 2);
	unsigned lg = 63u - (unsigned)__builtin_clzll(units); /* >= 5 */
	unsigned b = SHMKIT__HEAP_SMALL_BINS + lg - 5;
	return b < SHMKIT__HEAP_BINS ? b : SHMKIT__HEAP_BINS - 1;
}

/* Largest block size (header included) that falls in bin b. */
static uint64_t bin_max(unsigned b)
{
	if (b < SHMKIT__HEAP_SMALL_BINS)
		return ((uint64_t)b + 2) * 16;
	if (b == SHMKIT__HEAP_BINS - 1)
		return UINT64_MAX;
	unsigned lg = b - SHMKIT__HEAP_SMALL_BINS + 5;
	return ((UINT64_C(2) << lg) - 1) * 16;
}

/* ---- live-start bitmap (writers hold the lock; readers are lock-free) ---- */

static void live_mark(struct shmkit_heap *h, uint64_t block, int on)
{
	uint64_t i = (block - h->arena_off) >> 4;
	_Atomic uint64_t *w = &h->bitmap[i >> 6];
	uint64_t bit = UINT64_C(1) << (i & 63);
	/* relaxed: only lock holders write; readers need no ordering with it */
	uint64_t v = atomic_load_explicit(w, memory_order_relaxed);
	atomic_store_explicit(w, on ? v | bit : v & ~bit, memory_order_relaxed);
}

static HOT_INLINE int live_at(const struct shmkit_heap *h, uint64_t off)
{
	if (off < h->arena_off + HDR || (off & 15) != 0 || off - HDR > h->arena_end - MIN_BLOCK)
		return 0;
	uint64_t i = (off - HDR - h->arena_off) >> 4;
	uint64_t w = atomic_load_explicit(&h->bitmap[i >> 6], memory_order_relaxed);
	if (!(w >> (i & 63) & 1))
		return 0;
	return blk(h, off - HDR)->tag == TAG_USED;
}

int shmkit__heap_live(const struct shmkit_heap *h, uint64_t off)
{
	return live_at(h, off);
}

/* ---- bins ---- */

static HOT_INLINE int bin_push(struct shmkit_heap *h, uint64_t off, uint64_t size)
{
	struct shmkit__heap_shared *sh = h->sh;
	unsigned b = bin_of(size);
	uint64_t head = sh->bins[b];

	if (head != 0 && !in_arena(h, head))
		return -EBADMSG;
	links(h, off)->next = head;
	links(h, off)->prev = 0;
	if (head != 0)
		links(h, head)->prev = off;
	sh->bins[b] = off;
	sh->nonempty |= UINT64_C(1) << b;
	return 0;
}

static HOT_INLINE int bin_unlink(struct shmkit_heap *h, uint64_t off, uint64_t size)
{
	struct shmkit__heap_shared *sh = h->sh;
	unsigned b = bin_of(size);
	uint64_t next = links(h, off)->next;
	uint64_t prev = links(h, off)->prev;

	if ((next != 0 && !in_arena(h, next)) || (prev != 0 && !in_arena(h, prev)))
		return -EBADMSG;
	if (prev != 0 ? links(h, prev)->next != off : sh->bins[b] != off)
		return -EBADMSG;
	if (next != 0 && links(h, next)->prev != off)
		return -EBADMSG;
	if (prev != 0) {
		links(h, prev)->next = next;
	} else {
		sh->bins[b] = next;
		if (next == 0)
			sh->nonempty &= ~(UINT64_C(1) << b);
	}
	if (next != 0)
		links(h, next)->prev = prev;
	return 0;
}

/* Head of bin b, checked to be a free block of that bin. */
static HOT_INLINE int bin_head(struct shmkit_heap *h, unsigned b, uint64_t *off, uint64_t *size)
{
	uint64_t cur = h->sh->bins[b];
	uint32_t st;

	if (cur == 0 || read_block(h, cur, &st, size) < 0 || st != SHMKIT__BLOCK_FREE ||
	    bin_of(*size) != b)
		return -EBADMSG;
	*off = cur;
	return 0;
}

/* Good fit within a range bin: the best of the blocks that fit among the
 * first `look` of the list (0 = the whole list); 0 with *off = 0 when none
 * of those is big enough. */
#define BEST_FIT_LOOK 16
static int bin_best(struct shmkit_heap *h, unsigned b, uint64_t need, uint64_t look, uint64_t *off,
		    uint64_t *size)
{
	uint64_t cur = h->sh->bins[b], best = 0, best_size = UINT64_MAX, steps = 0;

	while (cur != 0) {
		uint32_t st;
		uint64_t sz;
		if (++steps > h->max_blocks || read_block(h, cur, &st, &sz) < 0 ||
		    st != SHMKIT__BLOCK_FREE || bin_of(sz) != b)
			return -EBADMSG;
		if (sz >= need && sz < best_size) {
			best = cur;
			best_size = sz;
			if (sz == need)
				break;
		}
		if (look != 0 && steps >= look)
			break;
		cur = links(h, cur)->next;
	}
	*off = best;
	*size = best_size;
	return 0;
}

/* Segregated fit (TLSF-like): the exact class of a small request, or a good
 * fit among the first blocks of a large request's range; else the first
 * block of the next non-empty bin (all of them fit); only when there is
 * none, the whole of the request's own range bin (so a fit is never missed
 * and a full walk happens only when the heap is nearly full). */
static int find_fit(struct shmkit_heap *h, uint64_t need, uint64_t *off, uint64_t *size)
{
	unsigned own = bin_of(need), b = own + 1;
	int r;

	if (own >= SHMKIT__HEAP_SMALL_BINS) {
		if ((r = bin_best(h, own, need, BEST_FIT_LOOK, off, size)) < 0 || *off != 0)
			return r;
	} else if (h->sh->bins[own] != 0) {
		return bin_head(h, own, off, size); /* exact class: any block fits */
	}
	uint64_t mask = b < SHMKIT__HEAP_BINS ? h->sh->nonempty & (~UINT64_C(0) << b) : 0;
	if (mask != 0) /* every block of a higher bin is larger than need */
		return bin_head(h, (unsigned)__builtin_ctzll(mask), off, size);
	if (own >= SHMKIT__HEAP_SMALL_BINS) {
		if ((r = bin_best(h, own, need, 0, off, size)) < 0 || *off != 0)
			return r;
	}
	return -ENOSPC;
}

/* ---- alloc / free ---- */

/* owner 0: a live allocation; else straight into the cache of that owner.
 * The payload offset goes to *out (maybe a shared journal's field) and, if
 * mine is not NULL, to *mine (the caller's own copy). */
static int alloc_block_locked(struct shmkit_heap *h, size_t size, uint64_t owner, uint64_t *out,
			      uint64_t *mine)
{
	struct shmkit__heap_shared *sh = h->sh;
	uint64_t off, bsz, want = size; /* compared as 64 bits: size_t is 32 on i386 */

	if (want > h->arena_end - h->arena_off || want > MAX_BLOCK_SIZE - 2 * HDR)
		return -ENOSPC;
	uint64_t need = ((uint64_t)size + HDR + 15) & ~UINT64_C(15);
	if (need < MIN_BLOCK)
		need = MIN_BLOCK;
	int r = find_fit(h, need, &off, &bsz);
	if (r < 0)
		return r;

	sh->hj.block = off;
	SHMKIT__ORDER();
	sh->hj.op = SHMKIT__HOP_ALLOC;
	SHMKIT__ORDER();
	SHMKIT__TEST_POINT("heap.alloc.1");
	r = bin_unlink(h, off, bsz);
	if (r < 0)
		return r; /* journal stays: the next locker rebuilds the bins */
	sh->n_free--;
	sh->free_bytes -= bsz;
	if (bsz - need >= MIN_BLOCK) {
		uint64_t tail = off + need, tail_size = bsz - need;
		/* the tail's header is complete before the one store that makes
		 * the walk reach it */
		blk(h, tail)->tag = TAG_FREE;
		blk(h, tail)->prev_units = (uint32_t)(need >> 4);
		blk(h, tail)->size = tail_size;
		SHMKIT__ORDER();
		blk(h, off)->size = need;
		SHMKIT__ORDER();
		SHMKIT__TEST_POINT("heap.alloc.2");
		if (tail + tail_size < h->arena_end)
			blk(h, tail + tail_size)->prev_units = (uint32_t)(tail_size >> 4);
		r = bin_push(h, tail, tail_size);
		if (r < 0)
			return r;
		sh->n_free++;
		sh->free_bytes += tail_size;
		bsz = need;
	}
	if (owner != 0) {
		links(h, off)->next = owner; /* before the tag: a cached block names its owner */
		SHMKIT__ORDER();
	}
	blk(h, off)->tag = owner != 0 ? TAG_CACHED : TAG_USED;
	live_mark(h, off, 1);
	sh->used_bytes += bsz;
	sh->n_used++;
	SHMKIT__ORDER();
	*out = off + HDR;
	if (mine != NULL)
		*mine = off + HDR;
	SHMKIT__ORDER();
	SHMKIT__TEST_POINT("heap.alloc.3");
	sh->hj.op = SHMKIT__HOP_NONE;
	return 0;
}

int shmkit__heap_alloc_locked(struct shmkit_heap *h, size_t size, uint64_t *out)
{
	return alloc_block_locked(h, size, 0, out, NULL);
}

int shmkit__heap_alloc_journaled(struct shmkit_heap *h, size_t size, uint64_t *journal,
				 uint64_t *off)
{
	return alloc_block_locked(h, size, 0, journal, off);
}

int shmkit__heap_alloc_cached_locked(struct shmkit_heap *h, size_t size, uint64_t owner,
				     uint64_t *out)
{
	return alloc_block_locked(h, size, owner, out, NULL);
}

/* A cached block of owner at payload offset poff: bit set, tag and owner word. */
static int cached_at(const struct shmkit_heap *h, uint64_t poff, uint64_t owner)
{
	if (poff < h->arena_off + HDR || (poff & 15) != 0 || poff - HDR > h->arena_end - MIN_BLOCK)
		return 0;
	uint64_t i = (poff - HDR - h->arena_off) >> 4;
	uint64_t w = atomic_load_explicit(&h->bitmap[i >> 6], memory_order_relaxed);
	return (w >> (i & 63) & 1) &&
	       __atomic_load_n(&blk(h, poff - HDR)->tag, __ATOMIC_RELAXED) == TAG_CACHED &&
	       links(h, poff - HDR)->next == owner;
}

/* owner 0: frees a live allocation; else a block cached by owner. */
static int free_block_locked(struct shmkit_heap *h, uint64_t poff, uint64_t owner)
{
	struct shmkit__heap_shared *sh = h->sh;
	uint32_t st, nst = 0, pst = 0;
	uint64_t sz, nsz = 0, psz = 0, prev = 0;

	if (owner == 0 ? !live_at(h, poff) : !cached_at(h, poff, owner))
		return owner == 0 ? -EINVAL : -EBADMSG;
	uint64_t off = poff - HDR;
	if (read_block(h, off, &st, &sz) < 0)
		return -EBADMSG;
	/* check both neighbours before the first store */
	uint64_t next = off + sz;
	if (next < h->arena_end) {
		if (read_block(h, next, &nst, &nsz) < 0 || blk(h, next)->prev_units != sz >> 4)
			return -EBADMSG;
	}
	uint64_t pu = blk(h, off)->prev_units;
	if (pu != 0) {
		if (pu * 16 > off - h->arena_off)
			return -EBADMSG;
		prev = off - pu * 16;
		if (read_block(h, prev, &pst, &psz) < 0 || psz != pu * 16)
			return -EBADMSG;
	} else if (off != h->arena_off) {
		return -EBADMSG;
	}

	sh->hj.block = off;
	SHMKIT__ORDER();
	sh->hj.op = SHMKIT__HOP_FREE;
	SHMKIT__ORDER();
	SHMKIT__TEST_POINT("heap.free.1");
	live_mark(h, off, 0);
	blk(h, off)->tag = TAG_FREE;
	SHMKIT__ORDER();
	sh->used_bytes -= sz;
	sh->n_used--;
	uint64_t start = off, total = sz;
	int r;
	if (nst == SHMKIT__BLOCK_FREE) {
		if ((r = bin_unlink(h, next, nsz)) < 0)
			return r;
		total += nsz;
		blk(h, start)->size = total;
		SHMKIT__ORDER();
		sh->n_free--;
		sh->free_bytes -= nsz;
	}
	SHMKIT__TEST_POINT("heap.free.2");
	if (pst == SHMKIT__BLOCK_FREE) {
		if ((r = bin_unlink(h, prev, psz)) < 0)
			return r;
		total += psz;
		start = prev;
		blk(h, start)->size = total;
		SHMKIT__ORDER();
		sh->n_free--;
		sh->free_bytes -= psz;
	}
	if (start + total < h->arena_end)
		blk(h, start + total)->prev_units = (uint32_t)(total >> 4);
	if ((r = bin_push(h, start, total)) < 0)
		return r;
	sh->n_free++;
	sh->free_bytes += total;
	SHMKIT__ORDER();
	SHMKIT__TEST_POINT("heap.free.3");
	sh->hj.op = SHMKIT__HOP_NONE;
	return 0;
}

int shmkit__heap_free_locked(struct shmkit_heap *h, uint64_t poff)
{
	return free_block_locked(h, poff, 0);
}

int shmkit__heap_free_cached_locked(struct shmkit_heap *h, uint64_t poff, uint64_t owner)
{
	return free_block_locked(h, poff, owner);
}

/* ---- repair ---- */

/* Rewrites the live-start bitmap during a walk, each word stored once with
 * its final value: a used block's bit never reads 0 meanwhile to the
 * lock-free readers (heap_ptr, and free's cache path). */
struct bits_out {
	struct shmkit_heap *h;
	uint64_t word, acc;
};

static void bits_flush_to(struct bits_out *b, uint64_t word)
{
	for (; b->word < word; b->word++, b->acc = 0) /* lock held: only writer */
		atomic_store_explicit(&b->h->bitmap[b->word], b->acc, memory_order_relaxed);
}

static void bits_set(struct bits_out *b, uint64_t block)
{
	uint64_t i = (block - b->h->arena_off) >> 4;
	bits_flush_to(b, i >> 6);
	b->acc |= UINT64_C(1) << (i & 63);
}

static void bits_finish(struct bits_out *b)
{
	bits_flush_to(b, ((b->h->arena_end - b->h->arena_off) / 16 + 63) / 64);
}

/* A cached block of a released slot (its process died) is free. Live
 * owners flip their blocks' tags without the lock: a block read as cached
 * may be the caller's again by now, its owner word overwritten with data,
 * so the tag changes only by compare-and-swap from CACHED, and only for an
 * owner word naming a released slot (data that forges one exactly, in a
 * block being freed and re-cached at that instant, is the one case this
 * cannot tell). */
static uint32_t settle_cached(struct shmkit_heap *h, uint64_t off, uint32_t st)
{
	uint32_t want = TAG_CACHED;

	if (st == SHMKIT__BLOCK_CACHED && shmkit__heap_cache_released(h, links(h, off)->next) &&
	    __atomic_compare_exchange_n(&blk(h, off)->tag, &want, TAG_FREE, 0, __ATOMIC_RELAXED,
					__ATOMIC_RELAXED))
		return SHMKIT__BLOCK_FREE;
	return st;
}

/* Applies the heap journal, then rebuilds bins, bitmap, totals and
 * prev_units from the block headers, merging adjacent free blocks (and
 * returning the blocks of released cache slots).
 * The rebuild is itself journaled (HOP_REBUILD): it empties the bins and
 * refills them over many stores, so a rebuilder killed midway (a process
 * returning a dead one's cache at open) would otherwise leave free blocks
 * in no bin and a journal that says nothing is pending. */
int shmkit__heap_rebuild_locked(struct shmkit_heap *h)
{
	struct shmkit__heap_shared *sh = h->sh;
	uint32_t op = sh->hj.op;
	uint64_t jb = sh->hj.block;

	if ((op == SHMKIT__HOP_ALLOC || op == SHMKIT__HOP_FREE) && in_arena(h, jb) &&
	    (blk(h, jb)->tag & ~0xffu) == SHMKIT__BLOCK_MAGIC)
		blk(h, jb)->tag = TAG_FREE; /* alloc: roll back; free: roll forward */
	SHMKIT__ORDER();
	sh->hj.op = SHMKIT__HOP_REBUILD; /* from here a death means: rebuild again */
	SHMKIT__ORDER();
	memset(sh->bins, 0, sizeof(sh->bins));
	sh->nonempty = 0;
	sh->used_bytes = sh->free_bytes = sh->n_used = sh->n_free = 0;
	SHMKIT__TEST_POINT("heap.rebuild");
	struct bits_out bits = { h, 0, 0 };

	uint64_t off = h->arena_off, prev_size = 0, run = 0, steps = 0;
	while (off < h->arena_end) {
		uint32_t st;
		uint64_t sz;
		if (++steps > h->max_blocks || read_block(h, off, &st, &sz) < 0)
			return -EBADMSG;
		blk(h, off)->prev_units = (uint32_t)(prev_size >> 4);
		st = settle_cached(h, off, st);
		if (st == SHMKIT__BLOCK_FREE) {
			if (run != 0) {
				blk(h, run)->size += sz; /* merge into the free run */
				prev_size = blk(h, run)->size;
			} else {
				run = off;
				prev_size = sz;
			}
		} else {
			if (run != 0) {
				bin_push(h, run, blk(h, run)->size);
				sh->n_free++;
				sh->free_bytes += blk(h, run)->size;
				run = 0;
			}
			bits_set(&bits, off);
			sh->n_used++;
			sh->used_bytes += sz;
			prev_size = sz;
		}
		off += sz;
	}
	bits_finish(&bits);
	if (run != 0) {
		bin_push(h, run, blk(h, run)->size);
		sh->n_free++;
		sh->free_bytes += blk(h, run)->size;
	}
	SHMKIT__ORDER();
	sh->hj.op = SHMKIT__HOP_NONE;
	return 0;
}

/* A named block whose creation was cut short: free it unless published. */
static int named_recover_locked(struct shmkit_heap *h)
{
	struct shmkit__heap_shared *sh = h->sh;
	uint64_t a = sh->oj.a;

	for (unsigned i = 0; i < SHMKIT__HEAP_NAMES; i++) {
		struct shmkit__heap_name *e = &sh->names[i];
		if (e->off == 0)
			memset(e->name, 0, sizeof(e->name));
		else if (e->off == a)
			a = 0; /* published: keep */
	}
	if (a != 0 && shmkit__heap_live(h, a)) {
		int r = shmkit__heap_free_locked(h, a);
		if (r < 0)
			return r;
	}
	SHMKIT__ORDER();
	sh->oj.op = SHMKIT__OOP_NONE;
	return 0;
}

static int needs_repair(const struct shmkit_heap *h)
{
	uint32_t oop = h->sh->oj.op;
	return h->sh->hj.op != SHMKIT__HOP_NONE || oop == SHMKIT__OOP_NAMED ||
	       (oop != SHMKIT__OOP_NONE && h->recover_upper != NULL);
}

static int repair_locked(struct shmkit_heap *h)
{
	int r = 0;

	if (h->sh->hj.op != SHMKIT__HOP_NONE && (r = shmkit__heap_rebuild_locked(h)) < 0)
		return r;
	if (h->sh->oj.op == SHMKIT__OOP_NAMED)
		return named_recover_locked(h);
	if (h->recover_upper != NULL)
		return h->recover_upper(h); /* also repairs its own non-journal state */
	return 0;
}

/* Waits for the lock in bounded periods, retried. A process killed inside
 * the lock's own code can leave a free lock with a sleeper nobody will wake
 * (seen with glibc robust mutexes and kill -9 at random moments: the word 0,
 * a waiter in FUTEX_WAIT); a bounded wait turns that hang into one period. */
#define LOCK_PERIOD_NS 20000000 /* 20 ms */

void shmkit__heap_lock_holder(struct shmkit_heap *h, char *buf, size_t cap)
{
	shmkit__mutex_holder_text(&h->sh->lock, buf, cap);
}

/* The caller's wait for the lock ran out (a live holder kept it): the
 * detail names the holder, and whether it is stopped, so the user can act. */
static int lock_gave_up(struct shmkit_heap *h, int64_t timeout_ns)
{
	char who[96];
	const char *what = h->recover_upper != NULL ? "map" : "heap";

	shmkit__heap_lock_holder(h, who, sizeof(who));
	if (timeout_ns == 0)
		return shmkit__fail(-EAGAIN, "the %s's lock is %s", what, who);
	return shmkit__fail(-ETIMEDOUT, "the %s's lock is %s for over %g s", what, who,
			    (double)timeout_ns / 1e9);
}

/* Waits for the lock until timeout_ns (relative; SHMKIT_FOREVER: no
 * limit) has passed, in periods of at most LOCK_PERIOD_NS. r is the result
 * of the first try (timeout 0). */
static int wait_for_lock(struct shmkit_heap *h, int r, int64_t timeout_ns)
{
	if (timeout_ns < 0) {
		while (r == -EAGAIN || r == -ETIMEDOUT)
			r = shmkit_mutex_lock(&h->sh->lock, LOCK_PERIOD_NS);
		return r;
	}
	int64_t deadline = shmkit__deadline(timeout_ns);
	while (r == -EAGAIN || r == -ETIMEDOUT) {
		int64_t left = deadline - shmkit__now_ns();
		if (left <= 0)
			return lock_gave_up(h, timeout_ns);
		r = shmkit_mutex_lock(&h->sh->lock, left < LOCK_PERIOD_NS ? left : LOCK_PERIOD_NS);
	}
	return r;
}

/* Everything but the uncontended, nothing-to-repair case: r is the result
 * of the first try. A holder that dies while we wait is still taken over
 * and repaired (-EOWNERDEAD below), timeout or not. */
static int lock_slow(struct shmkit_heap *h, int r, int64_t timeout_ns)
{
	if ((r = wait_for_lock(h, r, timeout_ns)) < 0 && shmkit__heap_lock_gave_up(r))
		return r;
	if (r == -EOWNERDEAD) {
		r = repair_locked(h);
		int c = shmkit_mutex_consistent(&h->sh->lock);
		if (r == 0)
			r = c;
		if (r < 0)
			shmkit_mutex_unlock(&h->sh->lock);
		return r < 0 ? r : 0;
	}
	if (r < 0)
		return r;
	if (needs_repair(h)) {
		/* a journal left by a holder that died without the lock noticing
		 * (a file: heap after a crash or reboot) */
		r = repair_locked(h);
		if (r < 0) {
			shmkit_mutex_unlock(&h->sh->lock);
			return r;
		}
	}
	return 0;
}

static HOT_INLINE int heap_lock(struct shmkit_heap *h)
{
	int r = shmkit_mutex_lock(&h->sh->lock, 0); /* the fast path: no clock read */

	if (SHMKIT__UNLIKELY(r != 0 || needs_repair(h)))
		return lock_slow(h, r, __atomic_load_n(&h->lock_timeout_ns, __ATOMIC_RELAXED));
	return 0;
}

int shmkit__heap_lock(struct shmkit_heap *h)
{
	return heap_lock(h);
}

int shmkit__heap_lock_forever(struct shmkit_heap *h)
{
	int r = shmkit_mutex_lock(&h->sh->lock, 0);

	return r == 0 && !needs_repair(h) ? 0 : lock_slow(h, r, SHMKIT_FOREVER);
}

int shmkit_heap_set_lock_timeout(struct shmkit_heap *h, int64_t timeout_ns)
{
	if (h == NULL || timeout_ns < SHMKIT_FOREVER)
		return -EINVAL;
	__atomic_store_n(&h->lock_timeout_ns, timeout_ns, __ATOMIC_RELAXED);
	return 0;
}

/* For callers that only look (stats): a live holder that keeps the lock
 * past the bound (a stopped process, a debugger) gives -EBUSY instead of
 * a wait without end, so `shmkit stat` cannot hang on it. */
#define LOOK_WAIT_NS 1000000000 /* 1 s */

static int heap_lock_to_look(struct shmkit_heap *h)
{
	int64_t end = shmkit__now_ns() + LOOK_WAIT_NS;
	int r = shmkit_mutex_lock(&h->sh->lock, 0);

	while ((r == -EAGAIN || r == -ETIMEDOUT) && shmkit__now_ns() < end)
		r = shmkit_mutex_lock(&h->sh->lock, LOCK_PERIOD_NS);
	if (r == -EAGAIN || r == -ETIMEDOUT) {
		char who[96];
		shmkit__heap_lock_holder(h, who, sizeof(who));
		return shmkit__fail(-EBUSY, "the heap's lock has been %s for over 1 s", who);
	}
	return r == 0 && !needs_repair(h) ? 0 : lock_slow(h, r, SHMKIT_FOREVER);
}

void shmkit__heap_unlock(struct shmkit_heap *h)
{
	shmkit_mutex_unlock(&h->sh->lock);
}

/* ---- a lock left held across a reboot (file: heaps) ---- */

#define BOOT_TAG_BUSY UINT64_C(1)

static uint64_t boot_tag_now(void)
{
	uint8_t id[16];
	uint64_t a, b;

	if (shmkit__boot_id(id) < 0)
		return 0;
	memcpy(&a, id, 8);
	memcpy(&b, id + 8, 8);
	uint64_t t = (a ^ (b * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;
	return t > BOOT_TAG_BUSY ? t : t + 2;
}

/* A heap that outlived a reboot (file:) may hold its lock in the name of a
 * thread of the old boot, which the kernel will never release. The first
 * opener of each boot re-initializes the lock (nobody of this boot can hold
 * it: they would have stamped the tag first), and the journals left behind
 * are replayed by the next lock. */
static int boot_check(struct shmkit_heap *h)
{
	uint64_t now = boot_tag_now();

	if (now == 0)
		return 0; /* cannot tell: keep the lock as it is */
	/* by the clock, not a count of 1 ms sleeps (1000 of them took 1.1 s
	 * idle, 1.6 s loaded: past the 1 s every open promises) */
	int64_t until = shmkit__now_ns() + 1000000000;

	for (;;) {
		/* acquire: pairs with the release store below; the lock was
		 * re-initialized before the tag says this boot */
		uint64_t tag = atomic_load_explicit(&h->sh->boot_tag, memory_order_acquire);
		if (tag == now)
			return 0;
		if (tag == BOOT_TAG_BUSY && shmkit__now_ns() < until) {
			struct timespec ms = { 0, 1000000 };
			nanosleep(&ms, NULL); /* another opener is re-initializing */
			continue;
		}
		/* a tag of another boot, or a re-initializer that died for 1 s */
		if (!atomic_compare_exchange_strong(&h->sh->boot_tag, &tag, BOOT_TAG_BUSY))
			continue;
		int r = shmkit_mutex_init(&h->sh->lock);
		/* release: the fresh lock is visible before the tag (pairs with
		 * the acquire load above) */
		atomic_store_explicit(&h->sh->boot_tag, r == 0 ? now : tag, memory_order_release);
		return r;
	}
}

/* ---- layout, create, open ---- */

struct heap_geometry {
	uint64_t bitmap_off, arena_off, arena_end;
};

static int geometry(uint64_t seg_size, struct heap_geometry *g)
{
	uint64_t hdr_end = SHMKIT__HEADER_SIZE + ((sizeof(struct shmkit__heap_shared) + 63) & ~UINT64_C(63));

	if (seg_size < hdr_end + 4 * MIN_BLOCK + 64)
		return -EINVAL;
	uint64_t rest = seg_size - hdr_end;
	uint64_t bitmap_bytes = (((rest / 16 + 63) / 64) * 8 + 63) & ~UINT64_C(63);
	g->bitmap_off = hdr_end;
	g->arena_off = hdr_end + bitmap_bytes;
	if (g->arena_off + 2 * MIN_BLOCK > seg_size)
		return -EINVAL;
	uint64_t len = (seg_size - g->arena_off) & ~UINT64_C(15);
	if (len > MAX_BLOCK_SIZE)
		len = MAX_BLOCK_SIZE & ~UINT64_C(15);
	g->arena_end = g->arena_off + len;
	return 0;
}

int shmkit__heap_attach(struct shmkit_heap *h, void *base, uint64_t seg_size)
{
	struct shmkit__heap_shared *sh = (void *)((uint8_t *)base + SHMKIT__HEADER_SIZE);
	struct heap_geometry g;

	if (seg_size < SHMKIT__HEADER_SIZE + sizeof(*sh) || sh->magic != SHMKIT__HEAP_MAGIC)
		return -EBADMSG;
	if (sh->version != SHMKIT__HEAP_VERSION)
		return -EPROTO;
	uint64_t laid_out = sh->seg_size;
	if (sh->nbins != SHMKIT__HEAP_BINS || laid_out > seg_size || geometry(laid_out, &g) < 0 ||
	    sh->bitmap_off != g.bitmap_off || sh->arena_off != g.arena_off ||
	    sh->arena_end != g.arena_end)
		return -EBADMSG;
	h->base = base;
	h->seg_size = laid_out;
	h->sh = sh;
	h->bitmap = (_Atomic uint64_t *)((uint8_t *)base + g.bitmap_off);
	h->arena_off = g.arena_off;
	h->arena_end = g.arena_end;
	h->max_blocks = (g.arena_end - g.arena_off) / MIN_BLOCK;
	h->lock_timeout_ns = SHMKIT_FOREVER;
	shmkit__heap_mag_setup();
	return 0;
}

int shmkit__heap_format(void *base, uint64_t seg_size)
{
	struct shmkit__heap_shared *sh = (void *)((uint8_t *)base + SHMKIT__HEADER_SIZE);
	struct heap_geometry g;
	struct shmkit_heap tmp;
	int r;

	if ((r = geometry(seg_size, &g)) < 0)
		return r;
	memset(sh, 0, sizeof(*sh));
	memset((uint8_t *)base + g.bitmap_off, 0, g.arena_off - g.bitmap_off);
	sh->magic = SHMKIT__HEAP_MAGIC;
	sh->version = SHMKIT__HEAP_VERSION;
	sh->nbins = SHMKIT__HEAP_BINS;
	sh->seg_size = seg_size;
	sh->bitmap_off = g.bitmap_off;
	sh->arena_off = g.arena_off;
	sh->arena_end = g.arena_end;
	if ((r = shmkit_mutex_init(&sh->lock)) < 0)
		return r;
	atomic_store_explicit(&sh->boot_tag, boot_tag_now(), memory_order_relaxed); /* before READY */
	memset(&tmp, 0, sizeof(tmp));
	if ((r = shmkit__heap_attach(&tmp, base, seg_size)) < 0)
		return r;
	struct shmkit__heap_block *b = blk(&tmp, g.arena_off);
	b->tag = TAG_FREE;
	b->prev_units = 0;
	b->size = g.arena_end - g.arena_off;
	sh->n_free = 1;
	sh->free_bytes = b->size;
	return bin_push(&tmp, g.arena_off, b->size);
}

static int heap_init_body(void *body, size_t body_size, void *arg)
{
	(void)arg;
	return shmkit__heap_format((uint8_t *)body - SHMKIT__HEADER_SIZE,
				   (uint64_t)body_size + SHMKIT__HEADER_SIZE);
}

/* The smallest size geometry() takes, for the error that says so: the first
 * multiple of 16 it accepts (a few hundred cheap tries, on the error path). */
static uint64_t min_heap_size(void)
{
	struct heap_geometry g;
	uint64_t s = 16;

	while (geometry(s, &g) < 0)
		s += 16;
	return s;
}

int shmkit__heap_create_check(size_t size)
{
	struct heap_geometry g;

	shmkit__detail_clear();
	if (geometry(size, &g) < 0)
		return shmkit__fail(-EINVAL,
				    "size %zu is too small for a heap (at least %llu bytes)", size,
				    (unsigned long long)min_heap_size());
	return 0;
}

int shmkit_heap_create(struct shmkit_heap **out, const char *uri, size_t size, unsigned mode)
{
	shmkit__detail_clear();
	struct shmkit_heap *h;
	int r;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (uri == NULL)
		return -EINVAL;
	if ((r = shmkit__heap_create_check(size)) < 0)
		return r;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return shmkit__no_memory("a heap handle");
	r = shmkit__obj_create(&h->obj, uri, SHMKIT_KIND_HEAP, size - SHMKIT__HEADER_SIZE, mode,
			       heap_init_body, NULL);
	if (r == 0 && (r = shmkit__heap_attach(h, h->obj.base, size)) < 0)
		shmkit__obj_close(&h->obj);
	if (r < 0) {
		free(h);
		return r;
	}
	h->named_fresh = 1; /* a new heap: no names, no bits */
	*out = h;
	return 0;
}

static void named_bits_refresh_locked(struct shmkit_heap *h);

/* Returns the blocks cached by processes that died (at every open), and
 * gives names an older build made their filter bits (named_fresh). */
static int reclaim_dead(struct shmkit_heap *h)
{
	int r = heap_lock_to_look(h); /* a stopped holder must not hang every open */
	if (r == -EBUSY)
		return 0; /* the next open, check or full allocation does it */
	if (r < 0)
		return r;
	r = shmkit__heap_reclaim_locked(h);
	named_bits_refresh_locked(h);
	__atomic_store_n(&h->named_fresh, 1, __ATOMIC_RELAXED);
	shmkit__heap_unlock(h);
	return r < 0 ? r : 0;
}

static int heap_open_within(struct shmkit_heap *h, const char *uri, uint32_t kind,
			    int64_t timeout_ns)
{
	int r = shmkit__obj_open_timeout(&h->obj, uri, kind, 0, timeout_ns);

	if (r < 0)
		return r;
	r = shmkit__heap_attach(h, h->obj.base, (uint64_t)h->obj.body_size + SHMKIT__HEADER_SIZE);
	if (r == 0)
		r = boot_check(h);
	if (r == 0)
		r = reclaim_dead(h);
	if (r < 0)
		shmkit__obj_close(&h->obj);
	return r;
}

int shmkit__heap_open_kind(struct shmkit_heap *h, const char *uri, uint32_t kind)
{
	return heap_open_within(h, uri, kind, SHMKIT__OPEN_WAIT_NS);
}

int shmkit_heap_open(struct shmkit_heap **out, const char *uri)
{
	shmkit__detail_clear();
	struct shmkit_heap *h;
	int r;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (uri == NULL)
		return -EINVAL;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return shmkit__no_memory("a heap handle");
	/* a map is a heap too: its blocks can be checked and counted */
	r = heap_open_within(h, uri, SHMKIT__KIND_HEAP_OR_MAP, SHMKIT__OPEN_WAIT_NS);
	if (r < 0) {
		free(h);
		return r;
	}
	*out = h;
	return 0;
}

int shmkit_heap_close(struct shmkit_heap *h)
{
	if (h == NULL)
		return 0; /* like free(NULL): shmkit(3), CONVENTIONS */
	shmkit__heap_mag_close(h);
	int r = shmkit__obj_close(&h->obj);
	free(h);
	return r;
}

struct shmkit_seg *shmkit_heap_seg(struct shmkit_heap *h)
{
	return h != NULL ? h->obj.seg : NULL;
}

/* ---- public alloc/free/ptr ---- */

/* The magazine's fast path: the top block of class c, if this thread owns
 * the magazine and the block still says it is ours. 0, 1 (not here), or
 * -EBADMSG. */
static HOT_INLINE int mag_pop(struct shmkit_heap *h, unsigned c, uint64_t *out)
{
	/* acquire: pairs with the CAS that published it (heap_cache.c) */
	struct shmkit__heap_mag *m = __atomic_load_n(&h->mag, __ATOMIC_ACQUIRE);

	if (!shmkit__heap_mag_mine(m) || m->n[c] == 0)
		return 1;
	uint64_t p = m->blocks[c][--m->n[c]];
	struct shmkit__heap_block *b = blk(h, p - HDR);
	/* the tag atomically (relaxed): read_block() looks at it unlocked */
	if (__atomic_load_n(&b->tag, __ATOMIC_RELAXED) != TAG_CACHED ||
	    links(h, p - HDR)->next != m->owner)
		return -EBADMSG; /* scribbled while cached: left to check */
	/* one store: the block is the caller's */
	__atomic_store_n(&b->tag, TAG_USED, __ATOMIC_RELAXED);
	SHMKIT__TEST_POINT("heap.cache.alloc");
	*out = p;
	return 0;
}

/* The locked path; on -ENOSPC gives back this thread's cache and the
 * caches of dead processes, and tries once more. */
static int alloc_slow(struct shmkit_heap *h, size_t size, uint64_t *got)
{
	int r;

	if ((r = heap_lock(h)) < 0)
		return r;
	r = shmkit__heap_alloc_locked(h, size, got);
	if (r == -ENOSPC) {
		int flushed = shmkit__heap_mag_flush_locked(h);
		int reclaimed = shmkit__heap_reclaim_locked(h);
		if (flushed == 0 && reclaimed >= 0)
			r = shmkit__heap_alloc_locked(h, size, got);
	}
	shmkit__heap_unlock(h);
	return r;
}

int shmkit_heap_alloc(struct shmkit_heap *h, size_t size, shmkit_off *off)
{
	uint64_t got = 0;
	int r;

	if (h == NULL || off == NULL)
		return -EINVAL;
	if (size > SHMKIT__HEAP_MAG_MAX_BLOCK - HDR) {
		r = alloc_slow(h, size, &got);
	} else {
		/* a cacheable size takes its class's whole block size, so a
		 * cached block of the class fits any request of the class */
		uint64_t units = ((uint64_t)size + HDR + 15) >> 4;
		unsigned c = shmkit__heap_need_class[units < 2 ? 2 : units];
		uint64_t need = shmkit__heap_class_size[c];
		r = mag_pop(h, c, &got);
		if (r == 1)
			r = shmkit__heap_mag_alloc(h, need, &got);
		if (r == 1)
			r = alloc_slow(h, need - HDR, &got);
	}
	if (r == 0)
		*off = got;
	return r;
}

/* The magazine's fast path for a live block of size sz: 0, or 1 (not here). */
static HOT_INLINE int mag_push(struct shmkit_heap *h, uint64_t poff, uint64_t sz)
{
	/* acquire: pairs with the CAS that published it (heap_cache.c) */
	struct shmkit__heap_mag *m = __atomic_load_n(&h->mag, __ATOMIC_ACQUIRE);

	if (!shmkit__heap_mag_mine(m) || sz > SHMKIT__HEAP_MAG_MAX_BLOCK || (sz & 15) != 0)
		return 1;
	unsigned c = shmkit__heap_block_class[sz >> 4];
	if (c == SHMKIT__HEAP_MAG_NONE || m->n[c] >= m->cap[c])
		return 1;
	links(h, poff - HDR)->next = m->owner;
	SHMKIT__ORDER(); /* the owner is in place before the tag says cached */
	SHMKIT__TEST_POINT("heap.cache.free");
	__atomic_store_n(&blk(h, poff - HDR)->tag, TAG_CACHED, __ATOMIC_RELAXED);
	m->blocks[c][m->n[c]++] = poff;
	return 0;
}

/* ---- the named-block filter ---- */

/* sh->named_bits has bit (off / 16) % 256 set for every named block, so a
 * free can tell, from one load and without the lock, that the block may be
 * named: it then takes the locked path, which removes the name. A freed
 * named block used to keep its entry, which then named whatever allocation
 * got that offset next: a lookup handed out someone else's block, and an
 * exclusive create said -EEXIST. */
static HOT_INLINE int named_maybe(const struct shmkit_heap *h, uint64_t off)
{
	unsigned b = (unsigned)(off >> 4) % SHMKIT__HEAP_NAMED_BITS;
	/* relaxed: set under the lock before the name was published, and the
	 * offset reached us after that (the lock, or the caller's own release) */
	return (int)(__atomic_load_n(&h->sh->named_bits[b / 64], __ATOMIC_RELAXED) >> (b % 64) & 1);
}

static void named_bit_add_locked(struct shmkit_heap *h, uint64_t off)
{
	unsigned b = (unsigned)(off >> 4) % SHMKIT__HEAP_NAMED_BITS;
	uint64_t *w = &h->sh->named_bits[b / 64];
	__atomic_store_n(w, __atomic_load_n(w, __ATOMIC_RELAXED) | UINT64_C(1) << (b % 64),
			 __ATOMIC_RELAXED);
}

/* Recomputes the filter from the live names, each word stored once with its
 * final value (a live name's bit never reads 0 meanwhile). Lock held. */
static void named_bits_refresh_locked(struct shmkit_heap *h)
{
	uint64_t bits[SHMKIT__HEAP_NAMED_BITS / 64] = { 0 };

	for (unsigned i = 0; i < SHMKIT__HEAP_NAMES; i++) {
		uint64_t o = h->sh->names[i].off;
		unsigned b = (unsigned)(o >> 4) % SHMKIT__HEAP_NAMED_BITS;
		if (o != 0 && shmkit__heap_live(h, o))
			bits[b / 64] |= UINT64_C(1) << (b % 64);
	}
	for (unsigned w = 0; w < SHMKIT__HEAP_NAMED_BITS / 64; w++)
		__atomic_store_n(&h->sh->named_bits[w], bits[w], __ATOMIC_RELAXED);
}

/* Frees a block that may be named, its names first. Journaled as the
 * creation of a named block is (oj NAMED, a = the block: recovery frees it
 * unless a name points at it), so a kill before the names are gone leaves
 * the block and its name, and a kill after them finishes the free. */
static int named_free_locked(struct shmkit_heap *h, uint64_t off)
{
	struct shmkit__heap_shared *sh = h->sh;
	int named = 0;

	for (unsigned i = 0; i < SHMKIT__HEAP_NAMES; i++)
		named |= sh->names[i].off == off;
	if (!named || !shmkit__heap_live(h, off))
		return shmkit__heap_free_locked(h, off);
	sh->oj.a = off;
	SHMKIT__ORDER();
	sh->oj.op = SHMKIT__OOP_NAMED;
	SHMKIT__ORDER();
	for (unsigned i = 0; i < SHMKIT__HEAP_NAMES; i++) {
		if (sh->names[i].off != off)
			continue;
		sh->names[i].off = 0; /* unpublishes the entry */
		SHMKIT__ORDER();
		memset(sh->names[i].name, 0, sizeof(sh->names[i].name));
	}
	SHMKIT__TEST_POINT("heap.named.free");
	int r = shmkit__heap_free_locked(h, off);
	SHMKIT__ORDER();
	sh->oj.op = SHMKIT__OOP_NONE;
	named_bits_refresh_locked(h);
	return r;
}

int shmkit_heap_free(struct shmkit_heap *h, shmkit_off off)
{
	int r;

	if (h == NULL)
		return -EINVAL;
	if (off == 0)
		return 0;
	if (!live_at(h, off))
		return -EINVAL; /* also a second free of a cached block */
	uint64_t sz = blk(h, off - HDR)->size;
	if (sz > h->arena_end - (off - HDR))
		return -EBADMSG;
	/* never cached: its name must go. Until this handle refreshed the
	 * filter (a heap an older build named blocks in has no bits for them),
	 * every free may be of a named block. */
	int fresh = __atomic_load_n(&h->named_fresh, __ATOMIC_RELAXED);
	int named = !fresh || named_maybe(h, off);
	if (!named &&
	    ((r = mag_push(h, off, sz)) != 1 || (r = shmkit__heap_mag_free(h, off, sz)) != 1))
		return r;
	if ((r = heap_lock(h)) < 0)
		return r;
	if (!fresh) {
		named_bits_refresh_locked(h);
		__atomic_store_n(&h->named_fresh, 1, __ATOMIC_RELAXED);
	}
	r = named ? named_free_locked(h, off) : shmkit__heap_free_locked(h, off);
	shmkit__heap_unlock(h);
	return r;
}

void *shmkit_heap_ptr(struct shmkit_heap *h, shmkit_off off)
{
	if (h == NULL || !shmkit__heap_live(h, off))
		return NULL;
	return h->base + off;
}

ssize_t shmkit_heap_size(struct shmkit_heap *h, shmkit_off off)
{
	if (h == NULL || !shmkit__heap_live(h, off))
		return -EINVAL;
	uint64_t sz = blk(h, off - HDR)->size;
	if (sz < MIN_BLOCK || sz > h->arena_end - (off - HDR))
		return -EBADMSG;
	return (ssize_t)(sz - HDR);
}

/* ---- named objects ---- */

static int named_find(struct shmkit_heap *h, const char *name, uint64_t *off)
{
	for (unsigned i = 0; i < SHMKIT__HEAP_NAMES; i++) {
		struct shmkit__heap_name *e = &h->sh->names[i];
		uint64_t o = e->off;
		if (o != 0 && strncmp(e->name, name, SHMKIT__HEAP_NAME_MAX) == 0 &&
		    shmkit__heap_live(h, o)) {
			*off = o;
			return 0;
		}
	}
	return -ENOENT;
}

/* A find-or-create that finds the name: the block must hold the size
 * asked, which its caller will write (a peer that made it smaller, an
 * older build's struct, would have it written past its end). */
static int named_fits(struct shmkit_heap *h, const char *name, uint64_t off, size_t size)
{
	ssize_t have = shmkit_heap_size(h, off);
	if (have < 0)
		return have;
	if ((size_t)have < size)
		return shmkit__fail(-EMSGSIZE,
				    "the block named '%s' exists with %zd usable bytes, fewer than "
				    "the %zu asked (flags 0 finds it whatever its size)",
				    name, have, size);
	return 0;
}

static int named_create_locked(struct shmkit_heap *h, const char *name, size_t size, uint64_t *off)
{
	struct shmkit__heap_shared *sh = h->sh;
	struct shmkit__heap_name *slot = NULL;
	int r;

	for (unsigned i = 0; i < SHMKIT__HEAP_NAMES && slot == NULL; i++) {
		uint64_t o = sh->names[i].off;
		if (o == 0 || !shmkit__heap_live(h, o))
			slot = &sh->names[i]; /* empty, or its block was freed */
	}
	if (slot == NULL)
		return -ENOSPC;
	uint64_t a;
	sh->oj.a = 0;
	SHMKIT__ORDER();
	sh->oj.op = SHMKIT__OOP_NAMED;
	SHMKIT__ORDER();
	/* the journal gets the block for a crash's sake; we fill the block
	 * from our own copy: oj.a is shared, rewritable by anyone at any time */
	if ((r = shmkit__heap_alloc_journaled(h, size ? size : 1, &sh->oj.a, &a)) < 0) {
		sh->oj.op = SHMKIT__OOP_NONE;
		return r;
	}
	memset(h->base + a, 0, size);
	SHMKIT__TEST_POINT("heap.named.1");
	slot->off = 0;
	SHMKIT__ORDER();
	memset(slot->name, 0, sizeof(slot->name));
	memcpy(slot->name, name, strlen(name));
	slot->size = size;
	named_bit_add_locked(h, a); /* before the name: its free must see it */
	SHMKIT__ORDER();
	slot->off = a; /* publishes the entry */
	SHMKIT__ORDER();
	sh->oj.op = SHMKIT__OOP_NONE;
	*off = a;
	return 0;
}

int shmkit_heap_named(struct shmkit_heap *h, const char *name, size_t size, int flags, shmkit_off *off)
{
	shmkit__detail_clear();
	uint64_t found = 0;
	int r;

	/* SHMKIT_EXCL alone asks for an exclusive create without a create: it
	 * used to be a plain look-up that returned an existing block (as
	 * shmkit_seg_open, refuse it rather than answer another question). */
	if (h == NULL || name == NULL || off == NULL || name[0] == '\0' ||
	    (flags & ~(SHMKIT_CREATE | SHMKIT_EXCL)) != 0 ||
	    (flags & (SHMKIT_CREATE | SHMKIT_EXCL)) == SHMKIT_EXCL)
		return -EINVAL;
	if (strlen(name) >= SHMKIT__HEAP_NAME_MAX)
		return -ENAMETOOLONG;
	if ((r = shmkit__heap_lock(h)) < 0)
		return r;
	named_bits_refresh_locked(h); /* names an older build made get their bits */
	r = named_find(h, name, &found);
	if (r == 0 && (flags & SHMKIT_CREATE) && (flags & SHMKIT_EXCL))
		r = -EEXIST;
	else if (r == 0 && (flags & SHMKIT_CREATE))
		r = named_fits(h, name, found, size);
	else if (r == -ENOENT && (flags & SHMKIT_CREATE))
		r = named_create_locked(h, name, size, &found);
	shmkit__heap_unlock(h);
	if (r == 0)
		*off = found;
	return r;
}

/* ---- check and stats ---- */

struct walk {
	uint64_t used_bytes, free_bytes, n_used, n_free, largest_free;
	uint64_t class_used[SHMKIT__HEAP_BINS], class_free[SHMKIT__HEAP_BINS];
	uint64_t *free_starts; /* local bitmap of free block starts (check only) */
	int derived_bad;       /* something rebuildable is wrong */
};

/* Walks every block header: -EBADMSG if the walk itself is broken. */
static int walk_blocks(struct shmkit_heap *h, struct walk *w)
{
	uint64_t off = h->arena_off, prev_size = 0, steps = 0;
	uint32_t prev_state = 0;

	while (off < h->arena_end) {
		uint32_t st;
		uint64_t sz;
		if (++steps > h->max_blocks || read_block(h, off, &st, &sz) < 0)
			return -EBADMSG;
		uint64_t i = (off - h->arena_off) >> 4;
		int live = (int)(atomic_load_explicit(&h->bitmap[i >> 6], memory_order_relaxed) >>
				 (i & 63) & 1);
		if (blk(h, off)->prev_units != prev_size >> 4 || live != (st != SHMKIT__BLOCK_FREE))
			w->derived_bad = 1;
		if (st == SHMKIT__BLOCK_CACHED && shmkit__heap_cache_released(h, links(h, off)->next))
			w->derived_bad = 1; /* an orphan: the rebuild frees it */
		if (st == SHMKIT__BLOCK_FREE) {
			if (prev_state == SHMKIT__BLOCK_FREE)
				w->derived_bad = 1; /* not coalesced */
			w->n_free++;
			w->free_bytes += sz;
			w->class_free[bin_of(sz)]++;
			if (sz - HDR > w->largest_free)
				w->largest_free = sz - HDR;
			if (w->free_starts)
				w->free_starts[i >> 6] |= UINT64_C(1) << (i & 63);
		} else {
			w->n_used++;
			w->used_bytes += sz;
			w->class_used[bin_of(sz)]++;
		}
		prev_size = sz;
		prev_state = st;
		off += sz;
	}
	return 0;
}

/* Every bin list: members are free blocks of the bin seen by the walk, each
 * once, with consistent back links; every free block is in some list. */
static void check_bins(struct shmkit_heap *h, struct walk *w, uint64_t words)
{
	struct shmkit__heap_shared *sh = h->sh;

	for (unsigned b = 0; b < SHMKIT__HEAP_BINS; b++) {
		uint64_t cur = sh->bins[b], prev = 0, steps = 0;
		if ((cur != 0) != (int)(sh->nonempty >> b & 1))
			w->derived_bad = 1;
		while (cur != 0 && !w->derived_bad) {
			uint32_t st;
			uint64_t sz;
			uint64_t i = (cur - h->arena_off) >> 4;
			if (++steps > w->n_free || !in_arena(h, cur) ||
			    !(w->free_starts[i >> 6] >> (i & 63) & 1) ||
			    read_block(h, cur, &st, &sz) < 0 || bin_of(sz) != b ||
			    links(h, cur)->prev != prev) {
				w->derived_bad = 1;
				break;
			}
			w->free_starts[i >> 6] &= ~(UINT64_C(1) << (i & 63)); /* seen: a cycle fails above */
			prev = cur;
			cur = links(h, cur)->next;
		}
	}
	for (uint64_t i = 0; i < words && !w->derived_bad; i++)
		if (w->free_starts[i] != 0)
			w->derived_bad = 1; /* a free block in no list */
}

static int verify_locked(struct shmkit_heap *h)
{
	struct shmkit__heap_shared *sh = h->sh;
	struct walk w;
	uint64_t words = ((h->arena_end - h->arena_off) / 16 + 63) / 64;
	int r;

	memset(&w, 0, sizeof(w));
	if ((w.free_starts = calloc(words, sizeof(uint64_t))) == NULL)
		return shmkit__no_memory("the check's bitmap of free blocks");
	if ((r = walk_blocks(h, &w)) < 0)
		goto out;
	if (w.used_bytes + w.free_bytes != h->arena_end - h->arena_off ||
	    w.used_bytes != sh->used_bytes || w.free_bytes != sh->free_bytes ||
	    w.n_used != sh->n_used || w.n_free != sh->n_free || sh->hj.op != SHMKIT__HOP_NONE)
		w.derived_bad = 1;
	if (!w.derived_bad)
		check_bins(h, &w, words);
	/* live bits only at used block starts: count them all */
	uint64_t bits = 0;
	for (uint64_t i = 0; i < words; i++)
		bits += (uint64_t)__builtin_popcountll(
			atomic_load_explicit(&h->bitmap[i], memory_order_relaxed));
	if (bits != w.n_used)
		w.derived_bad = 1;
	for (unsigned i = 0; i < SHMKIT__HEAP_NAMES; i++)
		if (memchr(sh->names[i].name, 0, SHMKIT__HEAP_NAME_MAX) == NULL)
			w.derived_bad = 1;
	r = w.derived_bad;
out:
	free(w.free_starts);
	return r;
}

int shmkit_heap_check(struct shmkit_heap *h)
{
	shmkit__detail_clear();
	int r;

	if (h == NULL)
		return -EINVAL;
	if ((r = shmkit__heap_lock(h)) < 0)
		return r;
	r = shmkit__heap_check_locked(h);
	shmkit__heap_unlock(h);
	return r;
}

int shmkit__heap_check_locked(struct shmkit_heap *h)
{
	/* this thread's cache goes back, and the caches of dead processes are
	 * returned (normal recovery, like a journal replay: not a repair) */
	int r = shmkit__heap_mag_flush_locked(h);
	if (r == 0)
		r = shmkit__heap_reclaim_locked(h);
	if (r >= 0)
		r = verify_locked(h);
	if (r == 1) {
		for (unsigned i = 0; i < SHMKIT__HEAP_NAMES; i++)
			if (memchr(h->sh->names[i].name, 0, SHMKIT__HEAP_NAME_MAX) == NULL)
				memset(&h->sh->names[i], 0, sizeof(h->sh->names[i]));
		h->sh->hj.op = SHMKIT__HOP_REBUILD; /* nothing to roll: rebuild from headers */
		r = shmkit__heap_rebuild_locked(h);
		if (r == 0)
			r = verify_locked(h) == 0 ? 1 : -EBADMSG;
	}
	return r;
}

/* The public stats from a walk (and the name table). */
static void fill_stats(const struct shmkit_heap *h, const struct walk *w,
		       struct shmkit_heap_stats *st)
{
	for (unsigned i = 0; i < SHMKIT__HEAP_NAMES; i++)
		if (h->sh->names[i].off != 0 && shmkit__heap_live(h, h->sh->names[i].off))
			st->n_named++;
	st->arena_bytes = h->arena_end - h->arena_off;
	st->used_bytes = w->used_bytes;
	st->free_bytes = w->free_bytes;
	st->largest_free = w->largest_free;
	st->n_used = w->n_used;
	st->n_free = w->n_free;
	for (unsigned i = 0; i < SHMKIT_HEAP_CLASSES; i++) {
		st->class_max[i] = bin_max(i);
		st->class_used[i] = w->class_used[i];
		st->class_free[i] = w->class_free[i];
	}
}

int shmkit_heap_stats(struct shmkit_heap *h, struct shmkit_heap_stats *st)
{
	struct walk w;
	int r;

	if (h == NULL || st == NULL)
		return -EINVAL;
	memset(&w, 0, sizeof(w));
	memset(st, 0, sizeof(*st));
	if ((r = heap_lock_to_look(h)) < 0)
		return r;
	r = shmkit__heap_mag_flush_locked(h); /* counts this thread's cached blocks as free */
	if (r == 0)
		r = walk_blocks(h, &w);
	if (r == 0)
		fill_stats(h, &w, st);
	shmkit__heap_unlock(h);
	return r;
}

/* Walks until two walks in a row agree (a look takes no lock, so a walk
 * that raced a writer is told by the next one): 0, -EBUSY when the heap
 * kept changing, -EBADMSG when its blocks never walked. */
static int walk_settled(struct shmkit_heap *h, struct walk *w)
{
	struct walk prev;
	int have = 0, r = -EBADMSG;

	for (int i = 0; i < 16; i++) {
		memset(w, 0, sizeof(*w));
		r = walk_blocks(h, w);
		if (r == 0 && have && memcmp(w, &prev, sizeof(*w)) == 0)
			return 0;
		have = r == 0;
		memcpy(&prev, w, sizeof(prev));
	}
	if (r == 0)
		return shmkit__fail(-EBUSY, "the heap changed during every walk: try again");
	return shmkit__fail(r, "its blocks do not walk (corrupt, or being changed): "
			       "`shmkit heap URI check` repairs what can be");
}

int shmkit_heap_stat(const char *uri, struct shmkit_heap_stats *st)
{
	shmkit__detail_clear();
	struct shmkit_heap h;
	struct walk w;

	if (uri == NULL || st == NULL)
		return -EINVAL;
	memset(&h, 0, sizeof(h));
	memset(st, 0, sizeof(*st));
	int r = shmkit__obj_look(&h.obj, uri, 0); /* a heap, or a map (a heap too) */
	if (r < 0)
		return r;
	uint32_t kind = shmkit__obj_header(&h.obj)->kind;
	if (kind != SHMKIT_KIND_HEAP && kind != SHMKIT_KIND_MAP)
		r = shmkit__fail(-EBADMSG, "is a %s, not a heap", shmkit_kind_name(kind));
	if (r == 0)
		r = shmkit__heap_attach(&h, h.obj.base,
					(uint64_t)h.obj.body_size + SHMKIT__HEADER_SIZE);
	if (r == 0)
		r = walk_settled(&h, &w);
	if (r == 0)
		fill_stats(&h, &w, st); /* blocks other processes cache count as used */
	shmkit__obj_close(&h.obj);
	return r;
}
