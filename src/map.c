/* SPDX-License-Identifier: MIT */
/* The map: a hash table of byte strings inside a heap segment.
 *
 * Each bucket is one cache line holding one small pair itself (key + value
 * up to 40 bytes: a get is then one cache miss) and the head of a chain of
 * heap entries for everything else. A chain entry (next, hash, lengths,
 * key, value) is written whole before it is published by one release store
 * of its offset into the bucket or the previous entry's next. A pair written
 * in place in a bucket is first saved whole in the map header (an undo
 * copy). So a writer killed at any point leaves each key with its old or its
 * new value. Writers serialize on the heap's robust mutex and record what
 * they do in the heap's object journal; the process that inherits the lock
 * from a dead writer puts back the saved bucket, then frees whichever of the
 * new / replaced entry is unreachable.
 *
 * Readers take no lock: a striped seqlock (bucket i uses seq[i % 1024])
 * brackets every unlink-and-free, so a reader that may have looked at memory
 * being freed or reused sees its stripe's seq change and retries. Everything
 * a reader reads is bounds-checked before use (a freed entry's bytes are
 * garbage until the seq check rejects them) and chain walks are bounded.
 * After a few hundred failed tries a reader takes the lock, which also
 * repairs a stripe left odd by a writer that died mid-publish.
 *
 * A read-only handle (shmkit_map_open_flags with SHMKIT_RDONLY) is a look:
 * a read-only mapping, no attach slot, no lock. Its reads wait out a busy
 * stripe instead of locking (-EBUSY after LOOK_WAIT_NS), and its walk
 * copies each bucket's pairs under the stripe's seq before handing them
 * out, so looking changes no byte of the segment. */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <shmkit/map.h>
#include <shmkit/seg.h>

#include "copy.h"
#include "heap_internal.h"
#include "internal.h"
#include "map_internal.h"

#define ENTRY ((uint64_t)sizeof(struct shmkit__map_entry))
#define STRIPE_MASK ((uint64_t)SHMKIT__MAP_STRIPES - 1)
#define READ_TRIES 256
#define LOOK_WAIT_NS 1000000000 /* how long a look waits for a busy stripe */

struct shmkit_map {
	struct shmkit_heap heap;
	struct shmkit__map_shared *ms;
	struct shmkit__map_bucket *buckets;
	uint64_t mask;        /* nbuckets - 1 */
	uint64_t seed;
	uint64_t max_entries; /* bound for every chain walk */
	int rdonly;           /* a look: reads only, never the lock */
};

/* ---- hashing (wyhash-style multiply-mix) ---- */

/* The 128-bit product's halves xored. Buckets live in shared memory, so the
 * value must be the same on every ABI: i386 has no __uint128_t and builds
 * the product from 32-bit halves (tests/test_m32.sh checks both agree). */
static inline uint64_t mix(uint64_t a, uint64_t b)
{
#ifdef __SIZEOF_INT128__
	__uint128_t r = (__uint128_t)a * b;
	return (uint64_t)r ^ (uint64_t)(r >> 64);
#else
	uint64_t al = (uint32_t)a, ah = a >> 32, bl = (uint32_t)b, bh = b >> 32;
	uint64_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
	uint64_t mid = (ll >> 32) + (uint32_t)lh + (uint32_t)hl;
	uint64_t lo = (uint32_t)ll | (mid << 32);
	uint64_t hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
	return lo ^ hi;
#endif
}

static inline uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline uint64_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}


/* The get path's functions start on a cache line of their own: a get at 1 M
 * keys overlaps its bucket misses only while its ~170 instructions flow
 * (PERF.md "Map gets at 1 M keys"), and with the code where the linker
 * happened to put it, an unrelated change elsewhere in the library moved
 * it 16 bytes and the row by 20-35 % (identical instructions, 2026-12-07:
 * bench/compare.sh heapmap: 1 round won of 7; aligned, gets won 4 of 5
 * against that build). */
#define MAP_HOT __attribute__((aligned(64)))

/* The len < 8 bytes at p as a little-endian number (what a memcpy into a
 * zeroed uint64_t gives), from overlapping loads inside them: a memcpy of a
 * variable length is a loop or a call, and every get hashes. */
static inline uint64_t rd_tail(const uint8_t *p, size_t len)
{
	if (len >= 4)
		return rd32(p) | rd32(p + len - 4) << (8 * (len - 4));
	if (len == 0)
		return 0;
	return (uint64_t)p[0] | (uint64_t)p[len / 2] << (8 * (len / 2)) |
	       (uint64_t)p[len - 1] << (8 * (len - 1));
}

MAP_HOT static uint64_t hash_key(const void *key, size_t len, uint64_t seed)
{
	const uint8_t *p = key;
	uint64_t h = seed ^ mix(len ^ 0xa0761d6478bd642full, 0xe7037ed1a0b428dbull);

	for (; len >= 16; p += 16, len -= 16)
		h = mix(rd64(p) ^ 0x8ebc6af09c88c6e3ull, rd64(p + 8) ^ h);
	if (len >= 8) {
		h = mix(rd64(p) ^ 0x589965cc75374cc3ull, h ^ 0x1d8e4e27c47d124full);
		p += 8;
		len -= 8;
	}
	return mix(rd_tail(p, len) ^ 0xe7037ed1a0b428dbull ^ len, h ^ 0xa0761d6478bd642full);
}

/* ---- entries ---- */

static inline struct shmkit__map_entry *ent(const struct shmkit_map *m, uint64_t off)
{
	return (struct shmkit__map_entry *)(m->heap.base + off);
}

/* off could be an entry: aligned, its fixed part inside the arena. */
static inline int entry_in_range(const struct shmkit_map *m, uint64_t off)
{
	return off >= m->heap.arena_off + 16 && off <= m->heap.arena_end - ENTRY && (off & 15) == 0;
}

/* One racy-but-single read of each fixed field (a writer may be reusing
 * the memory; the seq check decides whether what we read counts). */
struct entry_view {
	uint64_t next, hash;
	uint32_t klen, vlen;
	const uint8_t *key, *val;
};

static int entry_read(const struct shmkit_map *m, uint64_t off, struct entry_view *v)
{
	if (!entry_in_range(m, off))
		return -EBADMSG;
	struct shmkit__map_entry *e = ent(m, off);
	/* acquire: the next entry's bytes are visible before its offset (pairs
	 * with the release store that published it) */
	v->next = atomic_load_explicit(&e->next, memory_order_acquire);
	v->hash = __atomic_load_n(&e->hash, __ATOMIC_RELAXED);
	v->klen = __atomic_load_n(&e->klen, __ATOMIC_RELAXED);
	v->vlen = __atomic_load_n(&e->vlen, __ATOMIC_RELAXED);
	if ((uint64_t)v->klen + v->vlen > m->heap.arena_end - off - ENTRY)
		return -EBADMSG;
	v->key = (const uint8_t *)(e + 1);
	v->val = v->key + v->klen;
	return 0;
}

struct lookup {
	const void *k;
	size_t klen;
	uint64_t hash;
	void *buf;   /* NULL: only the length is wanted */
	size_t cap;
};

/* Why a get counts its instructions: over a table larger than the caches a
 * get waits about one memory latency for its bucket, and the next get's
 * bucket load can start during that wait only if it is within the core's
 * reorder window (a couple of hundred instructions). A get of ~240
 * instructions with three libc calls (the hash's tail, the key compare, the
 * value copy) waited for each bucket in turn: 265-300 ns at 1 M keys; with
 * ~170 and none, loads of consecutive gets overlap: 85-105 ns (docs/PERF.md).
 * The value goes out by the queues' copy (up to 64 bytes in line). */
static ssize_t copy_value(const struct lookup *q, const uint8_t *val, uint32_t vlen)
{
	if (q->buf == NULL)
		return vlen;
	if (vlen > q->cap)
		return -EMSGSIZE;
	shmkit__copy(q->buf, val, vlen);
	return vlen;
}

/* The bucket's own pair, read once: 1 and *v filled if there is one, 0 if
 * none, -EBADMSG if its lengths do not fit. */
static int bucket_read(const struct shmkit__map_bucket *bk, struct entry_view *v)
{
	v->klen = __atomic_load_n(&bk->klen, __ATOMIC_RELAXED);
	v->vlen = __atomic_load_n(&bk->vlen, __ATOMIC_RELAXED);
	v->hash = __atomic_load_n(&bk->hash, __ATOMIC_RELAXED);
	if (v->klen == SHMKIT__MAP_NONE)
		return 0;
	if ((uint64_t)v->klen + v->vlen > SHMKIT__MAP_INLINE)
		return -EBADMSG;
	v->key = bk->data;
	v->val = bk->data + v->klen;
	v->next = 0;
	return 1;
}

/* Keys of 8 to 16 bytes compared by two overlapping loads each, others by
 * memcmp; both only read inside the two keys' len bytes. */
static inline int key_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
	if (len - 8 <= 8)
		return ((rd64(a) ^ rd64(b)) | (rd64(a + len - 8) ^ rd64(b + len - 8))) == 0;
	return memcmp(a, b, len) == 0;
}

static int view_matches(const struct entry_view *v, const struct lookup *q)
{
	return v->hash == q->hash && v->klen == q->klen && key_equal(v->key, q->k, q->klen);
}

/* Whether pair v, found in bucket b, is one a put wrote: its stored hash is
 * its key's and names this bucket. The lengths alone cannot tell: a zeroed
 * bucket reads as klen 0, vlen 0 and an empty key is a legal key, so a
 * walk took a page of zeroes for dozens of empty pairs. The seed is random
 * per map, so zeroes (hash 0) fail this. -EBADMSG, with the detail, if not. */
static int pair_belongs(const struct shmkit_map *m, uint64_t b, const struct entry_view *v)
{
	if (hash_key(v->key, v->klen, m->seed) == v->hash && (v->hash & m->mask) == b)
		return 0;
	return shmkit__fail(-EBADMSG,
			    "bucket %llu holds a pair that does not hash to it (zeroed or "
			    "overwritten)",
			    (unsigned long long)b);
}

/* Finds the key (in its bucket, then its chain) and copies the value out.
 * Safe on memory that is changing under it: every read is bounded, the
 * caller validates. */
MAP_HOT static ssize_t lookup_copy(const struct shmkit_map *m, const struct lookup *q)
{
	const struct shmkit__map_bucket *bk = &m->buckets[q->hash & m->mask];
	struct entry_view v;
	int r = bucket_read(bk, &v);

	if (r < 0)
		return r;
	if (r == 1 && view_matches(&v, q))
		return copy_value(q, v.val, v.vlen);
	/* acquire: pairs with the publishing release store */
	uint64_t off = atomic_load_explicit(&bk->chain, memory_order_acquire);
	for (uint64_t steps = 0; off != 0; steps++) {
		if (steps > m->max_entries || entry_read(m, off, &v) < 0)
			return -EBADMSG;
		if (view_matches(&v, q))
			return copy_value(q, v.val, v.vlen);
		off = v.next;
	}
	return -ENOENT;
}

/* ---- seqlock stripes ---- */

static inline _Atomic uint64_t *stripe(const struct shmkit_map *m, uint64_t bucket)
{
	return &m->ms->seq[bucket & STRIPE_MASK];
}

/* Writers hold the heap lock, so a stripe a writer finds odd was left so
 * by a scribble (a dead writer's are settled by map_recover_locked): it
 * steps over it to the next odd value, and the write's end leaves the
 * stripe even again. A plain +1 kept such a stripe inverted for good:
 * odd while idle (every look -EBUSY), even while written. */
static void seq_begin(_Atomic uint64_t *s)
{
	uint64_t v = atomic_load_explicit(s, memory_order_relaxed);
	atomic_store_explicit(s, v + 1 + (v & 1), memory_order_relaxed);
	/* release fence: the odd value is visible before any store that follows
	 * (pairs with the reader's acquire fence before its second seq load) */
	atomic_thread_fence(memory_order_release);
}

static void seq_end(_Atomic uint64_t *s)
{
	uint64_t v = atomic_load_explicit(s, memory_order_relaxed);
	/* release: every store of this write is visible before the even value
	 * (pairs with the reader's acquire load of the seq); even whatever was
	 * scribbled over the odd one meanwhile */
	atomic_store_explicit(s, v + 1 + !(v & 1), memory_order_release);
}

/* Runs rd(m, arg) until no writer touched the bucket's stripe meanwhile:
 * rd's result, or -EAGAIN after `tries` tries (rd itself never says
 * -EAGAIN). Safe on memory changing under it: rd bounds every read. */
typedef ssize_t (*seq_reader)(const struct shmkit_map *m, void *arg);

static inline ssize_t seq_read(const struct shmkit_map *m, uint64_t bucket, seq_reader rd,
			       void *arg, int tries)
{
	_Atomic uint64_t *s = stripe(m, bucket);

	for (int t = 0; t < tries; t++) {
		/* acquire: pairs with seq_end's release store */
		uint64_t s1 = atomic_load_explicit(s, memory_order_acquire);
		if (s1 & 1) {
			shmkit__spin_pause();
			continue;
		}
		ssize_t n = rd(m, arg);
		/* acquire fence: the reads above complete before the seq is read
		 * again (pairs with seq_begin's release fence) */
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(s, memory_order_relaxed) == s1)
			return n;
	}
	return -EAGAIN;
}

/* seq_read for a look, which may not take the lock: waits for the stripe
 * in 1 ms sleeps, at most LOOK_WAIT_NS. */
static ssize_t seq_read_look(const struct shmkit_map *m, uint64_t bucket, seq_reader rd, void *arg)
{
	int64_t end = shmkit__now_ns() + LOOK_WAIT_NS;
	for (;;) {
		ssize_t n = seq_read(m, bucket, rd, arg, READ_TRIES);
		if (n != -EAGAIN)
			return n;
		if (shmkit__now_ns() >= end)
			return shmkit__fail(-EBUSY, "a writer has been changing this part of the map "
						    "for over 1 s (or died doing so: the next put, "
						    "del or check repairs it)");
		struct timespec ms = { 0, 1000000 };
		nanosleep(&ms, NULL);
	}
}

static ssize_t lookup_reader(const struct shmkit_map *m, void *arg)
{
	return lookup_copy(m, arg);
}

static ssize_t read_locked(struct shmkit_map *m, const struct lookup *q)
{
	int r = shmkit__heap_lock(&m->heap);
	if (r < 0)
		return r;
	ssize_t n = lookup_copy(m, q);
	shmkit__heap_unlock(&m->heap);
	return n;
}

MAP_HOT static ssize_t read_optimistic(struct shmkit_map *m, const struct lookup *q)
{
	uint64_t b = q->hash & m->mask;
	ssize_t n = seq_read(m, b, lookup_reader, (void *)q, READ_TRIES);

	if (n != -EAGAIN)
		return n;
	/* a busy stripe or a writer that died mid-publish: the lock settles
	 * both; a look waits instead */
	return m->rdonly ? seq_read_look(m, b, lookup_reader, (void *)q) : read_locked(m, q);
}

/* Writes on a look are refused (nothing is mapped writable). */
static int refuse_look(const struct shmkit_map *m)
{
	return m->rdonly ? shmkit__fail(-EPERM, "the map was opened read-only (SHMKIT_RDONLY)") : 0;
}

static int key_ok(const void *k, size_t klen)
{
	return k != NULL && klen <= UINT32_MAX;
}

ssize_t shmkit_map_get(struct shmkit_map *m, const void *k, size_t klen, void *buf, size_t cap)
{
	if (m == NULL || !key_ok(k, klen) || (buf == NULL && cap != 0))
		return -EINVAL;
	struct lookup q = { k, klen, hash_key(k, klen, m->seed), buf, cap };
	static char dummy;
	if (buf == NULL)
		q.buf = &dummy; /* cap 0: -EMSGSIZE unless the value is empty */
	return read_optimistic(m, &q);
}

ssize_t shmkit_map_len(struct shmkit_map *m, const void *k, size_t klen)
{
	if (m == NULL || !key_ok(k, klen))
		return -EINVAL;
	struct lookup q = { k, klen, hash_key(k, klen, m->seed), NULL, 0 };
	return read_optimistic(m, &q);
}

ssize_t shmkit_map_count(struct shmkit_map *m)
{
	if (m == NULL)
		return -EINVAL;
	return (ssize_t)atomic_load_explicit(&m->ms->count, memory_order_relaxed);
}

/* ---- writers (heap lock held) ---- */

/* Where k is: in its bucket (inline), at a chain entry (*found, reached
 * through *link), or absent (*found 0, *link the chain's last link). */
struct place {
	int inline_pair;
	_Atomic uint64_t *link;
	uint64_t found;
};

static int find_locked(struct shmkit_map *m, uint64_t hash, const void *k, size_t klen,
		       struct place *p)
{
	struct shmkit__map_bucket *bk = &m->buckets[hash & m->mask];
	struct lookup q = { k, klen, hash, NULL, 0 };
	struct entry_view v;
	int r = bucket_read(bk, &v);

	memset(p, 0, sizeof(*p));
	if (r < 0)
		return r;
	if (r == 1 && view_matches(&v, &q)) {
		p->inline_pair = 1;
		return 0;
	}
	_Atomic uint64_t *l = &bk->chain;
	uint64_t off = atomic_load_explicit(l, memory_order_relaxed); /* lock held */
	for (uint64_t steps = 0; off != 0; steps++) {
		if (steps > m->max_entries || entry_read(m, off, &v) < 0 ||
		    !shmkit__heap_live(&m->heap, off))
			return -EBADMSG;
		if (view_matches(&v, &q))
			break;
		l = &ent(m, off)->next;
		off = v.next;
	}
	p->link = l;
	p->found = off;
	return 0;
}

static void journal_begin(struct shmkit_map *m, uint32_t op, uint64_t bucket, uint64_t old)
{
	struct shmkit__heap_shared *sh = m->heap.sh;
	sh->oj.a = bucket;
	sh->oj.b = 0;
	sh->oj.c = old;
	SHMKIT__ORDER();
	sh->oj.op = op;
	SHMKIT__ORDER();
}

static void journal_end(struct shmkit_map *m)
{
	SHMKIT__ORDER();
	m->heap.sh->oj.op = SHMKIT__OOP_NONE;
}

/* Undo copy of a bucket about to be written in place. */
static void bucket_save(struct shmkit_map *m, uint64_t b)
{
	memcpy(&m->ms->saved, &m->buckets[b], sizeof(m->ms->saved));
	m->ms->saved_index = b;
	SHMKIT__ORDER();
	m->ms->saved_state = 1;
	SHMKIT__ORDER();
}

static void bucket_saved_done(struct shmkit_map *m)
{
	SHMKIT__ORDER();
	m->ms->saved_state = 0;
	SHMKIT__ORDER();
}

static void bucket_set_pair(struct shmkit__map_bucket *bk, uint64_t hash, const void *k, size_t klen,
			    const void *v, size_t vlen)
{
	memcpy(bk->data, k, klen);
	memcpy(bk->data + klen, v, vlen);
	__atomic_store_n(&bk->hash, hash, __ATOMIC_RELAXED);
	__atomic_store_n(&bk->vlen, (uint32_t)vlen, __ATOMIC_RELAXED);
	__atomic_store_n(&bk->klen, (uint32_t)klen, __ATOMIC_RELAXED);
}

/* Puts a small pair into its bucket, over the bucket's own pair (same key)
 * or into an empty bucket. */
static int put_inline_locked(struct shmkit_map *m, uint64_t hash, const void *k, size_t klen,
			     const void *v, size_t vlen, int is_new)
{
	uint64_t b = hash & m->mask;

	journal_begin(m, SHMKIT__OOP_MAP_PUT, b, 0);
	bucket_save(m, b);
	SHMKIT__TEST_POINT("map.put.inline.1");
	_Atomic uint64_t *s = stripe(m, b);
	seq_begin(s);
	bucket_set_pair(&m->buckets[b], hash, k, klen, v, vlen);
	SHMKIT__TEST_POINT("map.put.inline.2");
	seq_end(s);
	bucket_saved_done(m);
	if (is_new)
		atomic_fetch_add_explicit(&m->ms->count, 1, memory_order_relaxed);
	SHMKIT__TEST_POINT("map.put.4");
	journal_end(m);
	return 0;
}

/* Writes a new chain entry whole; its offset lands in the journal first,
 * and in *off: the entry is written and published from that copy, since
 * the journal is shared memory another process may rewrite meanwhile. */
static int entry_new_locked(struct shmkit_map *m, uint64_t hash, const void *k, size_t klen,
			    const void *v, size_t vlen, uint64_t next, uint64_t *off)
{
	struct shmkit__heap_shared *sh = m->heap.sh;
	int r = shmkit__heap_alloc_journaled(&m->heap, ENTRY + klen + vlen, &sh->oj.b, off);

	if (r < 0)
		return r;
	struct shmkit__map_entry *e = ent(m, *off);
	atomic_store_explicit(&e->next, next, memory_order_relaxed);
	e->hash = hash;
	e->klen = (uint32_t)klen;
	e->vlen = (uint32_t)vlen;
	memcpy(e + 1, k, klen);
	memcpy((uint8_t *)(e + 1) + klen, v, vlen);
	return 0;
}

/* The bucket's own pair gets a value too large for the bucket: the pair
 * moves to the head of the chain. */
static int put_move_locked(struct shmkit_map *m, uint64_t hash, const void *k, size_t klen,
			   const void *v, size_t vlen)
{
	uint64_t b = hash & m->mask, e;
	struct shmkit__map_bucket *bk = &m->buckets[b];
	int r;

	journal_begin(m, SHMKIT__OOP_MAP_PUT, b, 0);
	SHMKIT__TEST_POINT("map.put.1");
	r = entry_new_locked(m, hash, k, klen, v, vlen,
			     atomic_load_explicit(&bk->chain, memory_order_relaxed), &e);
	if (r < 0) {
		journal_end(m); /* nothing changed: -ENOSPC loses nothing */
		return r;
	}
	SHMKIT__TEST_POINT("map.put.2");
	bucket_save(m, b);
	_Atomic uint64_t *s = stripe(m, b);
	seq_begin(s);
	/* release: the entry's bytes are visible before its offset (pairs with
	 * the readers' acquire loads of links) */
	atomic_store_explicit(&bk->chain, e, memory_order_release);
	SHMKIT__TEST_POINT("map.put.3");
	__atomic_store_n(&bk->klen, SHMKIT__MAP_NONE, __ATOMIC_RELAXED);
	seq_end(s);
	bucket_saved_done(m);
	SHMKIT__TEST_POINT("map.put.4");
	journal_end(m);
	return 0;
}

/* Inserts at the head of the chain, or replaces chain entry `old` (reached
 * through `link`) by a new entry. */
static int put_chain_locked(struct shmkit_map *m, uint64_t hash, const void *k, size_t klen,
			    const void *v, size_t vlen, _Atomic uint64_t *link, uint64_t old)
{
	uint64_t b = hash & m->mask, e;
	int r;

	if (old == 0)
		link = &m->buckets[b].chain; /* new keys go first */
	journal_begin(m, SHMKIT__OOP_MAP_PUT, b, old);
	SHMKIT__TEST_POINT("map.put.1");
	uint64_t next = old != 0 ? atomic_load_explicit(&ent(m, old)->next, memory_order_relaxed)
				 : atomic_load_explicit(link, memory_order_relaxed);
	if ((r = entry_new_locked(m, hash, k, klen, v, vlen, next, &e)) < 0) {
		journal_end(m); /* nothing changed: -ENOSPC loses nothing */
		return r;
	}
	SHMKIT__TEST_POINT("map.put.2");
	_Atomic uint64_t *s = stripe(m, b);
	seq_begin(s);
	/* release: the entry's bytes are visible before its offset (pairs with
	 * the readers' acquire loads of links) */
	atomic_store_explicit(link, e, memory_order_release);
	SHMKIT__TEST_POINT("map.put.3");
	if (old != 0)
		r = shmkit__heap_free_locked(&m->heap, old);
	seq_end(s);
	if (old == 0)
		atomic_fetch_add_explicit(&m->ms->count, 1, memory_order_relaxed);
	SHMKIT__TEST_POINT("map.put.4");
	journal_end(m);
	return r;
}

static int put_locked(struct shmkit_map *m, uint64_t hash, const void *k, size_t klen,
		      const void *v, size_t vlen)
{
	struct place p;
	int fits = (uint64_t)klen + vlen <= SHMKIT__MAP_INLINE;
	int r = find_locked(m, hash, k, klen, &p);

	if (r < 0)
		return r;
	if (p.inline_pair)
		return fits ? put_inline_locked(m, hash, k, klen, v, vlen, 0)
			    : put_move_locked(m, hash, k, klen, v, vlen);
	if (p.found == 0 && fits &&
	    __atomic_load_n(&m->buckets[hash & m->mask].klen, __ATOMIC_RELAXED) == SHMKIT__MAP_NONE)
		return put_inline_locked(m, hash, k, klen, v, vlen, 1);
	return put_chain_locked(m, hash, k, klen, v, vlen, p.link, p.found);
}

int shmkit_map_put(struct shmkit_map *m, const void *k, size_t klen, const void *v, size_t vlen)
{
	if (m == NULL || !key_ok(k, klen) || v == NULL || vlen > UINT32_MAX)
		return -EINVAL;
	if (m->rdonly)
		return refuse_look(m);
	uint64_t hash = hash_key(k, klen, m->seed);
	int r = shmkit__heap_lock(&m->heap);
	if (r < 0)
		return r;
	r = put_locked(m, hash, k, klen, v, vlen);
	shmkit__heap_unlock(&m->heap);
	return r;
}

static int del_locked(struct shmkit_map *m, uint64_t hash, const void *k, size_t klen)
{
	uint64_t b = hash & m->mask;
	_Atomic uint64_t *s = stripe(m, b);
	struct place p;
	int r;

	if ((r = find_locked(m, hash, k, klen, &p)) < 0)
		return r;
	if (p.inline_pair) {
		journal_begin(m, SHMKIT__OOP_MAP_DEL, b, 0);
		bucket_save(m, b);
		SHMKIT__TEST_POINT("map.del.1");
		seq_begin(s);
		__atomic_store_n(&m->buckets[b].klen, SHMKIT__MAP_NONE, __ATOMIC_RELAXED);
		seq_end(s);
		bucket_saved_done(m);
	} else {
		if (p.found == 0)
			return -ENOENT;
		journal_begin(m, SHMKIT__OOP_MAP_DEL, b, p.found);
		SHMKIT__TEST_POINT("map.del.1");
		seq_begin(s);
		uint64_t next = atomic_load_explicit(&ent(m, p.found)->next, memory_order_relaxed);
		/* release: pairs with the readers' acquire loads of links */
		atomic_store_explicit(p.link, next, memory_order_release);
		SHMKIT__TEST_POINT("map.del.2");
		r = shmkit__heap_free_locked(&m->heap, p.found);
		seq_end(s);
	}
	atomic_fetch_sub_explicit(&m->ms->count, 1, memory_order_relaxed);
	SHMKIT__TEST_POINT("map.del.3");
	journal_end(m);
	return r;
}

int shmkit_map_del(struct shmkit_map *m, const void *k, size_t klen)
{
	if (m == NULL || !key_ok(k, klen))
		return -EINVAL;
	if (m->rdonly)
		return refuse_look(m);
	uint64_t hash = hash_key(k, klen, m->seed);
	int r = shmkit__heap_lock(&m->heap);
	if (r < 0)
		return r;
	r = del_locked(m, hash, k, klen);
	shmkit__heap_unlock(&m->heap);
	return r;
}

ssize_t shmkit_map_take(struct shmkit_map *m, const void *k, size_t klen, void *buf, size_t cap)
{
	if (m == NULL || !key_ok(k, klen) || (buf == NULL && cap != 0))
		return -EINVAL;
	if (m->rdonly)
		return refuse_look(m);
	static char dummy;
	struct lookup q = { k, klen, hash_key(k, klen, m->seed), buf != NULL ? buf : &dummy, cap };
	int r = shmkit__heap_lock(&m->heap);
	if (r < 0)
		return r;
	ssize_t n = lookup_copy(m, &q);    /* under the lock: nothing changes under it */
	if (n >= 0 && (r = del_locked(m, q.hash, k, klen)) < 0)
		n = r;
	shmkit__heap_unlock(&m->heap);
	return n;
}

/* ---- walking everything (lock held) ---- */

/* Calls fn for every pair (off 0 for a bucket's own pair); -EBADMSG on a
 * broken chain or bucket. *count: pairs seen; *chained: chain entries. */
static int walk_all_locked(struct shmkit_map *m,
			   int (*fn)(struct shmkit_map *m, uint64_t bucket, uint64_t off,
				     const struct entry_view *v, void *arg),
			   void *arg, uint64_t *count, uint64_t *chained)
{
	uint64_t total = 0, in_chains = 0;

	for (uint64_t b = 0; b <= m->mask; b++) {
		struct entry_view v;
		int r = bucket_read(&m->buckets[b], &v);
		if (r < 0)
			return r;
		if (r == 1) {
			total++;
			if (fn != NULL && (r = fn(m, b, 0, &v, arg)) != 0)
				return r;
		}
		uint64_t off = atomic_load_explicit(&m->buckets[b].chain, memory_order_relaxed);
		while (off != 0) {
			if (++in_chains > m->max_entries || entry_read(m, off, &v) < 0 ||
			    !shmkit__heap_live(&m->heap, off))
				return -EBADMSG;
			total++;
			if (fn != NULL && (r = fn(m, b, off, &v, arg)) != 0)
				return r;
			off = v.next;
		}
	}
	if (count != NULL)
		*count = total;
	if (chained != NULL)
		*chained = in_chains;
	return 0;
}

/* Is `target` on bucket b's chain? 1, 0 or -EBADMSG. */
static int reachable_locked(struct shmkit_map *m, uint64_t b, uint64_t target)
{
	uint64_t off = atomic_load_explicit(&m->buckets[b].chain, memory_order_relaxed);
	for (uint64_t steps = 0; off != 0; steps++) {
		struct entry_view v;
		if (off == target)
			return 1;
		if (steps > m->max_entries || entry_read(m, off, &v) < 0)
			return -EBADMSG;
		off = v.next;
	}
	return 0;
}

/* Frees `e` if it is a live entry no chain of bucket b reaches. */
static int drop_orphan_locked(struct shmkit_map *m, uint64_t b, uint64_t e)
{
	if (e == 0 || !shmkit__heap_live(&m->heap, e))
		return 0;
	int r = reachable_locked(m, b, e);
	if (r != 0)
		return r < 0 ? r : 0;
	return shmkit__heap_free_locked(&m->heap, e);
}

/* With the lock held no writer is mid-publish: a stripe left odd (by a
 * writer that died, or by a scribble) is made even, and looks stop
 * waiting on it. How many were. */
static unsigned stripes_settle_locked(struct shmkit_map *m)
{
	unsigned n = 0;

	for (unsigned i = 0; i < SHMKIT__MAP_STRIPES; i++) {
		uint64_t v = atomic_load_explicit(&m->ms->seq[i], memory_order_relaxed);
		if (v & 1) {
			atomic_store_explicit(&m->ms->seq[i], v + 1, memory_order_release);
			n++;
		}
	}
	return n;
}

/* The heap's upper-layer repair: called with the lock held after a writer
 * died (the heap itself is already consistent). */
static int map_recover_locked(struct shmkit_heap *h)
{
	struct shmkit_map *m = h->upper;
	struct shmkit__heap_shared *sh = h->sh;
	uint32_t op = sh->oj.op;
	int r = 0;

	stripes_settle_locked(m); /* a writer died mid-publish */
	if (m->ms->saved_state != 0) {
		/* a bucket written in place: put it back as it was */
		uint64_t b = m->ms->saved_index;
		if (b > m->mask)
			return -EBADMSG;
		_Atomic uint64_t *s = stripe(m, b);
		seq_begin(s);
		memcpy(&m->buckets[b], &m->ms->saved, sizeof(m->ms->saved));
		seq_end(s);
		bucket_saved_done(m);
	}
	if (op == SHMKIT__OOP_MAP_PUT || op == SHMKIT__OOP_MAP_DEL) {
		uint64_t b = sh->oj.a;
		if (b > m->mask)
			return -EBADMSG;
		_Atomic uint64_t *s = stripe(m, b);
		seq_begin(s); /* readers may still hold the replaced entry */
		if (op == SHMKIT__OOP_MAP_PUT)
			r = drop_orphan_locked(m, b, sh->oj.b); /* not published: roll back */
		if (r == 0)
			r = drop_orphan_locked(m, b, sh->oj.c); /* unlinked: finish */
		seq_end(s);
		if (r < 0)
			return r;
		uint64_t n;
		if ((r = walk_all_locked(m, NULL, NULL, &n, NULL)) < 0)
			return r;
		atomic_store_explicit(&m->ms->count, n, memory_order_relaxed);
	}
	if (op != SHMKIT__OOP_NONE) {
		SHMKIT__ORDER();
		sh->oj.op = SHMKIT__OOP_NONE;
	}
	return 0;
}

struct iter_ctx {
	shmkit_map_iter_fn fn;
	void *arg;
};

static int iter_one(struct shmkit_map *m, uint64_t bucket, uint64_t off, const struct entry_view *v,
		    void *arg)
{
	struct iter_ctx *c = arg;
	(void)off;
	int r = pair_belongs(m, bucket, v);
	return r < 0 ? r : c->fn(v->key, v->klen, v->val, v->vlen, c->arg);
}

/* A look's walk: one bucket's pairs copied out as records (klen, vlen,
 * key, value), kept only if the stripe did not move meanwhile. */
struct bucket_copy {
	uint64_t bucket;
	uint8_t *buf;
	size_t len, cap;
};

static int copy_pair(struct bucket_copy *c, const struct entry_view *v)
{
	size_t need = 8 + (size_t)v->klen + v->vlen;
	if (c->cap - c->len < need) {
		size_t cap = c->cap ? c->cap : 256;
		while (cap - c->len < need)
			cap *= 2;
		uint8_t *p = realloc(c->buf, cap);
		if (p == NULL)
			return -ENOMEM;
		c->buf = p;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, &v->klen, 4);
	memcpy(c->buf + c->len + 4, &v->vlen, 4);
	memcpy(c->buf + c->len + 8, v->key, v->klen);
	memcpy(c->buf + c->len + 8 + v->klen, v->val, v->vlen);
	c->len += need;
	return 0;
}

static ssize_t bucket_reader(const struct shmkit_map *m, void *arg)
{
	struct bucket_copy *c = arg;
	struct entry_view v;
	c->len = 0;
	int r = bucket_read(&m->buckets[c->bucket], &v);
	if (r == 1 && (r = pair_belongs(m, c->bucket, &v)) == 0)
		r = copy_pair(c, &v);
	/* acquire: pairs with the publishing release store */
	uint64_t off = atomic_load_explicit(&m->buckets[c->bucket].chain, memory_order_acquire);
	/* The chain's entries are distinct heap blocks: together they fit the
	 * arena. A scribbled chain (a cycle, a length reaching the arena's end)
	 * is refused when it claims more, before the copy grows past that: it
	 * took arena^2/48 bytes of memory (gigabytes for a 4 MiB map). */
	uint64_t room = m->heap.arena_end - m->heap.arena_off;
	for (uint64_t steps = 0; r >= 0 && off != 0; steps++) {
		if (steps > m->max_entries || entry_read(m, off, &v) < 0 ||
		    !shmkit__heap_live(&m->heap, off))
			return -EBADMSG;
		uint64_t cost = 16 + ENTRY + (uint64_t)v.klen + v.vlen; /* block header, entry, pair */
		if (cost > room)
			return -EBADMSG;
		room -= cost;
		if ((r = pair_belongs(m, c->bucket, &v)) < 0)
			return r;
		r = copy_pair(c, &v);
		off = v.next;
	}
	return r < 0 ? r : 0;
}

static int iter_look(struct shmkit_map *m, shmkit_map_iter_fn fn, void *arg)
{
	struct bucket_copy c = { 0, NULL, 0, 0 };
	int r = 0;

	for (uint64_t b = 0; r == 0 && b <= m->mask; b++) {
		c.bucket = b;
		r = (int)seq_read_look(m, b, bucket_reader, &c);
		for (size_t at = 0; r == 0 && at < c.len;) {
			uint32_t kl, vl;
			memcpy(&kl, c.buf + at, 4);
			memcpy(&vl, c.buf + at + 4, 4);
			r = fn(c.buf + at + 8, kl, c.buf + at + 8 + kl, vl, arg);
			at += 8 + (size_t)kl + vl;
		}
	}
	free(c.buf);
	return r;
}

int shmkit_map_iter(struct shmkit_map *m, shmkit_map_iter_fn fn, void *arg)
{
	shmkit__detail_clear();
	struct iter_ctx c = { fn, arg };

	if (m == NULL || fn == NULL)
		return -EINVAL;
	if (m->rdonly)
		return iter_look(m, fn, arg);
	int r = shmkit__heap_lock(&m->heap);
	if (r < 0)
		return r;
	r = walk_all_locked(m, iter_one, &c, NULL, NULL);
	shmkit__heap_unlock(&m->heap);
	return r;
}

static int check_one(struct shmkit_map *m, uint64_t bucket, uint64_t off, const struct entry_view *v,
		     void *arg)
{
	(void)arg;
	(void)off;
	return pair_belongs(m, bucket, v);
}

int shmkit_map_check(struct shmkit_map *m)
{
	shmkit__detail_clear();
	uint64_t n;

	if (m == NULL)
		return -EINVAL;
	if (m->rdonly)
		return refuse_look(m);
	/* one hold for both layers: one wait for the lock (its timeout
	 * bounds the whole check), and nothing changes between them */
	int r = shmkit__heap_lock(&m->heap);
	if (r < 0)
		return r;
	int hr = shmkit__heap_check_locked(&m->heap);
	r = hr < 0 ? hr : walk_all_locked(m, check_one, NULL, &n, NULL);
	if (r == 0 && n != atomic_load_explicit(&m->ms->count, memory_order_relaxed))
		r = -EBADMSG;
	if (r == 0 && stripes_settle_locked(m) > 0)
		hr = 1;
	shmkit__heap_unlock(&m->heap);
	return r < 0 ? r : hr;
}

/* ---- create / open ---- */

/* The largest power of two <= arena / 128 (at least 16): the buckets take
 * at most half the arena. At one key per 64 arena bytes (a map filled with
 * small pairs) that is a load factor <= 0.5, so ~79 % of the keys sit in
 * their bucket (one cache miss per get) instead of ~63 % at a quarter. */
static uint64_t bucket_count(uint64_t arena)
{
	uint64_t n = 16;
	while (n * 2 <= arena / 128)
		n <<= 1;
	return n;
}

static uint64_t random_seed(void)
{
	uint64_t s;
	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) == (ssize_t)sizeof(s))
		return s;
	return (uint64_t)shmkit__now_ns() ^ ((uint64_t)getpid() << 32);
}

/* The error for a size whose header, heap and bucket table do not fit. The
 * exact floor depends on the heap's block rounding; 24K is always enough
 * (test_cli_explore creates one of 24K). */
static int map_too_small(size_t size)
{
	return shmkit__fail(-EINVAL, "size %zu is too small for a map (24K is enough)", size);
}

static int map_init_body(void *body, size_t body_size, void *arg)
{
	uint8_t *base = (uint8_t *)body - SHMKIT__HEADER_SIZE;
	uint64_t seg_size = (uint64_t)body_size + SHMKIT__HEADER_SIZE;
	struct shmkit_heap h;
	uint64_t ms_off, b_off;
	int r;

	(void)arg;
	memset(&h, 0, sizeof(h));
	if ((r = shmkit__heap_format(base, seg_size)) < 0 ||
	    (r = shmkit__heap_attach(&h, base, seg_size)) < 0)
		return r;
	uint64_t nb = bucket_count(h.arena_end - h.arena_off);
	/* nobody else can see the object before READY: no lock needed */
	if ((r = shmkit__heap_alloc_locked(&h, sizeof(struct shmkit__map_shared), &ms_off)) < 0 ||
	    (r = shmkit__heap_alloc_locked(&h, nb * 64 + 48, &b_off)) < 0)
		return r == -ENOSPC ? map_too_small(seg_size) : r;
	struct shmkit__map_shared *ms = (void *)(base + ms_off);
	uint64_t aligned = (b_off + 63) & ~UINT64_C(63); /* one bucket, one cache line */
	struct shmkit__map_bucket *bk = (void *)(base + aligned);
	memset(ms, 0, sizeof(*ms));
	memset(bk, 0, nb * 64);
	for (uint64_t i = 0; i < nb; i++)
		bk[i].klen = SHMKIT__MAP_NONE;
	ms->magic = SHMKIT__MAP_MAGIC;
	ms->version = SHMKIT__MAP_VERSION;
	ms->nbuckets = nb;
	ms->buckets_off = aligned;
	ms->buckets_block = b_off;
	ms->seed = random_seed();
	h.sh->root = ms_off;
	return 0;
}

static int map_attach(struct shmkit_map *m)
{
	struct shmkit_heap *h = &m->heap;
	uint64_t ms_off = h->sh->root;
	ssize_t ms_size = shmkit_heap_size(h, ms_off);

	if (ms_size < (ssize_t)sizeof(struct shmkit__map_shared))
		return -EBADMSG;
	struct shmkit__map_shared *ms = (void *)(h->base + ms_off);
	if (ms->magic != SHMKIT__MAP_MAGIC)
		return -EBADMSG;
	if (ms->version != SHMKIT__MAP_VERSION)
		return -EPROTO;
	uint64_t nb = ms->nbuckets, b_off = ms->buckets_off, block = ms->buckets_block;
	ssize_t b_size = shmkit_heap_size(h, block);
	if (nb == 0 || (nb & (nb - 1)) != 0 || b_size < 0 || (b_off & 63) != 0 || b_off < block ||
	    b_off - block >= 64 || nb > ((uint64_t)b_size - (b_off - block)) / 64)
		return -EBADMSG;
	m->ms = ms;
	m->buckets = (struct shmkit__map_bucket *)(h->base + b_off);
	m->mask = nb - 1;
	m->seed = ms->seed;
	m->max_entries = (h->arena_end - h->arena_off) / 48;
	h->upper = m;
	h->recover_upper = map_recover_locked;
	return 0;
}

/* Sizes up to this are laid out in memory first by shmkit__map_create_check:
 * only they can be too small once the header fits (24K is always enough). */
#define MAP_TRIED_MAX 65536

int shmkit__map_create_check(size_t size)
{
	shmkit__detail_clear();
	if (size < SHMKIT__HEADER_SIZE + 16384)
		return map_too_small(size);
	if (size > MAP_TRIED_MAX)
		return 0;
	/* the header, heap and buckets laid out in a private copy, as the
	 * create would in the segment: too small shows only there */
	uint8_t *copy = aligned_alloc(4096, MAP_TRIED_MAX);
	if (copy == NULL)
		return 0; /* not known: the create will say */
	memset(copy, 0, size);
	int r = map_init_body(copy + SHMKIT__HEADER_SIZE, size - SHMKIT__HEADER_SIZE, NULL);
	free(copy);
	return r == -EINVAL ? r : 0;
}

int shmkit_map_create(struct shmkit_map **out, const char *uri, size_t size, unsigned mode)
{
	shmkit__detail_clear();
	struct shmkit_map *m;
	int r;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (uri == NULL)
		return -EINVAL;
	if (size < SHMKIT__HEADER_SIZE + 16384)
		return map_too_small(size);
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return shmkit__no_memory("a map handle");
	r = shmkit__obj_create(&m->heap.obj, uri, SHMKIT_KIND_MAP, size - SHMKIT__HEADER_SIZE, mode,
			       map_init_body, NULL);
	if (r == 0) {
		if ((r = shmkit__heap_attach(&m->heap, m->heap.obj.base, size)) == 0)
			r = map_attach(m);
		if (r < 0)
			shmkit__obj_close(&m->heap.obj);
	}
	if (r < 0) {
		free(m);
		return r;
	}
	*out = m;
	return 0;
}

int shmkit_map_open(struct shmkit_map **out, const char *uri)
{
	shmkit__detail_clear();
	struct shmkit_map *m;
	int r;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (uri == NULL)
		return -EINVAL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return shmkit__no_memory("a map handle");
	if ((r = shmkit__heap_open_kind(&m->heap, uri, SHMKIT_KIND_MAP)) == 0 &&
	    (r = map_attach(m)) < 0)
		shmkit__obj_close(&m->heap.obj);
	if (r < 0) {
		free(m);
		return r;
	}
	*out = m;
	return 0;
}

/* A look: a read-only mapping, no attach slot, no lock, no repair. */
static int map_look(struct shmkit_map *m, const char *uri)
{
	int r = shmkit__obj_look(&m->heap.obj, uri, SHMKIT_KIND_MAP);
	if (r < 0)
		return r;
	r = shmkit__heap_attach(&m->heap, m->heap.obj.base,
				(uint64_t)m->heap.obj.body_size + SHMKIT__HEADER_SIZE);
	if (r == 0)
		r = map_attach(m);
	m->rdonly = 1;
	if (r < 0)
		shmkit__obj_close(&m->heap.obj);
	return r;
}

int shmkit_map_open_flags(struct shmkit_map **out, const char *uri, int flags)
{
	shmkit__detail_clear();
	struct shmkit_map *m;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (uri == NULL || (flags & ~SHMKIT_RDONLY) != 0)
		return -EINVAL;
	if (!(flags & SHMKIT_RDONLY))
		return shmkit_map_open(out, uri);
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return shmkit__no_memory("a map handle");
	int r = map_look(m, uri);
	if (r < 0) {
		free(m);
		return r;
	}
	*out = m;
	return 0;
}

int shmkit_map_close(struct shmkit_map *m)
{
	if (m == NULL)
		return 0; /* like free(NULL): shmkit(3), CONVENTIONS */
	if (!m->rdonly)
		shmkit__heap_mag_close(&m->heap); /* blocks cached through shmkit_map_heap() go back */
	int r = shmkit__obj_close(&m->heap.obj);
	free(m);
	return r;
}

int shmkit_map_flush(struct shmkit_map *m)
{
	if (m == NULL)
		return -EINVAL;
	if (m->rdonly)
		return refuse_look(m);
	return shmkit_seg_flush(m->heap.obj.seg);
}

int shmkit_map_set_lock_timeout(struct shmkit_map *m, int64_t timeout_ns)
{
	/* a value under -1 is refused on a look too (shmkit(3) TIMEOUTS): a
	 * program must not learn that it is wrong only on a writable handle */
	if (m == NULL || timeout_ns < SHMKIT_FOREVER)
		return -EINVAL;
	if (m->rdonly)
		return 0; /* a look never takes the lock */
	return shmkit_heap_set_lock_timeout(&m->heap, timeout_ns);
}

struct shmkit_heap *shmkit_map_heap(struct shmkit_map *m)
{
	return m != NULL && !m->rdonly ? &m->heap : NULL; /* a look's heap has no lock to take */
}

int shmkit__map_placement(struct shmkit_map *m, const void *k, size_t klen)
{
	struct place p;
	int r = shmkit__heap_lock(&m->heap);

	if (r < 0)
		return r;
	r = find_locked(m, hash_key(k, klen, m->seed), k, klen, &p);
	shmkit__heap_unlock(&m->heap);
	if (r < 0)
		return r;
	if (p.inline_pair || p.found != 0)
		return p.inline_pair ? 1 : 2;
	uint64_t b = hash_key(k, klen, m->seed) & m->mask;
	return __atomic_load_n(&m->buckets[b].klen, __ATOMIC_RELAXED) == SHMKIT__MAP_NONE ? 3 : 0;
}

uint64_t shmkit__map_hash(const void *k, size_t klen, uint64_t seed)
{
	return hash_key(k, klen, seed);
}

int64_t shmkit__map_chained(struct shmkit_map *m)
{
	uint64_t n = 0;
	int r = shmkit__heap_lock(&m->heap);

	if (r < 0)
		return r;
	r = walk_all_locked(m, NULL, NULL, NULL, &n);
	shmkit__heap_unlock(&m->heap);
	return r < 0 ? r : (int64_t)n;
}
