/* SPDX-License-Identifier: MIT */
/* A dead holder of more mutexes than a thread keeps on the kernel's robust
 * list (32) is recovered even when its pid is reused by a process that maps
 * the segment (a restarted worker): the mutexes off the list come back with
 * -EOWNERDEAD, to a third-party locker and to the reusing thread itself,
 * instead of -ETIMEDOUT for ever (and -EDEADLK for the reuser). The holder's
 * stamp (docs/LAYOUT.md, src/mutex.c) tells the two threads with one tid
 * apart; a live holder, the reuser after its take-over included, is never
 * judged dead, and no lock is ever held twice while reuser and third parties
 * race for the dead holder's locks.
 *
 * The pid reuse is made deterministic in a pid namespace of our own (with its
 * /proc mounted in a mount namespace of our own), through ns_last_pid. Root
 * only; skipped otherwise. */
/* TIMEOUT: 120 */
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "sync_area.h"

#define N 40 /* more than a thread keeps on its robust list */

struct shared {
	struct shmkit_mutex m[N];
	struct shmkit_mutex extra[32]; /* a third party holding these is off the list */
	_Atomic int ready, mapped, held, probed, go;
	_Atomic int owner[N]; /* who is inside the critical section (race part) */
	_Atomic int violations;
};

static char uri[256];

static struct shared *attach(void)
{
	return area_attach(uri, sizeof(struct shared));
}

static void wait_flag(_Atomic int *flag)
{
	int64_t end = test_now_ns() + 10000000000LL;
	while (!atomic_load(flag) && test_now_ns() < end)
		usleep(1000);
}

/* The next process forked in this pid namespace gets `pid`. */
static int next_pid_is(pid_t pid)
{
	char buf[32];
	int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
	int n = snprintf(buf, sizeof(buf), "%d", (int)pid - 1);
	int ok = fd >= 0 && write(fd, buf, (size_t)n) == n;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* A holder takes all N and is killed. Its start lies more than a clock tick
 * (10 ms) before the reuser's: the stamp compares start times, in ticks. */
static pid_t holder_killed(struct shared *sh)
{
	for (int i = 0; i < N; i++) {
		CHECK_OK(shmkit_mutex_init(&sh->m[i]));
		atomic_store(&sh->owner[i], 0);
	}
	atomic_store(&sh->ready, 0);
	pid_t h = fork();
	if (h == 0) {
		for (int i = 0; i < N; i++)
			if (shmkit_mutex_lock(&sh->m[i], SHMKIT_FOREVER) != 0)
				_exit(1);
		atomic_store(&sh->ready, 1);
		for (;;)
			pause();
	}
	CHECK(h > 0);
	wait_flag(&sh->ready);
	CHECK(atomic_load(&sh->ready));
	usleep(30000);
	kill(h, SIGKILL);
	CHECK_RET(test_wait(h), 128 + SIGKILL);
	CHECK(next_pid_is(h));
	return h;
}

/* 1. The reuser only maps the segment; a third party locks. With `extra`,
 * the third party holds 32 others first: it locks off the list, stamped, and
 * its tries must not hide the dead holder's stamp. */
static void third_party_recovers(struct shared *sh, int extra)
{
	pid_t h = holder_killed(sh);
	atomic_store(&sh->mapped, 0);
	pid_t w = fork();
	if (w == 0) {
		attach();
		atomic_store(&sh->mapped, 1);
		for (;;)
			pause();
	}
	CHECK_RET(w, h); /* the pid is reused */
	wait_flag(&sh->mapped);
	for (int i = 0; i < (extra ? 32 : 0); i++) {
		CHECK_OK(shmkit_mutex_init(&sh->extra[i]));
		CHECK_OK(shmkit_mutex_lock(&sh->extra[i], 0));
	}
	for (int i = 0; i < N; i++) {
		int64_t t0 = test_now_ns();
		int r = shmkit_mutex_lock(&sh->m[i], 3000000000LL);
		int64_t ms = (test_now_ns() - t0) / 1000000;
		if (r != -EOWNERDEAD)
			fprintf(stderr, "mutex %d: %s after %lld ms\n", i, shmkit_strerror(r),
				(long long)ms);
		CHECK_RET(r, -EOWNERDEAD);
		CHECK(ms < 1000); /* a slice or two, not the timeout */
		if (r == -EOWNERDEAD) {
			CHECK_RET(shmkit_mutex_consistent(&sh->m[i]), 0);
			CHECK_RET(shmkit_mutex_unlock(&sh->m[i]), 0);
		}
	}
	for (int i = 0; i < (extra ? 32 : 0); i++)
		CHECK_OK(shmkit_mutex_unlock(&sh->extra[i]));
	kill(w, SIGKILL);
	CHECK_RET(test_wait(w), 128 + SIGKILL);
}

/* 2. The reuser locks them itself, then holds them: nobody else gets one. */
static int reuser_takes_over(struct shared *sh)
{
	int bad = 0;
	for (int i = 0; i < N; i++) {
		int r = shmkit_mutex_lock(&sh->m[i], 3000000000LL);
		if (r != -EOWNERDEAD) {
			fprintf(stderr, "reuser, mutex %d: %s\n", i, shmkit_strerror(r));
			bad++;
			continue;
		}
		bad += shmkit_mutex_consistent(&sh->m[i]) != 0;
	}
	/* now really ours: a second lock is -EDEADLK, not another take-over */
	bad += shmkit_mutex_lock(&sh->m[N - 1], 0) != -EDEADLK;
	bad += shmkit_mutex_lock(&sh->m[0], 0) != -EDEADLK;
	atomic_store(&sh->held, 1);
	wait_flag(&sh->probed);
	for (int i = 0; i < N; i++)
		bad += shmkit_mutex_unlock(&sh->m[i]) != 0;
	return bad;
}

static void reuser_recovers_its_own_tid(struct shared *sh)
{
	pid_t h = holder_killed(sh);
	atomic_store(&sh->held, 0);
	atomic_store(&sh->probed, 0);
	pid_t w = fork();
	if (w == 0) {
		attach();
		_exit(reuser_takes_over(sh));
	}
	CHECK_RET(w, h);
	wait_flag(&sh->held);
	CHECK(atomic_load(&sh->held));
	/* A live holder, stamped off the list for the last 8: never judged dead. */
	for (int i = 0; i < N; i++)
		CHECK_RET(shmkit_mutex_lock(&sh->m[i], 60000000), -ETIMEDOUT);
	atomic_store(&sh->probed, 1);
	CHECK_RET(test_wait(w), 0);
	for (int i = 0; i < N; i++) {
		CHECK_RET(shmkit_mutex_lock(&sh->m[i], 0), 0);
		CHECK_RET(shmkit_mutex_unlock(&sh->m[i]), 0);
	}
}

/* 3. Third-party threads and the reuser race for the dead holder's locks:
 * each critical section checks it is alone. */
static void critical_section(struct shared *sh, int i, int me, int r)
{
	if (r != 0 && r != -EOWNERDEAD)
		return;
	if (atomic_exchange(&sh->owner[i], me) != 0)
		atomic_fetch_add(&sh->violations, 1);
	usleep(300);
	if (atomic_exchange(&sh->owner[i], 0) != me)
		atomic_fetch_add(&sh->violations, 1);
	if (r == -EOWNERDEAD)
		shmkit_mutex_consistent(&sh->m[i]);
	shmkit_mutex_unlock(&sh->m[i]);
}

static void hammer(struct shared *sh, int me, int64_t ns)
{
	int64_t end = test_now_ns() + ns;
	for (unsigned k = (unsigned)me; test_now_ns() < end; k++) {
		int i = N - 8 + (int)(k % 8); /* the ones off the list */
		critical_section(sh, i, me, shmkit_mutex_lock(&sh->m[i], 20000000));
	}
}

static struct shared *race_sh;

static void *hammer_thread(void *arg)
{
	wait_flag(&race_sh->go);
	hammer(race_sh, (int)(intptr_t)arg, 1500000000LL);
	return NULL;
}

static void nobody_holds_twice(struct shared *sh)
{
	for (int round = 0; round < 3; round++) {
		/* threads first: they take tids, and the reuser must get the pid */
		atomic_store(&sh->go, 0);
		race_sh = sh;
		pthread_t th[3];
		for (int j = 0; j < 3; j++)
			CHECK(pthread_create(&th[j], NULL, hammer_thread,
					     (void *)(intptr_t)(j + 1)) == 0);
		pid_t h = holder_killed(sh);
		pid_t w = fork();
		if (w == 0) {
			attach();
			hammer(sh, 100, 1000000000LL);
			_exit(0);
		}
		atomic_store(&sh->go, 1);
		CHECK_RET(w, h);
		CHECK_RET(test_wait(w), 0);
		for (int j = 0; j < 3; j++)
			pthread_join(th[j], NULL);
		CHECK_RET(atomic_load(&sh->violations), 0);
		/* and every one of them came back */
		for (int i = 0; i < N; i++) {
			int r = shmkit_mutex_lock(&sh->m[i], 0);
			CHECK(r == 0 || r == -EOWNERDEAD);
			if (r == -EOWNERDEAD)
				shmkit_mutex_consistent(&sh->m[i]);
			shmkit_mutex_unlock(&sh->m[i]);
		}
	}
}

/* pid 1 of the new namespace, with its own /proc */
static int ns_init(void *arg)
{
	(void)arg;
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
		return 77;
	struct shared *sh = attach();
	third_party_recovers(sh, 0);
	third_party_recovers(sh, 1);
	reuser_recovers_its_own_tid(sh);
	nobody_holds_twice(sh);
	return 0; /* a failed CHECK has exited with 1 */
}

static int ns_parent(void *arg)
{
	if (unshare(CLONE_NEWPID | CLONE_NEWNS) != 0 ||
	    mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		return 77;
	pid_t pid = fork();
	if (pid < 0)
		return 30;
	if (pid == 0)
		_exit(ns_init(arg));
	return test_wait(pid);
}

int main(void)
{
	if (!test_is_root())
		test_skip("needs root for unshare(CLONE_NEWPID) and ns_last_pid");
	struct shared *sh = area_create("posix", sizeof(struct shared), uri, sizeof(uri));
	(void)sh;
	int st = test_wait(test_fork(ns_parent, NULL));
	if (st == 77)
		test_skip("unshare(CLONE_NEWPID | CLONE_NEWNS) or the /proc mount refused here");
	CHECK_RET(st, 0);
	return test_done();
}
