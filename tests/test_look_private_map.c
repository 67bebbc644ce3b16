/* SPDX-License-Identifier: MIT */
/* A queue that no name reaches (memfd:) has its header read through a
 * process that maps it, by device and inode (test_look_unnamed). A private
 * mapping of the same file (MAP_PRIVATE, copy-on-write) shows the same
 * device and inode in /proc/PID/maps, but once written it holds the
 * writer's copy, not the file: the look must read a shared mapping only.
 * Here the private mapping (made last, so lower in the address space and
 * first in maps) has its header scribbled: before, the queue was listed as
 * "no shmkit header" (kind -, managed no). Seen by shmkit_list in this
 * process and by `shmkit ls` in another one (exec). */
#include "test.h"

#include <sys/mman.h>
#include <unistd.h>

static const char *g_uri;

static int on_seg(const struct shmkit_stat *st, void *arg)
{
	int *found = arg;
	if (strcmp(st->uri, g_uri) != 0)
		return 0;
	++*found;
	if (!st->managed || st->kind != SHMKIT_KIND_QUEUE)
		fprintf(stderr, "%s: managed %d kind %u header_status %d\n", st->uri, st->managed,
			st->kind, st->header_status);
	CHECK(st->managed && st->kind == SHMKIT_KIND_QUEUE);
	return 0;
}

int main(void)
{
	struct shmkit_queue_opts o = { .capacity = 4, .max_msg = 16 };
	struct shmkit_queue *q;
	char uri[128], out[4096];
	int found = 0;

	snprintf(uri, sizeof(uri), "memfd:shmkit-test-%d-h35f-private", (int)getpid());
	g_uri = uri;
	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	int fd = shmkit_seg_fd(shmkit_queue_seg(q));
	unsigned char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CHECK(p != MAP_FAILED);
	memset(p, 'X', 64); /* our copy only: the file keeps its header */

	CHECK(shmkit_list(on_seg, &found) >= 0);
	CHECK(found == 1);

	CHECK_RET(test_sh_capture(out, sizeof(out),
				  "'%s' ls -n -o URI,KIND | grep -F '%s ' | awk '{print $2}'",
				  SHMKIT_TOOL_PATH, uri),
		  0);
	printf("shmkit ls: kind %s", out);
	CHECK(strcmp(out, "queue\n") == 0);

	munmap(p, 4096);
	shmkit_queue_close(q);
	return test_done();
}
