/* SPDX-License-Identifier: MIT */
/* The asymmetric Dekker barrier and fork detection, once for every waker and
 * sleeper in the library (src/sync/ec.h). Never installed.
 *
 * A waker publishes a state change, then reads a word a sleeper sets before
 * it re-checks the state (Dekker): one of them must execute a full barrier
 * between its store and its load, or both can miss each other. Each shared
 * eventcount records, at creation, which side pays (`mode`):
 *  - SHMKIT__BARRIER_FENCE: every waker executes a full fence per wake
 *    check (a locked instruction, ~5-10 ns) and a sleeper needs nothing more
 *    than the seq_cst CAS that set its bit.
 *  - SHMKIT__BARRIER_MEMBARRIER: a waker pays only a compiler barrier; a
 *    sleeper, once per sleep, calls membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED),
 *    which runs a full barrier on every CPU running a registered process.
 *    MEMBARRIER_CMD_PRIVATE_EXPEDITED would be cheaper but only reaches the
 *    threads of the caller's own process: it does not order a waker in
 *    another process, so it cannot serve a cross-process Dekker pair.
 * The creator records MEMBARRIER if the command works and costs it little
 * (shmkit__barrier_choose; SHMKIT_WAKE_BARRIER=fence|membarrier forces
 * either). But the command's real price shows only in use: it sends an IPI
 * to every CPU running a registered process, and under a hypervisor each IPI
 * is a VM exit (measured on a 2-vCPU KVM guest: 0.3-0.5 us with no other
 * registered thread running, 5-20 us with one running on the other vCPU;
 * another VM showed 24 us, more than a futex sleep and wake). So sleepers
 * time their calls and, after a window of calls that took a noticeable share
 * of the time (sleeps at nearly every message, not now and then in a
 * stream), switch the object to FENCE for good.
 *
 * Switching: the sleeper stores SWITCHING into the shared mode, makes one
 * last membarrier, then stores FENCE. A waker reads the mode, barriers
 * accordingly (a fence for anything but MEMBARRIER), reads the word, and if
 * it used the compiler barrier reads the mode again: still MEMBARRIER means
 * its reads ran before that last membarrier's barrier on its CPU, which
 * drained its publish before FENCE is stored, so before any later sleeper
 * that reads FENCE (and makes no call) looks; anything else means it
 * fences and reads the word again. A sleeper that reads SWITCHING cannot
 * count on the switcher's last barrier (it may not have run yet, or the
 * switcher was killed before it): it makes a barrier of its own, which
 * covers such wakers as well, and may then store FENCE itself. (With
 * FENCE stored first, a second sleeper that read it while the switcher's
 * last barrier was still running could miss such a waker's publish.) A
 * sleeper whose membarrier(2) the kernel refuses switches the same way at
 * once, its last barrier shmkit__barrier_global() (the unexpedited command,
 * else a 10 ms sleep: as for a lease's revocation, no store stays
 * unpublished that long), so a waker still on the compiler barrier had its
 * publish drained before that sleeper looks again. */
#ifndef SHMKIT_SYNC_BARRIER_H
#define SHMKIT_SYNC_BARRIER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum {
	SHMKIT__BARRIER_FENCE = 0,
	SHMKIT__BARRIER_MEMBARRIER = 1,
	SHMKIT__BARRIER_SWITCHING = 2, /* MEMBARRIER turning FENCE (switching, above) */
};

/* A membarrier(GLOBAL_EXPEDITED) slower than this is "slow": the creator
 * chooses FENCE if its own costs that much. Sleepers judge their calls in
 * windows of SHMKIT__MEMBARRIER_WINDOW calls: if the calls took more than
 * 1/SHMKIT__MEMBARRIER_SHARE of the window's time, the object switches.
 * A call counts at most SHMKIT__MEMBARRIER_MAX_NS: a sleeper preempted in
 * its call is a hiccup, not the command's price. Timed in use (harness
 * ping-pong of sleeping handles, 2-vCPU KVM): calls of 0.6 us when the
 * peer's CPU is idle cost 20 % of a 7 us round trip (two sleeps; FENCE ran
 * it in 6.1-6.5 us against 7.5-8.0), calls of 5-20 us when it is busy far
 * more; and an earlier rule that waited for 4 slow calls in a row never
 * switched in 1 of 4 runs. The share keeps a stream that sleeps now and
 * then (microseconds per sleep, millions of wake checks between) on
 * MEMBARRIER, where FENCE would charge each check a locked instruction (a
 * 64 B SPSC stream ran at half the rate). */
#define SHMKIT__MEMBARRIER_MAX_NS 4000
#define SHMKIT__MEMBARRIER_WINDOW 8
#define SHMKIT__MEMBARRIER_SHARE 32

/* One window of a sleeper's membarrier calls (atomics: threads share it). */
struct shmkit__mb_window {
	_Atomic uintptr_t key; /* whose: the address of its mode word */
	_Atomic unsigned calls;
	_Atomic int64_t since, sum;
};

/* This process's window for the eventcount whose mode word is `mode`. */
struct shmkit__mb_window *shmkit__mb_window_for(_Atomic uint32_t *mode);

/* Notes one call that ran from t0 to t1 (ns); true when it closes a window
 * that says: switch to FENCE. */
bool shmkit__mb_window_note(struct shmkit__mb_window *w, int64_t t0, int64_t t1);

/* Bumped in every forked child (pthread_atfork): fork detection with no
 * system call on hot paths. Read with shmkit__fork_gen(). */
extern _Atomic uint32_t shmkit__fork_generation;
/* Bumped in the parent at every fork (pthread_atfork): whether a
 * descriptor made before may now be shared with a child. */
extern _Atomic uint32_t shmkit__forks_made;
/* (fork generation << 1) | registered: this process's membarrier
 * registration as of that generation; a forked child re-registers. */
extern _Atomic uint32_t shmkit__barrier_state;

static inline uint32_t shmkit__fork_gen(void)
{
	return atomic_load_explicit(&shmkit__fork_generation, memory_order_relaxed);
}

/* Once per process: installs the fork hook and registers for expedited
 * global membarriers. Every attach to an object with an eventcount calls it. */
void shmkit__barrier_attach(void);

/* The mode a creator records in a new eventcount: the environment variable
 * SHMKIT_WAKE_BARRIER=fence|membarrier decides if set, else a one-time
 * look and measurement per process (see the file comment). */
uint32_t shmkit__barrier_choose(void);

/* Slow half of shmkit__barrier_waker(): full fence, and register this
 * (forked) process if it has not tried in this generation. */
void shmkit__barrier_waker_slow(void);

/* Whether this process is registered for other processes' expedited
 * global membarriers in this fork generation (shmkit__barrier_attach). */
static inline bool shmkit__barrier_registered(void)
{
	return atomic_load_explicit(&shmkit__barrier_state, memory_order_relaxed) ==
	       (shmkit__fork_gen() << 1 | 1u);
}

/* A full barrier on every CPU running a registered process (the process
 * running a biased lease's holder, sync/lease.h): membarrier(2)
 * GLOBAL_EXPEDITED, else the unexpedited GLOBAL (every process, slow), else
 * a 10 ms sleep: long past the time any CPU holds a store unpublished (a
 * vCPU descheduled by its host drains its stores on the way out). */
void shmkit__barrier_global(void);

/* A full barrier. On x86 a locked no-op on the stack is cheaper than mfence
 * and orders the same way for ordinary (write-back) memory. */
static inline void shmkit__fence_full(void)
{
#if defined(__x86_64__)
	__asm__ __volatile__("lock; orq $0, (%%rsp)" ::: "memory", "cc");
#else
	atomic_thread_fence(memory_order_seq_cst);
#endif
}

/* The waker's half, between its publish and its read of the sleeper word.
 * MEMBARRIER mode and registered in this fork generation: a compiler
 * barrier suffices, because the sleeper's membarrier runs a full barrier on
 * our CPU (or passes a context switch, itself one) somewhere in our
 * [publish; read] sequence: before the publish, and our read comes after the
 * sleeper's bit, so we see it; after it, and our publish is visible to the
 * sleeper's re-check. Otherwise a real full fence. */
static inline void shmkit__barrier_waker(uint32_t mode)
{
	uint32_t want = shmkit__fork_gen() << 1 | 1u;

	if (__builtin_expect(
		mode == SHMKIT__BARRIER_MEMBARRIER &&
		    atomic_load_explicit(&shmkit__barrier_state, memory_order_relaxed) == want,
		1))
		atomic_signal_fence(memory_order_seq_cst);
	else if (mode == SHMKIT__BARRIER_MEMBARRIER)
		shmkit__barrier_waker_slow();
	else
		shmkit__fence_full();
}

/* The sleeper's half, after the seq_cst CAS that set its bit and before it
 * re-checks. FENCE mode: nothing (the wakers fence). MEMBARRIER mode: the
 * system call, timed. When a window of calls says so
 * (shmkit__mb_window_note), it switches the object to FENCE (switching).
 * When the kernel refuses the call (a seccomp profile: a container's
 * consumer of a host's object) it switches too, at once, with
 * shmkit__barrier_global() as the last barrier (its unexpedited command,
 * else a 10 ms sleep, once): a sleeper that cannot call membarrier cannot
 * pair with compiler-barrier wakers, and polling in short slices (or a
 * descriptor left readable) cost it a CPU. So it returns true: a waker
 * sees our bit. (false: a waker may miss it, the caller must sleep in
 * short slices; no longer returned, kept for the callers' safety.) */
bool shmkit__barrier_sleeper(_Atomic uint32_t *mode);

#endif
