/* SPDX-License-Identifier: MIT */
/* Large payload copies: `rep movsb` where the CPU has ERMS, else memcpy;
 * into shared slots, non-temporal stores instead where they measure faster.
 *
 * rep movsb (measured on AMD EPYC Zen 4 under KVM, glibc 2.36, min/median
 * of 200-2000 copies into 8 rotating destinations, as a queue's slots): up
 * to 1 MiB, glibc's memcpy already is `rep movsb` (same time); from its
 * rep_movsb_stop_threshold (the L2 size on AMD) it switches to a vector loop
 * that is slower: 1 MiB 0.93x the time with rep movsb, 2 MiB 0.85x, 4 MiB
 * 0.67-0.70x, 16 MiB 0.85-0.92x. Intel's glibc keeps rep movsb up to its
 * non-temporal threshold, so this changes nothing there.
 *
 * Non-temporal stores into a slot win or lose by where the two processes
 * run. With the consumer on a core that shares the producer's L3 (a Zen 4
 * VM), the producer's copy took 1.3x and the consumer's read of it 2.5x as
 * long (the bytes went to DRAM instead of staying in the L3 the consumer
 * reads from). On a Zen 5 VM whose two vCPUs pass a line in 220-235 ns (not
 * one L3), a 1 MiB stream through 8 slots went from 25.7-26.5 to 32.7-34.5
 * GB/s with them: the producer's copy 32 -> 28 us, the consumer's 39 -> 30
 * (no line to fetch from the other core's cache, no ownership to take back
 * a lap later). The producer's copy alone does not tell: timed inside a
 * stream on that Zen 5 VM, its streaming copies took longer (36 against
 * 27 us) while the stream went faster, because the consumer's reads were
 * the slow side. In that VM's other placement (a line passes in 55-65 ns)
 * the stream went the other way: 46 GB/s cached, 22 streaming. So each
 * sending handle times the stream's own pace both ways now and then and
 * keeps the faster (struct shmkit__copy_pick; docs/PERF.md "Copying 1 MiB
 * into slots"). */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "copy.h"

#ifndef __has_feature
#define __has_feature(x) 0
#endif
/* Sanitizers see memcpy's accesses but not an asm block's: under them, the
 * copy stays memcpy so a bad length or buffer is still reported. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || \
	__has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
	__has_feature(memory_sanitizer)
#define COPY_PLAIN 1
#endif

#if (defined(__x86_64__) || defined(__i386__)) && !defined(COPY_PLAIN)
#include <cpuid.h>

/* 1 if the CPU says "enhanced rep movsb" (CPUID.(EAX=7,ECX=0):EBX bit 9). */
static int has_erms(void)
{
	static _Atomic int known; /* 0 unknown, 1 no, 2 yes; racing fills agree */
	int k = atomic_load_explicit(&known, memory_order_relaxed);
	if (k == 0) {
		unsigned a, b, c, d;
		k = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 9)) ? 2 : 1;
		atomic_store_explicit(&known, k, memory_order_relaxed);
	}
	return k == 2;
}

void shmkit__copy_large(void *dst, const void *src, size_t n)
{
	if (!has_erms()) {
		memcpy(dst, src, n);
		return;
	}
	__asm__ __volatile__("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
}
#else
void shmkit__copy_large(void *dst, const void *src, size_t n)
{
	memcpy(dst, src, n);
}
#endif

#if (defined(__x86_64__) || (defined(__i386__) && defined(__SSE2__))) && !defined(COPY_PLAIN)
#include <emmintrin.h>
#define HAVE_STREAMING 1

void shmkit__copy_streaming(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;
	/* non-temporal stores may pass earlier stores (SDM 8.2.2): a topic
	 * marks the slot being written (odd seq) before the bytes, and a
	 * reader must not see new bytes under the old mark */
	_mm_sfence();
	/* whole lines from the first line boundary: the write-combining buffer
	 * then sends full lines and never reads one */
	size_t head = (size_t)(-(uintptr_t)d & 63);
	if (head > n)
		head = n;
	memcpy(d, s, head);
	d += head, s += head, n -= head;
	for (; n >= 64; d += 64, s += 64, n -= 64) {
		__m128i a = _mm_loadu_si128((const __m128i *)(const void *)s);
		__m128i b = _mm_loadu_si128((const __m128i *)(const void *)(s + 16));
		__m128i c = _mm_loadu_si128((const __m128i *)(const void *)(s + 32));
		__m128i e = _mm_loadu_si128((const __m128i *)(const void *)(s + 48));
		_mm_stream_si128((__m128i *)(void *)d, a);
		_mm_stream_si128((__m128i *)(void *)(d + 16), b);
		_mm_stream_si128((__m128i *)(void *)(d + 32), c);
		_mm_stream_si128((__m128i *)(void *)(d + 48), e);
	}
	memcpy(d, s, n);
	/* non-temporal stores are not ordered by the release store that
	 * publishes the message: the fence is */
	_mm_sfence();
}

static uint64_t copy_ticks(void)
{
	return __builtin_ia32_rdtsc();
}
#else
#define HAVE_STREAMING 0

void shmkit__copy_streaming(void *dst, const void *src, size_t n)
{
	memcpy(dst, src, n);
}

static uint64_t copy_ticks(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
#endif

void shmkit__copy_pick_init(struct shmkit__copy_pick *p, uint64_t slots)
{
	const char *env = getenv("SHMKIT_LARGE_COPY");
	*p = (struct shmkit__copy_pick){0};
	p->run = (uint32_t)(slots < 2 ? 16 : slots > 32 ? 256 : 8 * slots);
	p->epoch_runs = SHMKIT__COPY_EPOCH_RUNS;
	if (!HAVE_STREAMING || (env && strcmp(env, "cached") == 0))
		p->forced = 1;
	else if (env && strcmp(env, "streaming") == 0)
		p->forced = 2;
}

/* Where the next large copy falls: -1 outside the trial, else its run (0-3). */
static int trial_run(const struct shmkit__copy_pick *p)
{
	uint64_t pos = p->copies - p->epoch_start;
	uint64_t first = 2 * (uint64_t)p->run; /* the first lap's page faults are over */
	if (p->forced || pos < first || pos >= first + 4 * (uint64_t)p->run)
		return -1;
	return (int)((pos - first) / p->run);
}

int shmkit__copy_pick_next(const struct shmkit__copy_pick *p)
{
	if (p->forced)
		return p->forced == 2;
	int r = trial_run(p);
	return r < 0 ? p->streaming : r & 1;
}

/* The end of a trial: streaming must win both its runs against both cached
 * ones, by 5 %. A tie, or the noise of a caller that sends now and then (its
 * cycles are its idle time), keeps the ordinary copy, whose bytes stay in a
 * cache for a consumer near by. The same answer twice doubles the time to
 * the next trial (a trial's losing runs cost: 6 % of a stream that retries
 * every 32 runs, where streaming is twice as slow); a new one starts over. */
static void decide(struct shmkit__copy_pick *p)
{
	uint64_t cached = p->sum[0] < p->sum[2] ? p->sum[0] : p->sum[2];
	uint64_t streaming = p->sum[1] > p->sum[3] ? p->sum[1] : p->sum[3];
	uint8_t choice = streaming < cached - cached / 20;

	if (choice == p->streaming && p->epoch_runs < SHMKIT__COPY_EPOCH_RUNS_MAX)
		p->epoch_runs *= 2;
	else if (choice != p->streaming)
		p->epoch_runs = SHMKIT__COPY_EPOCH_RUNS;
	p->streaming = choice;
}

void shmkit__copy_pick_note(struct shmkit__copy_pick *p, uint64_t now)
{
	int r = trial_run(p);
	uint64_t in_run = (p->copies - p->epoch_start) % p->run;
	uint64_t cycle = now - p->last;

	p->copies++;
	p->last = now;
	if (r >= 0) {
		if (in_run == 0)
			p->sum[r] = 0;
		if (in_run >= p->run / 2)
			p->sum[r] += cycle;
		if (r == 3 && in_run == p->run - 1)
			decide(p);
	}
	if (p->copies - p->epoch_start >= (uint64_t)p->epoch_runs * p->run)
		p->epoch_start = p->copies;
}

void shmkit__copy_in_large(struct shmkit__copy_pick *p, void *dst, const void *src, size_t n)
{
	int streaming = shmkit__copy_pick_next(p);

	if (!p->forced)
		shmkit__copy_pick_note(p, copy_ticks());
	if (streaming)
		shmkit__copy_streaming(dst, src, n);
	else
		shmkit__copy_large(dst, src, n);
}

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

/* 1 if the CPU has PREFETCHW (CPUID.80000001H:ECX bit 8, "3DNowPrefetch" on
 * AMD, "PRFCHW" on Intel). */
static int has_prefetchw(void)
{
	static _Atomic int known; /* 0 unknown, 1 no, 2 yes; racing fills agree */
	int k = atomic_load_explicit(&known, memory_order_relaxed);
	if (k == 0) {
		unsigned a, b, c, d;
		k = __get_cpuid(0x80000001u, &a, &b, &c, &d) && (c & (1u << 8)) ? 2 : 1;
		atomic_store_explicit(&known, k, memory_order_relaxed);
	}
	return k == 2;
}

void shmkit__prefetch_write(const unsigned char *p, size_t n, size_t stride)
{
	/* without PREFETCHW, prefetcht0 would fetch the lines shared, and the
	 * stores then ask for them again: nothing */
	if (!has_prefetchw())
		return;
	for (size_t i = 0; i < n; i++, p += stride)
		__asm__ __volatile__("prefetchw %0" : : "m"(*p));
}
#else
void shmkit__prefetch_write(const unsigned char *p, size_t n, size_t stride)
{
	for (size_t i = 0; i < n; i++, p += stride)
		__builtin_prefetch(p, 1, 3);
}
#endif
