/* SPDX-License-Identifier: MIT */
/* Tiny test harness: one executable per test file, exit 0 pass, 1 fail,
 * 77 skipped. Every segment a test makes is named through test_uri() and
 * removed at exit, on failure, and on the signals a timeout sends. */
#ifndef SHMKIT_TEST_H
#define SHMKIT_TEST_H

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <shmkit.h>

void test_fail_at(const char *file, int line, const char *what);
/* 1 if `stride` is the ring slot stride docs/LAYOUT.md gives a slot of `need`
 * bytes: a multiple of 16, no slot on more cache lines than `need` needs, the
 * shortest such (else says which and returns 0). */
int test_shortest_stride(uint64_t stride, uint64_t need);
void test_skip(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond))                                                          \
			test_fail_at(__FILE__, __LINE__, #cond);                      \
	} while (0)

/* CHECK that an int/ssize_t shmkit call returned exactly `want`. */
#define CHECK_RET(expr, want)                                                         \
	do {                                                                          \
		long long got_ = (long long)(expr);                                   \
		long long want_ = (long long)(want);                                  \
		if (got_ != want_) {                                                  \
			fprintf(stderr, "%s:%d: %s returned %lld (%s), want %lld (%s)\n", \
				__FILE__, __LINE__, #expr, got_,                      \
				shmkit_strerror((int)got_), want_,                    \
				shmkit_strerror((int)want_));                         \
			test_fail_at(__FILE__, __LINE__, #expr);                      \
		}                                                                     \
	} while (0)

/* CHECK that a shmkit call succeeded (>= 0). */
#define CHECK_OK(expr)                                                                \
	do {                                                                          \
		long long got_ = (long long)(expr);                                   \
		if (got_ < 0) {                                                       \
			fprintf(stderr, "%s:%d: %s failed: %lld (%s)\n", __FILE__,    \
				__LINE__, #expr, got_, shmkit_strerror((int)got_));   \
			test_fail_at(__FILE__, __LINE__, #expr);                      \
		}                                                                     \
	} while (0)

/* A URI unique to this run: "<scheme>:<...>shmkit-test-<pid>-<n>-<tag>".
 * posix: "posix:/shmkit-test-...", file: "file:/tmp/shmkit-test-...",
 * sysv: a key derived from pid and counter ("sysv:0x5b..."), memfd:/anon: as is.
 * The segment is registered for removal at exit. Returns a static-lifetime copy. */
const char *test_uri(const char *scheme, const char *tag);
/* Register any other URI or path for removal at exit. */
void test_cleanup_add(const char *uri);
/* Remove everything registered now (the parent calls it; children never do). */
void test_cleanup_run(void);

/* fork(); the child runs fn(arg) and _exit()s with its return value. */
pid_t test_fork(int (*fn)(void *arg), void *arg);
/* Run this test binary again (exec) as `role` with extra args: main() must
 * call test_child_dispatch() first. Returns the child's pid. */
pid_t test_spawn_self(const char *role, const char *const extra_args[]);
/* test_spawn_self() with the library's test pause point `point` armed
 * (SHMKIT_TEST_PAUSE in the child's environment only): returns once the
 * child has stopped there (SIGSTOP), for the caller to kill or inspect it.
 * A child that never gets there within 10 s ends the test as failed; a
 * library built without test hooks (SHMKIT_TEST_HOOKS=OFF) skips it (77). */
pid_t test_spawn_paused(const char *point, const char *role, const char *const extra_args[]);
/* SIGKILL a child stopped at a pause point and reap it; returns what
 * test_wait() does (128 + SIGKILL). */
int test_kill_stopped(pid_t pid);
/* If argv names a role given to test_spawn_self(), run it and exit. */
typedef int (*test_role_fn)(int argc, char **argv);
struct test_role {
	const char *name;
	test_role_fn fn;
};
void test_child_dispatch(int argc, char **argv, const struct test_role *roles);
/* waitpid() and return the exit code (128+signal for a signal). */
int test_wait(pid_t pid);
/* Wait until pid is stopped (SIGSTOP at a test pause point); 0 or -ETIMEDOUT. */
int test_wait_stopped(pid_t pid, int64_t timeout_ns);
/* Run a shell command line; returns its exit code. Output goes to stdout. */
int test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Run a shell command line and capture up to cap-1 bytes of stdout. */
int test_sh_capture(char *out, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* pthread_mutex_init() a process-shared robust glibc mutex (CHECKed). */
void test_init_robust_pthread_mutex(pthread_mutex_t *pm);

int64_t test_now_ns(void);
int test_is_root(void);
/* Whether pidfd_open(2) works here: kernels before 5.3 and valgrind 3.19's
 * memcheck (which lacks syscall 434) refuse it. */
int test_have_pidfd(void);
/* Whether `make valgrind` runs this test (SHMKIT_UNDER_VALGRIND set): cases
 * that measure resource limits or map terabytes skip under memcheck. */
int test_under_valgrind(void);
/* Print "N passed, N failed" from the CHECKs counted so far and return the exit code. */
int test_done(void);

#endif
