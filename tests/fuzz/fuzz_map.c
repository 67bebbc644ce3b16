/* SPDX-License-Identifier: MIT */
/* Harness: a map opened from a mutated segment image, then reads of what the
 * image holds (iter, get, len, count), writes (put inline and chained, del)
 * and the full check. Every call returns; every pair handed out lies inside
 * the segment; a value just put reads back as itself or as an error, never
 * as other bytes; copies never exceed the caller's buffer. */
#include "fuzz.h"

#include <string.h>
#include <unistd.h>

struct iter_arg {
	struct shmkit_seg *seg;
	int n;
};

static int each_pair(const void *k, size_t klen, const void *v, size_t vlen, void *arg)
{
	struct iter_arg *a = arg;
	fuzz_in_segment(a->seg, k, klen, "map_iter key");
	fuzz_in_segment(a->seg, v, vlen, "map_iter value");
	return ++a->n >= 64; /* bounded: stop after 64 pairs */
}

static void get_exact(struct shmkit_map *m, const char *k, size_t cap)
{
	char *buf = malloc(cap ? cap : 1);
	if (!buf)
		return;
	ssize_t n = FUZZ_T(shmkit_map_get(m, k, strlen(k), buf, cap));
	if (n > (ssize_t)cap)
		fuzz_fail("map_get returned %zd for a %zu-byte buffer", n, cap);
	free(buf);
}

/* put, then get: the value read back is the value put, or an error. */
static void put_get(struct shmkit_map *m, const char *k, const char *v, size_t vlen)
{
	char buf[512];
	if (FUZZ_T(shmkit_map_put(m, k, strlen(k), v, vlen)) != 0)
		return;
	ssize_t n = FUZZ_T(shmkit_map_get(m, k, strlen(k), buf, sizeof(buf)));
	if (n >= 0 && ((size_t)n != vlen || memcmp(buf, v, vlen) != 0))
		fuzz_fail("map_get(%s) after put returned %zd other bytes", k, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char uri[32];
	char big[300];
	struct shmkit_map *m = NULL;

	if (fuzz_heap_holder_unknowable(data, size) || fuzz_heap_boot_busy(data, size))
		return 0;
	int fd = fuzz_image(data, size, uri, sizeof(uri));
	if (fd < 0)
		return 0;
	if (fuzz_image_waits(data, size, uri)) {
		close(fd);
		return 0;
	}
	fuzz_heap_look(uri);
	memset(big, 'v', sizeof(big));
	if (FUZZ_T(shmkit_map_open(&m, uri)) == 0) {
		struct iter_arg a = { shmkit_heap_seg(shmkit_map_heap(m)), 0 };
		FUZZ_T(shmkit_map_iter(m, each_pair, &a));
		FUZZ_T(shmkit_map_count(m));
		get_exact(m, "a", 1);
		get_exact(m, "a", 64);
		get_exact(m, "key-1", 512);
		FUZZ_T(shmkit_map_len(m, "key-2", 5));
		put_get(m, "a", "b", 1);
		put_get(m, "fuzz-inline", "small", 5);
		put_get(m, "fuzz-chained", big, sizeof(big));
		FUZZ_T(shmkit_map_del(m, "key-1", 5));
		FUZZ_T(shmkit_map_del(m, "fuzz-inline", 11));
		FUZZ_T(shmkit_map_check(m));
		put_get(m, "fuzz-after-check", big, 41);
		FUZZ_T(shmkit_map_flush(m));
		FUZZ_T(shmkit_map_close(m));
	}
	close(fd);
	return 0;
}
