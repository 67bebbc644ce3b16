/* SPDX-License-Identifier: MIT */
/* Shared pieces of the fuzz harnesses: images in sealed memfds, call timing. */
#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "layout.h"
#include "managed.h"

int64_t fuzz_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void fuzz_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "fuzz: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

/* Under valgrind (`make valgrind` sets SHMKIT_UNDER_VALGRIND) every call
 * runs tens of times slower: a shmkit_stat walking /proc took 1.5 s on a
 * loaded machine. There only a hang is a finding; the other builds' replays
 * hold calls to the 1 s bound. */
static int64_t call_limit_ns(void)
{
	const char *v = getenv("SHMKIT_UNDER_VALGRIND");
	return v && *v && strcmp(v, "0") != 0 ? 10 * FUZZ_CALL_LIMIT_NS : FUZZ_CALL_LIMIT_NS;
}

void fuzz_timed(const char *what, int64_t start_ns)
{
	int64_t took = fuzz_now_ns() - start_ns;
	if (took > call_limit_ns())
		fuzz_fail("%s took %.2f s (a wait over the library's 1 s bound)", what,
			  (double)took / 1e9);
}

int fuzz_image(const uint8_t *data, size_t size, char *uri, size_t cap)
{
	int fd = memfd_create("shmkit-fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -1;
	size_t done = 0;
	while (done < size) {
		ssize_t n = write(fd, data + done, size - done);
		if (n <= 0) {
			close(fd);
			return -1;
		}
		done += (size_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) {
		close(fd);
		return -1;
	}
	snprintf(uri, cap, "fd:%d", fd);
	return fd;
}

/* Asks the managed layer itself, without waiting and read-only (nothing in
 * the image changes): would an open wait for a creator it thinks is alive or
 * cannot judge? */
static int open_would_wait(const char *uri)
{
	struct shmkit__obj o;
	int r = shmkit__obj_open_timeout(&o, uri, 0, SHMKIT_RDONLY, 0);
	if (r == 0)
		shmkit__obj_close(&o);
	return r == -EAGAIN;
}

int fuzz_image_waits(const uint8_t *data, size_t size, const char *uri)
{
	uint64_t magic, init;
	if (size < SHMKIT__HEADER_SIZE)
		return 1;
	memcpy(&magic, data + offsetof(struct shmkit__header, magic), 8);
	memcpy(&init, data + offsetof(struct shmkit__header, init), 8);
	if (magic == 0 && SHMKIT__WORD_PID(init) == 0)
		return 1;
	return open_would_wait(uri);
}

int fuzz_heap_holder_unknowable(const uint8_t *data, size_t size)
{
	size_t at = SHMKIT__HEADER_SIZE + offsetof(struct shmkit__heap_shared, lock) +
		    offsetof(struct shmkit__mutex_shared, word);
	uint32_t word;
	char path[64];
	if (size < at + sizeof(word))
		return 0;
	memcpy(&word, data + at, sizeof(word)); /* the futex word */
	pid_t tid = (pid_t)(word & FUTEX_TID_MASK);
	if (tid == 0) /* (a tid beside FUTEX_OWNER_DIED is judged as any other) */
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return errno != ENOENT && errno != ESRCH;
}

int fuzz_heap_boot_busy(const uint8_t *data, size_t size)
{
	size_t at = SHMKIT__HEADER_SIZE + offsetof(struct shmkit__heap_shared, boot_tag);
	uint64_t tag;
	if (size < at + sizeof(tag))
		return 0;
	memcpy(&tag, data + at, sizeof(tag));
	return tag == 1; /* BOOT_TAG_BUSY in heap.c */
}

void fuzz_in_segment(const struct shmkit_seg *seg, const void *p, size_t len, const char *what)
{
	const char *base = shmkit_seg_addr(seg);
	size_t size = shmkit_seg_size(seg);
	const char *c = p;
	if (c < base || c > base + size || len > (size_t)(base + size - c))
		fuzz_fail("%s: [%p, +%zu) is outside the segment [%p, +%zu)", what, p, len,
			  (const void *)base, size);
	fuzz_touch(p, len);
}

unsigned fuzz_touch(const void *p, size_t len)
{
	const volatile unsigned char *c = p;
	unsigned sum = 0;
	for (size_t i = 0; i < len; i++)
		sum += c[i];
	return sum;
}

void fuzz_heap_look(const char *uri)
{
	struct shmkit_heap_stats st;

	if (FUZZ_T(shmkit_heap_stat(uri, &st)) != 0)
		return;
	if (st.used_bytes + st.free_bytes > st.arena_bytes || st.largest_free > st.free_bytes)
		fuzz_fail("heap_stat: %llu used + %llu free bytes (largest %llu) in a %llu-byte arena",
			  (unsigned long long)st.used_bytes, (unsigned long long)st.free_bytes,
			  (unsigned long long)st.largest_free, (unsigned long long)st.arena_bytes);
}
