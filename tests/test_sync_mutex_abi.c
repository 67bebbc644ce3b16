/* SPDX-License-Identifier: MIT */
/* The robust-list assumptions src/mutex.c makes about the C library, checked
 * on the running system: if a glibc update moved them, this fails (and the
 * mutex would fall back to recovering dead holders by tid only).
 *  - every thread has a robust-list head whose futex_offset is the one our
 *    entry layout uses (glibc: -32 on LP64, -20 on i386);
 *  - our entries and glibc's robust mutexes share one list: locked and
 *    unlocked in any order, a holder killed with a mix of both held has every
 *    one of them marked dead by the kernel (no entry lost, the list intact);
 *  - new threads get such a head too.
 * See docs/LAYOUT.md (mutex) and shmkit_mutex(3). */
/* TIMEOUT: 60 */
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "layout.h"
#include "test.h"

struct area {
	pthread_mutex_t g[3]; /* glibc robust, process-shared */
	struct shmkit_mutex m[3];
	_Atomic int ready;
};

static void check_head(void)
{
	struct robust_list_head *h = NULL;
	size_t len = 0;
	CHECK_RET(syscall(SYS_get_robust_list, 0, &h, &len), 0);
	CHECK(h != NULL && len == sizeof(*h));
	if (h && h->futex_offset != -(long)SHMKIT__MUTEX_NEXT_OFF) {
		fprintf(stderr, "robust-list futex_offset is %ld, src/layout.h expects %ld: the C "
			"library's robust mutex layout changed (SHMKIT__MUTEX_NEXT_OFF)\n",
			h->futex_offset, -(long)SHMKIT__MUTEX_NEXT_OFF);
		CHECK(0);
	}
}

static void *thread_head(void *arg)
{
	(void)arg;
	check_head();
	return NULL;
}

/* Lock all six interleaved, unlock some in another order, lock them again,
 * then wait to be killed holding all six. */
static int holder(void *arg)
{
	struct area *a = arg;
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 3; i++) {
			if (pthread_mutex_lock(&a->g[i]) != 0 || shmkit_mutex_lock(&a->m[i], 0) != 0)
				return 1;
		}
		if (round == 2)
			break;
		/* out of order: middle first, then ours before glibc's */
		int order[3] = { 1, 2, 0 };
		for (int k = 0; k < 3; k++) {
			int i = order[(k + round) % 3];
			if (shmkit_mutex_unlock(&a->m[i]) != 0 || pthread_mutex_unlock(&a->g[i]) != 0)
				return 2;
		}
	}
	atomic_store(&a->ready, 1);
	for (;;)
		pause();
}

static void test_shared_list(void)
{
	struct area *a = mmap(NULL, sizeof(*a), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			      -1, 0);
	CHECK(a != MAP_FAILED);
	for (int i = 0; i < 3; i++) {
		test_init_robust_pthread_mutex(&a->g[i]);
		CHECK_OK(shmkit_mutex_init(&a->m[i]));
	}
	pid_t pid = test_fork(holder, a);
	int64_t end = test_now_ns() + 10000000000LL;
	while (!atomic_load(&a->ready) && test_now_ns() < end)
		usleep(1000);
	CHECK(atomic_load(&a->ready));
	kill(pid, SIGKILL);
	CHECK_RET(test_wait(pid), 128 + SIGKILL);
	/* the kernel walked one list holding both kinds: all six marked dead
	 * at once (a trylock, no waiting: not the slow tid check) */
	for (int i = 0; i < 3; i++) {
		CHECK_RET(pthread_mutex_trylock(&a->g[i]), EOWNERDEAD);
		struct shmkit__mutex_shared *s = (void *)&a->m[i];
		CHECK((atomic_load(&s->word) & FUTEX_OWNER_DIED) != 0);
		CHECK_RET(shmkit_mutex_lock(&a->m[i], 0), -EOWNERDEAD);
		CHECK_OK(shmkit_mutex_consistent(&a->m[i]));
		CHECK_OK(pthread_mutex_consistent(&a->g[i]));
	}
	/* and this thread's list is intact after taking them over */
	for (int i = 2; i >= 0; i--) {
		CHECK_OK(shmkit_mutex_unlock(&a->m[i]));
		CHECK_RET(pthread_mutex_unlock(&a->g[i]), 0);
	}
	for (int i = 0; i < 3; i++) {
		CHECK_OK(shmkit_mutex_lock(&a->m[i], 0));
		CHECK_OK(shmkit_mutex_unlock(&a->m[i]));
	}
	munmap(a, sizeof(*a));
}

int main(void)
{
	check_head();
	pthread_t t;
	CHECK_RET(pthread_create(&t, NULL, thread_head, NULL), 0);
	pthread_join(t, NULL);
	test_shared_list();
	return test_done();
}
