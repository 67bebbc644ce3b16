/* SPDX-License-Identifier: MIT */
/* The physical floors other suites compare against, and suite "floor" that
 * reports them: one cache line bouncing between two processes, a raw futex
 * ping-pong (the cheapest blocking wake-up the kernel offers), and memcpy
 * bandwidth. Each is measured once per run, on first use, and cached, so a
 * suite's ratio is against a floor measured in the same run. */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "futex.h"

#define PINGPONG_ITERS 200000
#define FUTEX_ITERS 50000

struct pingpong {
	_Alignas(64) _Atomic uint32_t word; /* the one line that moves */
};

/* Peer side of the cache-line ping-pong: answer 2i+1 with 2i+2, spinning.
 * arg: the number of round trips, warm-up included (copied by fork). */
static int cacheline_peer(void *shm, void *arg)
{
	struct pingpong *pp = shm;
	size_t iters = *(const size_t *)arg;
	for (uint32_t i = 0; i < iters; i++) {
		/* Acquire: pairs with the parent's release store of 2i+1. */
		while (atomic_load_explicit(&pp->word, memory_order_acquire) != 2 * i + 1)
			shmkit__spin_pause();
		/* Release: pairs with the parent's acquire spin on 2i+2. */
		atomic_store_explicit(&pp->word, 2 * i + 2, memory_order_release);
	}
	return 0;
}

/* The ping-pong of two queues, stripped to its lines: each direction has a
 * line of its own, written by one side and polled by the other. Where a
 * CPU hands a line that was just read over for the next write at once (the
 * one-line ping-pong: the reader of 2i+2 writes 2i+3 into the line it now
 * holds), one line each way costs a second transfer per message: the
 * writer must take the line back from the poller first (docs/PERF.md
 * "8-byte one-way latency"). */
struct two_lines {
	_Alignas(64) _Atomic uint32_t there; /* parent -> peer */
	_Alignas(64) _Atomic uint32_t back;  /* peer -> parent */
};

static int two_lines_peer(void *shm, void *arg)
{
	struct two_lines *tl = shm;
	size_t iters = *(const size_t *)arg;
	for (uint32_t i = 0; i < iters; i++) {
		/* Acquire: pairs with the parent's release store of i + 1. */
		while (atomic_load_explicit(&tl->there, memory_order_acquire) != i + 1)
			shmkit__spin_pause();
		/* Release: pairs with the parent's acquire spin on back. */
		atomic_store_explicit(&tl->back, i + 1, memory_order_release);
	}
	return 0;
}

static void two_lines_trip(void *shm, uint32_t i, void *arg)
{
	struct two_lines *tl = shm;
	(void)arg;
	/* Release: pairs with the peer's acquire spin on there. */
	atomic_store_explicit(&tl->there, i + 1, memory_order_release);
	/* Acquire: pairs with the peer's release store of i + 1. */
	while (atomic_load_explicit(&tl->back, memory_order_acquire) != i + 1)
		shmkit__spin_pause();
}

/* Peer side of the futex ping-pong: sleep until 2i+1, answer 2i+2, wake. */
static int futex_peer(void *shm, void *arg)
{
	struct pingpong *pp = shm;
	size_t iters = *(const size_t *)arg;
	for (uint32_t i = 0; i < iters; i++) {
		uint32_t v;
		/* Acquire: pairs with the parent's release store of 2i+1. */
		while ((v = atomic_load_explicit(&pp->word, memory_order_acquire)) != 2 * i + 1)
			shmkit__futex_wait(&pp->word, v, SHMKIT__NO_DEADLINE);
		/* Release: pairs with the parent's acquire load of 2i+2. */
		atomic_store_explicit(&pp->word, 2 * i + 2, memory_order_release);
		shmkit__futex_wake(&pp->word, 1);
	}
	return 0;
}

static void cacheline_trip(void *shm, uint32_t i, void *arg)
{
	struct pingpong *pp = shm;
	(void)arg;
	/* Release: pairs with the peer's acquire load of 2i+1. */
	atomic_store_explicit(&pp->word, 2 * i + 1, memory_order_release);
	/* Acquire: pairs with the peer's release store of 2i+2. */
	while (atomic_load_explicit(&pp->word, memory_order_acquire) != 2 * i + 2)
		shmkit__spin_pause();
}

static void futex_trip(void *shm, uint32_t i, void *arg)
{
	struct pingpong *pp = shm;
	uint32_t v;
	(void)arg;
	/* Release: pairs with the peer's acquire load of 2i+1. */
	atomic_store_explicit(&pp->word, 2 * i + 1, memory_order_release);
	shmkit__futex_wake(&pp->word, 1);
	/* Acquire: pairs with the peer's release store of 2i+2. */
	while ((v = atomic_load_explicit(&pp->word, memory_order_acquire)) != 2 * i + 2)
		shmkit__futex_wait(&pp->word, v, SHMKIT__NO_DEADLINE);
}

static int measure_floor(struct bench_ctx *ctx, enum bench_floor_kind kind, struct bench_stats *out)
{
	/* Blocking round trips take microseconds, spinning ones ~100 ns. */
	size_t n = bench_iters(ctx, kind == BENCH_FLOOR_FUTEX ? FUTEX_ITERS : PINGPONG_ITERS);
	size_t total = n + BENCH_WARMUP;
	/* Two spinners sharing one CPU only make progress when preempted. */
	if (kind != BENCH_FLOOR_FUTEX && (ctx->cpu[0] < 0 || ctx->cpu[1] < 0))
		return -ENOTSUP;
	if (kind == BENCH_FLOOR_CACHELINE)
		return bench_pingpong(ctx, sizeof(struct pingpong), NULL, cacheline_peer, &total,
				      cacheline_trip, NULL, n, out);
	if (kind == BENCH_FLOOR_TWO_LINES)
		return bench_pingpong(ctx, sizeof(struct two_lines), NULL, two_lines_peer, &total,
				      two_lines_trip, NULL, n, out);
	return bench_pingpong(ctx, sizeof(struct pingpong), NULL, futex_peer, &total, futex_trip, NULL,
			      n, out);
}

int bench_floor_measure(struct bench_ctx *ctx, enum bench_floor_kind kind, struct bench_stats *out)
{
	if ((unsigned)kind >= BENCH_FLOOR_COUNT)
		return -EINVAL;
	return measure_floor(ctx, kind, out);
}

static struct bench_stats floors[BENCH_FLOOR_COUNT];
static int floor_done[BENCH_FLOOR_COUNT];

const struct bench_stats *bench_floor(struct bench_ctx *ctx, enum bench_floor_kind kind)
{
	if ((unsigned)kind >= BENCH_FLOOR_COUNT)
		return NULL;
	if (!floor_done[kind]) {
		if (measure_floor(ctx, kind, &floors[kind]) < 0)
			return NULL;
		floor_done[kind] = 1;
	}
	return &floors[kind];
}

const char *bench_floor_name(enum bench_floor_kind kind)
{
	switch (kind) {
	case BENCH_FLOOR_CACHELINE:
		return "cache-line ping-pong";
	case BENCH_FLOOR_FUTEX:
		return "futex ping-pong";
	case BENCH_FLOOR_TWO_LINES:
		return "two-line ping-pong";
	default:
		return "?";
	}
}

/* ---- memcpy bandwidth ---- */

#define MEMCPY_SIZES 24
static size_t memcpy_size[MEMCPY_SIZES];
static double memcpy_mbps[MEMCPY_SIZES];
static size_t n_memcpy;

static double measure_memcpy(struct bench_ctx *ctx, size_t size)
{
	char *src = malloc(size), *dst = malloc(size);
	if (!src || !dst) {
		free(src);
		free(dst);
		return 0;
	}
	memset(src, 0x5a, size);
	memset(dst, 0, size);
	/* About 256 MiB (32 with --quick) copied per sample, 9 samples. */
	size_t reps = (bench_iters(ctx, 256u << 20)) / size + 1;
	double best[9];
	for (size_t r = 0; r < reps; r++) { /* warm-up: caches, TLB, CPU clock */
		memcpy(dst, src, size);
		bench_keep(dst);
	}
	for (int s = 0; s < 9; s++) {
		int64_t t0 = bench_now_ns();
		for (size_t r = 0; r < reps; r++) {
			memcpy(dst, src, size);
			bench_keep(dst);
		}
		int64_t dt = bench_now_ns() - t0;
		best[s] = (double)size * (double)reps / ((double)dt / 1e9) / 1e6;
	}
	struct bench_stats st = bench_percentiles(best, 9);
	free(src);
	free(dst);
	return st.median_ns; /* the median of the MB/s samples */
}

double bench_memcpy_mbps(struct bench_ctx *ctx, size_t size)
{
	for (size_t i = 0; i < n_memcpy; i++)
		if (memcpy_size[i] == size)
			return memcpy_mbps[i];
	double v = measure_memcpy(ctx, size);
	if (n_memcpy < MEMCPY_SIZES) {
		memcpy_size[n_memcpy] = size;
		memcpy_mbps[n_memcpy++] = v;
	}
	return v;
}

/* memcpy of one source block into `nbuf` destination blocks in turn, as a
 * ring's producer copies into its slots: MB/s, the median of 9 samples. With
 * nbuf * size past the core's cache, the destination is not cache-hot as it
 * is for bench_memcpy_mbps (the floor for a copy through nbuf slots). */
double bench_memcpy_rot_mbps(struct bench_ctx *ctx, size_t size, size_t nbuf)
{
	static size_t c_size, c_nbuf;
	static double c_mbps;
	if (c_size == size && c_nbuf == nbuf)
		return c_mbps;
	char *src = malloc(size), *dst = malloc(size * nbuf);
	if (!src || !dst || nbuf == 0) {
		free(src);
		free(dst);
		return 0;
	}
	memset(src, 0x5a, size);
	memset(dst, 0, size * nbuf); /* every page touched before timing */
	size_t reps = bench_iters(ctx, 256u << 20) / size + nbuf;
	double mbps[9];
	for (int s = 0; s < 9; s++) {
		int64_t t0 = bench_now_ns();
		for (size_t r = 0; r < reps; r++) {
			memcpy(dst + (r % nbuf) * size, src, size);
			bench_keep(dst);
		}
		int64_t dt = bench_now_ns() - t0;
		mbps[s] = (double)size * (double)reps / ((double)dt / 1e9) / 1e6;
	}
	free(src);
	free(dst);
	c_size = size;
	c_nbuf = nbuf;
	c_mbps = bench_percentiles(mbps, 9).median_ns; /* the median of the MB/s samples */
	return c_mbps;
}

/* ---- suite "floor" ---- */

static int report_floor(struct bench_ctx *ctx, enum bench_floor_kind kind)
{
	const struct bench_stats *st = bench_floor(ctx, kind);
	struct bench_row row = { 0 };
	snprintf(row.name, sizeof(row.name), "%s one-way", bench_floor_name(kind));
	if (!st) {
		snprintf(row.note, sizeof(row.note), "not measured (needs two CPUs: --cpus A,B)");
		bench_report(ctx, &row);
		return kind != BENCH_FLOOR_FUTEX ? 0 : -ECHILD;
	}
	row.lat = *st;
	row.msgs_per_s = 1e9 / st->mean_ns / 2; /* round trips per second */
	snprintf(row.note, sizeof(row.note), "cpus %d,%d", ctx->cpu[0], ctx->cpu[1]);
	bench_report(ctx, &row);
	return 0;
}

static int run_floor(struct bench_ctx *ctx)
{
	static const size_t sizes[] = { 8, 64, 1024, 65536, 1 << 20 };
	int r = report_floor(ctx, BENCH_FLOOR_CACHELINE);
	if (r == 0)
		r = report_floor(ctx, BENCH_FLOOR_TWO_LINES);
	if (r == 0)
		r = report_floor(ctx, BENCH_FLOOR_FUTEX);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct bench_row row = { 0 };
		double mbps = bench_memcpy_mbps(ctx, sizes[i]);
		snprintf(row.name, sizeof(row.name), "memcpy");
		row.size = sizes[i];
		row.mb_per_s = mbps;
		row.msgs_per_s = mbps * 1e6 / (double)sizes[i];
		row.lat.median_ns = (double)sizes[i] / (mbps * 1e6) * 1e9;
		bench_report(ctx, &row);
	}
	return r;
}

BENCH_SUITE(floor, 10, "physical floors: cache-line (one and two lines) and futex ping-pong, memcpy bandwidth", run_floor)
