/* The asymmetric barrier's choice, registration and fork hook (barrier.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/membarrier.h>

#include "futex.h"
#include "internal.h"
#include "sync/barrier.h"

_Atomic uint32_t shmkit__fork_generation;
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

static void install_hook(void)
{
	pthread_atfork(NULL, NULL, on_fork_child);
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

bool shmkit__barrier_sleeper(uint32_t mode)
{
	if (mode != SHMKIT__BARRIER_MEMBARRIER)
		return true;
	return syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) == 0;
}

/* ---- the one-time choice ---- */

/* 1 under a hypervisor (CPUID leaf 1, ECX bit 31, x86): there every IPI the
 * global membarrier sends is a VM exit. Measured on a 2-vCPU KVM guest:
 * 0.5 us per call with no registered thread running elsewhere, 5-20 us with
 * one spinning on the other vCPU (a futex sleep and wake costs ~7 us). */
static int virtualized(void)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned a = 1, b, c = 0, d;
	__asm__ __volatile__("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	return (c >> 31) & 1;
#else
	return 0;
#endif
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Median cost of one MEMBARRIER_CMD_GLOBAL_EXPEDITED as this process sees
 * it now; -1 if the kernel refuses the command. (Measuring with a thread of
 * our own spinning on another CPU would include the IPI, but a library must
 * not start threads behind its caller's back: glibc then leaves
 * single-threaded mode for good.) */
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
	if (!(atomic_load(&shmkit__barrier_state) & 1) || virtualized())
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
