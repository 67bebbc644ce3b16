/* SPDX-License-Identifier: MIT */
/* The asymmetric barrier's choice, registration and fork hook (barrier.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/membarrier.h>

#include "futex.h"
#include "internal.h"
#include "sync/barrier.h"

_Atomic uint32_t shmkit__fork_generation;
_Atomic uint32_t shmkit__forks_made;
_Atomic uint32_t shmkit__barrier_state = UINT32_MAX - 1; /* no generation, unregistered */

/* Not pthread_once: its completion wakes waiters with a futex call, which
 * the no-system-call tests would count. A race installs the hook once
 * anyway (exchange) and may measure twice (harmless). */
static _Atomic int hook_installed;
static _Atomic uint32_t chosen_mode = UINT32_MAX; /* not chosen yet */

static void on_fork_child(void)
{
	atomic_fetch_add_explicit(&shmkit__fork_generation, 1, memory_order_relaxed);
}

static void on_fork_parent(void)
{
	atomic_fetch_add_explicit(&shmkit__forks_made, 1, memory_order_relaxed);
}

static void install_hook(void)
{
	pthread_atfork(NULL, on_fork_parent, on_fork_child);
}

/* Registers this process (in this fork generation) for other processes'
 * expedited global membarriers; remembers a refusal so it is asked once. */
static void register_process(void)
{
	uint32_t gen = shmkit__fork_gen();

	if ((atomic_load_explicit(&shmkit__barrier_state, memory_order_relaxed) >> 1) == gen)
		return;
	int ok = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) == 0;
	/* relaxed: the registration is in force before this store, so any
	 * thread that sees "registered" is covered */
	atomic_store_explicit(&shmkit__barrier_state, gen << 1 | (uint32_t)ok,
			      memory_order_relaxed);
}

void shmkit__barrier_attach(void)
{
	if (!atomic_load_explicit(&hook_installed, memory_order_relaxed) &&
	    !atomic_exchange(&hook_installed, 1))
		install_hook();
	register_process();
}

void shmkit__barrier_waker_slow(void)
{
	shmkit__fence_full();
	register_process();
}

void shmkit__barrier_global(void)
{
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) == 0 ||
	    syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0)
		return;
	struct timespec ts = { .tv_sec = 0, .tv_nsec = 10000000 };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

bool shmkit__mb_window_note(struct shmkit__mb_window *w, int64_t t0, int64_t t1)
{
	int64_t cost = t1 - t0 < SHMKIT__MEMBARRIER_MAX_NS ? t1 - t0 : SHMKIT__MEMBARRIER_MAX_NS;
	unsigned n = atomic_fetch_add_explicit(&w->calls, 1, memory_order_relaxed);
	if (n == 0) {
		atomic_store_explicit(&w->since, t0, memory_order_relaxed);
		atomic_store_explicit(&w->sum, 0, memory_order_relaxed);
	}
	int64_t sum = atomic_fetch_add_explicit(&w->sum, cost, memory_order_relaxed) + cost;
	if (n + 1 < SHMKIT__MEMBARRIER_WINDOW)
		return false;
	atomic_store_explicit(&w->calls, 0, memory_order_relaxed); /* the next window */
	int64_t span = t1 - atomic_load_explicit(&w->since, memory_order_relaxed);
	return sum * SHMKIT__MEMBARRIER_SHARE > span;
}

/* This process's windows, one per eventcount (its mode word's address) as
 * far as its 8 slots go: another object's calls must not close this one's
 * window (a stream's rare sleep after a ping-pong's dense ones would switch
 * the stream). Two objects on one slot restart each other's windows, which
 * only delays a switch; so do racing threads. */
#define WINDOW_BITS 3
static struct shmkit__mb_window windows[1 << WINDOW_BITS];

struct shmkit__mb_window *shmkit__mb_window_for(_Atomic uint32_t *mode)
{
	uintptr_t key = (uintptr_t)mode;
	/* Fibonacci hashing: the top bits of key times 2^64 / phi */
	uint64_t slot = ((uint64_t)key * 0x9E3779B97F4A7C15ull) >> (64 - WINDOW_BITS);
	struct shmkit__mb_window *w = &windows[slot];
	if (atomic_load_explicit(&w->key, memory_order_relaxed) != key) {
		atomic_store_explicit(&w->key, key, memory_order_relaxed);
		atomic_store_explicit(&w->calls, 0, memory_order_relaxed);
	}
	return w;
}

/* A barrier on every CPU that covers the wakers still on the compiler
 * barrier: the expedited command, or where it is refused (a seccomp
 * profile, a kernel without it) shmkit__barrier_global() (the unexpedited
 * command, else a 10 ms sleep, which no store outlasts unpublished). */
static void barrier_everyone(void)
{
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) != 0)
		shmkit__barrier_global();
}

/* Switch (barrier.h): SWITCHING, whose every waker fences; the last
 * barrier, which on each waker's CPU comes after SWITCHING is visible (the
 * system call is a full barrier here); then FENCE, which a sleeper may
 * trust without a call of its own. */
static void switch_to_fence(_Atomic uint32_t *mode, uint32_t from)
{
	if (from == SHMKIT__BARRIER_MEMBARRIER &&
	    !atomic_compare_exchange_strong_explicit(mode, &from, SHMKIT__BARRIER_SWITCHING,
						     memory_order_relaxed, memory_order_relaxed) &&
	    from != SHMKIT__BARRIER_SWITCHING)
		return; /* another sleeper finished the switch meanwhile */
	barrier_everyone();
	uint32_t switching = SHMKIT__BARRIER_SWITCHING;
	atomic_compare_exchange_strong_explicit(mode, &switching, SHMKIT__BARRIER_FENCE,
						memory_order_release, memory_order_relaxed);
}

bool shmkit__barrier_sleeper(_Atomic uint32_t *mode)
{
	uint32_t m = atomic_load_explicit(mode, memory_order_acquire);

	if (m == SHMKIT__BARRIER_FENCE)
		return true;
	if (m != SHMKIT__BARRIER_MEMBARRIER) {
		/* SWITCHING: the switcher's last barrier may not have run yet
		 * (or it was killed before it stored FENCE): a barrier of our
		 * own, and the switch finished. Any other value was scribbled:
		 * a barrier at each sleep (wakers fence on it too). */
		if (m == SHMKIT__BARRIER_SWITCHING)
			switch_to_fence(mode, m);
		else
			barrier_everyone();
		return true;
	}
	int64_t t0 = shmkit__now_ns();
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) != 0) {
		/* Refused: switch the object at once (its last barrier then
		 * shmkit__barrier_global(), once). Every waker then fences, and
		 * we are covered: no sleep in short slices, and a descriptor
		 * that arms instead of staying readable for ever (listener.c). */
		switch_to_fence(mode, m);
		return true;
	}
	if (shmkit__mb_window_note(shmkit__mb_window_for(mode), t0, shmkit__now_ns()))
		switch_to_fence(mode, m);
	return true;
}

/* ---- the one-time choice ---- */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Median cost of one MEMBARRIER_CMD_GLOBAL_EXPEDITED as this process sees
 * it now; -1 if the kernel refuses the command. It includes IPIs only to
 * CPUs that run registered processes right now; sleepers measure the rest
 * in use (shmkit__barrier_sleeper). Measuring with a thread of our own on
 * another CPU would include one, but a library must not start threads
 * behind its caller's back (glibc leaves single-threaded mode for good). */
static int64_t measure_membarrier(void)
{
	int64_t t[5];

	for (int i = 0; i < 5; i++) {
		int64_t t0 = shmkit__now_ns();
		if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) != 0)
			return -1;
		t[i] = shmkit__now_ns() - t0;
	}
	qsort(t, 5, sizeof(t[0]), cmp_i64);
	return t[2];
}

/* The measured choice, once per process. */
static uint32_t measured_choice(void)
{
	if (!(atomic_load(&shmkit__barrier_state) & 1))
		return SHMKIT__BARRIER_FENCE;
	int64_t cost = measure_membarrier();
	return cost >= 0 && cost <= SHMKIT__MEMBARRIER_MAX_NS ? SHMKIT__BARRIER_MEMBARRIER
							      : SHMKIT__BARRIER_FENCE;
}

uint32_t shmkit__barrier_choose(void)
{
	/* the override is read at every creation (rare), so a program (the
	 * benchmark) can make objects of both kinds */
	const char *env = getenv("SHMKIT_WAKE_BARRIER");

	shmkit__barrier_attach();
	if (env && strcmp(env, "fence") == 0)
		return SHMKIT__BARRIER_FENCE;
	if (env && strcmp(env, "membarrier") == 0)
		return (atomic_load(&shmkit__barrier_state) & 1) ? SHMKIT__BARRIER_MEMBARRIER
								 : SHMKIT__BARRIER_FENCE;
	uint32_t m = atomic_load_explicit(&chosen_mode, memory_order_relaxed);
	if (m == UINT32_MAX) {
		m = measured_choice();
		atomic_store_explicit(&chosen_mode, m, memory_order_relaxed);
	}
	return m;
}
