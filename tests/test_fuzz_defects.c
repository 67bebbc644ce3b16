/* SPDX-License-Identifier: MIT */
/* The two defects an independent libFuzzer run found (issue 13), kept as
 * regression tests:
 *  1. a heap or map whose lock word names a thread that no longer exists (or
 *     holds only the waiters bit) made put/del/check and heap alloc/check
 *     wait forever: they must now repair (the lock is taken over as from a
 *     dead holder) and go on, with nothing lost; so must a word naming a
 *     live thread that does not map the object (a kernel thread: the
 *     fuzzer's next find); a live holder that maps it is still waited for;
 *     AFL++'s find: the owner-died bit beside a tid hung them the same way;
 *  2. shmkit_heap_open on a zeroed segment, or one under 4 KiB, waited 2 s
 *     (1 s as a heap, then 1 s as a map) where the other kinds wait 1 s.
 * Every operation that could hang runs in a child under alarm(). */
/* TIMEOUT: 90 */
#include "test.h"

#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "layout.h"
#include "sync_internal.h"

#define OP_ALARM_S 10 /* far above any honest wait here; a hang trips it */

/* The glibc futex word of the heap's lock inside a mapped heap or map. */
static _Atomic uint32_t *heap_lock_word(struct shmkit_heap *h)
{
	char *base = shmkit_seg_addr(shmkit_heap_seg(h));
	struct shmkit__heap_shared *sh = (void *)(base + SHMKIT__HEADER_SIZE);
	struct shmkit__mutex_shared *m = (void *)&sh->lock;
	return &m->word;
}

/* A tid that existed and is gone: a reaped child. */
static uint32_t dead_tid(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	CHECK(pid > 0);
	CHECK(test_wait(pid) == 0);
	CHECK(kill(pid, 0) < 0 && errno == ESRCH);
	return (uint32_t)pid;
}

static const char *cur_uri;
static pid_t stranger; /* a live process forked before any object existed */

/* Child: every locking map operation on the scribbled map completes. */
static int map_ops(void *arg)
{
	(void)arg;
	struct shmkit_map *m;
	char buf[16];
	alarm(OP_ALARM_S);
	if (shmkit_map_open(&m, cur_uri) != 0)
		return 2;
	if (shmkit_map_put(m, "c", 1, "d", 1) != 0)
		return 3;
	if (shmkit_map_check(m) != 0)
		return 4;
	if (shmkit_map_get(m, "a", 1, buf, sizeof(buf)) != 1 || buf[0] != 'b')
		return 5; /* the pair put before the scribble is still there */
	if (shmkit_map_del(m, "a", 1) != 0)
		return 6;
	shmkit_off off;
	if (shmkit_heap_alloc(shmkit_map_heap(m), 64, &off) != 0)
		return 7;
	if (shmkit_heap_check(shmkit_map_heap(m)) != 0)
		return 8;
	shmkit_map_close(m);
	return 0;
}

/* Child: every locking heap operation on the scribbled heap completes. */
static int heap_ops(void *arg)
{
	shmkit_off *kept = arg;
	struct shmkit_heap *h;
	shmkit_off off;
	alarm(OP_ALARM_S);
	if (shmkit_heap_open(&h, cur_uri) != 0)
		return 2;
	if (shmkit_heap_alloc(h, 100, &off) != 0)
		return 3;
	if (shmkit_heap_check(h) != 0)
		return 4;
	if (shmkit_heap_free(h, off) != 0)
		return 5;
	if (shmkit_heap_free(h, *kept) != 0)
		return 6; /* the block allocated before the scribble is still live */
	shmkit_heap_close(h);
	return 0;
}

static void test_map_gone_holder(uint32_t word, const char *what)
{
	struct shmkit_map *m;
	cur_uri = test_uri("posix", "gone-map");
	CHECK_RET(shmkit_map_create(&m, cur_uri, 32 * 1024, 0), 0);
	CHECK_RET(shmkit_map_put(m, "a", 1, "b", 1), 0);
	atomic_store(heap_lock_word(shmkit_map_heap(m)), word);
	int rc = test_wait(test_fork(map_ops, NULL));
	if (rc != 0)
		fprintf(stderr, "map with lock word %s (0x%08x): child exit %d%s\n", what, word, rc,
			rc == 128 + SIGALRM ? " (hung)" : "");
	CHECK(rc == 0);
	shmkit_map_close(m);
	shmkit_remove(cur_uri);
}

static void test_heap_gone_holder(uint32_t word, const char *what)
{
	struct shmkit_heap *h;
	shmkit_off kept;
	cur_uri = test_uri("posix", "gone-heap");
	CHECK_RET(shmkit_heap_create(&h, cur_uri, 64 * 1024, 0), 0);
	CHECK_RET(shmkit_heap_alloc(h, 48, &kept), 0);
	atomic_store(heap_lock_word(h), word);
	int rc = test_wait(test_fork(heap_ops, &kept));
	if (rc != 0)
		fprintf(stderr, "heap with lock word %s (0x%08x): child exit %d%s\n", what, word, rc,
			rc == 128 + SIGALRM ? " (hung)" : "");
	CHECK(rc == 0);
	shmkit_heap_close(h);
	shmkit_remove(cur_uri);
}

/* The owner check must not steal from a holder that is alive and maps the
 * mutex: such a word keeps the lock taken (timeout). A live process that does
 * not map it (forked before the mapping existed) cannot hold it: taken over
 * as from a dead holder, and so is the first holder once it is gone. */
static void test_live_holder_respected(void)
{
	struct shmkit_mutex *m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);
	CHECK_RET(shmkit_mutex_init(m), 0);
	pid_t sharer = fork();
	if (sharer == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pause();
		_exit(0);
	}
	struct shmkit__mutex_shared *s = (void *)m;
	_Atomic uint32_t *w = &s->word;

	atomic_store(w, (uint32_t)sharer | FUTEX_WAITERS);
	CHECK_RET(shmkit_mutex_lock(m, 150 * 1000000LL), -ETIMEDOUT);
	CHECK((atomic_load(w) & FUTEX_TID_MASK) == (uint32_t)sharer);

	atomic_store(w, (uint32_t)stranger);
	CHECK_RET(shmkit_mutex_lock(m, 5 * 1000000000LL), -EOWNERDEAD);
	CHECK_RET(shmkit_mutex_consistent(m), 0);
	CHECK_RET(shmkit_mutex_unlock(m), 0);

	atomic_store(w, (uint32_t)sharer);
	kill(sharer, SIGKILL);
	test_wait(sharer);
	CHECK_RET(shmkit_mutex_lock(m, 5 * 1000000000LL), -EOWNERDEAD);
	CHECK_RET(shmkit_mutex_consistent(m), 0);
	CHECK_RET(shmkit_mutex_unlock(m), 0);
	CHECK_RET(shmkit_mutex_lock(m, 0), 0);
	CHECK_RET(shmkit_mutex_unlock(m), 0);
	munmap(m, sizeof(*m));
}

/* Wall time of one heap (or queue) open on a segment that is no object. */
static double open_secs(const char *uri, int as_queue, int *ret)
{
	int64_t t0 = test_now_ns();
	if (as_queue) {
		struct shmkit_queue *q = NULL;
		*ret = shmkit_queue_open(&q, uri);
		if (*ret == 0)
			shmkit_queue_close(q);
	} else {
		struct shmkit_heap *h = NULL;
		*ret = shmkit_heap_open(&h, uri);
		if (*ret == 0)
			shmkit_heap_close(h);
	}
	return (double)(test_now_ns() - t0) / 1e9;
}

static void test_heap_open_waits_once(size_t size)
{
	struct shmkit_seg *seg;
	const char *uri = test_uri("posix", "zeroed");
	CHECK_RET(shmkit_seg_open(&seg, uri, size, SHMKIT_CREATE | SHMKIT_EXCL, 0), 0);
	int rq, rh;
	double q = open_secs(uri, 1, &rq);
	double h = open_secs(uri, 0, &rh);
	printf("zeroed %zu-byte segment: queue open %.2f s (%d), heap open %.2f s (%d)\n", size, q,
	       rq, h, rh);
	CHECK_RET(rh, -EBADMSG);
	CHECK_RET(rq, -EBADMSG);
	/* The heap open used to take two of the queue's waits; allow load noise. */
	CHECK(h < q + 0.6);
	shmkit_seg_close(seg);
	shmkit_remove(uri);
}

int main(void)
{
	uint32_t dead = dead_tid();
	stranger = fork(); /* alive, maps nothing of ours */
	if (stranger == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pause();
		_exit(0);
	}
	test_map_gone_holder(dead, "dead tid");
	test_map_gone_holder(dead | FUTEX_WAITERS, "dead tid + waiters");
	test_map_gone_holder(FUTEX_WAITERS, "waiters bit only");
	test_map_gone_holder((uint32_t)stranger, "a live process that does not map it");
	test_heap_gone_holder(dead, "dead tid");
	test_heap_gone_holder(FUTEX_WAITERS, "waiters bit only");
	/* AFL++ found these (tests/fuzz/corpus/heap/regress-owner-died-tid-*):
	 * the owner-died bit beside a tid was taken as "marked, the next try
	 * takes it", which never came, as try_take refuses a word with a tid */
	test_heap_gone_holder(FUTEX_OWNER_DIED | FUTEX_WAITERS | 0x24000000u,
			      "owner-died + waiters + impossible tid");
	test_map_gone_holder(FUTEX_OWNER_DIED | dead, "owner-died + dead tid");
	test_live_holder_respected();
	test_heap_open_waits_once(8192);
	test_heap_open_waits_once(1024);
	kill(stranger, SIGKILL);
	test_wait(stranger);
	return test_done();
}
