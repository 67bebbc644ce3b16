/* SPDX-License-Identifier: MIT */
/* A held mutex's robust-list links lie in the segment, so another process
 * that may write it can rewrite them while we hold the lock. Unlocking must
 * not write through them: links aimed at our own memory, at unmapped
 * addresses or at the entry itself leave that memory as it was, the unlock
 * succeeds, the lock works again, and the thread's list still does its job
 * (a holder killed afterwards with a glibc robust mutex and another of ours
 * held has both marked dead by the kernel). Before, such links made unlock
 * write where they pointed (a crash under the concurrent scribbler of
 * tests/, or a chosen write into the locker's memory). */
/* TIMEOUT: 60 */
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

#include "layout.h"
#include "test.h"

struct area {
	pthread_mutex_t g; /* glibc robust, process-shared */
	struct shmkit_mutex m[2];
	_Atomic int ready;
};

/* Where hostile links point in our memory: zeroed, so that no word in it
 * can pass for a mutex held by us. */
static void *victim[16];

static void **next_field(struct shmkit_mutex *m)
{
	struct shmkit__mutex_shared *s = (void *)m;
	return (void **)(void *)((char *)&s->word + SHMKIT__MUTEX_NEXT_OFF);
}

static void scribble(struct shmkit_mutex *m, void *next, void *prev)
{
	void **n = next_field(m);
	*(void *volatile *)n = next;
#if SHMKIT__MUTEX_HAVE_PREV
	*(void *volatile *)(n - 1) = prev;
#else
	(void)prev;
#endif
}

static int victim_untouched(void)
{
	for (size_t i = 0; i < sizeof(victim) / sizeof(victim[0]); i++)
		if (victim[i] != NULL)
			return 0;
	return 1;
}

/* Hostile links on a lone mutex: each kind, then the lock used again. */
static void test_links_ignored(struct shmkit_mutex *m)
{
	void *wild = (void *)(uintptr_t)0x4141414141414140ull;
	void *cases[][2] = {
	    {&victim[10], &victim[4]},		  /* into our memory */
	    {wild, wild},			  /* unmapped */
	    {&victim[10], NULL},		  /* one good-looking, one null */
	    {next_field(m), next_field(m)},	  /* the entry itself */
	    {(char *)&victim[8] + 3, &victim[2]}, /* misaligned */
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		CHECK_OK(shmkit_mutex_lock(m, 0));
		scribble(m, cases[c][0], cases[c][1]);
		CHECK_OK(shmkit_mutex_unlock(m));
		CHECK(victim_untouched());
		CHECK_OK(shmkit_mutex_lock(m, 0));
		CHECK_OK(shmkit_mutex_unlock(m));
	}
}

/* Holds glibc's g, then m[0] whose prev is scribbled before its unlock
 * (its next, g's entry, still holds up), then m[1]; waits to be killed. */
static int holder(void *arg)
{
	struct area *a = arg;
	if (pthread_mutex_lock(&a->g) != 0 || shmkit_mutex_lock(&a->m[0], 0) != 0)
		return 1;
	scribble(&a->m[0], *next_field(&a->m[0]), &victim[6]);
	if (shmkit_mutex_unlock(&a->m[0]) != 0 || !victim_untouched())
		return 2;
	if (shmkit_mutex_lock(&a->m[1], 0) != 0)
		return 3;
	atomic_store(&a->ready, 1);
	for (;;)
		pause();
}

static void test_list_still_works(struct area *a)
{
	pid_t pid = test_fork(holder, a);
	int64_t end = test_now_ns() + 10000000000LL;
	while (!atomic_load(&a->ready) && test_now_ns() < end && kill(pid, 0) == 0)
		usleep(1000);
	CHECK(atomic_load(&a->ready));
	kill(pid, SIGKILL);
	CHECK_RET(test_wait(pid), 128 + SIGKILL);
	/* the kernel's walk at the holder's death marked both (no slow tid
	 * check: a trylock and the word itself) */
	CHECK_RET(pthread_mutex_trylock(&a->g), EOWNERDEAD);
	CHECK_OK(pthread_mutex_consistent(&a->g));
	CHECK_RET(pthread_mutex_unlock(&a->g), 0);
	struct shmkit__mutex_shared *s = (void *)&a->m[1];
	CHECK((atomic_load(&s->word) & FUTEX_OWNER_DIED) != 0);
	CHECK_RET(shmkit_mutex_lock(&a->m[1], 0), -EOWNERDEAD);
	CHECK_OK(shmkit_mutex_consistent(&a->m[1]));
	CHECK_OK(shmkit_mutex_unlock(&a->m[1]));
}

/* Mixed with a glibc robust mutex held across: a bad link cuts nothing of
 * ours, and glibc's unlock afterwards still works. */
static void test_mixed(struct area *a)
{
	CHECK_RET(pthread_mutex_lock(&a->g), 0);
	CHECK_OK(shmkit_mutex_lock(&a->m[0], 0));
	CHECK_OK(shmkit_mutex_lock(&a->m[1], 0));
	scribble(&a->m[1], &victim[12], &victim[3]);
	CHECK_OK(shmkit_mutex_unlock(&a->m[1]));
	CHECK(victim_untouched());
	CHECK_OK(shmkit_mutex_unlock(&a->m[0]));
	CHECK_RET(pthread_mutex_unlock(&a->g), 0);
	CHECK(victim_untouched());
}

int main(void)
{
	struct area *a =
	    mmap(NULL, sizeof(*a), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(a != MAP_FAILED);
	if (a == MAP_FAILED)
		return test_done();
	test_init_robust_pthread_mutex(&a->g);
	CHECK_OK(shmkit_mutex_init(&a->m[0]));
	CHECK_OK(shmkit_mutex_init(&a->m[1]));
	test_links_ignored(&a->m[0]);
	test_mixed(a);
	test_list_still_works(a);
	munmap(a, sizeof(*a));
	return test_done();
}
