/* SPDX-License-Identifier: MIT */
/* A listing reads an unnamed segment's header (a memfd's here) where its
 * scan of /proc saw it mapped. A process that maps another object at that
 * address in between must not lend that object's header to the segment:
 * a memfd queue was listed as a heap (helper h36a: in 47-108 of 200
 * listings against a process remapping in a loop). Here the looker stops
 * between its scan and its reads (pause point look.unnamed.read), this
 * process maps a memfd heap where the queue was, and the queue must then
 * be seen as a queue or as "not read", never as a heap. */
#include "test.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { LOOK_QUEUE = 0, LOOK_OTHER = 1, LOOK_MISSING = 2 };

struct row {
	ino_t ino;
	int seen, kind, status;
};

static int on_seg(const struct shmkit_stat *st, void *arg)
{
	struct row *r = arg;
	if (st->inode == (uint64_t)r->ino) {
		r->seen++;
		r->kind = (int)st->kind;
		r->status = st->header_status;
	}
	return 0;
}

/* The looker: how it saw the queue's memfd (argv[2]: its inode). */
static int looker(int argc, char **argv)
{
	struct row r = { .ino = (ino_t)strtoull(argv[argc - 1], NULL, 10) };
	if (shmkit_list(on_seg, &r) < 0 || r.seen != 1)
		return LOOK_MISSING;
	if ((r.status == 0 && r.kind == SHMKIT_KIND_QUEUE) || r.status == -ENODATA)
		return LOOK_QUEUE;
	fprintf(stderr, "the queue's memfd listed as kind %d, header_status %d\n", r.kind,
		r.status);
	return LOOK_OTHER;
}

/* Lets a child stopped at pause points go on until it exits. */
static int finish(pid_t pid)
{
	int status;
	kill(pid, SIGCONT);
	while (waitpid(pid, &status, WUNTRACED) == pid) {
		if (WIFSTOPPED(status)) {
			kill(pid, SIGCONT); /* another unnamed segment's read */
			continue;
		}
		return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	}
	return -1;
}

int main(int argc, char **argv)
{
	static const struct test_role roles[] = { { "looker", looker }, { NULL, NULL } };
	test_child_dispatch(argc, argv, roles);
	if (!test_is_root()) { /* /proc/PID/map_files needs CAP_CHECKPOINT_RESTORE */
		printf("skip: not root\n");
		return 77;
	}

	struct shmkit_queue_opts o = { .capacity = 64, .max_msg = 1024 };
	struct shmkit_queue *q;
	struct shmkit_heap *h;
	char qname[96], hname[96], ino_arg[32];
	snprintf(qname, sizeof(qname), "memfd:shmkit-test-%d-remap-q", (int)getpid());
	snprintf(hname, sizeof(hname), "memfd:shmkit-test-%d-remap-h", (int)getpid());
	CHECK_OK(shmkit_queue_create(&q, qname, &o));
	/* as large as the queue: its header then passes every size check, and
	 * only where the file is mapped now tells the two apart */
	size_t qsize = shmkit_seg_size(shmkit_queue_seg(q));
	CHECK_OK(shmkit_heap_create(&h, hname, qsize, 0600));
	CHECK(shmkit_seg_size(shmkit_heap_seg(h)) == qsize);
	int fq = dup(shmkit_seg_fd(shmkit_queue_seg(q)));
	int fh = dup(shmkit_seg_fd(shmkit_heap_seg(h)));
	CHECK(fq >= 0 && fh >= 0);
	/* only one mapping of each, the queue's at `at`: the handles go, the
	 * memfds live on through fq and fh */
	shmkit_queue_close(q);
	shmkit_heap_close(h);
	struct stat sq;
	CHECK_OK(fstat(fq, &sq));
	size_t len = 8192;
	char *at = mmap(NULL, len, PROT_READ, MAP_SHARED, fq, 0);
	CHECK(at != MAP_FAILED);

	snprintf(ino_arg, sizeof(ino_arg), "%llu", (unsigned long long)sq.st_ino);
	const char *args[] = { ino_arg, NULL };
	pid_t pid = test_spawn_paused("look.unnamed.read", "looker", args);
	/* scanned, not yet read: the heap takes the queue's place */
	CHECK(mmap(at, len, PROT_READ, MAP_SHARED | MAP_FIXED, fh, 0) == at);
	CHECK(finish(pid) == LOOK_QUEUE);

	munmap(at, len);
	close(fh);
	close(fq);
	return test_done();
}
