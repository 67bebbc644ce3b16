/* SPDX-License-Identifier: MIT */
/* The classic System V shared-memory pair, writer half.
 *
 * Puts "hello, world" into the segment with key 0x44 and exits. The segment
 * outlives this process (SysV segments live in the kernel until removed), so
 * sysv_reader can print (and then remove) it afterwards:
 *
 *     ./sysv_writer && ./sysv_reader
 *
 * An argument picks another key ("0x1234") or any URI ("posix:/x" works too). */
#include <stdio.h>
#include <string.h>

#include <shmkit.h>

int main(int argc, char **argv)
{
	char uri[256] = "sysv:0x44";
	struct shmkit_seg *seg;
	int ret;

	if (argc > 1) /* a bare key is short for sysv:KEY */
		snprintf(uri, sizeof(uri), "%s%s", strchr(argv[1], ':') ? "" : "sysv:", argv[1]);

	/* Create the segment, or open it if it is already there; 0600: only us. */
	ret = shmkit_seg_open(&seg, uri, 4096, SHMKIT_CREATE, 0600);
	if (ret < 0) {
		fprintf(stderr, "sysv_writer: %s: %s\n", uri, shmkit_strerror(ret));
		return 1;
	}

	/* It is plain memory now: any pointer into [addr, addr + size) is ours. */
	strcpy(shmkit_seg_addr(seg), "hello, world");

	/* Detach. This never removes the segment: `shmkit rm` or shmkit_remove() does. */
	shmkit_seg_close(seg);
	return 0;
}
