/* SPDX-License-Identifier: MIT */
/* The classic POSIX shared-memory pair, writer half.
 *
 * Puts "hello, world" into the segment named /shmkit-hello and exits. The
 * segment is a file in /dev/shm (a tmpfs): it outlives this process until it
 * is removed or the machine reboots, so posix_reader can print (and then remove) it:
 *
 *     ./posix_writer && ./posix_reader
 *
 * An argument picks another name ("/other") or any URI ("sysv:0x45" works too). */
#include <stdio.h>
#include <string.h>

#include <shmkit.h>

int main(int argc, char **argv)
{
	char uri[256] = "posix:/shmkit-hello";
	struct shmkit_seg *seg;
	int ret;

	if (argc > 1) /* a bare name is short for posix:NAME */
		snprintf(uri, sizeof(uri), "%s%s", strchr(argv[1], ':') ? "" : "posix:", argv[1]);

	/* Create the segment, or open it if it is already there; 0600: only us. */
	ret = shmkit_seg_open(&seg, uri, 4096, SHMKIT_CREATE, 0600);
	if (ret < 0) {
		fprintf(stderr, "posix_writer: %s: %s\n", uri, shmkit_strerror(ret));
		return 1;
	}

	/* The memory was reserved at create (no SIGBUS later); it is plain memory: any pointer into [addr, addr + size) is ours. */
	strcpy(shmkit_seg_addr(seg), "hello, world");

	/* Unmap. This never removes the segment: `shmkit rm` or shmkit_remove() does. */
	shmkit_seg_close(seg);
	return 0;
}
