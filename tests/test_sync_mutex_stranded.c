/* SPDX-License-Identifier: MIT */
/* A waiter stranded on a free robust mutex recovers by itself.
 *
 * The kernel wakes one waiter when a holder dies; if that waiter dies too
 * before taking the lock and a third process then takes and releases the
 * lock without the waiters bit, the remaining sleepers are never woken. We
 * build the end state directly: a waiter asleep in the futex while the lock
 * word reads 0 (free, nobody to wake it). shmkit_mutex_lock must notice on
 * its own and take the lock, both with SHMKIT_FOREVER and with a timeout. */
/* TIMEOUT: 60 */
#include <signal.h>
#include <linux/futex.h>
#include <stdatomic.h>

#include "layout.h"
#include "sync_area.h"

struct shared {
	struct shmkit_mutex m;
	_Atomic int holding;
	_Atomic int waiting;
	_Atomic int got;
};

static _Atomic uint32_t *lock_word(struct shared *sh)
{
	struct shmkit__mutex_shared *s = (struct shmkit__mutex_shared *)(void *)&sh->m;
	return &s->word;
}

static int hold_forever(void *arg)
{
	struct shared *sh = arg;
	if (shmkit_mutex_lock(&sh->m, SHMKIT_FOREVER) != 0)
		return 1;
	atomic_store(&sh->holding, 1);
	for (;;)
		pause();
}

static int64_t wait_timeout;

static int wait_for_lock(void *arg)
{
	struct shared *sh = arg;
	atomic_store(&sh->waiting, 1);
	int r = shmkit_mutex_lock(&sh->m, wait_timeout);
	if (r != 0)
		return 1;
	atomic_store(&sh->got, 1);
	shmkit_mutex_unlock(&sh->m);
	return 0;
}

static void spin_until(_Atomic int *flag)
{
	int64_t end = test_now_ns() + 5000000000LL;
	while (!atomic_load(flag) && test_now_ns() < end)
		usleep(1000);
	CHECK(atomic_load(flag));
}

static void stranded_waiter_recovers(int64_t timeout)
{
	char uri[256];
	struct shared *sh = area_create("anon", 4096, uri, sizeof(uri));
	CHECK_OK(shmkit_mutex_init(&sh->m));
	wait_timeout = timeout;

	pid_t holder = test_fork(hold_forever, sh);
	spin_until(&sh->holding);
	pid_t waiter = test_fork(wait_for_lock, sh);
	spin_until(&sh->waiting);
	/* Let the waiter reach the futex sleep: the word gains the waiters bit. */
	int64_t end = test_now_ns() + 5000000000LL;
	while (!(atomic_load(lock_word(sh)) & FUTEX_WAITERS) && test_now_ns() < end)
		usleep(1000);
	CHECK(atomic_load(lock_word(sh)) & FUTEX_WAITERS);
	usleep(20000);

	/* Strand it: the lock is free, the holder is gone, nobody will wake it.
	 * (The kernel's robust-list cleanup leaves a word not holding its tid alone.) */
	atomic_store(lock_word(sh), 0);
	kill(holder, SIGKILL);
	CHECK_RET(test_wait(holder), 128 + SIGKILL);

	CHECK_RET(test_wait(waiter), 0);
	CHECK(atomic_load(&sh->got) == 1);
	CHECK_RET(shmkit_mutex_lock(&sh->m, 0), 0);
	CHECK_RET(shmkit_mutex_unlock(&sh->m), 0);
}

int main(void)
{
	stranded_waiter_recovers(SHMKIT_FOREVER);
	stranded_waiter_recovers(30LL * 1000000000);
	return test_done();
}
