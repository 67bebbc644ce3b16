/* SPDX-License-Identifier: MIT */
/* Robust process-shared mutex: errors, timeouts, holder killed (with and
 * without waiters already blocked), ENOTRECOVERABLE, and mutual exclusion of
 * N processes over anon:, posix: and sysv: shared memory. */
/* TIMEOUT: 120 */
#include <signal.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "sync_area.h"

#define AREA_SIZE 4096
#define N_PROCS 4
#define N_INCR 20000

struct shared {
	struct shmkit_mutex m;
	_Atomic int ready;   /* the holder has the lock */
	_Atomic int arrived; /* waiters about to block */
	long counter;        /* protected by m: deliberately not atomic */
	long repaired;       /* protected by m */
};

static struct shared *attach(const char *desc)
{
	return area_attach(desc, AREA_SIZE);
}

/* ---- exec'd roles: argv[0] = area descriptor ---- */

static int role_hold(int argc, char **argv)
{
	(void)argc;
	struct shared *sh = attach(argv[0]);
	if (shmkit_mutex_lock(&sh->m, SHMKIT_FOREVER) != 0)
		return 1;
	sh->counter = -1; /* a half-done update the next owner must repair */
	atomic_store(&sh->ready, 1);
	for (;;)
		pause();
}

/* Blocks on the lock; exit 10 if it got EOWNERDEAD (and repaired), 0 if it
 * got it cleanly, 20 for ENOTRECOVERABLE, 1 otherwise. */
static int role_waiter(int argc, char **argv)
{
	(void)argc;
	struct shared *sh = attach(argv[0]);
	atomic_fetch_add(&sh->arrived, 1);
	int r = shmkit_mutex_lock(&sh->m, SHMKIT_FOREVER);
	if (r == -ENOTRECOVERABLE)
		return 20;
	if (r == -EOWNERDEAD) {
		sh->counter = 0;
		sh->repaired++;
		if (shmkit_mutex_consistent(&sh->m) != 0)
			return 1;
	} else if (r != 0) {
		return 1;
	}
	if (sh->counter < 0)
		return 1; /* saw the dead holder's half-done update */
	sh->counter++;
	if (shmkit_mutex_unlock(&sh->m) != 0)
		return 1;
	return r == -EOWNERDEAD ? 10 : 0;
}

static int increment_loop(struct shared *sh)
{
	for (int i = 0; i < N_INCR; i++) {
		if (shmkit_mutex_lock(&sh->m, SHMKIT_FOREVER) != 0)
			return 1;
		/* A read-modify-write split by a yield point: lost updates show
		 * up at once if two processes are ever inside together. */
		long c = *(volatile long *)&sh->counter;
		if ((i & 255) == 0)
			sched_yield();
		*(volatile long *)&sh->counter = c + 1;
		if (shmkit_mutex_unlock(&sh->m) != 0)
			return 1;
	}
	return 0;
}

static int role_incr(int argc, char **argv)
{
	(void)argc;
	return increment_loop(attach(argv[0]));
}

static int fork_incr(void *arg)
{
	return increment_loop(arg);
}

static const struct test_role roles[] = {
	{ "hold", role_hold },
	{ "waiter", role_waiter },
	{ "incr", role_incr },
	{ NULL, NULL },
};

/* ---- parent-side tests ---- */

static int child_try(void *arg)
{
	struct shared *sh = arg;
	if (shmkit_mutex_lock(&sh->m, 0) != -EAGAIN)
		return 1;
	int64_t t0 = test_now_ns();
	if (shmkit_mutex_lock(&sh->m, 50 * 1000000) != -ETIMEDOUT)
		return 2;
	if (test_now_ns() - t0 < 50 * 1000000)
		return 3; /* returned earlier than asked */
	if (shmkit_mutex_unlock(&sh->m) != -EPERM)
		return 4; /* not the owner */
	return 0;
}

static void test_basics(void)
{
	char desc[128];
	struct shared *sh = area_create("anon", AREA_SIZE, desc, sizeof(desc));

	CHECK(sizeof(struct shmkit_mutex) == 64);
	CHECK_RET(shmkit_mutex_lock(&sh->m, 0), -EINVAL); /* zeroed: never initialized */
	CHECK_RET(shmkit_mutex_unlock(&sh->m), -EINVAL);
	CHECK_RET(shmkit_mutex_init(&sh->m), 0);
	CHECK_RET(shmkit_mutex_lock(&sh->m, 0), 0);
	CHECK_RET(shmkit_mutex_lock(&sh->m, 0), -EDEADLK);
	CHECK_RET(shmkit_mutex_lock(&sh->m, 1000000), -EDEADLK);
	/* said, not a bare errno: a word another process wrote reads the same */
	CHECK(strstr(shmkit_last_error_detail(), "names this thread") != NULL);
	CHECK_RET(test_wait(test_fork(child_try, sh)), 0);
	CHECK_RET(shmkit_mutex_consistent(&sh->m), -EINVAL); /* not inconsistent */
	CHECK_RET(shmkit_mutex_unlock(&sh->m), 0);
	CHECK_RET(shmkit_mutex_unlock(&sh->m), -EPERM);
	CHECK_RET(shmkit_mutex_lock(&sh->m, 1000000), 0);
	CHECK_RET(shmkit_mutex_unlock(&sh->m), 0);

	struct shmkit_mutex copy = sh->m;
	memset(&sh->m, 0x5a, 4); /* scribbled magic */
	CHECK_RET(shmkit_mutex_lock(&sh->m, SHMKIT_FOREVER), -EBADMSG);
	sh->m = copy;
	memset((char *)&sh->m + 4, 0xff, 4); /* scribbled state word */
	CHECK_RET(shmkit_mutex_lock(&sh->m, SHMKIT_FOREVER), -EBADMSG);
	sh->m = copy;
	CHECK_RET(shmkit_mutex_lock(&sh->m, SHMKIT_FOREVER), 0);
	CHECK_RET(shmkit_mutex_unlock(&sh->m), 0);
}

/* A child that takes the mutex at arg and dies holding it. */
static int child_lock_and_die(void *arg)
{
	shmkit_mutex_lock(arg, 0);
	_exit(0);
}

/* Locks the mutex at arg with a 100 ms timeout: 0 if it says -EINVAL in
 * time (SIGALRM kills one that spins on). */
static int child_timed_lock(void *arg)
{
	alarm(5);
	return shmkit_mutex_lock(arg, 100 * 1000000) == -EINVAL ? 0 : 1;
}

/* A mutex cast from an address off its alignment (a byte buffer, a packed
 * struct) is refused: off a 4-byte boundary the kernel refuses its futex
 * word (EINVAL) and its robust list skips it. shmkit_mutex_init() accepted
 * one, and a lock on it with a 100 ms timeout whose holder had died spun at
 * 100 % CPU for good (every futex wait failed at once, so no slice ever
 * timed out). Found calling every sync function with misaligned pointers.
 * Each call must say -EINVAL at once. */
static void test_misaligned(void)
{
	char desc[128];
	char *area = area_create("anon", AREA_SIZE, desc, sizeof(desc));

	for (int off = 1; off < (int)_Alignof(struct shmkit_mutex); off++) {
		struct shmkit_mutex *m = (void *)(area + 1024 + off);
		CHECK_RET(shmkit_mutex_init(m), -EINVAL);
		/* Built as init would have, to see that lock refuses it too. */
		struct shmkit_mutex good;
		CHECK_RET(shmkit_mutex_init(&good), 0);
		memcpy(m, &good, sizeof(good));
		CHECK_RET(test_wait(test_fork(child_lock_and_die, m)), 0);
		/* In a child with an alarm: a lock that spins is killed, not hung. */
		CHECK_RET(test_wait(test_fork(child_timed_lock, m)), 0);
		CHECK_RET(shmkit_mutex_unlock(m), -EINVAL);
		CHECK_RET(shmkit_mutex_consistent(m), -EINVAL);
	}
}

static pid_t spawn(const char *role, const char *desc)
{
	const char *args[] = { desc, NULL };
	return test_spawn_self(role, args);
}

/* Starts a holder, waits until it has the lock, kill -9s it. */
static pid_t start_holder(struct shared *sh, const char *desc)
{
	pid_t h = spawn("hold", desc);
	int64_t end = test_now_ns() + 10000000000LL;
	while (!atomic_load(&sh->ready) && test_now_ns() < end)
		usleep(1000);
	CHECK(atomic_load(&sh->ready));
	return h;
}

static void kill_holder(pid_t h)
{
	CHECK(kill(h, SIGKILL) == 0);
	CHECK_RET(test_wait(h), 128 + SIGKILL);
}

static void test_owner_dead(const char *scheme)
{
	char desc[128];
	struct shared *sh = area_create(scheme, AREA_SIZE, desc, sizeof(desc));

	CHECK_RET(shmkit_mutex_init(&sh->m), 0);
	kill_holder(start_holder(sh, desc));
	CHECK_RET(shmkit_mutex_lock(&sh->m, SHMKIT_FOREVER), -EOWNERDEAD);
	CHECK(sh->counter == -1);
	sh->counter = 0; /* repair */
	CHECK_RET(shmkit_mutex_consistent(&sh->m), 0);
	CHECK_RET(shmkit_mutex_unlock(&sh->m), 0);
	CHECK_RET(shmkit_mutex_lock(&sh->m, 0), 0);
	CHECK_RET(shmkit_mutex_unlock(&sh->m), 0);
	/* A later locker in another process gets it cleanly. */
	CHECK_RET(test_wait(spawn("waiter", desc)), 0);
	CHECK(sh->counter == 1);

	/* Holder killed while the timed and try forms are used next. */
	atomic_store(&sh->ready, 0);
	kill_holder(start_holder(sh, desc));
	CHECK_RET(shmkit_mutex_lock(&sh->m, 0), -EOWNERDEAD);
	CHECK_RET(shmkit_mutex_consistent(&sh->m), 0);
	CHECK_RET(shmkit_mutex_unlock(&sh->m), 0);
	atomic_store(&sh->ready, 0);
	kill_holder(start_holder(sh, desc));
	CHECK_RET(shmkit_mutex_lock(&sh->m, 1000000000), -EOWNERDEAD);
	CHECK_RET(shmkit_mutex_consistent(&sh->m), 0);
	CHECK_RET(shmkit_mutex_unlock(&sh->m), 0);
}

/* The holder dies while `n` waiters are already blocked: exactly one of them
 * gets EOWNERDEAD and repairs; the others then get the lock cleanly. */
static void test_owner_dead_with_waiters(const char *scheme, int n)
{
	char desc[128];
	struct shared *sh = area_create(scheme, AREA_SIZE, desc, sizeof(desc));
	pid_t w[8];

	CHECK_RET(shmkit_mutex_init(&sh->m), 0);
	pid_t h = start_holder(sh, desc);
	for (int i = 0; i < n; i++)
		w[i] = spawn("waiter", desc);
	while (atomic_load(&sh->arrived) < n)
		usleep(1000);
	for (int i = 0; i < n; i++)
		CHECK_RET(area_wait_sleeping(w[i]), 0);
	kill_holder(h);
	int dead_seen = 0;
	for (int i = 0; i < n; i++) {
		int rc = test_wait(w[i]);
		CHECK(rc == 0 || rc == 10);
		dead_seen += rc == 10;
	}
	CHECK_RET(dead_seen, 1);
	CHECK(sh->repaired == 1);
	CHECK(sh->counter == n);
	CHECK_RET(shmkit_mutex_lock(&sh->m, 0), 0);
	CHECK_RET(shmkit_mutex_unlock(&sh->m), 0);
}

static int child_expect_notrecoverable(void *arg)
{
	struct shared *sh = arg;
	if (shmkit_mutex_lock(&sh->m, SHMKIT_FOREVER) != -ENOTRECOVERABLE)
		return 1;
	if (shmkit_mutex_lock(&sh->m, 0) != -ENOTRECOVERABLE)
		return 2;
	if (shmkit_mutex_lock(&sh->m, 1000000) != -ENOTRECOVERABLE)
		return 3;
	return 0;
}

/* EOWNERDEAD, then unlock without consistent: unusable for everyone after,
 * including waiters that were already blocked. */
static void test_notrecoverable(void)
{
	char desc[128];
	struct shared *sh = area_create("posix", AREA_SIZE, desc, sizeof(desc));
	pid_t w[3];

	CHECK_RET(shmkit_mutex_init(&sh->m), 0);
	kill_holder(start_holder(sh, desc));
	CHECK_RET(shmkit_mutex_lock(&sh->m, SHMKIT_FOREVER), -EOWNERDEAD);
	for (int i = 0; i < 3; i++)
		w[i] = spawn("waiter", desc);
	while (atomic_load(&sh->arrived) < 3)
		usleep(1000);
	for (int i = 0; i < 3; i++)
		CHECK_RET(area_wait_sleeping(w[i]), 0);
	CHECK_RET(shmkit_mutex_unlock(&sh->m), 0); /* no consistent() */
	for (int i = 0; i < 3; i++)
		CHECK_RET(test_wait(w[i]), 20);
	CHECK_RET(shmkit_mutex_lock(&sh->m, SHMKIT_FOREVER), -ENOTRECOVERABLE);
	CHECK_RET(shmkit_mutex_lock(&sh->m, 0), -ENOTRECOVERABLE);
	CHECK_RET(test_wait(test_fork(child_expect_notrecoverable, sh)), 0);
	/* Re-initializing makes it usable again. */
	CHECK_RET(shmkit_mutex_init(&sh->m), 0);
	CHECK_RET(shmkit_mutex_lock(&sh->m, 0), 0);
	CHECK_RET(shmkit_mutex_unlock(&sh->m), 0);
}

static void test_mutual_exclusion(const char *scheme)
{
	char desc[128];
	struct shared *sh = area_create(scheme, AREA_SIZE, desc, sizeof(desc));
	pid_t p[N_PROCS];

	CHECK_RET(shmkit_mutex_init(&sh->m), 0);
	for (int i = 0; i < N_PROCS; i++)
		p[i] = strcmp(scheme, "anon") == 0 ? test_fork(fork_incr, sh) : spawn("incr", desc);
	for (int i = 0; i < N_PROCS; i++)
		CHECK_RET(test_wait(p[i]), 0);
	if (sh->counter != (long)N_PROCS * N_INCR)
		fprintf(stderr, "%s: counter %ld, want %ld\n", scheme, sh->counter,
			(long)N_PROCS * N_INCR);
	CHECK(sh->counter == (long)N_PROCS * N_INCR);
}

int main(int argc, char **argv)
{
	test_child_dispatch(argc, argv, roles);
	test_basics();
	test_misaligned();
	test_owner_dead("posix");
	test_owner_dead("sysv");
	test_owner_dead_with_waiters("posix", 1);
	test_owner_dead_with_waiters("sysv", 3);
	test_notrecoverable();
	test_mutual_exclusion("anon");
	test_mutual_exclusion("posix");
	test_mutual_exclusion("sysv");
	return test_done();
}
