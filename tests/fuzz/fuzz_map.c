/* SPDX-License-Identifier: MIT */
/* Harness: a map opened from a mutated segment image, then reads of what the
 * image holds (iter, get, len, count), writes (put inline and chained, del)
 * and the full check. Every call returns; every pair handed out lies inside
 * the segment; a value just put reads back as itself or as an error, never
 * as other bytes; copies never exceed the caller's buffer. */
#include "fuzz.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "layout.h"

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

/* 1 if a seqlock stripe of the image's map is odd (a writer publishing):
 * a look waits for such a stripe up to 1 s per call by design (-EBUSY
 * after), which would stall the search; shmkit_map(3) documents the wait. */
static int look_would_wait(const uint8_t *data, size_t size)
{
	size_t root_at = SHMKIT__HEADER_SIZE + offsetof(struct shmkit__heap_shared, root);
	uint64_t root, seq;

	if (size < root_at + sizeof(root))
		return 0;
	memcpy(&root, data + root_at, sizeof(root));
	size_t seq_off = offsetof(struct shmkit__map_shared, seq);
	if (root > size || size - root < seq_off + SHMKIT__MAP_STRIPES * sizeof(seq))
		return 0; /* no map there: the look is refused without waiting */
	size_t at = (size_t)root + seq_off;
	for (size_t i = 0; i < SHMKIT__MAP_STRIPES; i++) {
		memcpy(&seq, data + at + i * sizeof(seq), sizeof(seq));
		if (seq & 1)
			return 1;
	}
	return 0;
}

/* A look's pairs are copies (outside the segment): each is read whole. */
static int each_copied_pair(const void *k, size_t klen, const void *v, size_t vlen, void *arg)
{
	int *n = arg;
	fuzz_touch(k, klen);
	fuzz_touch(v, vlen);
	return ++*n >= 64;
}

/* The look `shmkit map URI get/ls` makes (SHMKIT_RDONLY): a read-only
 * mapping, no lock; reads work, writes are refused with -EPERM. */
static void look_round(const uint8_t *data, size_t size, const char *uri)
{
	struct shmkit_map *m = NULL;
	int n = 0;

	if (look_would_wait(data, size) || FUZZ_T(shmkit_map_open_flags(&m, uri, SHMKIT_RDONLY)) != 0)
		return;
	FUZZ_T(shmkit_map_iter(m, each_copied_pair, &n));
	FUZZ_T(shmkit_map_count(m));
	get_exact(m, "a", 1);
	get_exact(m, "key-1", 512);
	FUZZ_T(shmkit_map_len(m, "key-2", 5));
	int r = FUZZ_T(shmkit_map_put(m, "a", 1, "b", 1));
	if (r != -EPERM)
		fuzz_fail("map_put on a look returned %d, not -EPERM", r);
	FUZZ_T(shmkit_map_close(m));
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
	look_round(data, size, uri);
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
