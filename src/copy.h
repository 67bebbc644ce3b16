/* SPDX-License-Identifier: MIT */
/* Copying message bytes into and out of shared slots (src/copy.c). */
#ifndef SHMKIT_COPY_H
#define SHMKIT_COPY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* From this many bytes on, shmkit__copy may pick another routine than
 * memcpy (src/copy.c says which and why). */
#define SHMKIT__COPY_LARGE ((size_t)256 << 10)
/* Up to this many bytes shmkit__copy_small copies inline. */
#define SHMKIT__COPY_SMALL ((size_t)64)

void shmkit__copy_large(void *dst, const void *src, size_t n);

/* How a sending handle copies large messages into shared slots: with
 * ordinary stores (shmkit__copy_large) or with non-temporal ones, whichever
 * gave the faster stream here (src/copy.c says why it depends on where the
 * two processes run). One per handle, set by shmkit__copy_pick_init.
 *
 * What is compared is the time from one large copy's start to the next's
 * (a message's whole cycle: the wait for room, which the consumer's reads
 * pace, the copy, the caller's own work), not the copy alone: streaming
 * stores can make the producer's copy slower and the consumer's reads of it
 * faster, and the stream goes at the slower side's pace. Every epoch (32
 * runs, twice as many after each trial that repeats the last answer, up to
 * 1024), a trial of four runs (cached, streaming, cached, streaming)
 * starts after two runs; each run's second half is timed. A run is eight
 * times the ring's slots (16 to 256): in its first half the consumer still
 * reads what the run before wrote, and a producer that became faster fills
 * the ring's free slots at its own pace before the consumer's pace shows
 * (with runs of twice the slots, a cached run after a streaming phase timed
 * 20 us a message, half the cached stream's steady 40). Streaming is kept
 * only if both its runs beat both cached ones. */
struct shmkit__copy_pick {
	uint64_t copies;      /* large copies into slots through this handle */
	uint64_t epoch_start; /* `copies` when this epoch began */
	uint64_t last;        /* the clock at the last one's start */
	uint64_t sum[4];      /* the trial's runs: their timed halves' cycle times */
	uint32_t run;         /* copies in one trial run */
	uint32_t epoch_runs;  /* runs in this epoch: 32, doubled per repeated answer */
	uint8_t streaming;    /* the current choice: 1 for non-temporal stores */
	uint8_t forced;       /* SHMKIT_LARGE_COPY: 0 measure, 1 cached, 2 streaming */
};

#define SHMKIT__COPY_EPOCH_RUNS 32u
#define SHMKIT__COPY_EPOCH_RUNS_MAX 1024u

/* For a ring of `slots` slots; reads SHMKIT_LARGE_COPY=cached|streaming
 * (anything else: measure). */
void shmkit__copy_pick_init(struct shmkit__copy_pick *p, uint64_t slots);
/* Copies n >= SHMKIT__COPY_LARGE bytes into a slot the way p says. */
void shmkit__copy_in_large(struct shmkit__copy_pick *p, void *dst, const void *src, size_t n);
/* The way (1 streaming, 0 cached) p's next large copy takes, and the record
 * of that copy's start at clock `now` (shmkit__copy_in_large's bookkeeping,
 * apart so a test can feed it times). */
int shmkit__copy_pick_next(const struct shmkit__copy_pick *p);
void shmkit__copy_pick_note(struct shmkit__copy_pick *p, uint64_t now);
/* A copy with non-temporal stores where the CPU has them (memcpy elsewhere
 * and under sanitizers), fenced so a later release store orders after it. */
void shmkit__copy_streaming(void *dst, const void *src, size_t n);

/* Asks for the first line of n slots `stride` bytes apart, p first, for
 * writing (PREFETCHW where the CPU has it): a producer about to fill a batch
 * of slots the consumer read a lap ago gets the lines' ownership requests
 * under way together, not one store at a time behind a full store buffer
 * (a batch of 32 64-byte messages: +26 % throughput, 22 of 24 paired runs). */
void shmkit__prefetch_write(const unsigned char *p, size_t n, size_t stride);

/* Up to 64 bytes without a call: two fixed-size copies that overlap in the
 * middle (the compiler turns each into moves). A call to memcpy makes the
 * queue's send and receive non-leaf functions, which then save and restore
 * five registers; the call, its dispatch on the length and that cost 20-25
 * of the ~100 instructions of a 64-byte send (callgrind). */
static inline void shmkit__copy_small(unsigned char *d, const unsigned char *s, size_t n)
{
	if (n >= 32) {
		/* 16-byte moves addressed from d and d + n: no pointer arithmetic
		 * (the 32-byte halves cost three more instructions a message) */
		memcpy(d, s, 16);
		memcpy(d + 16, s + 16, 16);
		memcpy(d + n - 32, s + n - 32, 16);
		memcpy(d + n - 16, s + n - 16, 16);
	} else if (n >= 16) {
		memcpy(d, s, 16);
		memcpy(d + n - 16, s + n - 16, 16);
	} else if (n >= 8) {
		memcpy(d, s, 8);
		memcpy(d + n - 8, s + n - 8, 8);
	} else if (n >= 4) {
		memcpy(d, s, 4);
		memcpy(d + n - 4, s + n - 4, 4);
	} else {
		for (size_t i = 0; i < n; i++)
			d[i] = s[i];
	}
}

/* memcpy for message payloads: dst and src do not overlap. Up to 64 bytes
 * inline, large copies take the routine measured fastest. */
static inline void shmkit__copy(void *dst, const void *src, size_t n)
{
	if (n <= SHMKIT__COPY_SMALL)
		shmkit__copy_small(dst, src, n);
	else if (n >= SHMKIT__COPY_LARGE)
		shmkit__copy_large(dst, src, n);
	else
		memcpy(dst, src, n);
}

/* memcpy for message payloads going into a shared slot: as shmkit__copy,
 * but large ones the way the handle's pick measured faster. The small case
 * is tested first, as in shmkit__copy: it is the send fast path's. */
static inline void shmkit__copy_in(struct shmkit__copy_pick *p, void *dst, const void *src,
				   size_t n)
{
	if (n <= SHMKIT__COPY_SMALL)
		shmkit__copy_small(dst, src, n);
	else if (n >= SHMKIT__COPY_LARGE)
		shmkit__copy_in_large(p, dst, src, n);
	else
		memcpy(dst, src, n);
}

/* A generous time (ns) for writing or copying n bytes: 8 bytes a ns (AMD
 * EPYC Zen 4 measured 44-60 on 1 MiB, 20-45 when loaded), at most 1 ms.
 * A receiver of messages up to n bytes spins at least this long before it
 * sleeps: with a shorter spin it falls asleep while the sender is still
 * writing a large message, and the futex wake-up then costs about as much
 * again (measured at 1 MiB: 41-45 us one-way with a 20 us spin, 23-26 us
 * without the sleep). Past 1 ms of spinning, a wake-up's tens of us matter
 * little against the message's own time. */
static inline int64_t shmkit__copy_ns(size_t n)
{
	size_t ns = n / 8;
	return ns > 1000000 ? 1000000 : (int64_t)ns;
}

#endif
