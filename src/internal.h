/* SPDX-License-Identifier: MIT */
/* Private helpers shared by the library's sources. Never installed. */
#ifndef SHMKIT_INTERNAL_H
#define SHMKIT_INTERNAL_H

#include <errno.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <shmkit/common.h>

#define SHMKIT__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SHMKIT__LIKELY(x) __builtin_expect(!!(x), 1)
#define SHMKIT__UNLIKELY(x) __builtin_expect(!!(x), 0)
/* Run rarely (once per handle, or after a death): kept out of the hot text. */
#define SHMKIT__COLD __attribute__((cold))

/* Negative errno of the last failed libc call. */
static inline int shmkit__neg_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

static inline int64_t shmkit__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Sleeps ns nanoseconds (the whole time: a signal does not cut it short). */
static inline void shmkit__sleep_ns(int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* A table entry's claim whose claimer may not have written its identity
 * yet is taken over only after it has not moved for this long
 * (docs/ARCHITECTURE.md, "Rules every layer keeps"). */
#define SHMKIT__CLAIM_STABLE_NS 100000000

/* One pause of a spin loop: tells the CPU (and an SMT sibling) we are
 * busy-waiting, without giving up the time slice. */
static inline void shmkit__spin_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/* The one "no deadline" value: later than any clock reading, so
 * `now >= deadline` is never true for it. */
#define SHMKIT__NO_DEADLINE INT64_MAX

/* Absolute CLOCK_MONOTONIC deadline for a relative timeout in ns. Negative
 * (SHMKIT_FOREVER) and timeouts too large to add give SHMKIT__NO_DEADLINE.
 * A deadline read before a wait starts can only make the wait longer than
 * asked, never shorter. */
static inline int64_t shmkit__deadline(int64_t timeout_ns)
{
	if (timeout_ns < 0)
		return SHMKIT__NO_DEADLINE;
	int64_t now = shmkit__now_ns();
	if (timeout_ns > SHMKIT__NO_DEADLINE - now)
		return SHMKIT__NO_DEADLINE;
	return now + timeout_ns;
}

/* What is left at this moment of a relative timeout whose deadline was
 * taken by shmkit__deadline(timeout_ns): so a call that waits in two steps
 * (a producer's join, then its send) waits no longer in all than asked.
 * Forever (negative) and 0 stay as they are; an expired wait gets 1 ns, so
 * it still ends in -ETIMEDOUT and not in timeout 0's -EAGAIN. */
/* Where our own maps, descriptors, mounts and namespaces are read:
 * /proc/thread-self, the calling thread's view of what all threads share.
 * /proc/self names the main thread, which after pthread_exit() is a
 * zombie whose maps, fd/ and ns/ read as nothing, so every judgement made
 * from them failed. Our pid and start time (stat, status) are the
 * process's: /proc/self for those. Before Linux 3.17, /proc/self. */
static inline const char *shmkit__proc_self_dir(void)
{
	static int have_thread_self = -1; /* a racing first look finds the same */
	int v = __atomic_load_n(&have_thread_self, __ATOMIC_RELAXED);

	if (v < 0) {
		v = access("/proc/thread-self", F_OK) == 0;
		__atomic_store_n(&have_thread_self, v, __ATOMIC_RELAXED);
	}
	return v ? "/proc/thread-self" : "/proc/self";
}

static inline int64_t shmkit__timeout_left(int64_t timeout_ns, int64_t deadline)
{
	if (timeout_ns <= 0 || deadline == SHMKIT__NO_DEADLINE)
		return timeout_ns;
	int64_t left = deadline - shmkit__now_ns();
	return left > 0 ? left : 1;
}

/* This thread's shmkit_last_error_detail() text (src/error.c). The public
 * calls that open, create, look or check clear it first, so it never names
 * an earlier call. The calls on a message's path (send, recv, peek, lock,
 * alloc, get, put, ...) do not (a thread-local store each time), nor do
 * closes, setters, stats of a handle and descriptor getters: callers run
 * those between a failure and reading what it said (a binding's cleanup). */
void shmkit__detail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void shmkit__detail_clear(void);
/* Sets the detail and returns err (for one-line error paths). */
int shmkit__fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* r unchanged; where r < 0 and nothing said why yet, a detail for a failed
 * shmkit_queue_fd / shmkit_sub_fd (what: "queue", "topic"), such as which
 * descriptor limit was hit. */
int shmkit__pollfd_error(int r, const char *what);
/* -ENOMEM with a detail naming what could not be allocated (a handle, a
 * copy): without one, a failed open under memory pressure said nothing. */
int shmkit__no_memory(const char *what);
/* -EINVAL for a mutex_init/sem_init/event_init of p (what: "mutex", ...)
 * that is NULL or off its struct's alignment, with a detail saying which:
 * the caller placed the struct itself, often by a cast into a segment. */
int shmkit__sync_init_refused(const void *p, size_t align, const char *what);
/* -EACCES for what (e.g. "open posix:/q") refused on an object of owner
 * with mode, saying who this process is and what would work: "Permission
 * denied" alone leaves the user to find out whose the object is. readable:
 * the object grants this process reading (a read-only open works); grant:
 * how its owner changes the mode ("chmod", "shmctl IPC_SET"). */
int shmkit__access_fail(const char *what, unsigned owner, unsigned mode, int readable,
			const char *grant);
/* Where err is a descriptor limit, which one and where it is set (" (...)"),
 * else "": for a message that names err's text. */
const char *shmkit__fd_limit_hint(int err);

/* A descriptor the library keeps (a segment's, a listener's), moved above
 * 0-2: in a process started with a standard stream closed, the next open
 * gets that number, and the program's own prints (printf, perror) would go
 * into a segment or a socket. Returns fd itself when it is above 2, else a
 * close-on-exec copy at 3 or above with fd closed; fd unchanged if no copy
 * can be made (src/seg.c). */
int shmkit__fd_above_stdio(int fd);

/* 0 if the n bytes at p (an options struct's reserved[]) are all zero; else
 * -EINVAL with a detail: the caller was built against a newer shmkit and
 * asked for an option this library does not have (src/error.c). */
int shmkit__reserved_zero(const void *p, size_t n, const char *what);

/* Test-only pause points: a test sets SHMKIT_TEST_PAUSE=<name> in a child's
 * environment; the child raises SIGSTOP at that point so the parent can
 * kill -9 it there. Only the tests' copy of the library defines
 * SHMKIT_TEST_HOOKS; the installed library, CLI and bench compile them out. */
#ifdef SHMKIT_TEST_HOOKS
/* -1 not looked yet, 0 no pause asked for this process, 1 one is: the
 * common case costs one load and a branch on hot paths. */
extern int shmkit__test_armed;
void shmkit__test_point(const char *name);
#define SHMKIT__TEST_POINT(name)                               \
	do {                                                   \
		if (SHMKIT__UNLIKELY(shmkit__test_armed != 0)) \
			shmkit__test_point(name);              \
	} while (0)
#else
#define SHMKIT__TEST_POINT(name) ((void)0)
#endif

#endif
