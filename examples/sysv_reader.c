/* SPDX-License-Identifier: MIT */
/* The classic System V shared-memory pair, reader half.
 *
 * Attaches the segment with key 0x44 (made by sysv_writer), prints the text
 * in it, detaches and removes it: the pair leaves nothing behind. "--keep"
 * leaves it in place; an argument picks another key or any URI. */
#include <stdio.h>
#include <string.h>

#include <shmkit.h>

int main(int argc, char **argv)
{
	char uri[256] = "sysv:0x44";
	struct shmkit_seg *seg;
	const char *text;
	int ret, keep = argc > 1 && strcmp(argv[1], "--keep") == 0;

	if (keep) {
		argc--;
		argv++;
	}
	if (argc > 1)
		snprintf(uri, sizeof(uri), "%s%s", strchr(argv[1], ':') ? "" : "sysv:", argv[1]);

	/* Size 0: open an existing segment, whole. Read-only is all we need. */
	ret = shmkit_seg_open(&seg, uri, 0, SHMKIT_RDONLY, 0);
	if (ret < 0) {
		fprintf(stderr, "sysv_reader: %s: %s\n", uri, shmkit_strerror(ret));
		return 1;
	}

	/* Another process wrote this memory: never trust it to hold a NUL. */
	text = shmkit_seg_addr(seg);
	printf("%.*s\n", (int)strnlen(text, shmkit_seg_size(seg)), text);

	shmkit_seg_close(seg);
	/* The message is read: remove the segment (SysV: once every process has
	 * detached), or it would stay in the kernel until reboot. */
	if (!keep && (ret = shmkit_remove(uri)) < 0) {
		fprintf(stderr, "sysv_reader: remove %s: %s\n", uri, shmkit_strerror(ret));
		return 1;
	}
	return 0;
}
