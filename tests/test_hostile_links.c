/* SPDX-License-Identifier: MIT */
/* A held mutex's robust-list links lie in the segment, so another process
 * that may write it can rewrite them while we hold the lock. Unlocking must
 * not write through them: links aimed at our own memory, at unmapped
 * addresses or at the entry itself leave that memory as it was, the unlock
 * succeeds, the lock works again, and the thread's list still does its job
 * (a holder killed afterwards with a glibc robust mutex and another of ours
 * held has both marked dead by the kernel). Before, such links made unlock
 * write where they pointed (a crash under the concurrent scribbler of
 * tests/, or a chosen write into the locker's memory). Likewise a held
 * mutex's word, stamp or magic rewritten: the refused unlock still takes
 * the entry off the thread's list, and leaves its links to a thread that
 * took the word since; and a link one bit away from the head (into the
 * head itself) is no C library entry. */
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

/* Whether this thread's robust list, walked from its head, holds entry e. */
static int on_my_list(void **e)
{
	struct robust_list_head *h = NULL;
	size_t len = 0;
	if (syscall(SYS_get_robust_list, 0, &h, &len) != 0 || h == NULL)
		return 0;
	struct robust_list *l = h->list.next;
	for (int i = 0; i < 64 && l != NULL && l != &h->list; i++, l = l->next)
		if ((void **)(void *)l == e)
			return 1;
	return 0;
}

/* Another process rewrites the word, the stamp or the magic of a mutex we
 * hold (or frees the word, and we lock again): the unlock is refused, but
 * the entry must leave our list all the same. Then the mutex's mapping goes,
 * and our next lock, a rebuild of the list (a scribbled link) and glibc's
 * robust lock must not write through what is left of it. Before, the
 * refused unlock left the entry linked: the next lock of any mutex by the
 * thread wrote into the unmapped page (SIGSEGV in list_add), and a relock
 * of a freed word linked the entry twice. */
static void test_word_rewritten(struct area *a)
{
	void *wild = (void *)(uintptr_t)0x4141414141414140ull;
	for (int c = 0; c < 4; c++) {
		struct shmkit_mutex *m =
		    mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		CHECK(m != MAP_FAILED);
		if (m == MAP_FAILED)
			return;
		struct shmkit__mutex_shared *s = (void *)m;
		CHECK_OK(shmkit_mutex_init(m));
		CHECK_OK(shmkit_mutex_lock(m, 0));
		if (c == 0) { /* "held by pid 1" */
			atomic_store(&s->word, 1);
			CHECK_RET(shmkit_mutex_unlock(m), -EPERM);
		} else if (c == 1) { /* an earlier thread with our tid */
			s->stamp = 1;
			CHECK_RET(shmkit_mutex_unlock(m), -EPERM);
		} else if (c == 2) { /* not a mutex any more */
			atomic_store(&s->magic, 0x41414141);
			CHECK_RET(shmkit_mutex_unlock(m), -EBADMSG);
		} else { /* freed under us, then ours again */
			atomic_store(&s->word, 0);
			CHECK_OK(shmkit_mutex_lock(m, 0));
			CHECK_OK(shmkit_mutex_unlock(m));
		}
		CHECK(!on_my_list(next_field(m)));
		munmap(m, 4096);
		CHECK_OK(shmkit_mutex_lock(&a->m[0], 0));
		scribble(&a->m[0], wild, wild); /* the unlock rebuilds the list */
		CHECK_OK(shmkit_mutex_unlock(&a->m[0]));
		CHECK_RET(pthread_mutex_lock(&a->g), 0);
		CHECK_RET(pthread_mutex_unlock(&a->g), 0);
	}
}

/* One bit flipped in a link of the only entry, which points at the head
 * H: every flip of each link. H + 16 is the head's list_op_pending, and
 * glibc keeps our tid 16 bytes before the head, where an entry there keeps
 * its word: it must not pass for a C library mutex we hold. Before, the
 * unlock's rebuild wrote the head's futex_offset (a pointer), and the
 * kernel marked none of the thread's robust mutexes at its death. */
static void test_link_into_head(struct shmkit_mutex *m)
{
	struct robust_list_head *h = NULL;
	size_t len = 0;
	CHECK(syscall(SYS_get_robust_list, 0, &h, &len) == 0 && h != NULL);
	if (h == NULL)
		return;
	struct robust_list_head before = *h; /* no entry: next is &h->list */
	for (int link = 0; link < 1 + SHMKIT__MUTEX_HAVE_PREV; link++) {
		for (int bit = 0; bit < (int)(8 * sizeof(void *)); bit++) {
			CHECK_OK(shmkit_mutex_lock(m, 0));
			void **l = next_field(m) - link; /* next, then prev */
			*(void *volatile *)l = (void *)((uintptr_t)*l ^ (uintptr_t)1 << bit);
			CHECK_OK(shmkit_mutex_unlock(m));
			/* bit 0 of a link is glibc's PI flag: the head may keep it */
			uintptr_t first = (uintptr_t)h->list.next & ~(uintptr_t)1;
			CHECK(first == (uintptr_t)before.list.next);
			CHECK(h->futex_offset == before.futex_offset);
			CHECK(h->list_op_pending == before.list_op_pending);
			CHECK(victim_untouched());
		}
	}
}

/* The word freed under its holder (main) and taken by another thread, which
 * held another mutex before: the entry is first on that thread's list now,
 * linked to the other. Main's refused unlock takes it off main's list
 * without clearing its links (before, they were set to NULL: the kernel's
 * walk of the taker's list stopped there, and the mutex after it was not
 * marked at the taker's death). */
static _Atomic int taken_step;

static void *take_freed(void *arg)
{
	struct area *a = arg;
	CHECK_OK(shmkit_mutex_lock(&a->m[1], 0));
	CHECK_OK(shmkit_mutex_lock(&a->m[0], 0));
	atomic_store(&taken_step, 1);
	while (atomic_load(&taken_step) != 2)
		usleep(1000);
	CHECK(on_my_list(next_field(&a->m[0])));
	CHECK(on_my_list(next_field(&a->m[1])));
	CHECK_OK(shmkit_mutex_unlock(&a->m[0]));
	CHECK_OK(shmkit_mutex_unlock(&a->m[1]));
	return NULL;
}

static void test_word_taken_by_another(struct area *a)
{
	struct shmkit__mutex_shared *s = (void *)&a->m[0];
	pthread_t th;
	CHECK_OK(shmkit_mutex_lock(&a->m[0], 0));
	atomic_store(&s->word, 0); /* another process frees it */
	atomic_store(&taken_step, 0);
	CHECK_RET(pthread_create(&th, NULL, take_freed, a), 0);
	while (atomic_load(&taken_step) != 1)
		usleep(1000);
	CHECK_RET(shmkit_mutex_unlock(&a->m[0]), -EPERM);
	CHECK(!on_my_list(next_field(&a->m[0])));
	atomic_store(&taken_step, 2);
	pthread_join(th, NULL);
	CHECK_OK(shmkit_mutex_lock(&a->m[0], 0));
	CHECK_OK(shmkit_mutex_unlock(&a->m[0]));
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
	test_word_rewritten(a);
	test_word_taken_by_another(a);
	test_link_into_head(&a->m[0]);
	test_list_still_works(a);
	munmap(a, sizeof(*a));
	return test_done();
}
