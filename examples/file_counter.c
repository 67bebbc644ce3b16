/* SPDX-License-Identifier: MIT */
/* A counter that survives restarts: it lives in a file, mapped shared.
 *
 * Every run adds one and prints the total. Kill it, reboot, run it again: the
 * count goes on, because file: segments live on the filesystem.
 *
 *     ./file_counter            # counter in /tmp/shmkit-counter
 *     ./file_counter file:/var/tmp/my-counter
 *
 * Several copies may run at once: the increment is atomic. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include <shmkit.h>

/* What lives in the file. Shared layouts use fixed-width types and no pointers. */
struct counter {
	_Atomic uint64_t runs;
};

int main(int argc, char **argv)
{
	const char *uri = argc > 1 ? argv[1] : "file:/tmp/shmkit-counter";
	struct shmkit_seg *seg;
	struct counter *c;
	uint64_t now;
	int ret;

	/* First run: create the file, zero-filled. Later runs: open it as it is. */
	ret = shmkit_seg_open(&seg, uri, sizeof(struct counter), SHMKIT_CREATE, 0600);
	if (ret < 0) {
		fprintf(stderr, "file_counter: %s: %s\n", uri, shmkit_strerror(ret));
		return 1;
	}
	c = shmkit_seg_addr(seg);

	now = atomic_fetch_add(&c->runs, 1) + 1;

	/* Push the page to disk now (msync), so even a power cut keeps the count. */
	ret = shmkit_seg_flush(seg);
	if (ret < 0)
		fprintf(stderr, "file_counter: flush: %s\n", shmkit_strerror(ret));

	printf("%s: run %llu\n", uri, (unsigned long long)now);
	shmkit_seg_close(seg);
	return ret < 0;
}
