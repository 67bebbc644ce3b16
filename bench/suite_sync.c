/* SPDX-License-Identifier: MIT */
/* Suite "sync": the cost of shmkit's process-shared mutex, semaphore and
 * event, and the one-way wake-up latency through shmkit_event between two
 * processes next to a raw futex ping-pong measured in the same run.
 * Goals (issue 4): lock+unlock <= 25 ns; event wake-up <= 1.3x raw futex. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <shmkit.h>

#include "bench.h"

#define BATCHES 101
#define BATCH_OPS 20000
#define WAKE_ITERS 50000
#define LOCK_GOAL_NS 25.0
#define WAKE_GOAL 1.3

struct sync_area {
	struct shmkit_mutex m;
	pthread_mutex_t pm;
	struct shmkit_sem sem;
	_Alignas(64) struct shmkit_event ev;   /* parent -> peer */
	_Alignas(64) struct shmkit_event back; /* peer -> parent */
	_Alignas(64) _Atomic uint32_t ball;
};

enum op { OP_LOCK, OP_PTHREAD_LOCK, OP_SEM, OP_SIGNAL };

static void run_ops(struct sync_area *a, enum op op, size_t n)
{
	switch (op) {
	case OP_LOCK:
		for (size_t i = 0; i < n; i++) {
			shmkit_mutex_lock(&a->m, SHMKIT_FOREVER);
			shmkit_mutex_unlock(&a->m);
		}
		break;
	case OP_PTHREAD_LOCK:
		for (size_t i = 0; i < n; i++) {
			pthread_mutex_lock(&a->pm);
			pthread_mutex_unlock(&a->pm);
		}
		break;
	case OP_SEM:
		for (size_t i = 0; i < n; i++) {
			shmkit_sem_post(&a->sem);
			shmkit_sem_wait(&a->sem, SHMKIT_FOREVER);
		}
		break;
	case OP_SIGNAL:
		for (size_t i = 0; i < n; i++)
			shmkit_event_signal(&a->ev);
		break;
	}
}

/* Per-operation ns: the median (and tail) of BATCHES batch averages. */
static void report_ops(struct bench_ctx *ctx, struct sync_area *a, enum op op, const char *name,
		       double goal_ns)
{
	size_t n = bench_iters(ctx, BATCH_OPS);
	double per_op[BATCHES];
	struct bench_row row = { 0 };

	run_ops(a, op, n / 10); /* warm up */
	for (int b = 0; b < BATCHES; b++) {
		int64_t t0 = bench_now_ns();
		run_ops(a, op, n);
		per_op[b] = (double)(bench_now_ns() - t0) / (double)n;
	}
	snprintf(row.name, sizeof(row.name), "%s", name);
	row.lat = bench_percentiles(per_op, BATCHES);
	row.msgs_per_s = 1e9 / row.lat.median_ns;
	if (goal_ns > 0) {
		char goal[48];
		snprintf(goal, sizeof(goal), "goal %.0f ns", goal_ns);
		bench_ratio(&row, goal_ns, goal, 1.0);
	}
	snprintf(row.note, sizeof(row.note), "batch means");
	bench_report(ctx, &row);
}

/* Event ping-pong: the parent sets ball = 2i+1 and signals ev; the peer,
 * asleep in shmkit_event_wait, wakes, sets 2i+2 and signals back. */
static int event_peer(void *shm, void *arg)
{
	struct sync_area *a = shm;
	size_t total = *(const size_t *)arg;
	for (uint32_t i = 0; i < total; i++) {
		for (;;) {
			uint32_t seen = shmkit_event_seq(&a->ev);
			/* Acquire: pairs with the parent's release store of 2i+1. */
			if (atomic_load_explicit(&a->ball, memory_order_acquire) == 2 * i + 1)
				break;
			if (shmkit_event_wait(&a->ev, seen, SHMKIT_FOREVER) < 0)
				return 1;
		}
		/* Release: pairs with the parent's acquire load of 2i+2. */
		atomic_store_explicit(&a->ball, 2 * i + 2, memory_order_release);
		shmkit_event_signal(&a->back);
	}
	return 0;
}

static void event_trip(void *shm, uint32_t i, void *arg)
{
	struct sync_area *a = shm;
	(void)arg;
	/* Release: pairs with the peer's acquire load of 2i+1. */
	atomic_store_explicit(&a->ball, 2 * i + 1, memory_order_release);
	shmkit_event_signal(&a->ev);
	for (;;) {
		uint32_t seen = shmkit_event_seq(&a->back);
		/* Acquire: pairs with the peer's release store of 2i+2. */
		if (atomic_load_explicit(&a->ball, memory_order_acquire) == 2 * i + 2)
			return;
		shmkit_event_wait(&a->back, seen, SHMKIT_FOREVER);
	}
}

/* Both events are set up before the peer is forked. */
static int event_area_init(void *shm)
{
	struct sync_area *a = shm;
	int r = shmkit_event_init(&a->ev);
	return r < 0 ? r : shmkit_event_init(&a->back);
}

static int report_wakeup(struct bench_ctx *ctx)
{
	const struct bench_stats *fx = bench_floor(ctx, BENCH_FLOOR_FUTEX);
	size_t n = bench_iters(ctx, WAKE_ITERS);
	size_t total = n + BENCH_WARMUP;
	struct bench_row row = { 0 };
	int r;

	if (!fx)
		return -ECHILD;
	r = bench_pingpong(ctx, sizeof(struct sync_area), event_area_init, event_peer, &total,
			   event_trip, NULL, n, &row.lat);
	if (r < 0)
		return r;
	snprintf(row.name, sizeof(row.name), "event wake-up one-way");
	row.msgs_per_s = 1e9 / row.lat.mean_ns / 2;
	bench_ratio(&row, fx->median_ns, bench_floor_name(BENCH_FLOOR_FUTEX), WAKE_GOAL);
	snprintf(row.note, sizeof(row.note), "floor %.0f ns, cpus %d,%d", fx->median_ns,
		 ctx->cpu[0], ctx->cpu[1]);
	bench_report(ctx, &row);
	return 0;
}

static int run_sync(struct bench_ctx *ctx)
{
	struct sync_area *a = mmap(NULL, sizeof(*a), PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pthread_mutexattr_t attr;
	int r;

	if (a == MAP_FAILED)
		return -errno;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(&a->pm, &attr);
	pthread_mutexattr_destroy(&attr);
	if ((r = shmkit_mutex_init(&a->m)) < 0 || (r = shmkit_sem_init(&a->sem, 0)) < 0 ||
	    (r = shmkit_event_init(&a->ev)) < 0) {
		munmap(a, sizeof(*a));
		return r;
	}
	report_ops(ctx, a, OP_LOCK, "mutex lock+unlock", LOCK_GOAL_NS);
	report_ops(ctx, a, OP_PTHREAD_LOCK, "pthread pshared lock+unlock (ref)", 0);
	report_ops(ctx, a, OP_SEM, "sem post+wait", 0);
	report_ops(ctx, a, OP_SIGNAL, "event signal, no waiter", 0);
	munmap(a, sizeof(*a));
	return report_wakeup(ctx);
}

BENCH_SUITE(sync, 20, "mutex/sem/event costs; event wake-up vs raw futex", run_sync)
