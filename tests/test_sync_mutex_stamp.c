/* SPDX-License-Identifier: MIT */
/* The holder's stamp (src/mutex.c, docs/LAYOUT.md): a thread holding more
 * mutexes than it keeps on the kernel's robust list (32) stamps the ones
 * beyond with its start time, and a live such holder is never judged dead:
 * lockers time out while it lives, it gets -EDEADLK on its own, and its
 * death (tid gone) is still found. The pid-reuse case needs root:
 * test_sync_mutex_pid_reuse. */
/* TIMEOUT: 60 */
#include <signal.h>
#include <stdatomic.h>

#include "layout.h"
#include "proc.h"
#include "sync_area.h"

#define N 40

struct shared {
	struct shmkit_mutex m[N];
	_Atomic int ready;
};

static struct shmkit__mutex_shared *inner(struct shmkit_mutex *m)
{
	return (struct shmkit__mutex_shared *)(void *)m;
}

static int hold_all(void *arg)
{
	struct shared *sh = arg;
	for (int i = 0; i < N; i++)
		if (shmkit_mutex_lock(&sh->m[i], SHMKIT_FOREVER) != 0)
			return 1;
	atomic_store(&sh->ready, 1);
	for (;;)
		pause();
}

static void wait_ready(struct shared *sh)
{
	int64_t end = test_now_ns() + 10000000000LL;
	while (!atomic_load(&sh->ready) && test_now_ns() < end)
		usleep(1000);
	CHECK(atomic_load(&sh->ready));
}

/* 1. Another process holds 40: every lock times out while it lives; once it
 * is killed every one comes back -EOWNERDEAD. */
static void live_holder_process(void)
{
	char uri[256];
	struct shared *sh = area_create("posix", sizeof(*sh), uri, sizeof(uri));
	for (int i = 0; i < N; i++)
		CHECK_OK(shmkit_mutex_init(&sh->m[i]));
	pid_t h = test_fork(hold_all, sh);
	wait_ready(sh);
	usleep(30000); /* a later clock tick than the holder's start */
	for (int i = 0; i < N; i++) {
		int64_t t0 = test_now_ns();
		CHECK_RET(shmkit_mutex_lock(&sh->m[i], 120000000), -ETIMEDOUT);
		CHECK(test_now_ns() - t0 >= 120000000);
	}
	/* the ones beyond 32 carry the holder's stamp; the others none */
	CHECK(inner(&sh->m[0])->stamp == 0);
	CHECK(inner(&sh->m[N - 1])->stamp != 0);
	CHECK(inner(&sh->m[N - 1])->stamp_tid == (uint32_t)h);
	kill(h, SIGKILL);
	CHECK_RET(test_wait(h), 128 + SIGKILL);
	for (int i = 0; i < N; i++) {
		CHECK_RET(shmkit_mutex_lock(&sh->m[i], 3000000000LL), -EOWNERDEAD);
		CHECK_RET(shmkit_mutex_consistent(&sh->m[i]), 0);
		CHECK_RET(shmkit_mutex_unlock(&sh->m[i]), 0);
		CHECK(inner(&sh->m[i])->stamp == 0); /* an unlock clears it */
	}
}

/* 2. In one process: a thread holding 40 stamps the last 8 with its own
 * start, relocks them -EDEADLK, unlocks them; another thread times out. */
static struct shared *th_sh;
static _Atomic int th_go, th_bad;

static void *holder_thread(void *arg)
{
	(void)arg;
	struct shared *sh = th_sh;
	char state;
	uint64_t start = 0;
	int bad = 0;
	for (int i = 0; i < N; i++)
		bad += shmkit_mutex_lock(&sh->m[i], 0) != 0;
	bad += shmkit__proc_thread_stat(&state, &start) != 0;
	for (int i = 0; i < N; i++) {
		struct shmkit__mutex_shared *s = inner(&sh->m[i]);
		uint32_t want = i < 32 ? 0 : (uint32_t)start;
		if (s->stamp != want || (i >= 32 && s->stamp_tid != (uint32_t)gettid())) {
			fprintf(stderr, "mutex %d: stamp %u tid %u, want %u tid %d\n", i, s->stamp,
				s->stamp_tid, want, (int)gettid());
			bad++;
		}
		bad += shmkit_mutex_lock(&sh->m[i], 0) != -EDEADLK;
	}
	atomic_store(&sh->ready, 1);
	while (!atomic_load(&th_go))
		usleep(1000);
	for (int i = N; i-- > 0;)
		bad += shmkit_mutex_unlock(&sh->m[i]) != 0;
	atomic_store(&th_bad, bad);
	return NULL;
}

static void live_holder_thread(void)
{
	static struct shared sh; /* private memory: this process only */
	for (int i = 0; i < N; i++)
		CHECK_OK(shmkit_mutex_init(&sh.m[i]));
	th_sh = &sh;
	pthread_t t;
	CHECK(pthread_create(&t, NULL, holder_thread, NULL) == 0);
	wait_ready(&sh);
	usleep(30000);
	for (int i = 0; i < N; i++)
		CHECK_RET(shmkit_mutex_lock(&sh.m[i], 60000000), -ETIMEDOUT);
	CHECK_RET(shmkit_mutex_unlock(&sh.m[N - 1]), -EPERM);
	atomic_store(&th_go, 1);
	pthread_join(t, NULL);
	CHECK_RET(atomic_load(&th_bad), 0);
	for (int i = 0; i < N; i++) {
		CHECK_RET(shmkit_mutex_lock(&sh.m[i], 0), 0);
		CHECK_RET(shmkit_mutex_unlock(&sh.m[i]), 0);
	}
}

#if UINTPTR_MAX <= 0xffffffffu
/* 3. i386: mutexes 4 bytes off an 8-byte boundary are never stamped (the
 * pair could not be one atomic value) and work as before. */
static _Atomic int mis_ready, mis_go, mis_bad;
static struct shmkit_mutex *mis_m;

static void *mis_holder(void *arg)
{
	(void)arg;
	int bad = 0;
	for (int i = 0; i < N; i++)
		bad += shmkit_mutex_lock(&mis_m[i], 0) != 0;
	for (int i = 0; i < N; i++)
		bad += inner(&mis_m[i])->stamp != 0 || shmkit_mutex_lock(&mis_m[i], 0) != -EDEADLK;
	atomic_store(&mis_ready, 1);
	while (!atomic_load(&mis_go))
		usleep(1000);
	for (int i = N; i-- > 0;)
		bad += shmkit_mutex_unlock(&mis_m[i]) != 0;
	atomic_store(&mis_bad, bad);
	return NULL;
}

static void misaligned_unstamped(void)
{
	static _Alignas(8) unsigned char buf[N * sizeof(struct shmkit_mutex) + 8];
	mis_m = (struct shmkit_mutex *)(void *)(buf + 4);
	for (int i = 0; i < N; i++)
		CHECK_OK(shmkit_mutex_init(&mis_m[i]));
	pthread_t t;
	CHECK(pthread_create(&t, NULL, mis_holder, NULL) == 0);
	while (!atomic_load(&mis_ready))
		usleep(1000);
	for (int i = 0; i < N; i++)
		CHECK_RET(shmkit_mutex_lock(&mis_m[i], 20000000), -ETIMEDOUT);
	atomic_store(&mis_go, 1);
	pthread_join(t, NULL);
	CHECK_RET(atomic_load(&mis_bad), 0);
}
#endif

int main(void)
{
	live_holder_process();
	live_holder_thread();
#if UINTPTR_MAX <= 0xffffffffu
	misaligned_unstamped();
#endif
	return test_done();
}
