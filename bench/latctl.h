/* SPDX-License-Identifier: MIT */
/* The control area of a one-to-N latency run, shared by shmkit-bench and the
 * peer programs it execs (bench/peers/): a publisher sends `total` messages,
 * each carrying its send time (TSC) in its first 8 bytes, and waits until
 * every subscriber has acknowledged one before sending the next. Each
 * subscriber stores receive TSC - send TSC per message into its sample row.
 * Lives in a memfd the peers inherit (its fd number is on their command line). */
#ifndef SHMKIT_BENCH_LATCTL_H
#define SHMKIT_BENCH_LATCTL_H

#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define LATCTL_MAX_SUBS 16

struct latctl_sub {
	_Alignas(64) _Atomic uint64_t ack; /* messages this subscriber has received */
};

struct latctl {
	_Alignas(64) _Atomic uint32_t ready; /* subscribers connected */
	_Atomic int32_t failed;		     /* a side gave up: everyone stops */
	uint32_t n_subs;
	uint32_t yield; /* more processes than CPUs: yield when waiting */
	uint64_t total; /* messages, warm-up included */
	uint64_t size;	/* bytes per message */
	uint32_t work;	/* 1: the publisher writes every payload byte, subscribers read them all */
	uint32_t pad;
	struct latctl_sub subs[LATCTL_MAX_SUBS];
	/* then n_subs rows of `total` uint64_t tick samples */
};

static inline size_t latctl_bytes(uint32_t n_subs, uint64_t total)
{
	return sizeof(struct latctl) + (size_t)n_subs * (size_t)total * sizeof(uint64_t);
}

static inline uint64_t *latctl_samples(struct latctl *c, uint32_t sub)
{
	return (uint64_t *)(void *)(c + 1) + (size_t)sub * c->total;
}

static inline uint64_t latctl_tsc(void)
{
#if defined(__x86_64__) || defined(__i386__)
	uint32_t lo, hi;
	/* lfence first: rdtsc is not ordered after earlier loads, so without it a
	 * subscriber may read the clock before the message's bytes have arrived
	 * and report a latency below the physical floor (even a negative one). */
	__asm__ __volatile__("lfence; rdtsc" : "=a"(lo), "=d"(hi)::"memory");
	return (uint64_t)hi << 32 | lo;
#else
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

static inline void latctl_pause(const struct latctl *c)
{
	if (c->yield)
		sched_yield();
#if defined(__x86_64__) || defined(__i386__)
	else
		__builtin_ia32_pause();
#endif
}

/* Publisher: waits until every subscriber has acknowledged `n` messages.
 * 0, or -1 if a side failed. */
static inline int latctl_wait_acks(struct latctl *c, uint64_t n)
{
	for (uint32_t k = 0; k < c->n_subs; k++)
		/* acquire: pairs with the subscriber's release store of ack. */
		while (atomic_load_explicit(&c->subs[k].ack, memory_order_acquire) < n) {
			if (atomic_load_explicit(&c->failed, memory_order_relaxed))
				return -1;
			latctl_pause(c);
		}
	return 0;
}

/* The payload work of a run with c->work (bench suite "large"): the publisher
 * stamps the send time, then writes every byte of message i (a pattern of i),
 * then puts the stamp in the first 8 bytes; a subscriber checks every byte
 * after recording the arrival. Every transport does exactly this. */
static inline void latctl_fill(void *msg, size_t size, uint64_t i, uint64_t tsc_sent)
{
	memset(msg, (int)(i & 0xff), size);
	memcpy(msg, &tsc_sent, sizeof(tsc_sent));
}

/* 0 if bytes 8.. of msg are message i's pattern, else -1. */
static inline int latctl_check(const void *msg, size_t size, uint64_t i)
{
	const unsigned char *p = (const unsigned char *)msg;
	uint64_t want = 0x0101010101010101ull * (i & 0xff), acc = 0;
	size_t k = 8;

	for (; k + 8 <= size; k += 8) {
		uint64_t w;
		memcpy(&w, p + k, sizeof(w));
		acc |= w ^ want;
	}
	for (; k < size; k++)
		acc |= p[k] ^ (i & 0xff);
	return acc ? -1 : 0;
}

/* Subscriber k: stores message i's latency (sent at tsc_sent) ... */
static inline void latctl_record_at(struct latctl *c, uint32_t k, uint64_t i, uint64_t tsc_sent)
{
	latctl_samples(c, k)[i] = latctl_tsc() - tsc_sent;
}

/* ... and acknowledges it (after any work on the message). */
static inline void latctl_ack(struct latctl *c, uint32_t k, uint64_t i)
{
	/* release: the sample before the ack; pairs with latctl_wait_acks. */
	atomic_store_explicit(&c->subs[k].ack, i + 1, memory_order_release);
}

/* Subscriber k: records message i (sent at tsc_sent) and acknowledges it. */
static inline void latctl_record(struct latctl *c, uint32_t k, uint64_t i, uint64_t tsc_sent)
{
	latctl_record_at(c, k, i, tsc_sent);
	latctl_ack(c, k, i);
}

#endif
