/* The map: a chained hash table of byte strings inside a heap segment.
 *
 * The bucket array and every entry are heap blocks. An entry (next, hash,
 * lengths, key, value) is written whole before it is published by one
 * release store of its offset into the bucket or the previous entry's next,
 * so a writer killed at any point leaves each key with its old or its new
 * value. Writers serialize on the heap's robust mutex and record what they
 * do in the heap's object journal; the process that inherits the lock from
 * a dead writer frees whichever of the new / replaced entry is unreachable.
 *
 * Readers take no lock: a striped seqlock (bucket i uses seq[i % 1024])
 * brackets every unlink-and-free, so a reader that may have looked at memory
 * being freed or reused sees its stripe's seq change and retries. Everything
 * a reader reads is bounds-checked before use (a freed entry's bytes are
 * garbage until the seq check rejects them) and chain walks are bounded.
 * After a few hundred failed tries a reader takes the lock, which also
 * repairs a stripe left odd by a writer that died mid-publish. */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <shmkit/map.h>
#include <shmkit/seg.h>

#include "heap_internal.h"
#include "internal.h"

#define ENTRY ((uint64_t)sizeof(struct shmkit__map_entry))
#define STRIPE_MASK ((uint64_t)SHMKIT__MAP_STRIPES - 1)
#define READ_TRIES 256

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

struct shmkit_map {
	struct shmkit_heap heap;
	struct shmkit__map_shared *ms;
	_Atomic uint64_t *buckets;
	uint64_t mask;        /* nbuckets - 1 */
	uint64_t seed;
	uint64_t max_entries; /* bound for every chain walk */
};

/* ---- hashing (wyhash-style multiply-mix) ---- */

static inline uint64_t mix(uint64_t a, uint64_t b)
{
	__uint128_t r = (__uint128_t)a * b;
	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static uint64_t hash_key(const void *key, size_t len, uint64_t seed)
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
	uint64_t tail = 0;
	if (len > 0)
		memcpy(&tail, p, len);
	return mix(tail ^ 0xe7037ed1a0b428dbull ^ len, h ^ 0xa0761d6478bd642full);
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

/* Finds the key in its chain and copies the value out. Safe on memory that
 * is changing under it: every read is bounded, the caller validates. */
static ssize_t lookup_copy(const struct shmkit_map *m, const struct lookup *q)
{
	uint64_t off = atomic_load_explicit(&m->buckets[q->hash & m->mask],
					    memory_order_acquire); /* pairs with the publishing release store */
	for (uint64_t steps = 0; off != 0; steps++) {
		struct entry_view v;
		if (steps > m->max_entries || entry_read(m, off, &v) < 0)
			return -EBADMSG;
		if (v.hash == q->hash && v.klen == q->klen && memcmp(v.key, q->k, q->klen) == 0) {
			if (q->buf == NULL)
				return v.vlen;
			if (v.vlen > q->cap)
				return -EMSGSIZE;
			memcpy(q->buf, v.val, v.vlen);
			return v.vlen;
		}
		off = v.next;
	}
	return -ENOENT;
}

/* ---- seqlock stripes ---- */

static inline _Atomic uint64_t *stripe(const struct shmkit_map *m, uint64_t bucket)
{
	return &m->ms->seq[bucket & STRIPE_MASK];
}

static void seq_begin(_Atomic uint64_t *s)
{
	uint64_t v = atomic_load_explicit(s, memory_order_relaxed);
	atomic_store_explicit(s, v + 1, memory_order_relaxed);
	/* release fence: the odd value is visible before any store that follows
	 * (pairs with the reader's acquire fence before its second seq load) */
	atomic_thread_fence(memory_order_release);
}

static void seq_end(_Atomic uint64_t *s)
{
	uint64_t v = atomic_load_explicit(s, memory_order_relaxed);
	/* release: every store of this write is visible before the even value
	 * (pairs with the reader's acquire load of the seq) */
	atomic_store_explicit(s, v + 1, memory_order_release);
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

static ssize_t read_optimistic(struct shmkit_map *m, const struct lookup *q)
{
	_Atomic uint64_t *s = stripe(m, q->hash & m->mask);

	for (int tries = 0; tries < READ_TRIES; tries++) {
		/* acquire: pairs with seq_end's release store */
		uint64_t s1 = atomic_load_explicit(s, memory_order_acquire);
		if (s1 & 1) {
			cpu_relax();
			continue;
		}
		ssize_t n = lookup_copy(m, q);
		/* acquire fence: the reads above complete before the seq is read
		 * again (pairs with seq_begin's release fence) */
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(s, memory_order_relaxed) == s1)
			return n;
	}
	/* a busy stripe or a writer that died mid-publish: the lock settles both */
	return read_locked(m, q);
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

/* Finds the link (bucket slot or previous entry's next) that points at the
 * entry holding k, or at nothing when k is absent. */
static int find_link_locked(struct shmkit_map *m, uint64_t hash, const void *k, size_t klen,
			    _Atomic uint64_t **link, uint64_t *found)
{
	_Atomic uint64_t *l = &m->buckets[hash & m->mask];
	uint64_t off = atomic_load_explicit(l, memory_order_relaxed); /* lock held */

	for (uint64_t steps = 0; off != 0; steps++) {
		struct entry_view v;
		if (steps > m->max_entries || entry_read(m, off, &v) < 0 ||
		    !shmkit__heap_live(&m->heap, off))
			return -EBADMSG;
		if (v.hash == hash && v.klen == klen && memcmp(v.key, k, klen) == 0)
			break;
		l = &ent(m, off)->next;
		off = v.next;
	}
	*link = l;
	*found = off;
	return 0;
}

static int put_locked(struct shmkit_map *m, uint64_t hash, const void *k, size_t klen,
		      const void *v, size_t vlen)
{
	struct shmkit__heap_shared *sh = m->heap.sh;
	_Atomic uint64_t *link;
	uint64_t old;
	int r;

	if ((r = find_link_locked(m, hash, k, klen, &link, &old)) < 0)
		return r;
	sh->oj.a = hash & m->mask;
	sh->oj.b = 0;
	sh->oj.c = old;
	SHMKIT__ORDER();
	sh->oj.op = SHMKIT__OOP_MAP_PUT;
	SHMKIT__ORDER();
	SHMKIT__TEST_POINT("map.put.1");
	r = shmkit__heap_alloc_locked(&m->heap, ENTRY + klen + vlen, &sh->oj.b);
	if (r < 0) {
		sh->oj.op = SHMKIT__OOP_NONE; /* nothing changed: -ENOSPC loses nothing */
		return r;
	}
	uint64_t off = sh->oj.b;
	struct shmkit__map_entry *e = ent(m, off);
	uint64_t next = old != 0 ? atomic_load_explicit(&ent(m, old)->next, memory_order_relaxed)
				 : atomic_load_explicit(link, memory_order_relaxed);
	atomic_store_explicit(&e->next, next, memory_order_relaxed);
	e->hash = hash;
	e->klen = (uint32_t)klen;
	e->vlen = (uint32_t)vlen;
	memcpy(e + 1, k, klen);
	memcpy((uint8_t *)(e + 1) + klen, v, vlen);
	SHMKIT__TEST_POINT("map.put.2");
	_Atomic uint64_t *s = stripe(m, hash & m->mask);
	seq_begin(s);
	/* release: the entry's bytes are visible before its offset (pairs with
	 * the readers' acquire loads of links) */
	atomic_store_explicit(link, off, memory_order_release);
	SHMKIT__TEST_POINT("map.put.3");
	if (old != 0)
		r = shmkit__heap_free_locked(&m->heap, old);
	seq_end(s);
	if (old == 0)
		atomic_fetch_add_explicit(&m->ms->count, 1, memory_order_relaxed);
	SHMKIT__TEST_POINT("map.put.4");
	SHMKIT__ORDER();
	sh->oj.op = SHMKIT__OOP_NONE;
	return r;
}

int shmkit_map_put(struct shmkit_map *m, const void *k, size_t klen, const void *v, size_t vlen)
{
	if (m == NULL || !key_ok(k, klen) || v == NULL || vlen > UINT32_MAX)
		return -EINVAL;
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
	struct shmkit__heap_shared *sh = m->heap.sh;
	_Atomic uint64_t *link;
	uint64_t old;
	int r;

	if ((r = find_link_locked(m, hash, k, klen, &link, &old)) < 0)
		return r;
	if (old == 0)
		return -ENOENT;
	sh->oj.a = hash & m->mask;
	sh->oj.b = 0;
	sh->oj.c = old;
	SHMKIT__ORDER();
	sh->oj.op = SHMKIT__OOP_MAP_DEL;
	SHMKIT__ORDER();
	SHMKIT__TEST_POINT("map.del.1");
	_Atomic uint64_t *s = stripe(m, hash & m->mask);
	seq_begin(s);
	uint64_t next = atomic_load_explicit(&ent(m, old)->next, memory_order_relaxed);
	/* release: pairs with the readers' acquire loads of links */
	atomic_store_explicit(link, next, memory_order_release);
	SHMKIT__TEST_POINT("map.del.2");
	r = shmkit__heap_free_locked(&m->heap, old);
	seq_end(s);
	atomic_fetch_sub_explicit(&m->ms->count, 1, memory_order_relaxed);
	SHMKIT__TEST_POINT("map.del.3");
	SHMKIT__ORDER();
	sh->oj.op = SHMKIT__OOP_NONE;
	return r;
}

int shmkit_map_del(struct shmkit_map *m, const void *k, size_t klen)
{
	if (m == NULL || !key_ok(k, klen))
		return -EINVAL;
	uint64_t hash = hash_key(k, klen, m->seed);
	int r = shmkit__heap_lock(&m->heap);
	if (r < 0)
		return r;
	r = del_locked(m, hash, k, klen);
	shmkit__heap_unlock(&m->heap);
	return r;
}

/* ---- walking everything (lock held) ---- */

/* Calls fn for each entry of every chain; -EBADMSG on a broken chain. */
static int walk_all_locked(struct shmkit_map *m,
			   int (*fn)(struct shmkit_map *m, uint64_t bucket, uint64_t off,
				     const struct entry_view *v, void *arg),
			   void *arg, uint64_t *count)
{
	uint64_t total = 0;

	for (uint64_t b = 0; b <= m->mask; b++) {
		uint64_t off = atomic_load_explicit(&m->buckets[b], memory_order_relaxed);
		while (off != 0) {
			struct entry_view v;
			if (++total > m->max_entries || entry_read(m, off, &v) < 0 ||
			    !shmkit__heap_live(&m->heap, off))
				return -EBADMSG;
			if (fn != NULL) {
				int r = fn(m, b, off, &v, arg);
				if (r != 0)
					return r;
			}
			off = v.next;
		}
	}
	if (count != NULL)
		*count = total;
	return 0;
}

/* Is `target` on bucket b's chain? 1, 0 or -EBADMSG. */
static int reachable_locked(struct shmkit_map *m, uint64_t b, uint64_t target)
{
	uint64_t off = atomic_load_explicit(&m->buckets[b], memory_order_relaxed);
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

/* The heap's upper-layer repair: called with the lock held after a writer
 * died (the heap itself is already consistent). */
static int map_recover_locked(struct shmkit_heap *h)
{
	struct shmkit_map *m = h->upper;
	struct shmkit__heap_shared *sh = h->sh;
	uint32_t op = sh->oj.op;
	int r = 0;

	for (unsigned i = 0; i < SHMKIT__MAP_STRIPES; i++) {
		uint64_t v = atomic_load_explicit(&m->ms->seq[i], memory_order_relaxed);
		if (v & 1) /* a writer died mid-publish: readers retry once more */
			atomic_store_explicit(&m->ms->seq[i], v + 1, memory_order_release);
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
		if ((r = walk_all_locked(m, NULL, NULL, &n)) < 0)
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
	(void)m;
	(void)bucket;
	(void)off;
	return c->fn(v->key, v->klen, v->val, v->vlen, c->arg);
}

int shmkit_map_iter(struct shmkit_map *m, shmkit_map_iter_fn fn, void *arg)
{
	struct iter_ctx c = { fn, arg };

	if (m == NULL || fn == NULL)
		return -EINVAL;
	int r = shmkit__heap_lock(&m->heap);
	if (r < 0)
		return r;
	r = walk_all_locked(m, iter_one, &c, NULL);
	shmkit__heap_unlock(&m->heap);
	return r;
}

static int check_one(struct shmkit_map *m, uint64_t bucket, uint64_t off, const struct entry_view *v,
		     void *arg)
{
	(void)arg;
	(void)off;
	if (hash_key(v->key, v->klen, m->seed) != v->hash || (v->hash & m->mask) != bucket)
		return -EBADMSG;
	return 0;
}

int shmkit_map_check(struct shmkit_map *m)
{
	uint64_t n;

	if (m == NULL)
		return -EINVAL;
	int hr = shmkit_heap_check(&m->heap);
	if (hr < 0)
		return hr;
	int r = shmkit__heap_lock(&m->heap);
	if (r < 0)
		return r;
	r = walk_all_locked(m, check_one, NULL, &n);
	if (r == 0 && n != atomic_load_explicit(&m->ms->count, memory_order_relaxed))
		r = -EBADMSG;
	shmkit__heap_unlock(&m->heap);
	return r < 0 ? r : hr;
}

/* ---- create / open ---- */

static uint64_t bucket_count(uint64_t arena)
{
	uint64_t want = arena / 128, n = 16;
	while (n < want)
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
	    (r = shmkit__heap_alloc_locked(&h, nb * 8, &b_off)) < 0)
		return r == -ENOSPC ? -EINVAL : r;
	struct shmkit__map_shared *ms = (void *)(base + ms_off);
	memset(ms, 0, sizeof(*ms));
	memset(base + b_off, 0, nb * 8);
	ms->magic = SHMKIT__MAP_MAGIC;
	ms->version = SHMKIT__MAP_VERSION;
	ms->nbuckets = nb;
	ms->buckets_off = b_off;
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
	uint64_t nb = ms->nbuckets, b_off = ms->buckets_off;
	ssize_t b_size = shmkit_heap_size(h, b_off);
	if (nb == 0 || (nb & (nb - 1)) != 0 || b_size < 0 || (uint64_t)b_size / 8 < nb)
		return -EBADMSG;
	m->ms = ms;
	m->buckets = (_Atomic uint64_t *)(h->base + b_off);
	m->mask = nb - 1;
	m->seed = ms->seed;
	m->max_entries = (h->arena_end - h->arena_off) / 48;
	h->upper = m;
	h->recover_upper = map_recover_locked;
	return 0;
}

int shmkit_map_create(struct shmkit_map **out, const char *uri, size_t size, unsigned mode)
{
	struct shmkit_map *m;
	int r;

	if (out == NULL || uri == NULL || size < SHMKIT__HEADER_SIZE + 16384)
		return -EINVAL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return -ENOMEM;
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
	struct shmkit_map *m;
	int r;

	if (out == NULL || uri == NULL)
		return -EINVAL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return -ENOMEM;
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

int shmkit_map_close(struct shmkit_map *m)
{
	if (m == NULL)
		return -EINVAL;
	int r = shmkit__obj_close(&m->heap.obj);
	free(m);
	return r;
}

int shmkit_map_flush(struct shmkit_map *m)
{
	if (m == NULL)
		return -EINVAL;
	return shmkit_seg_flush(m->heap.obj.seg);
}

struct shmkit_heap *shmkit_map_heap(struct shmkit_map *m)
{
	return m != NULL ? &m->heap : NULL;
}
