/* SPDX-License-Identifier: MIT */
/* shmkit-bench: the benchmark framework every suite uses.
 *
 * A suite is one file bench/suite_<name>.c ending with one line
 *
 *     BENCH_SUITE(name, order, "what it measures", run_fn);
 *
 * which registers it at start-up (no shared list to edit). `order` sorts the
 * suites for `all` (floors 10, sync 20, queue 30, pubsub 40, heap/map 50...).
 * run_fn(ctx) measures and calls bench_report() once per result row; it
 * returns 0, or a negative errno to mark the suite failed (the others run).
 *
 * Helpers: a ns clock, percentiles from sample arrays, pinning the two
 * processes of a ping-pong to two different CPUs (ctx->cpu[0], ctx->cpu[1],
 * printed in the header), a forked peer process sharing an anonymous
 * MAP_SHARED area, and the physical floors other suites compare against,
 * measured once per run and cached (bench_floor()). */
#ifndef SHMKIT_BENCH_H
#define SHMKIT_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct bench_ctx {
	int quick;     /* --quick: fewer samples and sizes, for a smoke run */
	int json;      /* --json: one JSON document instead of a table */
	int cpu[2];    /* CPUs for the two sides of a two-process test; -1 = not pinned */
	const char *suite; /* the suite now running (filled in by main) */
	size_t size;   /* --size N: suites that sweep message sizes run only N (0: all) */
};

/* Latency statistics of a sample array, in ns. */
struct bench_stats {
	double median_ns;
	double p99_ns;
	double p999_ns;
	double mean_ns;
	size_t n;
};

/* One result row. Zero fields are printed as "-" (table) or null (JSON). */
struct bench_row {
	char name[64];        /* e.g. "event wake-up one-way" */
	size_t size;          /* message size in bytes, 0 = not applicable */
	struct bench_stats lat; /* per-operation or one-way latency */
	double msgs_per_s;    /* throughput, operations or messages per second */
	double mb_per_s;      /* throughput in MB/s (10^6 bytes) */
	double ratio;         /* lat.median_ns / floor median, or a throughput ratio */
	char ratio_to[48];    /* what the ratio is against, e.g. "futex ping-pong" */
	double goal;          /* the goal for ratio: <= goal if goal_max, else >= goal; 0 = none */
	int goal_max;         /* 1: ratio must be <= goal; 0: ratio must be >= goal */
	char note[96];        /* free text, e.g. "cpus 0,1" */
};

typedef int (*bench_run_fn)(struct bench_ctx *ctx);

struct bench_suite {
	const char *name;
	int order;
	const char *what;
	bench_run_fn run;
};

void bench_register(const struct bench_suite *s);

#define BENCH_SUITE(name_, order_, what_, fn_)                                           \
	static const struct bench_suite bench_suite_##name_ = { #name_, order_, what_, fn_ }; \
	__attribute__((constructor)) static void bench_register_##name_(void)              \
	{                                                                                  \
		bench_register(&bench_suite_##name_);                                      \
	}

/* ---- clock ---- */

/* CLOCK_MONOTONIC in ns (vDSO, about 20 ns a call: time batches, not single
 * operations shorter than about 1 us). */
int64_t bench_now_ns(void);
/* TSC cycles (rdtsc) and their calibrated length in ns (x86-64; elsewhere the
 * clock above, with bench_tsc_ns_per_tick() == 1). */
uint64_t bench_tsc(void);
double bench_tsc_ns_per_tick(void);

/* ---- statistics ---- */

/* Sorts samples in place and fills median, p99, p99.9, mean. */
struct bench_stats bench_percentiles(double *samples, size_t n);
/* Samples to take: n normally, n / 10 (at least 100) with --quick. */
size_t bench_iters(const struct bench_ctx *ctx, size_t n);

/* ---- processes and CPUs ---- */

/* Pins the calling process to cpu (no-op for -1). 0 or a negative errno. */
int bench_pin(int cpu);

/* A forked peer sharing an anonymous MAP_SHARED area with the parent. */
struct bench_peer {
	pid_t pid;
	void *shm;
	size_t size;
};
/* Maps `size` zeroed shared bytes (64-byte aligned), calls init(shm) if not
 * NULL, forks; the child pins itself to ctx->cpu[1] and runs fn(shm, arg),
 * exiting with its return value. The parent pins itself to ctx->cpu[0] and
 * returns once the child is running. 0 or a negative errno. */
int bench_peer_start(struct bench_ctx *ctx, struct bench_peer *p, size_t size,
		     int (*init)(void *shm), int (*fn)(void *shm, void *arg), void *arg);
/* Waits for the peer, unmaps the area; the peer's exit code (or -1). */
int bench_peer_finish(struct bench_peer *p);

/* Untimed round trips bench_pingpong() makes before the timed ones. */
#define BENCH_WARMUP 2000
/* A two-process ping-pong: forks peer(shm, peer_arg) on ctx->cpu[1] with a
 * shared area of shm_size bytes set up by init (as bench_peer_start), then on
 * ctx->cpu[0]
 * calls trip(shm, i, trip_arg) for i = 0 .. BENCH_WARMUP + iters - 1, timing
 * each round trip with the TSC. The peer must answer exactly
 * BENCH_WARMUP + iters round trips and return 0. Fills one_way with
 * round trip / 2 statistics. 0 or a negative errno. */
int bench_pingpong(struct bench_ctx *ctx, size_t shm_size, int (*init)(void *shm),
		   int (*peer)(void *shm, void *arg),
		   void *peer_arg, void (*trip)(void *shm, uint32_t i, void *arg), void *trip_arg,
		   size_t iters, struct bench_stats *one_way);

/* ---- results ---- */

void bench_report(struct bench_ctx *ctx, const struct bench_row *row);
/* Fills ratio fields of row against a floor's median latency. */
void bench_ratio(struct bench_row *row, double floor_ns, const char *floor_name, double goal);

/* ---- floors (measured once per run, on first use; cached) ---- */

enum bench_floor_kind {
	BENCH_FLOOR_CACHELINE, /* one-way latency of one cache line between two processes */
	BENCH_FLOOR_FUTEX,     /* one-way wake-up latency of a raw futex ping-pong */
	BENCH_FLOOR_TWO_LINES, /* one-way latency of a ping-pong with a line each way */
	BENCH_FLOOR_COUNT
};
/* The floor's one-way latency stats; measured on first call, NULL on error. */
const struct bench_stats *bench_floor(struct bench_ctx *ctx, enum bench_floor_kind kind);
const char *bench_floor_name(enum bench_floor_kind kind);
/* The floor measured now, not cached: for a goal row that interleaves it
 * with what it is compared with (this VM changes speed within a run).
 * 0, or a negative errno. */
int bench_floor_measure(struct bench_ctx *ctx, enum bench_floor_kind kind, struct bench_stats *out);
/* memcpy bandwidth in MB/s for blocks of `size` bytes (cached per size). */
double bench_memcpy_mbps(struct bench_ctx *ctx, size_t size);
/* memcpy bandwidth in MB/s from one block of `size` bytes into `nbuf` blocks
 * in turn (a ring's slots; cached for the last size and nbuf). */
double bench_memcpy_rot_mbps(struct bench_ctx *ctx, size_t size, size_t nbuf);

/* ---- Eclipse iceoryx's RouDi daemon, for the iceoryx peers ---- */

struct bench_roudi {
	pid_t pid;
};
/* Starts iox-roudi (found in PATH) and waits until it serves; stop it with
 * bench_roudi_stop (by its pid). -ENOENT if iceoryx is not installed,
 * -EBUSY if a RouDi is already running here, -ETIMEDOUT if it never came up. */
int bench_roudi_start(struct bench_roudi *r);
void bench_roudi_stop(struct bench_roudi *r);

/* Keeps the compiler from optimising a value or memory away. */
#define bench_keep(x) __asm__ __volatile__("" : : "g"(x) : "memory")

#endif
