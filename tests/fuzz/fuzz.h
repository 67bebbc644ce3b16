/* SPDX-License-Identifier: MIT */
/* Shared pieces of the fuzz harnesses (tests/fuzz/README.md).
 *
 * Each harness defines LLVMFuzzerTestOneInput. The same source is linked two
 * ways: with clang's libFuzzer (`make fuzz`) to search, and with replay.c, a
 * plain main() any compiler builds, so `make test` replays the committed
 * corpus in both of its builds. */
#ifndef SHMKIT_FUZZ_H
#define SHMKIT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <shmkit.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The longest any one library call may take. Nothing a harness calls waits
 * longer than the library's own 1 s bound (an open waiting for a creator it
 * believes alive); the rest is the call's own work, slow on a loaded machine:
 * a shmkit_stat walks /proc. A call over it is a hang: the harness aborts,
 * which libFuzzer reports as a crash. The slack was 0.2 s: the ASan build's
 * replays of the managed and cli corpora took 1.30, 1.40 and 1.92 s there
 * (load average 40-50; 1 run of 3 of its suite failed). A wait without
 * bound still shows; two waits of a second in one call may not. */
#define FUZZ_CALL_LIMIT_NS 3000000000LL

int64_t fuzz_now_ns(void);
/* Aborts, naming the call, when it took longer than FUZZ_CALL_LIMIT_NS (ten
 * times that under valgrind, SHMKIT_UNDER_VALGRIND). */
void fuzz_timed(const char *what, int64_t start_ns);
/* Aborts with a message: an invariant the library promises was broken. */
void fuzz_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Runs one library call and checks how long it took. */
#define FUZZ_T(expr)                                                                          \
	__extension__({                                                                       \
		int64_t fuzz_t0_ = fuzz_now_ns();                                             \
		__typeof__(expr) fuzz_r_ = (expr);                                            \
		fuzz_timed(#expr, fuzz_t0_);                                                  \
		fuzz_r_;                                                                      \
	})

/* A memfd holding exactly these bytes, sealed against shrinking and growing
 * (what fd: and SCM_RIGHTS receivers require); -1 if the kernel refused.
 * *uri gets "fd:N". Nothing is left in /dev/shm: the image dies with its fd. */
int fuzz_image(const uint8_t *data, size_t size, char *uri, size_t cap);

/* 1 for an image (data, opened as uri) whose open waits out the library's
 * bounded 1 s wait for a creator: shorter than a header, no magic and no
 * creator, or not ready while naming a creator the managed layer judges
 * alive or cannot judge (any live pid the mutations hit). A full second per
 * input would stall the search; test_fuzz_defects and test_managed check
 * those waits. Harnesses return early on them. */
int fuzz_image_waits(const uint8_t *data, size_t size, const char *uri);

/* 1 if the heap lock word of a heap or map image names a thread whose
 * mappings this process may not read (here: the sandbox's pid 1). The mutex
 * waits for such a holder as for a live one (shmkit_mutex(3)), so locking
 * operations would rightly wait forever: the heap and map harnesses skip
 * those images instead of reporting a hang. */
int fuzz_heap_holder_unknowable(const uint8_t *data, size_t size);

/* 1 if the heap's boot tag of a heap or map image says another opener is
 * re-initializing its lock (BOOT_TAG_BUSY): open then waits out the
 * library's bounded 1 s for that opener (1000 sleeps of 1 ms: 1.1 s idle,
 * over FUZZ_CALL_LIMIT_NS on a loaded machine, libFuzzer's first find). */
int fuzz_heap_boot_busy(const uint8_t *data, size_t size);

/* Aborts unless [p, p + len) lies inside the segment: a pointer or length the
 * library hands out from a corrupt image must still stay in bounds. */
void fuzz_in_segment(const struct shmkit_seg *seg, const void *p, size_t len, const char *what);

/* shmkit_heap_stat on the image by URI: the look on a read-only mapping,
 * without the lock, that `shmkit heap URI stats` makes of another process's
 * heap or map. When it succeeds, the blocks it counted fit in the arena. */
void fuzz_heap_look(const char *uri);

/* Reads every byte (so a bad pointer faults here, under the sanitizer). */
unsigned fuzz_touch(const void *p, size_t len);

#endif
