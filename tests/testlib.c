/* SPDX-License-Identifier: MIT */
/* Implementation of the test harness declared in test.h. */
#include "test.h"

#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* LeakSanitizer (the sanitizer build): libzmq's I/O threads now and then
 * leave one small block unfreed at context end (80 bytes, allocated in an
 * I/O thread, no frame of ours on its stack; 2 runs of 12 of
 * test_bridge_args), which failed the suite at random. The sanitizer runtime
 * looks this up by name: exported, as the build hides everything else. */
#if defined(__SANITIZE_ADDRESS__)
__attribute__((visibility("default"), used)) const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libzmq.so\n";
}
#endif

#define MAX_CLEANUP 256
#define MAX_URIS 1024

static char *cleanup_uris[MAX_CLEANUP];
static int n_cleanup;
static pid_t owner_pid;
static int n_failed;
static unsigned uri_counter;
static char self_exe[4096];

static void remove_uri(const char *uri)
{
	shmkit_remove(uri);
}

void test_cleanup_run(void)
{
	if (getpid() != owner_pid)
		return; /* a forked child never removes its parent's segments */
	for (int i = n_cleanup - 1; i >= 0; i--) {
		remove_uri(cleanup_uris[i]);
		free(cleanup_uris[i]);
	}
	n_cleanup = 0;
}

static void on_fatal_signal(int sig)
{
	test_cleanup_run();
	signal(sig, SIG_DFL);
	raise(sig);
}

__attribute__((constructor)) static void test_init(void)
{
	owner_pid = getpid();
	ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	self_exe[n > 0 ? n : 0] = '\0';
	atexit(test_cleanup_run);
	int sigs[] = { SIGTERM, SIGINT, SIGABRT, SIGSEGV, SIGBUS, SIGHUP, SIGALRM };
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], on_fatal_signal);
	setvbuf(stdout, NULL, _IOLBF, 0);
}

void test_cleanup_add(const char *uri)
{
	if (n_cleanup < MAX_CLEANUP)
		cleanup_uris[n_cleanup++] = strdup(uri);
	else /* it would be left behind: a test that makes this many reuses a name */
		test_fail_at(__FILE__, __LINE__, "more segments than test_cleanup_add keeps");
}

const char *test_uri(const char *scheme, const char *tag)
{
	char buf[512];
	unsigned n = ++uri_counter;
	pid_t pid = getpid();

	if (strcmp(scheme, "posix") == 0)
		snprintf(buf, sizeof(buf), "posix:/shmkit-test-%d-%u-%s", (int)pid, n, tag);
	else if (strcmp(scheme, "file") == 0)
		snprintf(buf, sizeof(buf), "file:/tmp/shmkit-test-%d-%u-%s", (int)pid, n, tag);
	else if (strcmp(scheme, "sysv") == 0)
		snprintf(buf, sizeof(buf), "sysv:0x%x",
			 0x5b000000u | ((unsigned)pid & 0xffffu) << 8 | (n & 0xffu));
	else if (strcmp(scheme, "memfd") == 0)
		snprintf(buf, sizeof(buf), "memfd:shmkit-test-%d-%u-%s", (int)pid, n, tag);
	else
		snprintf(buf, sizeof(buf), "%s:", scheme);
	if (strcmp(scheme, "posix") == 0 || strcmp(scheme, "file") == 0 || strcmp(scheme, "sysv") == 0)
		test_cleanup_add(buf);
	/* Kept reachable for the run (LeakSanitizer): callers hold them to the end. */
	static char *copies[MAX_URIS] __attribute__((used));
	char *copy = strdup(buf);
	if (copy && n <= MAX_URIS)
		copies[n - 1] = copy;
	return copy;
}

void test_fail_at(const char *file, int line, const char *what)
{
	fprintf(stderr, "FAIL %s:%d: %s\n", file, line, what);
	n_failed++;
	if (getpid() != owner_pid)
		_exit(1); /* children fail fast: the parent sees the exit code */
}

void test_skip(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("SKIP: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	exit(77);
}

pid_t test_fork(int (*fn)(void *arg), void *arg)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		_exit(fn(arg));
	CHECK(pid > 0);
	return pid;
}

pid_t test_spawn_self(const char *role, const char *const extra_args[])
{
	const char *argv[32];
	int n = 0;
	argv[n++] = self_exe;
	argv[n++] = "--role";
	argv[n++] = role;
	for (int i = 0; extra_args && extra_args[i] && n < 31; i++)
		argv[n++] = extra_args[i];
	argv[n] = NULL;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		execv(self_exe, (char *const *)argv);
		_exit(127);
	}
	CHECK(pid > 0);
	return pid;
}

pid_t test_spawn_paused(const char *point, const char *role, const char *const extra_args[])
{
#ifndef SHMKIT_TESTS_HAVE_HOOKS
	(void)role;
	(void)extra_args;
	if (n_failed)
		exit(test_done());
	test_skip("the library was built without test hooks (SHMKIT_TEST_HOOKS=OFF): "
		  "cannot stop a child at %s", point);
#else
	setenv("SHMKIT_TEST_PAUSE", point, 1);
	pid_t pid = test_spawn_self(role, extra_args);
	unsetenv("SHMKIT_TEST_PAUSE");
	int r = test_wait_stopped(pid, 10ll * 1000000000);
	if (r == 0)
		return pid;
	fprintf(stderr, "FAIL: child %s never stopped at pause point %s (%s)\n", role, point,
		r == -ECHILD ? "it exited" : "timed out");
	if (r != -ECHILD) {
		kill(pid, SIGKILL);
		test_wait(pid);
	}
	n_failed++;
	exit(test_done()); /* what follows would test nothing */
#endif
}

int test_kill_stopped(pid_t pid)
{
	kill(pid, SIGKILL);
	kill(pid, SIGCONT); /* a stopped process dies of SIGKILL anyway; be sure */
	return test_wait(pid);
}

void test_child_dispatch(int argc, char **argv, const struct test_role *roles)
{
	if (argc < 3 || strcmp(argv[1], "--role") != 0)
		return;
	owner_pid = -1; /* an exec'd helper never removes the parent's segments */
	for (; roles && roles->name; roles++)
		if (strcmp(roles->name, argv[2]) == 0)
			_exit(roles->fn(argc - 3, argv + 3));
	fprintf(stderr, "unknown role %s\n", argv[2]);
	_exit(2);
}

int test_wait(pid_t pid)
{
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

int test_wait_stopped(pid_t pid, int64_t timeout_ns)
{
	int64_t end = test_now_ns() + timeout_ns;
	for (;;) {
		int status;
		pid_t r = waitpid(pid, &status, WUNTRACED | WNOHANG);
		if (r == pid && WIFSTOPPED(status))
			return 0;
		if (r == pid)
			return -ECHILD; /* exited instead */
		if (test_now_ns() > end)
			return -ETIMEDOUT;
		usleep(1000);
	}
}

__attribute__((format(printf, 3, 0))) static int run_shell(char *out, size_t cap, const char *fmt,
							      va_list ap)
{
	char cmd[8192];
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	fflush(NULL);
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	size_t len = 0;
	char chunk[4096];
	size_t got;
	while ((got = fread(chunk, 1, sizeof(chunk), p)) > 0) {
		if (out) {
			size_t room = cap - 1 - len;
			size_t take = got < room ? got : room;
			memcpy(out + len, chunk, take);
			len += take;
		} else {
			fwrite(chunk, 1, got, stdout);
		}
	}
	if (out)
		out[len] = '\0';
	int status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int test_sh(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = run_shell(NULL, 0, fmt, ap);
	va_end(ap);
	return rc;
}

int test_sh_capture(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = run_shell(out, cap, fmt, ap);
	va_end(ap);
	return rc;
}

int64_t test_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int test_is_root(void)
{
	return geteuid() == 0;
}

int test_have_pidfd(void)
{
	int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

int test_under_valgrind(void)
{
	const char *v = getenv("SHMKIT_UNDER_VALGRIND");
	return v != NULL && *v != 0 && strcmp(v, "0") != 0;
}

int test_done(void)
{
	test_cleanup_run();
	if (n_failed) {
		printf("0 passed, %d failed\n", n_failed);
		return 1;
	}
	printf("1 passed, 0 failed\n");
	return 0;
}

/* The most cache lines a slot of `len` bytes touches in a ring of that
 * stride (slots start at every multiple of gcd(stride, 64) in a line). */
static uint64_t worst_lines(uint64_t stride, uint64_t len)
{
	uint64_t worst = 0;
	for (uint64_t i = 0; i < 64; i++) {
		uint64_t lines = (i * stride % 64 + len + 63) / 64;
		worst = lines > worst ? lines : worst;
	}
	return worst;
}

int test_shortest_stride(uint64_t stride, uint64_t need)
{
	uint64_t lines = (need + 63) / 64;
	int ok = stride % 16 == 0 && stride >= need && worst_lines(stride, need) == lines;
	for (uint64_t shorter = stride - 16; ok && shorter >= need; shorter -= 16)
		ok = worst_lines(shorter, need) > lines; /* none shorter would do */
	if (!ok)
		fprintf(stderr, "slot of %llu bytes: stride %llu\n", (unsigned long long)need,
			(unsigned long long)stride);
	return ok;
}

void test_init_robust_pthread_mutex(pthread_mutex_t *pm)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	CHECK_RET(pthread_mutex_init(pm, &a), 0);
	pthread_mutexattr_destroy(&a);
}
