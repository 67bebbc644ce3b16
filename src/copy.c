/* SPDX-License-Identifier: MIT */
/* Large payload copies: `rep movsb` where the CPU has ERMS, else memcpy.
 *
 * Why (measured on AMD EPYC Zen 4 under KVM, glibc 2.36, min/median of
 * 200-2000 copies into 8 rotating destinations, as a queue's slots): up to
 * 1 MiB, glibc's memcpy already is `rep movsb` (same time); from its
 * rep_movsb_stop_threshold (the L2 size on AMD) it switches to a vector loop
 * that is slower: 1 MiB 0.93x the time with rep movsb, 2 MiB 0.85x, 4 MiB
 * 0.67-0.70x, 16 MiB 0.85-0.92x. Intel's glibc keeps rep movsb up to its
 * non-temporal threshold, so this changes nothing there. Non-temporal stores
 * were measured too and are not used: at 1 MiB into 8 slots the producer's
 * copy took 1.3x and the consumer's read of it 2.5x as long (the bytes went
 * to DRAM instead of staying in the shared L3 the consumer reads from). */
#include <stdatomic.h>

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
