/* SPDX-License-Identifier: MIT */
/* Suite "heapmap": the heap and the map inside a segment.
 *
 *   alloc+free pair (64 B, and mixed 16..1024 B and 16..4096 B with 256 live)
 *     next to glibc malloc/free in the same run   goal <= 2x (mixed 16..4096: 2.5x)
 *   map get and put (replace) at 1 K and 1 M keys, random order
 *   the floor: one dependent random load over a shared mapping as large as
 *     the 1 M-key map                          goal get@1M <= 150 ns or <= 1.5x floor
 *   readers scaling: get throughput of 1 and 2 reader processes
 *   Boost.Interprocess managed_shared_memory + boost::unordered_map (the
 *     peer program bench/peer_boost_map.cpp, when Boost was found)
 *                                                      goal: faster than Boost */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmkit.h>

#include "bench.h"

#define BATCHES 15
#define PAIR_OPS 200000
#define GET_OPS 200000
#define ALLOC_GOAL 2.0
#define ALLOC_MIXED_GOAL 2.5
#define HUGE_MAP_GOAL 1.0 /* issue 14: get at 1 M keys on huge pages <= 1.0x the 4 KiB floor */ /* issue 14: mixed 16..4096 B <= 2.5x glibc */
#define GET_GOAL_NS 150.0
#define FLOOR_GOAL 1.5
#define KEY_LEN 12
#define VAL_LEN 16

static double median_of(double *v, size_t n)
{
	return bench_percentiles(v, n).median_ns;
}

static void report(struct bench_ctx *ctx, const char *name, size_t size, double *per_op,
		   size_t n, const char *note)
{
	struct bench_row row = { 0 };
	snprintf(row.name, sizeof(row.name), "%s", name);
	row.size = size;
	row.lat = bench_percentiles(per_op, n);
	row.msgs_per_s = 1e9 / row.lat.median_ns;
	snprintf(row.note, sizeof(row.note), "%s", note);
	bench_report(ctx, &row);
}

static void report_ratio(struct bench_ctx *ctx, const char *name, double ns, double base_ns,
			 const char *base_name, double goal, const char *note)
{
	struct bench_row row = { 0 };
	snprintf(row.name, sizeof(row.name), "%s", name);
	row.lat.median_ns = row.lat.mean_ns = ns;
	row.lat.n = 1;
	row.msgs_per_s = 1e9 / ns;
	bench_ratio(&row, base_ns, base_name, goal);
	/* bounded: a longer note is cut (gcc -O3 checks the truncation) */
	snprintf(row.note, sizeof(row.note), "%.*s", (int)sizeof(row.note) - 1, note);
	bench_report(ctx, &row);
}

static char *uri_for(const char *what)
{
	static char buf[4][96];
	static int i;
	char *b = buf[i++ & 3];
	snprintf(b, sizeof(buf[0]), "posix:/shmkit-bench-%d-%s", (int)getpid(), what);
	return b;
}

/* ---- alloc + free ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static inline uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

struct sizes {
	uint32_t v[4096];
};

/* Request sizes spread evenly over 16..max bytes. */
static void fill_sizes(struct sizes *s, uint32_t max)
{
	for (size_t i = 0; i < 4096; i++)
		s->v[i] = 16 + (uint32_t)(rnd() % (max - 15));
}

static double heap_pairs(struct shmkit_heap *h, size_t n, const struct sizes *mixed, shmkit_off *live)
{
	int64_t t0 = bench_now_ns();
	if (mixed == NULL) {
		for (size_t i = 0; i < n; i++) {
			shmkit_off off;
			shmkit_heap_alloc(h, 64, &off);
			shmkit_heap_free(h, off);
		}
	} else {
		for (size_t i = 0; i < n; i++) {
			size_t slot = i & 255;
			shmkit_heap_free(h, live[slot]);
			shmkit_heap_alloc(h, mixed->v[i & 4095], &live[slot]);
		}
	}
	return (double)(bench_now_ns() - t0) / (double)n;
}

static double malloc_pairs(size_t n, const struct sizes *mixed, void **live)
{
	int64_t t0 = bench_now_ns();
	if (mixed == NULL) {
		for (size_t i = 0; i < n; i++) {
			void *p = malloc(64);
			bench_keep(p);
			free(p);
		}
	} else {
		for (size_t i = 0; i < n; i++) {
			size_t slot = i & 255;
			free(live[slot]);
			live[slot] = malloc(mixed->v[i & 4095]);
			bench_keep(live[slot]);
		}
	}
	return (double)(bench_now_ns() - t0) / (double)n;
}

static double heap64_ns; /* for the Boost comparison */

static int bench_alloc(struct bench_ctx *ctx)
{
	const char *uri = uri_for("heap");
	struct shmkit_heap *h;
	static struct sizes mixed[2];
	static const char *const names[3][2] = {
		{ "malloc+free 64 B", "heap alloc+free 64 B" },
		{ "malloc+free mixed 16..1024 B", "heap alloc+free mixed 16..1024 B" },
		{ "malloc+free mixed 16..4096 B", "heap alloc+free mixed 16..4096 B" },
	};
	static const double goals[3] = { ALLOC_GOAL, ALLOC_GOAL, ALLOC_MIXED_GOAL };
	shmkit_off live[256];
	void *mlive[256];
	double hp[BATCHES], mp[BATCHES];
	size_t n = bench_iters(ctx, PAIR_OPS);
	int r;

	shmkit_remove(uri);
	if ((r = shmkit_heap_create(&h, uri, 64 << 20, 0600)) < 0)
		return r;
	fill_sizes(&mixed[0], 1024);
	fill_sizes(&mixed[1], 4096);
	for (int pass = 0; pass < 3; pass++) {
		const struct sizes *mx = pass ? &mixed[pass - 1] : NULL;
		for (int i = 0; i < 256; i++) {
			shmkit_heap_alloc(h, 64, &live[i]);
			mlive[i] = malloc(64);
		}
		heap_pairs(h, n / 10, mx, live); /* warm up */
		malloc_pairs(n / 10, mx, mlive);
		for (int b = 0; b < BATCHES; b++) {
			hp[b] = heap_pairs(h, n, mx, live);
			mp[b] = malloc_pairs(n, mx, mlive);
		}
		for (int i = 0; i < 256; i++) {
			shmkit_heap_free(h, live[i]);
			free(mlive[i]);
		}
		double hm = median_of(hp, BATCHES), mm = median_of(mp, BATCHES);
		if (pass == 0)
			heap64_ns = hm;
		report(ctx, names[pass][0], pass ? 0 : 64, mp, BATCHES, "glibc, same run");
		report_ratio(ctx, names[pass][1], hm, mm, "glibc malloc+free", goals[pass], "batch means");
	}
	r = shmkit_heap_check(h);
	shmkit_heap_close(h);
	shmkit_remove(uri);
	return r < 0 ? r : 0;
}

/* ---- map ---- */

static void make_key(char *k, uint32_t i)
{
	/* fixed length, distinct: "k" + 11 digits */
	snprintf(k, KEY_LEN + 1, "k%011u", i);
}

static int fill_map(struct shmkit_map *m, uint32_t nkeys)
{
	char k[KEY_LEN + 1], v[VAL_LEN];
	memset(v, 'v', sizeof(v));
	for (uint32_t i = 0; i < nkeys; i++) {
		make_key(k, i);
		memcpy(v, &i, sizeof(i));
		int r = shmkit_map_put(m, k, KEY_LEN, v, VAL_LEN);
		if (r < 0)
			return r;
	}
	return 0;
}

static uint32_t *random_order(size_t n, uint32_t nkeys)
{
	uint32_t *o = malloc(n * sizeof(*o));
	for (size_t i = 0; o != NULL && i < n; i++)
		o[i] = (uint32_t)(rnd() % nkeys);
	return o;
}

/* Keys are formatted up front: the loop times the map, not snprintf. */
static char *key_table(const uint32_t *order, size_t n)
{
	char *t = malloc(n * KEY_LEN + 1);
	char k[KEY_LEN + 1];
	for (size_t i = 0; t != NULL && i < n; i++) {
		make_key(k, order[i]);
		memcpy(t + i * KEY_LEN, k, KEY_LEN);
	}
	return t;
}

static double map_gets(struct shmkit_map *m, const char *keys, size_t n)
{
	char v[64];
	int64_t t0 = bench_now_ns();
	for (size_t i = 0; i < n; i++) {
		ssize_t r = shmkit_map_get(m, keys + i * KEY_LEN, KEY_LEN, v, sizeof(v));
		bench_keep(r);
	}
	return (double)(bench_now_ns() - t0) / (double)n;
}

static double map_puts(struct shmkit_map *m, const char *keys, size_t n)
{
	char v[VAL_LEN];
	memset(v, 'w', sizeof(v));
	int64_t t0 = bench_now_ns();
	for (size_t i = 0; i < n; i++)
		shmkit_map_put(m, keys + i * KEY_LEN, KEY_LEN, v, VAL_LEN);
	return (double)(bench_now_ns() - t0) / (double)n;
}

/* One dependent random load per step over `size` bytes of shared memory:
 * a random cycle through its cache lines (Sattolo), followed by index. */
static double floor_random_load(struct bench_ctx *ctx, size_t size)
{
	size_t lines = size / 64;
	uint64_t *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint32_t *perm = malloc(lines * sizeof(*perm));
	double per[BATCHES];

	if (mem == MAP_FAILED || perm == NULL) {
		free(perm);
		if (mem != MAP_FAILED)
			munmap(mem, size);
		return 0;
	}
	for (size_t i = 0; i < lines; i++)
		perm[i] = (uint32_t)i;
	for (size_t i = lines - 1; i > 0; i--) { /* Sattolo: one cycle through all */
		size_t j = rnd() % i;
		uint32_t t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	for (size_t i = 0; i < lines; i++)
		mem[(size_t)perm[i] * 8] = perm[(i + 1) % lines];
	free(perm);
	size_t n = bench_iters(ctx, GET_OPS);
	uint64_t cur = 0;
	for (int b = 0; b < BATCHES; b++) {
		int64_t t0 = bench_now_ns();
		for (size_t i = 0; i < n; i++)
			cur = mem[cur * 8];
		per[b] = (double)(bench_now_ns() - t0) / (double)n;
	}
	bench_keep(cur);
	munmap(mem, size);
	return median_of(per, BATCHES);
}

/* Aggregate gets/s of `procs` reader processes. */
static double readers_rate(struct bench_ctx *ctx, const char *uri, const char *keys, size_t n, int procs)
{
	int pipefd[2];
	pid_t pids[2];
	double total = 0;

	if (pipe(pipefd) < 0)
		return 0;
	for (int p = 0; p < procs; p++) {
		pids[p] = fork();
		if (pids[p] == 0) {
			struct shmkit_map *m;
			close(pipefd[0]);
			bench_pin(ctx->cpu[p]);
			if (shmkit_map_open(&m, uri) < 0)
				_exit(1);
			map_gets(m, keys, n / 4); /* warm up */
			double ns = map_gets(m, keys, n);
			double rate = 1e9 / ns;
			if (write(pipefd[1], &rate, sizeof(rate)) != sizeof(rate))
				_exit(1);
			shmkit_map_close(m);
			_exit(0);
		}
	}
	close(pipefd[1]);
	for (int p = 0; p < procs; p++) {
		double rate;
		if (read(pipefd[0], &rate, sizeof(rate)) == sizeof(rate))
			total += rate;
	}
	close(pipefd[0]);
	for (int p = 0; p < procs; p++)
		if (pids[p] > 0)
			waitpid(pids[p], NULL, 0);
	return total;
}

struct map_result {
	double get_ns, put_ns;
};

/* uri NULL: a posix: map; `tag` is appended to the row names. */
static int bench_map_at(struct bench_ctx *ctx, const char *uri, const char *tag, uint32_t nkeys,
			size_t seg_size, struct map_result *res, int scaling)
{
	if (uri == NULL)
		uri = uri_for("map");
	struct shmkit_map *m;
	size_t n = bench_iters(ctx, GET_OPS);
	double g[BATCHES], p[BATCHES];
	char name[64], note[96];
	int r;

	shmkit_remove(uri);
	if ((r = shmkit_map_create(&m, uri, seg_size, 0600)) < 0)
		return r;
	uint32_t *order = random_order(n, nkeys);
	char *keys = order ? key_table(order, n) : NULL;
	if (keys == NULL || (r = fill_map(m, nkeys)) < 0) {
		r = r < 0 ? r : -ENOMEM;
		goto out;
	}
	map_gets(m, keys, n / 4);
	for (int b = 0; b < BATCHES; b++)
		g[b] = map_gets(m, keys, n);
	for (int b = 0; b < BATCHES; b++)
		p[b] = map_puts(m, keys, n);
	res->get_ns = median_of(g, BATCHES);
	res->put_ns = median_of(p, BATCHES);
	snprintf(note, sizeof(note), "%u-byte keys, %u-byte values, random order", KEY_LEN, VAL_LEN);
	snprintf(name, sizeof(name), "map get, %u keys%s", nkeys, tag);
	report(ctx, name, VAL_LEN, g, BATCHES, note);
	snprintf(name, sizeof(name), "map put (replace), %u keys%s", nkeys, tag);
	report(ctx, name, VAL_LEN, p, BATCHES, note);
	if (scaling) {
		double one = readers_rate(ctx, uri, keys, n, 1);
		double two = readers_rate(ctx, uri, keys, n, 2);
		struct bench_row row = { 0 };
		snprintf(row.name, sizeof(row.name), "map get, 2 reader processes, %u keys", nkeys);
		row.msgs_per_s = two;
		row.ratio = one > 0 ? two / one : 0;
		snprintf(row.ratio_to, sizeof(row.ratio_to), "1 reader (%.2g gets/s)", one);
		row.goal = 1.6;
		row.goal_max = 0;
		snprintf(row.note, sizeof(row.note), "lock-free readers; cpus %d,%d", ctx->cpu[0], ctx->cpu[1]);
		bench_report(ctx, &row);
	}
	r = 0;
out:
	free(order);
	free(keys);
	shmkit_map_close(m);
	shmkit_remove(uri);
	return r;
}

/* ---- the map on huge pages (issue 14) ---- */

#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"
#define HUGEPAGES_LOCK "/tmp/shmkit-test-hugepages.lock" /* tests/test_seg_huge.c's too */

static long read_long(const char *path)
{
	FILE *f = fopen(path, "re");
	long v = -1;
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "we");
	if (!f)
		return -1;
	int ok = fprintf(f, "%ld\n", v) > 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static long huge_free(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	long v = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "HugePages_Free: %ld", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

/* Makes `pages` 2 MiB pages free for the run: as root, vm.nr_hugepages is
 * raised (under the tests' lock, held until restore) and put back after.
 * *saved = the old setting (-1: nothing to put back); lock fd in *lock. */
static int reserve_huge(long pages, long *saved, int *lock)
{
	*saved = -1;
	*lock = -1;
	if (huge_free() >= pages)
		return 0;
	if (geteuid() != 0)
		return -EPERM;
	*lock = open(HUGEPAGES_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*lock < 0 || flock(*lock, LOCK_EX) < 0)
		return -errno;
	long nr = read_long(NR_HUGEPAGES);
	if (nr < 0 || write_long(NR_HUGEPAGES, nr + pages) < 0)
		return -EPERM;
	*saved = nr;
	return huge_free() >= pages ? 0 : -ENOMEM;
}

static void restore_huge(long saved, int lock)
{
	if (saved >= 0)
		write_long(NR_HUGEPAGES, saved);
	if (lock >= 0)
		close(lock);
}

/* Map get at 1 M keys with the map on 2 MiB pages, against the dependent
 * random load over a 4 KiB-page mapping of the same size (the floor row):
 * goal <= 1.0x (the TLB misses of 4 KiB pages are part of that floor). */
static void bench_huge_map(struct bench_ctx *ctx, uint32_t nkeys, size_t size, double floor_ns)
{
	char uri[96], note[160];
	long saved;
	int lock;
	struct map_result res = { 0 };

	snprintf(uri, sizeof(uri), "memfd:shmkit-bench-%d-map-huge?huge", (int)getpid());
	int r = reserve_huge((long)(size >> 21) + 2, &saved, &lock);
	if (r == 0)
		r = bench_map_at(ctx, uri, ", huge pages", nkeys, size, &res, 0);
	restore_huge(saved, lock);
	if (r < 0 || floor_ns <= 0) {
		struct bench_row row = { 0 };
		snprintf(row.name, sizeof(row.name), "map get, 1M keys, huge pages vs floor");
		snprintf(row.note, sizeof(row.note), "not run: %s (needs %zu free 2 MiB pages: "
			 "vm.nr_hugepages, or run as root)", shmkit_strerror(r < 0 ? r : -EINVAL),
			 (size >> 21) + 2);
		bench_report(ctx, &row);
		return;
	}
	snprintf(note, sizeof(note), "map on 2 MiB pages (memfd ?huge) vs the floor on 4 KiB pages");
	report_ratio(ctx, "map get, 1M keys, huge pages vs floor", res.get_ns, floor_ns,
		     "random load, 4 KiB pages", HUGE_MAP_GOAL, note);
}

/* ---- Boost peer ---- */

struct boost_result {
	double get1k, put1k, get1m, put1m, alloc64;
	double get1k_locked, get1m_locked, put1k_locked, put1m_locked;
	int ok;
};

static void run_boost_peer(struct bench_ctx *ctx, struct boost_result *b)
{
	memset(b, 0, sizeof(*b));
#ifdef SHMKIT_PEER_BOOST_MAP
	char cmd[512], line[256];
	snprintf(cmd, sizeof(cmd), "%s %s %d 2>&1", SHMKIT_PEER_BOOST_MAP, ctx->quick ? "quick" : "full",
		 (int)getpid());
	FILE *f = popen(cmd, "r");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f)) {
		char key[64];
		double v;
		if (sscanf(line, "%63s %lf", key, &v) != 2)
			continue;
		if (!strcmp(key, "get1k")) b->get1k = v;
		else if (!strcmp(key, "put1k")) b->put1k = v;
		else if (!strcmp(key, "get1m")) b->get1m = v;
		else if (!strcmp(key, "put1m")) b->put1m = v;
		else if (!strcmp(key, "get1k_locked")) b->get1k_locked = v;
		else if (!strcmp(key, "get1m_locked")) b->get1m_locked = v;
		else if (!strcmp(key, "put1k_locked")) b->put1k_locked = v;
		else if (!strcmp(key, "put1m_locked")) b->put1m_locked = v;
		else if (!strcmp(key, "alloc64")) b->alloc64 = v;
	}
	b->ok = pclose(f) == 0 && b->get1m > 0;
#else
	(void)ctx;
#endif
}

static void report_vs_boost(struct bench_ctx *ctx, const char *name, double ours, double boost,
			    const char *what)
{
	if (boost <= 0 || ours <= 0)
		return;
	report_ratio(ctx, name, ours, boost, what, 1.0, "shmkit / Boost");
}

static int run_heapmap(struct bench_ctx *ctx)
{
	struct map_result small, big;
	struct boost_result boost;
	const uint32_t big_keys = 1u << 20;
	const size_t big_size = 288u << 20; /* 2 M buckets: arena / 128 */
	int r;

	if ((r = bench_alloc(ctx)) < 0)
		return r;
	if ((r = bench_map_at(ctx, NULL, "", 1024, 1u << 20, &small, 0)) < 0)
		return r;
	if ((r = bench_map_at(ctx, NULL, "", big_keys, big_size, &big, 1)) < 0)
		return r;
	double fl = floor_random_load(ctx, big_size);
	if (fl > 0) {
		char note[96];
		snprintf(note, sizeof(note), "pointer chase over %zu MiB of MAP_SHARED", big_size >> 20);
		report_ratio(ctx, "floor: dependent random load", fl, 0, "", 0, note);
		report_ratio(ctx, "map get, 1M keys vs floor", big.get_ns, fl, "one random load", FLOOR_GOAL,
			     "goal: <= 1.5x floor or <= 150 ns");
	}
	report_ratio(ctx, "map get, 1M keys vs 150 ns", big.get_ns, GET_GOAL_NS, "goal 150 ns", 1.0,
		     "goal: <= 150 ns or <= 1.5x floor");
	bench_huge_map(ctx, big_keys, big_size, fl);
	run_boost_peer(ctx, &boost);
	if (boost.ok) {
		report_vs_boost(ctx, "vs Boost: alloc+free 64 B", heap64_ns, boost.alloc64,
				"boost segment_manager");
		report_vs_boost(ctx, "vs Boost: get, 1K keys (boost locked)", small.get_ns, boost.get1k_locked,
				"boost sharable_mutex");
		report_vs_boost(ctx, "vs Boost: get, 1M keys (boost locked)", big.get_ns, boost.get1m_locked,
				"boost sharable_mutex");
		report_vs_boost(ctx, "vs Boost: get, 1K keys (boost bare)", small.get_ns, boost.get1k,
				"boost, no lock");
		report_vs_boost(ctx, "vs Boost: get, 1M keys (boost bare)", big.get_ns, boost.get1m,
				"boost, no lock");
		report_vs_boost(ctx, "vs Boost: put, 1K keys (boost locked)", small.put_ns, boost.put1k_locked,
				"boost interprocess_mutex");
		report_vs_boost(ctx, "vs Boost: put, 1M keys (boost locked)", big.put_ns, boost.put1m_locked,
				"boost interprocess_mutex");
	} else {
		struct bench_row row = { 0 };
		snprintf(row.name, sizeof(row.name), "Boost.Interprocess peer");
		snprintf(row.note, sizeof(row.note), "not run: Boost headers not found at build time");
		bench_report(ctx, &row);
	}
	return 0;
}

BENCH_SUITE(heapmap, 50, "heap alloc+free vs malloc; map get/put at 1K and 1M keys vs a random load and Boost",
	    run_heapmap)
