/* SPDX-License-Identifier: MIT */
/* Futex eventcount: seq and wait(seen) semantics, timeouts never early,
 * signal before wait(seen) never lost, one and many waiters in exec'd
 * processes, a waiter killed while asleep, a two-process ping-pong stress,
 * and (under strace) signal makes no futex call when nobody waits but does
 * wake waiters that are there. */
#include <glob.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "sync_area.h"

#define AREA_SIZE 4096
#define PINGPONG_N 20000
#define STRACE_SIGNALS 100000

struct shared {
	struct shmkit_event ev;
	struct shmkit_event back;
	_Atomic uint32_t ball;
};

/* argv: desc seen */
static int role_wait(int argc, char **argv)
{
	(void)argc;
	struct shared *sh = area_attach(argv[0], AREA_SIZE);
	uint32_t seen = (uint32_t)strtoul(argv[1], NULL, 10);
	return shmkit_event_wait(&sh->ev, seen, SHMKIT_FOREVER) == 0 ? 0 : 1;
}

/* Ping-pong: wait for the ball to be odd (the parent's turn gives odd
 * numbers), make it even, signal back. Checks no wake-up is ever lost. */
static int role_pong(int argc, char **argv)
{
	(void)argc;
	struct shared *sh = area_attach(argv[0], AREA_SIZE);
	for (uint32_t i = 0; i < PINGPONG_N; i++) {
		for (;;) {
			uint32_t seen = shmkit_event_seq(&sh->ev);
			if (atomic_load(&sh->ball) == 2 * i + 1)
				break;
			if (shmkit_event_wait(&sh->ev, seen, 10000000000LL) != 0)
				return 1;
		}
		atomic_store(&sh->ball, 2 * i + 2);
		if (shmkit_event_signal(&sh->back) != 0)
			return 1;
	}
	return 0;
}

static struct shmkit_event *anon_event(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		exit(1);
	shmkit_event_init(p);
	printf("EVENT %p %d\n", p, (int)getpid()); /* the signalling process */
	fflush(stdout);
	return p;
}

/* Run under strace: signals with nobody waiting. */
static int role_signal_alone(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	struct shmkit_event *e = anon_event();
	for (int i = 0; i < STRACE_SIGNALS; i++)
		if (shmkit_event_signal(e) != 0)
			return 1;
	return shmkit_event_seq(e) == STRACE_SIGNALS ? 0 : 1;
}

/* Run under strace: a forked waiter sleeps, one signal wakes it. */
static int role_signal_waiter(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	struct shmkit_event *e = anon_event();
	uint32_t seen = shmkit_event_seq(e);
	pid_t w = fork();
	if (w == 0)
		_exit(shmkit_event_wait(e, seen, SHMKIT_FOREVER) == 0 ? 0 : 1);
	/* Under strace the state can read 't' (traced); wait for the bit. */
	while (!(atomic_load((_Atomic uint32_t *)e) & 1))
		usleep(1000);
	usleep(100000);
	if (shmkit_event_signal(e) != 0)
		return 1;
	int st;
	waitpid(w, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

static const struct test_role roles[] = {
	{ "wait", role_wait },
	{ "pong", role_pong },
	{ "signal_alone", role_signal_alone },
	{ "signal_waiter", role_signal_waiter },
	{ NULL, NULL },
};

static pid_t spawn_wait(const char *desc, uint32_t seen)
{
	char s[32];
	snprintf(s, sizeof(s), "%" PRIu32, seen);
	const char *args[] = { desc, s, NULL };
	return test_spawn_self("wait", args);
}

static int child_signal(void *arg)
{
	return shmkit_event_signal(arg) == 0 ? 0 : 1;
}

static void test_basics(void)
{
	char desc[128];
	struct shared *sh = area_create("anon", AREA_SIZE, desc, sizeof(desc));

	CHECK(sizeof(struct shmkit_event) == 16);
	/* NULL objects: -EINVAL, as every handle-taking call (they crashed) */
	CHECK_RET(shmkit_event_init(NULL), -EINVAL);
	CHECK_RET(shmkit_event_signal(NULL), -EINVAL);
	CHECK_RET(shmkit_event_wait(NULL, 0, 0), -EINVAL);
	CHECK(shmkit_event_seq(NULL) == 0);
	CHECK_RET(shmkit_mutex_init(NULL), -EINVAL);
	CHECK_RET(shmkit_mutex_lock(NULL, 0), -EINVAL);
	CHECK_RET(shmkit_mutex_unlock(NULL), -EINVAL);
	CHECK_RET(shmkit_mutex_consistent(NULL), -EINVAL);
	CHECK_RET(shmkit_sem_init(NULL, 1), -EINVAL);
	CHECK_RET(shmkit_sem_post(NULL), -EINVAL);
	CHECK_RET(shmkit_sem_wait(NULL, 0), -EINVAL);
	CHECK_RET(shmkit_event_signal(&sh->ev), -EINVAL); /* zeroed: never initialized */
	CHECK_RET(shmkit_event_wait(&sh->ev, 0, 0), -EINVAL);
	CHECK_RET(shmkit_event_init(&sh->ev), 0);
	CHECK(shmkit_event_seq(&sh->ev) == 0);
	CHECK_RET(shmkit_event_wait(&sh->ev, 0, 0), -EAGAIN);
	CHECK_RET(shmkit_event_wait(&sh->ev, 5, 0), 0); /* seq differs: no wait */
	int64_t t0 = test_now_ns();
	CHECK_RET(shmkit_event_wait(&sh->ev, 0, 50000000), -ETIMEDOUT);
	CHECK(test_now_ns() - t0 >= 50000000);
	/* Signal (from another process) before wait(seen): never lost. */
	uint32_t seen = shmkit_event_seq(&sh->ev);
	CHECK_RET(test_wait(test_fork(child_signal, &sh->ev)), 0);
	CHECK(shmkit_event_seq(&sh->ev) == seen + 1);
	CHECK_RET(shmkit_event_wait(&sh->ev, seen, SHMKIT_FOREVER), 0);
	CHECK_RET(shmkit_event_wait(&sh->ev, seen + 1, 0), -EAGAIN);
	/* The sequence wraps at 30 bits (the low two bits of the word are the
	 * wake-up core's SLEEP and FD bits). */
	atomic_store((_Atomic uint32_t *)&sh->ev, (UINT32_MAX >> 2) << 2);
	CHECK(shmkit_event_seq(&sh->ev) == UINT32_MAX >> 2);
	CHECK_RET(shmkit_event_signal(&sh->ev), 0);
	CHECK(shmkit_event_seq(&sh->ev) == 0);
	CHECK_RET(shmkit_event_wait(&sh->ev, UINT32_MAX >> 2, 0), 0);
	memset((char *)&sh->ev + 4, 0x33, 4); /* scribbled magic */
	CHECK_RET(shmkit_event_signal(&sh->ev), -EBADMSG);
	/* Off its alignment (and the 4-byte one a futex word needs): refused
	 * by every call (init accepted it, and a timed wait spun at full CPU
	 * until its deadline: every futex wait failed at once). */
	struct shmkit_event *mis = (void *)((char *)sh + 1024 + 1);
	CHECK_RET(shmkit_event_init(mis), -EINVAL);
	CHECK_RET(shmkit_event_signal(mis), -EINVAL);
	CHECK_RET(shmkit_event_wait(mis, 0, 50000000), -EINVAL);
	CHECK(shmkit_event_seq(mis) == 0);
}

/* n waiters asleep in other processes; one signal wakes them all. With
 * `early`, the signal may come before they even start waiting. */
static void test_waiters(const char *scheme, int n, int early)
{
	char desc[128];
	struct shared *sh = area_create(scheme, AREA_SIZE, desc, sizeof(desc));
	pid_t w[8];

	CHECK_RET(shmkit_event_init(&sh->ev), 0);
	uint32_t seen = shmkit_event_seq(&sh->ev);
	for (int i = 0; i < n; i++)
		w[i] = spawn_wait(desc, seen);
	for (int i = 0; i < n && !early; i++)
		CHECK_RET(area_wait_sleeping(w[i]), 0);
	CHECK_RET(shmkit_event_signal(&sh->ev), 0);
	for (int i = 0; i < n; i++)
		CHECK_RET(test_wait(w[i]), 0);
}

static void on_usr1(int sig)
{
	(void)sig;
}

/* A wait interrupted by signals (no SA_RESTART) every few ms still lasts
 * the whole timeout: the deadline is absolute. */
static int child_interrupted_wait(void *arg)
{
	struct shmkit_event *e = arg;
	int64_t t0 = test_now_ns();
	int r = shmkit_event_wait(e, shmkit_event_seq(e), 100000000);
	int64_t dt = test_now_ns() - t0;
	return r == -ETIMEDOUT && dt >= 100000000 ? 0 : 1;
}

static void test_timeout_under_signals(void)
{
	char desc[128];
	struct shared *sh = area_create("anon", AREA_SIZE, desc, sizeof(desc));
	CHECK_RET(shmkit_event_init(&sh->ev), 0);
	/* Installed before fork so the child has it from its first instant. */
	struct sigaction sa, old;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1; /* no SA_RESTART: the futex wait sees EINTR */
	sigaction(SIGUSR1, &sa, &old);
	pid_t c = test_fork(child_interrupted_wait, &sh->ev);
	sigaction(SIGUSR1, &old, NULL);
	int status;
	while (waitpid(c, &status, WNOHANG) == 0) {
		kill(c, SIGUSR1);
		usleep(3000);
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_killed_waiter(void)
{
	char desc[128];
	struct shared *sh = area_create("posix", AREA_SIZE, desc, sizeof(desc));

	CHECK_RET(shmkit_event_init(&sh->ev), 0);
	pid_t dead = spawn_wait(desc, 0);
	CHECK_RET(area_wait_sleeping(dead), 0);
	CHECK(kill(dead, SIGKILL) == 0);
	CHECK_RET(test_wait(dead), 128 + SIGKILL);
	CHECK_RET(shmkit_event_signal(&sh->ev), 0); /* one wake nobody needs */
	pid_t w = spawn_wait(desc, 1);
	CHECK_RET(area_wait_sleeping(w), 0);
	CHECK_RET(shmkit_event_signal(&sh->ev), 0);
	CHECK_RET(test_wait(w), 0);
}

static void test_pingpong(void)
{
	char desc[128];
	struct shared *sh = area_create("sysv", AREA_SIZE, desc, sizeof(desc));

	CHECK_RET(shmkit_event_init(&sh->ev), 0);
	CHECK_RET(shmkit_event_init(&sh->back), 0);
	const char *args[] = { desc, NULL };
	pid_t p = test_spawn_self("pong", args);
	for (uint32_t i = 0; i < PINGPONG_N; i++) {
		atomic_store(&sh->ball, 2 * i + 1);
		CHECK_RET(shmkit_event_signal(&sh->ev), 0);
		for (;;) {
			uint32_t seen = shmkit_event_seq(&sh->back);
			if (atomic_load(&sh->ball) == 2 * i + 2)
				break;
			int r = shmkit_event_wait(&sh->back, seen, 10000000000LL);
			if (r != 0) {
				CHECK_RET(r, 0);
				kill(p, SIGKILL);
				test_wait(p);
				return;
			}
		}
	}
	CHECK_RET(test_wait(p), 0);
}

/* Runs role under strace -ff: one log per process, so no call is split into
 * "unfinished" and "resumed" lines by another process's. Counts the futex
 * calls on the event's address: all of them (signal_alone), or for
 * signal_waiter the FUTEX_WAKEs of the signalling process, if the waiter
 * slept there at all (else 0). Whether a wake finds the waiter inside the
 * kernel is timing: it sleeps in bounded slices, and under load (or at a
 * ptrace stop) the signal can fall between two; it still returns, as the
 * role checks. */
static int strace_futex_calls(const char *role, char *out, size_t cap)
{
	char exe[4096], prefix[64], addr[64] = "", path[128];
	int signaller = 0;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	CHECK(n > 0);
	exe[n > 0 ? n : 0] = '\0';
	snprintf(prefix, sizeof(prefix), "/tmp/shmkit-test-strace-%d", (int)getpid());
	int rc = test_sh_capture(out, cap, "strace -ff -e trace=futex -o %s '%s' --role %s", prefix,
				 exe, role);
	CHECK_RET(rc, 0);
	CHECK(sscanf(out, "EVENT %63s %d", addr, &signaller) == 2);
	glob_t g;
	snprintf(path, sizeof(path), "%s.*", prefix);
	CHECK_RET(glob(path, 0, NULL, &g), 0);
	int calls = 0, wakes = 0, waits = 0, woke = 0;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		int pid = atoi(strrchr(g.gl_pathv[i], '.') + 1);
		FILE *f = fopen(g.gl_pathv[i], "r");
		char line[1024];
		while (f && fgets(line, sizeof(line), f)) {
			if (!strstr(line, addr))
				continue;
			calls++;
			if (strstr(line, "FUTEX_WAIT") && pid != signaller)
				waits++;
			if (strstr(line, "FUTEX_WAKE") && pid == signaller) {
				wakes++;
				woke += strstr(line, "= 0") == NULL;
			}
		}
		if (f)
			fclose(f);
		unlink(g.gl_pathv[i]);
	}
	globfree(&g);
	printf("%s: %d futex calls on %s; the waiter slept %d times, the signaller woke %d "
	       "times (%d found it asleep)\n",
	       role, calls, addr, waits, wakes, woke);
	return strcmp(role, "signal_waiter") == 0 ? (waits > 0 ? wakes : 0) : calls;
}

/* 0 when done, 77 when strace is missing or cannot trace here. */
static int test_no_syscall(void)
{
	char out[256];
	if (test_sh("command -v strace >/dev/null") != 0) {
		printf("SKIP: strace is not installed (.ci/deps.sh installs it)\n");
		return 77;
	}
	if (test_sh("strace -f -o /dev/null true 2>/dev/null") != 0) {
		printf("SKIP: strace cannot trace here (ptrace not permitted)\n");
		return 77;
	}
	CHECK_RET(strace_futex_calls("signal_alone", out, sizeof(out)), 0);
	CHECK(strace_futex_calls("signal_waiter", out, sizeof(out)) >= 1);
	return 0;
}

int main(int argc, char **argv)
{
	test_child_dispatch(argc, argv, roles);
	test_basics();
	test_waiters("posix", 1, 0);
	test_waiters("sysv", 4, 0);
	test_waiters("posix", 4, 1);
	test_timeout_under_signals();
	test_killed_waiter();
	test_pingpong();
	int skipped = test_no_syscall();
	int rc = test_done();
	return rc == 0 && skipped ? skipped : rc;
}
