/* SPDX-License-Identifier: MIT */
/* Harness: a heap opened from a mutated segment image, then allocations,
 * frees (good, double and bogus offsets), named objects (the image's own
 * freed with its name), allocations again (small ones from this process's
 * block cache, whose blocks carry their owner in the image), stats and the
 * full check. Every call returns; every pointer the heap hands out lies
 * inside the segment with the size it claims. */
#include "fuzz.h"

#include <string.h>
#include <unistd.h>

static void use_block(struct shmkit_heap *h, struct shmkit_seg *seg, shmkit_off off, size_t want)
{
	void *p = FUZZ_T(shmkit_heap_ptr(h, off));
	ssize_t got = FUZZ_T(shmkit_heap_size(h, off));
	if (p == NULL)
		fuzz_fail("heap_ptr(%llu) is NULL right after the alloc", (unsigned long long)off);
	if (got < (ssize_t)want)
		fuzz_fail("heap_size %zd < %zu allocated", got, want);
	fuzz_in_segment(seg, p, (size_t)got, "heap block");
	memset(p, 0xc3, want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t sizes[] = { 1, 40, 600, 5000, 1u << 20 };
	enum { N = sizeof(sizes) / sizeof(sizes[0]) };
	char uri[32];
	struct shmkit_heap *h = NULL;
	struct shmkit_heap_stats st;
	shmkit_off off[N] = { 0 }, named = 0;

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
	if (FUZZ_T(shmkit_heap_open(&h, uri)) == 0) {
		struct shmkit_seg *seg = shmkit_heap_seg(h);
		FUZZ_T(shmkit_heap_stats(h, &st));
		FUZZ_T(shmkit_heap_check(h));
		for (size_t i = 0; i < N; i++)
			if (FUZZ_T(shmkit_heap_alloc(h, sizes[i], &off[i])) == 0)
				use_block(h, seg, off[i], sizes[i]);
		if (FUZZ_T(shmkit_heap_named(h, "fuzz", 0, 0, &named)) == 0) {
			FUZZ_T(shmkit_heap_ptr(h, named));
			FUZZ_T(shmkit_heap_free(h, named)); /* its name goes with it */
			FUZZ_T(shmkit_heap_named(h, "fuzz", 0, 0, &named));
		}
		if (FUZZ_T(shmkit_heap_named(h, "fuzz2", 24, SHMKIT_CREATE, &named)) == 0)
			use_block(h, seg, named, 24);
		for (size_t i = 0; i < N; i += 2)
			if (off[i])
				FUZZ_T(shmkit_heap_free(h, off[i]));
		FUZZ_T(shmkit_heap_free(h, off[0])); /* double free: refused */
		FUZZ_T(shmkit_heap_free(h, 8));      /* not a block: refused */
		FUZZ_T(shmkit_heap_free(h, (shmkit_off)size - 16));
		FUZZ_T(shmkit_heap_size(h, (shmkit_off)-1));
		FUZZ_T(shmkit_heap_check(h));
		for (size_t i = 1; i < N; i += 2)
			if (off[i])
				FUZZ_T(shmkit_heap_free(h, off[i]));
		/* the small sizes again: taken from what the frees cached */
		for (size_t i = 0; i < 2; i++)
			if (FUZZ_T(shmkit_heap_alloc(h, sizes[i], &off[i])) == 0)
				use_block(h, seg, off[i], sizes[i]);
		FUZZ_T(shmkit_heap_stats(h, &st));
		FUZZ_T(shmkit_heap_close(h));
	}
	close(fd);
	return 0;
}
