/* SPDX-License-Identifier: MIT */
/* The map: basic semantics; random operations against a model; full map;
 * kill -9 inside put/del at every pause point (the interrupted key keeps its
 * old or its new value, all others intact); readers and writers in several
 * processes at once (no torn value ever read); persistence over file:. */
/* TIMEOUT: 120 */
#include "test.h"
#include "internal.h"
#include "layout.h"
#include "map_internal.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <stdint.h>
#include <unistd.h>

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static ssize_t get_str(struct shmkit_map *m, const char *k, char *buf, size_t cap)
{
	ssize_t n = shmkit_map_get(m, k, strlen(k), buf, cap - 1);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

static int put_str(struct shmkit_map *m, const char *k, const char *v)
{
	return shmkit_map_put(m, k, strlen(k), v, strlen(v));
}

static int count_cb(const void *k, size_t klen, const void *v, size_t vlen, void *arg)
{
	(void)k;
	(void)v;
	*(size_t *)arg += klen + vlen;
	return 0;
}

/* The hash is part of the format (buckets store it and are chosen by it): a
 * map written by an earlier build must be readable by this one. Values taken
 * from the first implementation (bytes i*37+11, seed 0x9e37..15 * (len+1));
 * lengths 0..70 at three alignments folded into one number besides. */
static void test_hash_golden(void)
{
	static const struct { size_t len; uint64_t hash; } want[] = {
		{ 0, 0x12f94f615a6e5659ull },  { 1, 0x109a4bd2b83373a7ull },
		{ 3, 0xd8eca70b98990f14ull },  { 4, 0xdde68ff13366a62aull },
		{ 7, 0x5db651edee2de70dull },  { 8, 0x275de2288860a032ull },
		{ 12, 0xc16b22fdcbd6e167ull }, { 15, 0xfe27e795d0244b0dull },
		{ 16, 0x31950019c3eff414ull }, { 17, 0x1f1d898902535d3eull },
		{ 24, 0x9dc1fc0d8fc717b1ull },
	};
	unsigned char buf[80];
	uint64_t acc = 0;

	for (int i = 0; i < 80; i++)
		buf[i] = (unsigned char)(i * 37 + 11);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		CHECK(shmkit__map_hash(buf, want[i].len, 0x9e3779b97f4a7c15ull * (want[i].len + 1)) ==
		      want[i].hash);
	for (size_t len = 0; len <= 70; len++)
		for (int off = 0; off < 3; off++)
			acc = acc * 31 + shmkit__map_hash(buf + off, len, 0x9e3779b97f4a7c15ull * (len + 1));
	CHECK(acc == 0x514daca99fd4a360ull);
}

/* A key that differs from the stored one in any single byte is not found
 * (and a value of every length comes back whole, nothing written past it):
 * keys are compared by overlapping word loads (8..16 bytes) or memcmp, in a
 * bucket or along a chain. The stored key's bytes are changed in place, its
 * hash left as it was, as a scribbling writer would. */
static void test_key_every_byte(void)
{
	const char *uri = test_uri("posix", "map-bytes");
	const size_t size = 256 << 10;
	struct shmkit_map *m;
	shmkit_off probe;
	char buf[8];

	CHECK_RET(shmkit_map_create(&m, uri, size, 0600), 0);
	CHECK_RET(shmkit_heap_alloc(shmkit_map_heap(m), 8, &probe), 0);
	unsigned char *base = (unsigned char *)shmkit_heap_ptr(shmkit_map_heap(m), probe) - probe;
	for (size_t len = 4; len <= 80; len++) {
		unsigned char *key = malloc(len); /* its own size: ASan sees a read past it */
		CHECK(key != NULL);
		if (key == NULL)
			break;
		for (size_t i = 0; i < len; i++)
			key[i] = (unsigned char)(0x80 | (rnd() & 0x7f));
		CHECK_RET(shmkit_map_put(m, key, len, "v", 1), 0);
		unsigned char *at = memmem(base, size, key, len);
		CHECK(at != NULL);
		for (size_t i = 0; at != NULL && i < len; i++) {
			at[i] ^= 0x20;
			CHECK_RET(shmkit_map_get(m, key, len, buf, sizeof(buf)), -ENOENT);
			at[i] ^= 0x20;
		}
		CHECK_RET(shmkit_map_get(m, key, len, buf, sizeof(buf)), 1);
		CHECK_RET(shmkit_map_del(m, key, len), 0);
		free(key);
	}
	/* values of every inline length, and past it: copied whole, nothing
	 * written past their end */
	for (size_t vlen = 0; vlen <= 48; vlen++) {
		unsigned char val[48], got[64];
		for (size_t i = 0; i < vlen; i++)
			val[i] = (unsigned char)rnd();
		CHECK_RET(shmkit_map_put(m, "k", 1, val, vlen), 0);
		memset(got, 0xee, sizeof(got));
		CHECK_RET(shmkit_map_get(m, "k", 1, got, sizeof(got)), (ssize_t)vlen);
		CHECK(memcmp(got, val, vlen) == 0);
		for (size_t i = vlen; i < sizeof(got); i++)
			CHECK(got[i] == 0xee);
		unsigned char *exact = malloc(vlen ? vlen : 1); /* cap == vlen: ASan sees a write past it */
		CHECK(exact != NULL);
		if (exact != NULL)
			CHECK_RET(shmkit_map_get(m, "k", 1, exact, vlen), (ssize_t)vlen);
		CHECK(exact == NULL || memcmp(exact, val, vlen) == 0);
		free(exact);
	}
	shmkit_heap_free(shmkit_map_heap(m), probe);
	shmkit_map_close(m);
}

static void test_basic(void)
{
	struct shmkit_map *m;
	char buf[256];
	const char *uri = test_uri("posix", "map-basic");

	CHECK_RET(shmkit_map_create(&m, uri, 1 << 20, 0600), 0);
	CHECK_RET(shmkit_map_count(m), 0);
	CHECK_RET(get_str(m, "a", buf, sizeof(buf)), -ENOENT);
	CHECK_RET(put_str(m, "a", "apple"), 0);
	CHECK_RET(get_str(m, "a", buf, sizeof(buf)), 5);
	CHECK(strcmp(buf, "apple") == 0);
	CHECK_RET(put_str(m, "a", "apricot"), 0); /* replace */
	CHECK_RET(get_str(m, "a", buf, sizeof(buf)), 7);
	CHECK(strcmp(buf, "apricot") == 0);
	CHECK_RET(shmkit_map_count(m), 1);
	CHECK_RET(shmkit_map_get(m, "a", 1, buf, 3), -EMSGSIZE); /* too small: left in place */
	CHECK_RET(shmkit_map_get(m, "a", 1, NULL, 0), -EMSGSIZE);
	CHECK_RET(shmkit_map_len(m, "a", 1), 7);
	CHECK_RET(shmkit_map_len(m, "zz", 2), -ENOENT);
	CHECK_RET(shmkit_map_put(m, "e", 1, "", 0), 0); /* empty value */
	CHECK_RET(shmkit_map_get(m, "e", 1, NULL, 0), 0);
	const char bin[] = { 0, 1, 2, 0, 3 };
	CHECK_RET(shmkit_map_put(m, bin, sizeof(bin), bin, sizeof(bin)), 0);
	CHECK_RET(shmkit_map_get(m, bin, sizeof(bin), buf, sizeof(buf)), 5);
	CHECK(memcmp(buf, bin, 5) == 0);
	CHECK_RET(shmkit_map_get(m, bin, 4, buf, sizeof(buf)), -ENOENT); /* a prefix is another key */
	CHECK_RET(shmkit_map_count(m), 3);
	size_t total = 0;
	CHECK_RET(shmkit_map_iter(m, count_cb, &total), 0);
	CHECK(total == 1 + 7 + 1 + 0 + 5 + 5);
	CHECK_RET(shmkit_map_del(m, "a", 1), 0);
	CHECK_RET(shmkit_map_del(m, "a", 1), -ENOENT);
	CHECK_RET(get_str(m, "a", buf, sizeof(buf)), -ENOENT);
	CHECK_RET(shmkit_map_count(m), 2);
	/* take: the value out and the key gone in one step; too small a buffer takes nothing */
	CHECK_RET(put_str(m, "t", "taken"), 0);
	CHECK_RET(shmkit_map_take(m, "t", 1, buf, 2), -EMSGSIZE);
	CHECK_RET(shmkit_map_take(m, "t", 1, NULL, 0), -EMSGSIZE);
	CHECK_RET(shmkit_map_count(m), 3);
	CHECK_RET(shmkit_map_take(m, "t", 1, buf, sizeof(buf)), 5);
	CHECK(memcmp(buf, "taken", 5) == 0);
	CHECK_RET(shmkit_map_take(m, "t", 1, buf, sizeof(buf)), -ENOENT);
	CHECK_RET(shmkit_map_take(m, "e", 1, NULL, 0), 0); /* an empty value needs no buffer */
	CHECK_RET(shmkit_map_count(m), 1);
	CHECK_RET(put_str(m, "e", ""), 0);
	CHECK_RET(shmkit_map_count(m), 2);
	CHECK_RET(shmkit_map_put(m, NULL, 0, "x", 1), -EINVAL);
	CHECK_RET(shmkit_map_check(m), 0);
	CHECK_RET(shmkit_map_close(m), 0);
	struct shmkit_heap *h;
	CHECK_RET(shmkit_heap_open(&h, uri), 0); /* a map is a heap too */
	CHECK_RET(shmkit_heap_check(h), 0);
	shmkit_heap_close(h);
}

/* ---- random against a model ---- */

#define NKEYS 300
static void test_model(void)
{
	struct shmkit_map *m;
	static char vals[NKEYS][400];
	static int lens[NKEYS];
	char key[32], buf[512];

	CHECK_RET(shmkit_map_create(&m, test_uri("posix", "map-model"), 4 << 20, 0600), 0);
	for (int i = 0; i < NKEYS; i++)
		lens[i] = -1;
	for (int step = 0; step < 20000; step++) {
		uint64_t r = rnd();
		int i = (int)(r % NKEYS);
		snprintf(key, sizeof(key), "key-%d", i);
		if ((r >> 20) % 4 == 0) {
			CHECK_RET(shmkit_map_del(m, key, strlen(key)), lens[i] >= 0 ? 0 : -ENOENT);
			lens[i] = -1;
		} else if ((r >> 20) % 4 == 1) {
			int len = (int)((r >> 24) % 400);
			for (int j = 0; j < len; j++)
				vals[i][j] = (char)(r >> (j % 40) ^ (uint64_t)j);
			CHECK_RET(shmkit_map_put(m, key, strlen(key), vals[i], (size_t)len), 0);
			lens[i] = len;
		} else {
			ssize_t n = shmkit_map_get(m, key, strlen(key), buf, sizeof(buf));
			CHECK_RET(n, lens[i] >= 0 ? lens[i] : -ENOENT);
			if (n > 0)
				CHECK(memcmp(buf, vals[i], (size_t)n) == 0);
		}
		if (step % 1000 == 0)
			CHECK_RET(shmkit_map_check(m), 0);
	}
	ssize_t live = 0;
	for (int i = 0; i < NKEYS; i++)
		live += lens[i] >= 0;
	CHECK_RET(shmkit_map_count(m), live);
	CHECK_RET(shmkit_map_check(m), 0);
	shmkit_map_close(m);
}

/* Puts k0, k1, ... with value val until the map is full; how many went in. */
static int fill(struct shmkit_map *m, const char *val, size_t vlen)
{
	char key[32];
	int n = 0;

	for (;; n++) {
		snprintf(key, sizeof(key), "k%d", n);
		int r = shmkit_map_put(m, key, strlen(key), val, vlen);
		if (r == -ENOSPC)
			return n;
		CHECK_RET(r, 0);
		if (n >= 100000) {
			CHECK(!"a 64 KiB map took 100000 pairs");
			return n;
		}
	}
}

static void test_full(void)
{
	struct shmkit_map *m;
	char key[32], val[200], buf[256];
	int n;

	CHECK_RET(shmkit_map_create(&m, test_uri("posix", "map-full"), 64 << 10, 0600), 0);
	memset(val, 'v', sizeof(val));
	n = fill(m, val, sizeof(val));
	CHECK(n > 100);
	CHECK_RET(shmkit_map_count(m), n);
	for (int i = 0; i < n; i++) { /* nothing lost */
		snprintf(key, sizeof(key), "k%d", i);
		CHECK_RET(shmkit_map_get(m, key, strlen(key), buf, sizeof(buf)), sizeof(val));
	}
	/* replacing with something bigger fails whole; the old value stays */
	static char huge[100000];
	CHECK_RET(shmkit_map_put(m, "k0", 2, huge, sizeof(huge)), -ENOSPC);
	CHECK_RET(shmkit_map_get(m, "k0", 2, buf, sizeof(buf)), sizeof(val));
	CHECK_RET(shmkit_map_del(m, "k1", 2), 0);
	CHECK_RET(shmkit_map_put(m, "new", 3, val, sizeof(val)), 0); /* still usable */
	CHECK_RET(shmkit_map_check(m), 0);
	shmkit_map_close(m);
}

/* shmkit_map(3) on a full map: deleting pairs kept in their buckets frees
 * no heap memory (a put needing a heap entry still fails); deleting a
 * chained pair does; a small new pair whose bucket's place is free needs
 * none. */
static void test_full_inline(void)
{
	struct shmkit_map *m;
	char key[32], val[200];
	int after_full = 0, in_bucket = 0;

	CHECK_RET(shmkit_map_create(&m, test_uri("posix", "map-full-inline"), 64 << 10, 0600), 0);
	memset(val, 'v', sizeof(val));
	CHECK(fill(m, val, sizeof(val)) > 1); /* 200-byte values: every pair a chain entry */
	/* Small pairs: once one fails (no heap block for its entry), every
	 * later success went into its bucket, needing no heap memory. */
	for (int i = 0; i < 4000 && in_bucket < 16; i++) {
		snprintf(key, sizeof(key), "s%d", i);
		int r = shmkit_map_put(m, key, strlen(key), "tiny", 4);
		if (r == -ENOSPC) {
			after_full = 1;
			continue;
		}
		CHECK_RET(r, 0);
		if (after_full) {
			snprintf(key, sizeof(key), "s%d", i);
			CHECK_RET(shmkit_map_del(m, key, strlen(key)), 0); /* frees no heap */
			in_bucket++;
		}
	}
	CHECK(after_full && in_bucket > 0);
	CHECK_RET(shmkit_map_put(m, "big", 3, val, sizeof(val)), -ENOSPC);
	CHECK_RET(shmkit_map_del(m, "k1", 2), 0); /* a chain entry: its block is freed */
	CHECK_RET(shmkit_map_put(m, "big", 3, val, sizeof(val)), 0);
	CHECK_RET(shmkit_map_check(m), 0);
	shmkit_map_close(m);
}

/* ---- kill -9 inside put / del ---- */

#define NK 50
#define LONG_OLD "the long value of longkey, too big for a bucket: it lives in a chain"
#define LONG_NEW "NEW-VALUE-OF-SEVEN-much-longer-than-the-old-one"

struct crash_op {
	const char *name, *key, *val; /* val NULL: delete */
};
static const struct crash_op crash_ops[] = {
	{ "replace-long", "k7", LONG_NEW },     { "replace-short", "k7", "NEW-7" },
	{ "insert-short", "fresh", "FRESH" },   { "insert-long", "fresh", LONG_NEW },
	{ "del", "k7", NULL },                  { "replace-chain", "longkey", LONG_NEW },
	{ "del-chain", "longkey", NULL },
};

static const struct crash_op *crash_op_named(const char *name)
{
	for (size_t i = 0; i < sizeof(crash_ops) / sizeof(crash_ops[0]); i++)
		if (strcmp(crash_ops[i].name, name) == 0)
			return &crash_ops[i];
	return NULL;
}

static int role_crash_op(int argc, char **argv)
{
	struct shmkit_map *m;
	if (argc < 2)
		return 2;
	const struct crash_op *op = crash_op_named(argv[1]);
	CHECK(op != NULL);
	const char *key = argc > 2 ? argv[2] : op->key; /* another key, same write */
	CHECK_RET(shmkit_map_open(&m, argv[0]), 0);
	if (op->val)
		CHECK_RET(put_str(m, key, op->val), 0);
	else
		CHECK_RET(shmkit_map_del(m, key, strlen(key)), 0);
	shmkit_map_close(m);
	return 0;
}

/* The paths a write takes, and for each pause point on it whether a kill
 * there leaves the old ('o') or the new ('n') state. */
struct path_point {
	const char *point;
	char want;
};
static const struct path_point path_inline[] = {
	{ "map.put.inline.1", 'o' }, { "map.put.inline.2", 'o' }, { "map.put.4", 'n' }, { NULL, 0 }
};
static const struct path_point path_move[] = {
	{ "map.put.1", 'o' }, { "heap.alloc.1", 'o' }, { "heap.alloc.2", 'o' }, { "heap.alloc.3", 'o' },
	{ "map.put.2", 'o' }, { "map.put.3", 'o' },    { "map.put.4", 'n' },    { NULL, 0 }
};
static const struct path_point path_chain_new[] = {
	{ "map.put.1", 'o' }, { "heap.alloc.2", 'o' }, { "heap.alloc.3", 'o' }, { "map.put.2", 'o' },
	{ "map.put.3", 'n' }, { "map.put.4", 'n' },    { NULL, 0 }
};
static const struct path_point path_chain_replace[] = {
	{ "map.put.1", 'o' },   { "heap.alloc.1", 'o' }, { "map.put.2", 'o' }, { "map.put.3", 'n' },
	{ "heap.free.1", 'n' }, { "heap.free.2", 'n' },  { "heap.free.3", 'n' }, { "map.put.4", 'n' },
	{ NULL, 0 }
};
static const struct path_point path_del_inline[] = {
	{ "map.del.1", 'o' }, { "map.del.3", 'n' }, { NULL, 0 }
};
static const struct path_point path_del_chain[] = {
	{ "map.del.1", 'o' }, { "map.del.2", 'n' }, { "heap.free.1", 'n' }, { "heap.free.3", 'n' },
	{ "map.del.3", 'n' }, { NULL, 0 }
};

static const char *old_value(const char *key, char *buf, size_t cap)
{
	if (strcmp(key, "longkey") == 0)
		return LONG_OLD;
	if (strcmp(key, "fresh") == 0)
		return NULL;
	snprintf(buf, cap, "old-%s", key + 1);
	return buf;
}

static struct shmkit_map *crash_setup(const char *uri)
{
	struct shmkit_map *m;
	char key[16], val[64];

	CHECK_RET(shmkit_map_create(&m, uri, 1 << 20, 0600), 0);
	for (int i = 0; i < NK; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		snprintf(val, sizeof(val), "old-%d", i);
		CHECK_RET(put_str(m, key, val), 0);
	}
	CHECK_RET(put_str(m, "longkey", LONG_OLD), 0);
	return m;
}

static const struct path_point *path_of(struct shmkit_map *m, const struct crash_op *op)
{
	int place = shmkit__map_placement(m, op->key, strlen(op->key));
	int fits = op->val && strlen(op->key) + strlen(op->val) <= 40;

	if (op->val == NULL)
		return place == 1 ? path_del_inline : path_del_chain;
	if (place == 1)
		return fits ? path_inline : path_move;
	if (place == 2)
		return path_chain_replace;
	return fits && place == 3 ? path_inline : path_chain_new;
}

/* Kills the writer of op at the index-th pause point of the path op takes
 * in this map (the seed, so the placement, differs from map to map).
 * Returns 0 when the path has fewer points. */
static int map_crash_at(const struct crash_op *op, int index)
{
	const char *uri = test_uri("posix", "map-crash");
	struct shmkit_map *m = crash_setup(uri);
	char buf[128], oldbuf[32];
	ssize_t keys_before = shmkit_map_count(m);
	const struct path_point *path = path_of(m, op);

	for (int i = 0; i <= index; i++) {
		if (path[i].point == NULL) {
			shmkit_map_close(m);
			shmkit_remove(uri);
			return 0;
		}
	}
	const char *point = path[index].point;
	char want = path[index].want;
	printf("kill -9 at %s during %s\n", point, op->name);

	const char *args[] = { uri, op->name, NULL };
	pid_t pid = test_spawn_paused(point, "crash-op", args);
	CHECK_RET(test_kill_stopped(pid), 128 + SIGKILL);

	/* a reader first: it must not hang on a stripe the writer left odd */
	const char *old = old_value(op->key, oldbuf, sizeof(oldbuf));
	const char *expect = want == 'o' ? old : op->val;
	ssize_t n = get_str(m, op->key, buf, sizeof(buf));
	if (expect == NULL)
		CHECK_RET(n, -ENOENT);
	else
		CHECK(n == (ssize_t)strlen(expect) && strcmp(buf, expect) == 0);
	CHECK_RET(shmkit_map_check(m), 0);
	/* every other key intact */
	for (int i = 0; i < NK; i++) {
		char key[16], val[64];
		snprintf(key, sizeof(key), "k%d", i);
		if (strcmp(key, op->key) == 0)
			continue;
		snprintf(val, sizeof(val), "old-%d", i);
		CHECK_RET(get_str(m, key, buf, sizeof(buf)), (ssize_t)strlen(val));
		CHECK(strcmp(buf, val) == 0);
	}
	if (strcmp(op->key, "longkey") != 0)
		CHECK_RET(get_str(m, "longkey", buf, sizeof(buf)), (ssize_t)strlen(LONG_OLD));
	CHECK_RET(shmkit_map_count(m), keys_before + (old == NULL && expect != NULL) - (old != NULL && expect == NULL));
	/* nothing leaked: chain entries + the map header + buckets are all that's used */
	struct shmkit_heap_stats st;
	CHECK_RET(shmkit_heap_stats(shmkit_map_heap(m), &st), 0);
	CHECK(st.n_used == (uint64_t)shmkit__map_chained(m) + 2);
	CHECK_RET(put_str(m, op->key, "after"), 0);
	CHECK_RET(get_str(m, op->key, buf, sizeof(buf)), 5);
	CHECK_RET(shmkit_map_check(m), 0);
	shmkit_map_close(m);
	shmkit_remove(uri);
	return 1;
}

static void test_crash_points(void)
{
	int runs = 0;
	for (size_t i = 0; i < sizeof(crash_ops) / sizeof(crash_ops[0]); i++)
		for (int index = 0; map_crash_at(&crash_ops[i], index); index++)
			runs++;
	CHECK(runs >= 30);
}

/* ---- concurrent readers and writers in several processes ---- */

static const char *conc_uri;
#define CKEYS 64
#define WRITES 4000

/* value of key k at version v: self-describing so a torn read shows */
static size_t make_val(char *buf, int w, int k, int v)
{
	int len = snprintf(buf, 200, "w%d-k%d-v%d|", w, k, v);
	int pad = (k * 7 + v) % 120;
	for (int i = 0; i < pad; i++)
		buf[len + i] = (char)('a' + (k + v + i) % 26);
	len += pad;
	buf[len++] = '$';
	return (size_t)len;
}

static int value_ok(const char *buf, ssize_t n, int w, int k)
{
	int vw, vk, v, len;
	char tmp[256], str[256];
	if (n <= 0 || n >= 250)
		return 0;
	memcpy(str, buf, (size_t)n); /* a value is bytes, not a string: end it for sscanf */
	str[n] = 0;
	if (sscanf(str, "w%d-k%d-v%d|", &vw, &vk, &v) != 3)
		return 0;
	if (vw != w || vk != k)
		return 0;
	len = (int)make_val(tmp, w, k, v);
	return len == n && memcmp(tmp, buf, (size_t)n) == 0;
}

static int writer(void *arg)
{
	int w = (int)(uintptr_t)arg;
	struct shmkit_map *m;
	char key[32], val[256];
	CHECK_RET(shmkit_map_open(&m, conc_uri), 0);
	rng_state ^= (uint64_t)w * 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < WRITES; i++) {
		int k = (int)(rnd() % CKEYS);
		snprintf(key, sizeof(key), "w%d-%d", w, k);
		if (rnd() % 8 == 0 && i < WRITES - CKEYS) {
			int r = shmkit_map_del(m, key, strlen(key));
			CHECK(r == 0 || r == -ENOENT);
		} else {
			size_t len = make_val(val, w, k, i);
			CHECK_RET(shmkit_map_put(m, key, strlen(key), val, len), 0);
		}
	}
	for (int k = 0; k < CKEYS; k++) { /* final, known state */
		snprintf(key, sizeof(key), "w%d-%d", w, k);
		size_t len = make_val(val, w, k, 1000000 + k);
		CHECK_RET(shmkit_map_put(m, key, strlen(key), val, len), 0);
	}
	shmkit_map_close(m);
	return 0;
}

static int reader(void *arg)
{
	struct shmkit_map *m;
	char key[32], buf[256];
	long hits = 0;
	(void)arg;
	CHECK_RET(shmkit_map_open(&m, conc_uri), 0);
	rng_state ^= (uint64_t)getpid();
	/* 60000 reads, and on past them until one hits: a loaded machine can
	 * run a whole reader before either writer has put its first key. */
	int64_t give_up = test_now_ns() + 20 * 1000000000ll;
	for (int i = 0; i < 60000 || (hits == 0 && test_now_ns() < give_up); i++) {
		int w = 1 + (int)(rnd() % 2), k = (int)(rnd() % CKEYS);
		snprintf(key, sizeof(key), "w%d-%d", w, k);
		ssize_t n = shmkit_map_get(m, key, strlen(key), buf, sizeof(buf));
		if (n == -ENOENT)
			continue;
		CHECK(value_ok(buf, n, w, k));
		hits++;
	}
	CHECK(hits > 0);
	shmkit_map_close(m);
	return 0;
}

static void test_concurrent(void)
{
	struct shmkit_map *m;
	pid_t pids[4];
	char key[32], val[256], buf[256];

	conc_uri = test_uri("posix", "map-conc");
	CHECK_RET(shmkit_map_create(&m, conc_uri, 4 << 20, 0600), 0);
	pids[0] = test_fork(writer, (void *)1);
	pids[1] = test_fork(writer, (void *)2);
	pids[2] = test_fork(reader, NULL);
	pids[3] = test_fork(reader, NULL);
	for (int i = 0; i < 4; i++)
		CHECK_RET(test_wait(pids[i]), 0);
	CHECK_RET(shmkit_map_check(m), 0);
	CHECK_RET(shmkit_map_count(m), 2 * CKEYS);
	for (int w = 1; w <= 2; w++)
		for (int k = 0; k < CKEYS; k++) {
			snprintf(key, sizeof(key), "w%d-%d", w, k);
			size_t len = make_val(val, w, k, 1000000 + k);
			CHECK_RET(shmkit_map_get(m, key, strlen(key), buf, sizeof(buf)), (ssize_t)len);
			CHECK(memcmp(buf, val, len) == 0);
		}
	shmkit_map_close(m);
}

/* ---- a writer killed mid-write while readers run ---- */

struct stop_flag {
	_Atomic int stop;
};

static int victim = 7; /* a key that is its bucket's own pair */

static int reader_until_stop(void *arg)
{
	struct stop_flag *f = arg;
	struct shmkit_map *m;
	char key[16], want[64], buf[128];
	long reads = 0;
	CHECK_RET(shmkit_map_open(&m, conc_uri), 0);
	while (!atomic_load(&f->stop) || reads < 1000) {
		int i = (int)(rnd() % NK);
		snprintf(key, sizeof(key), "k%d", i);
		ssize_t n = get_str(m, key, buf, sizeof(buf));
		snprintf(want, sizeof(want), "old-%d", i);
		if (i == victim) { /* the interrupted key: old or new, whole */
			CHECK(n > 0 && (strcmp(buf, want) == 0 || strcmp(buf, "NEW-7") == 0));
		} else {
			CHECK(n == (ssize_t)strlen(want) && strcmp(buf, want) == 0);
		}
		reads++;
	}
	shmkit_map_close(m);
	return 0;
}

static void test_kill_writer_under_readers(void)
{
	struct stop_flag *f = mmap(NULL, sizeof(*f), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(f != MAP_FAILED);
	conc_uri = test_uri("posix", "map-kill-readers");
	struct shmkit_map *m = crash_setup(conc_uri);
	char vkey[16];
	pid_t readers[2];
	for (victim = 0; victim < NK; victim++) {
		snprintf(vkey, sizeof(vkey), "k%d", victim);
		if (shmkit__map_placement(m, vkey, strlen(vkey)) == 1)
			break;
	}
	CHECK(victim < NK);
	/* closed across the forks: a reader would inherit the handle's memory */
	shmkit_map_close(m);
	for (int i = 0; i < 2; i++)
		readers[i] = test_fork(reader_until_stop, f);
	/* stopped with k7's bucket half-written and its stripe odd */
	const char *args[] = { conc_uri, "replace-short", vkey, NULL };
	pid_t pid = test_spawn_paused("map.put.inline.2", "crash-op", args);
	usleep(200000); /* readers meet the odd stripe and wait on the lock */
	CHECK_RET(test_kill_stopped(pid), 128 + SIGKILL);
	atomic_store(&f->stop, 1);
	for (int i = 0; i < 2; i++)
		CHECK_RET(test_wait(readers[i]), 0);
	CHECK_RET(shmkit_map_open(&m, conc_uri), 0);
	CHECK_RET(shmkit_map_check(m), 0);
	shmkit_map_close(m);
	munmap(f, sizeof(*f));
}

/* ---- writers killed at random moments while readers check every value ---- */

static int chaos_writer(void *arg)
{
	struct shmkit_map *m;
	char key[32], val[256];
	(void)arg;
	rng_state ^= (uint64_t)getpid() * 0x9e3779b97f4a7c15ull;
	CHECK_RET(shmkit_map_open(&m, conc_uri), 0);
	for (int i = 0;; i++) { /* until killed */
		int k = (int)(rnd() % CKEYS);
		snprintf(key, sizeof(key), "w9-%d", k);
		if (rnd() % 6 == 0) {
			int r = shmkit_map_del(m, key, strlen(key));
			CHECK(r == 0 || r == -ENOENT);
		} else {
			size_t len = make_val(val, 9, k, i % 64); /* short and long values */
			CHECK_RET(shmkit_map_put(m, key, strlen(key), val, len), 0);
		}
	}
	return 0;
}

static int chaos_reader(void *arg)
{
	struct stop_flag *f = arg;
	struct shmkit_map *m;
	char key[32], buf[256];
	CHECK_RET(shmkit_map_open(&m, conc_uri), 0);
	while (!atomic_load(&f->stop)) {
		int k = (int)(rnd() % CKEYS);
		snprintf(key, sizeof(key), "w9-%d", k);
		ssize_t n = shmkit_map_get(m, key, strlen(key), buf, sizeof(buf));
		CHECK(n == -ENOENT || value_ok(buf, n, 9, k)); /* never torn */
	}
	shmkit_map_close(m);
	return 0;
}

static int check_pair(const void *k, size_t klen, const void *v, size_t vlen, void *arg)
{
	int key;
	char ks[32];
	(void)arg;
	snprintf(ks, sizeof(ks), "%.*s", (int)klen, (const char *)k);
	CHECK(sscanf(ks, "w9-%d", &key) == 1 && value_ok(v, (ssize_t)vlen, 9, key));
	return 0;
}

static void test_random_kills(void)
{
	struct stop_flag *f = mmap(NULL, sizeof(*f), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct shmkit_map *m;
	pid_t readers[2];

	CHECK(f != MAP_FAILED);
	conc_uri = test_uri("posix", "map-chaos");
	CHECK_RET(shmkit_map_create(&m, conc_uri, 1 << 20, 0600), 0);
	for (int i = 0; i < 2; i++)
		readers[i] = test_fork(chaos_reader, f);
	for (int round = 0; round < 25; round++) {
		pid_t w = test_fork(chaos_writer, NULL);
		usleep((useconds_t)(1000 + rnd() % 15000));
		kill(w, SIGKILL);
		CHECK_RET(test_wait(w), 128 + SIGKILL);
	}
	atomic_store(&f->stop, 1);
	for (int i = 0; i < 2; i++)
		CHECK_RET(test_wait(readers[i]), 0);
	CHECK_RET(shmkit_map_check(m), 0);
	CHECK_RET(shmkit_map_iter(m, check_pair, NULL), 0);
	struct shmkit_heap_stats st;
	CHECK_RET(shmkit_heap_stats(shmkit_map_heap(m), &st), 0);
	CHECK(st.n_used == (uint64_t)shmkit__map_chained(m) + 2); /* no leak even so */
	shmkit_map_close(m);
	munmap(f, sizeof(*f));
}

/* ---- persistence over file: ---- */

static int role_persist_check(int argc, char **argv)
{
	struct shmkit_map *m;
	char key[32], val[64], buf[64];
	if (argc < 1)
		return 2;
	CHECK_RET(shmkit_map_open(&m, argv[0]), 0);
	CHECK_RET(shmkit_map_count(m), 1000);
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "p%d", i);
		snprintf(val, sizeof(val), "value %d", i * i);
		CHECK_RET(shmkit_map_get(m, key, strlen(key), buf, sizeof(buf)), (ssize_t)strlen(val));
		CHECK(memcmp(buf, val, strlen(val)) == 0);
	}
	CHECK_RET(put_str(m, "from-child", "yes"), 0);
	CHECK_RET(shmkit_map_flush(m), 0);
	shmkit_map_close(m);
	return 0;
}

static void test_persistence(void)
{
	const char *uri = test_uri("file", "map-persist");
	struct shmkit_map *m;
	char key[32], val[64], buf[64];

	CHECK_RET(shmkit_map_create(&m, uri, 1 << 20, 0600), 0);
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "p%d", i);
		snprintf(val, sizeof(val), "value %d", i * i);
		CHECK_RET(put_str(m, key, val), 0);
	}
	CHECK_RET(shmkit_map_flush(m), 0);
	CHECK_RET(shmkit_map_close(m), 0);
	const char *args[] = { uri, NULL };
	CHECK_RET(test_wait(test_spawn_self("persist-check", args)), 0);
	CHECK_RET(shmkit_map_open(&m, uri), 0);
	CHECK_RET(get_str(m, "from-child", buf, sizeof(buf)), 3);
	CHECK_RET(shmkit_map_count(m), 1001);
	CHECK_RET(shmkit_map_check(m), 0);
	shmkit_map_close(m);
}

/* ---- a file: map that outlives a reboot with its lock held ---- */

static const char *reboot_copy;

static int reboot_open(void *arg)
{
	struct shmkit_map *m;
	char buf[128];
	(void)arg;
	alarm(20); /* a lock nobody will release must not hang the suite */
	CHECK_RET(shmkit_map_open(&m, reboot_copy), 0);
	ssize_t n = get_str(m, "longkey", buf, sizeof(buf));
	CHECK(n > 0 && strcmp(buf, LONG_NEW) == 0); /* killed after the publish */
	CHECK_RET(shmkit_map_check(m), 0);
	CHECK_RET(shmkit_map_count(m), NK + 1);
	CHECK_RET(put_str(m, "k8", "after reboot"), 0);
	shmkit_map_close(m);
	return 0;
}

static void test_reboot(void)
{
	const char *uri = test_uri("file", "map-live");
	struct shmkit_map *m;

	reboot_copy = test_uri("file", "map-reboot");
	m = crash_setup(uri);
	shmkit_map_close(m);
	const char *args[] = { uri, "replace-chain", NULL };
	pid_t pid = test_spawn_paused("map.put.3", "crash-op", args);
	/* the file as a power cut would leave it: lock held, journal and a
	 * seqlock stripe mid-write; then a new boot */
	CHECK_RET(test_sh("cp %s %s", uri + 5, reboot_copy + 5), 0);
	CHECK_RET(test_kill_stopped(pid), 128 + SIGKILL);
	FILE *f = fopen(reboot_copy + 5, "r+b");
	uint64_t other_boot = 0x1234567890abcdefull;
	CHECK(f != NULL && fseek(f, 4096 + 56, SEEK_SET) == 0 && fwrite(&other_boot, 8, 1, f) == 1);
	if (f)
		fclose(f);
	CHECK_RET(test_wait(test_fork(reboot_open, NULL)), 0);
}

/* The map's segment base in this process, from a live allocation's offset
 * and address (the block is left allocated: tests that scribble on the
 * map's internals read them from here). */
static unsigned char *map_base(struct shmkit_map *m)
{
	struct shmkit_heap *h = shmkit_map_heap(m);
	shmkit_off probe = 0;
	CHECK_RET(shmkit_heap_alloc(h, 8, &probe), 0);
	return (unsigned char *)shmkit_heap_ptr(h, probe) - probe;
}

/* ---- corruption: scribbles anywhere in the arena never crash or hang ---- */

static void test_corruption_fuzz(void)
{
	const char *uri = test_uri("posix", "map-fuzz");
	const size_t size = 256 << 10;
	struct shmkit_map *m;
	char key[32], buf[256];

	CHECK_RET(shmkit_map_create(&m, uri, size, 0600), 0);
	for (int i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		CHECK_RET(shmkit_map_put(m, key, strlen(key), key, strlen(key)), 0);
	}
	unsigned char *base = map_base(m);
	unsigned char *snap = malloc(size);
	memcpy(snap, base, size);
	int bad = 0;
	for (int round = 0; round < 600; round++) {
		for (int k = 0; k < 1 + (int)(rnd() % 4); k++) {
			/* past the heap header (its lock is another test's business) */
			uint64_t pos = 4096 + 5888 + rnd() % (size - 4096 - 5888 - 8), val;
			pos &= ~(uint64_t)7;
			switch (rnd() % 3) {
			case 0: val = rnd(); break;
			case 1: val = rnd() % size; break; /* plausible offsets: cycles, overlaps */
			default: val = 0;
			}
			memcpy(base + pos, &val, 8);
		}
		for (int i = 0; i < 20; i++) {
			snprintf(key, sizeof(key), "key-%d", (int)(rnd() % 320));
			ssize_t n = shmkit_map_get(m, key, strlen(key), buf, sizeof(buf));
			CHECK(n >= 0 || n == -ENOENT || n == -EMSGSIZE || n == -EBADMSG);
			bad += n == -EBADMSG;
		}
		snprintf(key, sizeof(key), "key-%d", (int)(rnd() % 320));
		int r = shmkit_map_put(m, key, strlen(key), "v", 1);
		CHECK(r == 0 || r == -ENOSPC || r == -EBADMSG || r == -EINVAL);
		r = shmkit_map_del(m, key, strlen(key));
		CHECK(r == 0 || r == -ENOENT || r == -EBADMSG || r == -EINVAL);
		r = shmkit_map_check(m);
		CHECK(r == 0 || r == 1 || r == -EBADMSG);
		bad += r == -EBADMSG;
		memcpy(base, snap, size); /* restore; nobody holds the lock */
	}
	printf("map fuzz: %d corrupt results\n", bad);
	CHECK(bad > 0);
	CHECK_RET(shmkit_map_check(m), 0);
	free(snap);
	shmkit_map_close(m);
}

static int count_pair(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	(void)k, (void)kl, (void)v, (void)vl;
	++*(int *)arg;
	return 0;
}

/* A look (read-only handle) at a map whose chain entry points at itself,
 * its value reaching the arena's end: shmkit_map_iter copied that entry
 * arena/48 times (1.4 GB for this 256 KiB map) before it said -EBADMSG. */
static void test_look_scribbled_cycle(void)
{
	const char *uri = test_uri("posix", "map-cycle");
	struct shmkit_map *m, *look;
	int pairs = 0;

	CHECK_RET(shmkit_map_create(&m, uri, 256 << 10, 0600), 0);
	CHECK_RET(shmkit_map_put(m, "longkey", 7, LONG_OLD, strlen(LONG_OLD)), 0);
	unsigned char *base = map_base(m);
	const struct shmkit__heap_shared *hs = (const void *)(base + SHMKIT__HEADER_SIZE);
	const struct shmkit__map_shared *ms = (const void *)(base + hs->root);
	const struct shmkit__map_bucket *b = (const void *)(base + ms->buckets_off);
	uint64_t off = 0;
	for (uint64_t i = 0; i < ms->nbuckets && !off; i++)
		off = atomic_load(&b[i].chain);
	CHECK(off != 0);
	struct shmkit__map_entry *e = (void *)(base + off);
	atomic_store(&e->next, off);
	e->vlen = (uint32_t)(hs->arena_end - off - sizeof(*e) - e->klen);

	struct rusage before, after;
	CHECK_OK(getrusage(RUSAGE_SELF, &before));
	CHECK_RET(shmkit_map_open_flags(&look, uri, SHMKIT_RDONLY), 0);
	CHECK_RET(shmkit_map_iter(look, count_pair, &pairs), -EBADMSG);
	CHECK_OK(getrusage(RUSAGE_SELF, &after));
	printf("map look at a cycle: max RSS %ld -> %ld KiB\n", before.ru_maxrss, after.ru_maxrss);
	CHECK(after.ru_maxrss - before.ru_maxrss < 32 * 1024);
	shmkit_map_close(look);
	shmkit_map_close(m);
}

/* A bucket table overwritten with zeroes (a page of it, say): each zeroed
 * bucket reads as klen 0, vlen 0, and the empty key is a legal key, so both
 * walks handed out one invented empty pair per bucket and said 0. An empty
 * key a put wrote is still listed; zeroes are -EBADMSG, before any pair. */
static void test_zeroed_buckets(void)
{
	const char *uri = test_uri("posix", "map-zeroed");
	struct shmkit_map *m, *look;
	int pairs = 0;

	CHECK_RET(shmkit_map_create(&m, uri, 256 << 10, 0600), 0);
	CHECK_RET(put_str(m, "k1", "v1"), 0);
	CHECK_RET(put_str(m, "", "empty key"), 0);
	CHECK_RET(shmkit_map_open_flags(&look, uri, SHMKIT_RDONLY), 0);
	CHECK_RET(shmkit_map_iter(m, count_pair, &pairs), 0);
	CHECK(pairs == 2);
	pairs = 0;
	CHECK_RET(shmkit_map_iter(look, count_pair, &pairs), 0);
	CHECK(pairs == 2);

	unsigned char *base = map_base(m);
	const struct shmkit__heap_shared *hs = (const void *)(base + SHMKIT__HEADER_SIZE);
	const struct shmkit__map_shared *ms = (const void *)(base + hs->root);
	memset(base + ms->buckets_off, 0, ms->nbuckets * sizeof(struct shmkit__map_bucket));

	pairs = 0;
	CHECK_RET(shmkit_map_iter(look, count_pair, &pairs), -EBADMSG);
	CHECK(pairs == 0);
	CHECK(strstr(shmkit_last_error_detail(), "does not hash to it") != NULL);
	pairs = 0;
	CHECK_RET(shmkit_map_iter(m, count_pair, &pairs), -EBADMSG);
	CHECK(pairs == 0);
	CHECK_RET(shmkit_map_check(m), -EBADMSG);
	shmkit_map_close(look);
	shmkit_map_close(m);
}

int main(int argc, char **argv)
{
	static const struct test_role roles[] = {
		{ "crash-op", role_crash_op },
		{ "persist-check", role_persist_check },
		{ NULL, NULL },
	};
	test_child_dispatch(argc, argv, roles);
	test_hash_golden();
	test_basic();
	test_key_every_byte();
	test_model();
	test_full();
	test_full_inline();
	test_crash_points();
	test_concurrent();
	test_kill_writer_under_readers();
	test_random_kills();
	test_persistence();
	test_corruption_fuzz();
	test_look_scribbled_cycle();
	test_zeroed_buckets();
	test_reboot();
	return test_done();
}
