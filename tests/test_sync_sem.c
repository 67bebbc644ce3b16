/* SPDX-License-Identifier: MIT */
/* Process-shared counting semaphore: errors, timeouts never early, post
 * before wait kept, one and many waiters in other processes (exec'd, so at
 * other addresses), a waiter killed while asleep, and a two-process stress. */
#include <limits.h>
#include <signal.h>
#include <signal.h>
#include <stdatomic.h>

#include "sync_area.h"

#define AREA_SIZE 4096
#define STRESS_N 20000

struct shared {
	struct shmkit_sem sem;
	struct shmkit_sem back;
	_Atomic int arrived;
};

static int role_wait(int argc, char **argv)
{
	(void)argc;
	struct shared *sh = area_attach(argv[0], AREA_SIZE);
	atomic_fetch_add(&sh->arrived, 1);
	return shmkit_sem_wait(&sh->sem, SHMKIT_FOREVER) == 0 ? 0 : 1;
}

/* Waits STRESS_N times, answering every 64th on `back` so the poster cannot
 * run far ahead (exercises sleeping and waking, not just the count). */
static int role_consume(int argc, char **argv)
{
	(void)argc;
	struct shared *sh = area_attach(argv[0], AREA_SIZE);
	for (int i = 1; i <= STRESS_N; i++) {
		if (shmkit_sem_wait(&sh->sem, SHMKIT_FOREVER) != 0)
			return 1;
		if (i % 64 == 0 && shmkit_sem_post(&sh->back) != 0)
			return 1;
	}
	return 0;
}

static const struct test_role roles[] = {
	{ "wait", role_wait },
	{ "consume", role_consume },
	{ NULL, NULL },
};

static pid_t spawn(const char *role, const char *desc)
{
	const char *args[] = { desc, NULL };
	return test_spawn_self(role, args);
}

static int child_post(void *arg)
{
	return shmkit_sem_post(arg) == 0 ? 0 : 1;
}

static void test_basics(void)
{
	char desc[128];
	struct shared *sh = area_create("anon", AREA_SIZE, desc, sizeof(desc));

	CHECK(sizeof(struct shmkit_sem) == 16);
	CHECK_RET(shmkit_sem_wait(&sh->sem, 0), -EINVAL); /* zeroed: never initialized */
	CHECK_RET(shmkit_sem_post(&sh->sem), -EINVAL);
	CHECK_RET(shmkit_sem_init(&sh->sem, UINT_MAX), -EINVAL);
	CHECK_RET(shmkit_sem_init(&sh->sem, 0), 0);
	CHECK_RET(shmkit_sem_wait(&sh->sem, 0), -EAGAIN);
	int64_t t0 = test_now_ns();
	CHECK_RET(shmkit_sem_wait(&sh->sem, 50000000), -ETIMEDOUT);
	CHECK(test_now_ns() - t0 >= 50000000);
	CHECK_RET(shmkit_sem_post(&sh->sem), 0);
	CHECK_RET(shmkit_sem_wait(&sh->sem, 0), 0);
	CHECK_RET(shmkit_sem_init(&sh->sem, 3), 0);
	for (int i = 0; i < 3; i++)
		CHECK_RET(shmkit_sem_wait(&sh->sem, 1000000), 0);
	CHECK_RET(shmkit_sem_wait(&sh->sem, 0), -EAGAIN);
	/* A post made before the wait (by another process) is kept. */
	CHECK_RET(test_wait(test_fork(child_post, &sh->sem)), 0);
	CHECK_RET(shmkit_sem_wait(&sh->sem, SHMKIT_FOREVER), 0);
	CHECK_RET(shmkit_sem_init(&sh->sem, (UINT_MAX >> 1) - 1), 0);
	CHECK_RET(shmkit_sem_post(&sh->sem), 0);
	CHECK_RET(shmkit_sem_post(&sh->sem), -EOVERFLOW);
	memset(&sh->sem, 0x77, 8); /* scribbled */
	CHECK_RET(shmkit_sem_post(&sh->sem), -EBADMSG);
	/* Off its alignment (and the 4-byte one a futex word needs): refused
	 * by every call (init accepted it, and a wait then failed with the
	 * kernel's EINVAL only once it had to sleep). */
	struct shmkit_sem *mis = (void *)((char *)sh + 1024 + 2);
	CHECK_RET(shmkit_sem_init(mis, 1), -EINVAL);
	CHECK_RET(shmkit_sem_post(mis), -EINVAL);
	CHECK_RET(shmkit_sem_wait(mis, 0), -EINVAL);
}

/* n waiters in other processes, all asleep before any post. */
static void test_waiters(const char *scheme, int n)
{
	char desc[128];
	struct shared *sh = area_create(scheme, AREA_SIZE, desc, sizeof(desc));
	pid_t w[8];

	CHECK_RET(shmkit_sem_init(&sh->sem, 0), 0);
	for (int i = 0; i < n; i++)
		w[i] = spawn("wait", desc);
	for (int i = 0; i < n; i++)
		CHECK_RET(area_wait_sleeping(w[i]), 0);
	for (int i = 0; i < n; i++)
		CHECK_RET(shmkit_sem_post(&sh->sem), 0);
	for (int i = 0; i < n; i++)
		CHECK_RET(test_wait(w[i]), 0);
	CHECK_RET(shmkit_sem_wait(&sh->sem, 0), -EAGAIN); /* each post taken once */
}

/* A waiter killed while asleep leaves the semaphore fully usable. */
static void test_killed_waiter(void)
{
	char desc[128];
	struct shared *sh = area_create("posix", AREA_SIZE, desc, sizeof(desc));

	CHECK_RET(shmkit_sem_init(&sh->sem, 0), 0);
	pid_t dead = spawn("wait", desc);
	CHECK_RET(area_wait_sleeping(dead), 0);
	CHECK(kill(dead, SIGKILL) == 0);
	CHECK_RET(test_wait(dead), 128 + SIGKILL);
	pid_t w = spawn("wait", desc);
	CHECK_RET(area_wait_sleeping(w), 0);
	CHECK_RET(shmkit_sem_post(&sh->sem), 0);
	CHECK_RET(test_wait(w), 0);
	CHECK_RET(shmkit_sem_post(&sh->sem), 0);
	CHECK_RET(shmkit_sem_wait(&sh->sem, 0), 0);
}

static void test_stress(void)
{
	char desc[128];
	struct shared *sh = area_create("sysv", AREA_SIZE, desc, sizeof(desc));

	CHECK_RET(shmkit_sem_init(&sh->sem, 0), 0);
	CHECK_RET(shmkit_sem_init(&sh->back, 2), 0);
	pid_t c = spawn("consume", desc);
	for (int i = 1; i <= STRESS_N; i++) {
		if (i % 64 == 0)
			CHECK_RET(shmkit_sem_wait(&sh->back, 10000000000LL), 0);
		CHECK_RET(shmkit_sem_post(&sh->sem), 0);
	}
	CHECK_RET(test_wait(c), 0);
	CHECK_RET(shmkit_sem_wait(&sh->sem, 0), -EAGAIN);
}

int main(int argc, char **argv)
{
	test_child_dispatch(argc, argv, roles);
	test_basics();
	test_waiters("posix", 1);
	test_waiters("sysv", 4);
	test_killed_waiter();
	test_stress();
	return test_done();
}
