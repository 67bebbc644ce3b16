/* SPDX-License-Identifier: MIT */
/* shmkit objects that no name reaches are still told by kind: a queue on
 * a memfd, one on a shared anonymous region, and queues whose posix: and
 * file: names were removed while mapped (another program's rm). Their
 * headers are read through a process that maps them, by device and inode,
 * never by a name, which may by now be another object's: here a raw
 * segment and a map made at the removed names must not lend their kind to
 * the queues. Seen by shmkit_list in this process and by `shmkit ls` in
 * another one (exec). Before, all four were "no shmkit header" (kind -),
 * and the removed file: queue took the new map's kind. */
#include "test.h"

#include <unistd.h>

struct want {
	const char *uri;
	int deleted;
	uint32_t kind; /* what it must be seen as */
	int managed;
	int found;
};

static int on_seg(const struct shmkit_stat *st, void *arg)
{
	struct want *w = arg;
	pid_t me = getpid();
	int mine = 0;
	for (int i = 0; i < st->n_mappers && i < SHMKIT_STAT_MAPPERS; i++)
		mine |= st->mappers[i].pid == me;
	for (; w->uri; w++) {
		if (strcmp(st->uri, w->uri) != 0 || st->deleted != w->deleted)
			continue;
		if (strcmp(w->uri, "anon:") == 0 && (!mine || st->kind != w->kind))
			continue; /* another test's anonymous region */
		w->found++;
		if (st->managed != w->managed || (w->managed && st->kind != w->kind))
			fprintf(stderr, "%s%s: managed %d kind %u header_status %d\n", st->uri,
				st->deleted ? " (deleted)" : "", st->managed, st->kind, st->header_status);
		CHECK(st->managed == w->managed);
		if (w->managed)
			CHECK(st->kind == w->kind);
	}
	return 0;
}

/* `shmkit ls` in another process: the row of uri (deleted or not) has kind
 * `kind`. ls of uri, not of the machine: a segment another test truncates
 * meanwhile stops a whole-machine ls by SIGBUS (a documented limit of looks) */
static void ls_says(const char *uri, const char *lifetime, const char *kind)
{
	char out[4096];
	CHECK_RET(test_sh_capture(out, sizeof(out),
				  "'%s' ls -n -o URI,LIFETIME,KIND,ATTACHED '%s' | grep -F '%s ' | "
				  "grep ' %s ' | grep ' %d/' | awk '{print $3}'",
				  SHMKIT_TOOL_PATH, uri, uri, lifetime, (int)getpid()),
		  0);
	if (strncmp(out, kind, strlen(kind)) != 0 || out[strlen(kind)] != '\n') {
		fprintf(stderr, "ls: %s %s: kind '%s', want %s; its rows:\n", uri, lifetime, out,
			kind);
		test_sh("'%s' ls -n -o URI,LIFETIME,KIND,ATTACHED '%s' | grep -F '%s ' >&2",
			SHMKIT_TOOL_PATH, uri, uri);
	}
	CHECK(strncmp(out, kind, strlen(kind)) == 0 && out[strlen(kind)] == '\n');
}

int main(void)
{
	struct shmkit_queue_opts o = { .capacity = 4, .max_msg = 16 };
	struct shmkit_queue *mq, *aq, *pq, *fq;
	struct shmkit_seg *raw;
	struct shmkit_map *map;
	char memfd_uri[128];
	const char *posix = test_uri("posix", "unnamed-posix");
	const char *file = test_uri("file", "unnamed-file");

	snprintf(memfd_uri, sizeof(memfd_uri), "memfd:shmkit-test-%d-unnamed", (int)getpid());
	CHECK_OK(shmkit_queue_create(&mq, memfd_uri, &o));
	CHECK_OK(shmkit_queue_create(&aq, "anon:", &o));
	CHECK_OK(shmkit_queue_create(&pq, posix, &o));
	CHECK_OK(shmkit_queue_create(&fq, file, &o));
	/* another program removes the names; others take them */
	char path[256];
	snprintf(path, sizeof(path), "/dev/shm%s", posix + strlen("posix:"));
	CHECK_OK(unlink(path));
	CHECK_OK(unlink(file + strlen("file:")));
	CHECK_OK(shmkit_seg_open(&raw, posix, 8192, SHMKIT_CREATE | SHMKIT_EXCL, 0600));
	memset(shmkit_seg_addr(raw), 0xab, 8192);
	CHECK_OK(shmkit_map_create(&map, file, 64 * 1024, 0600));

	struct want w[] = {
		{ memfd_uri, 1, SHMKIT_KIND_QUEUE, 1, 0 },
		{ "anon:", 1, SHMKIT_KIND_QUEUE, 1, 0 },
		{ posix, 1, SHMKIT_KIND_QUEUE, 1, 0 },
		{ posix, 0, 0, 0, 0 }, /* the raw segment now at that name */
		{ file, 1, SHMKIT_KIND_QUEUE, 1, 0 },
		{ file, 0, SHMKIT_KIND_MAP, 1, 0 },
		{ NULL, 0, 0, 0, 0 },
	};
	CHECK(shmkit_list(on_seg, w) >= 0);
	for (struct want *x = w; x->uri; x++) {
		if (x->found != 1)
			fprintf(stderr, "%s%s: seen %d times\n", x->uri, x->deleted ? " (deleted)" : "",
				x->found);
		CHECK(x->found == 1);
	}

	ls_says(memfd_uri, "process", "queue");
	ls_says(posix, "deleted", "queue");
	ls_says(file, "deleted", "queue");
	ls_says(file, "filesystem", "map");

	shmkit_map_close(map);
	shmkit_seg_close(raw);
	shmkit_queue_close(fq);
	shmkit_queue_close(pq);
	shmkit_queue_close(aq);
	shmkit_queue_close(mq);
	return test_done();
}
