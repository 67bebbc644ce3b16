/* Robust, process-shared mutex: a glibc robust pthread mutex inside the
 * 64-byte struct shmkit_mutex.
 *
 * Holder death is handled by the kernel's robust futex list: every thread
 * registers a list of the robust mutexes it holds; when it dies (kill -9
 * included, at any point, also with waiters already blocked) the kernel marks
 * each held mutex's futex word FUTEX_OWNER_DIED and wakes one waiter, whose
 * lock then returns EOWNERDEAD. Unlocking without pthread_mutex_consistent()
 * makes the mutex ENOTRECOVERABLE for everyone, as POSIX says. */
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "futex.h"
#include "internal.h"
#include "sync_internal.h"

static inline struct shmkit__mutex_shared *mutex_shared(struct shmkit_mutex *m)
{
	return (struct shmkit__mutex_shared *)(void *)m;
}

/* 0 for an initialized mutex; -EINVAL never initialized, -EBADMSG scribbled. */
static inline int mutex_check(struct shmkit__mutex_shared *s)
{
	int r = shmkit__sync_check(&s->magic, SHMKIT__MUTEX_MAGIC);
	if (SHMKIT__UNLIKELY(r))
		return r;
	/* Plain read: written once by init before the magic's release store. */
	if (SHMKIT__UNLIKELY((uint32_t)s->pm.__data.__kind != s->kind))
		return -EBADMSG;
	return 0;
}

SHMKIT_API int shmkit_mutex_init(struct shmkit_mutex *m)
{
	struct shmkit__mutex_shared *s = mutex_shared(m);
	pthread_mutexattr_t a;
	int r;

	memset(s, 0, sizeof(*s));
	r = pthread_mutexattr_init(&a);
	if (r)
		return -r;
	r = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (!r)
		r = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	/* Errorcheck: relocking returns EDEADLK instead of hanging. */
	if (!r)
		r = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
	if (!r)
		r = pthread_mutex_init(&s->pm, &a);
	pthread_mutexattr_destroy(&a);
	if (r)
		return -r;
	/* glibc never changes a robust mutex's kind after init: remember it so
	 * a scribbled kind (which could turn it into another mutex type) is
	 * caught by mutex_check() instead of being obeyed. */
	s->kind = (uint32_t)s->pm.__data.__kind;
	/* Release: pairs with the acquire in shmkit__sync_check(); the mutex
	 * is fully built before anyone who sees the magic uses it. */
	atomic_store_explicit(&s->magic, SHMKIT__MUTEX_MAGIC, memory_order_release);
	return 0;
}

/* glibc wakes only one waiter when an inconsistent mutex is unlocked and
 * becomes unrecoverable; that waiter returns ENOTRECOVERABLE and the others
 * would sleep on forever. Whoever sees ENOTRECOVERABLE wakes them all, so the
 * news spreads to every waiter (each re-checks and returns it too). */
static void wake_all_notrecoverable(struct shmkit__mutex_shared *s)
{
	shmkit__futex_wake((_Atomic uint32_t *)(void *)&s->pm.__data.__lock, INT_MAX);
}

/* glibc 2.36's pthread_mutex_trylock on an unrecoverable robust mutex takes
 * the futex word (our tid) and returns ENOTRECOVERABLE without giving it back
 * (it compares the old value, 0, with our tid). Left so, every later lock
 * would block forever. Give the word back if it holds our tid. */
static void trylock_notrecoverable_fixup(struct shmkit__mutex_shared *s)
{
	_Atomic uint32_t *word = (_Atomic uint32_t *)(void *)&s->pm.__data.__lock;
	uint32_t v = atomic_load_explicit(word, memory_order_relaxed);
	uint32_t tid = (uint32_t)gettid();

	while ((v & FUTEX_TID_MASK) == tid) {
		/* Release: pairs with the acquire CAS of the next locker. */
		if (atomic_compare_exchange_weak_explicit(word, &v, 0, memory_order_release,
							  memory_order_relaxed))
			break;
	}
}

/* A sleeping waiter can miss its wake-up for good: when a holder dies the
 * kernel wakes one waiter, and if that waiter is killed too before it takes
 * the lock, a third process may take the now free lock with a CAS that does
 * not set the waiters bit, and its unlock then wakes nobody. So blocking waits
 * sleep in bounded slices and retry: a stranded waiter notices within one
 * slice, at the cost of one futex call per slice and only while blocked. */
#define MUTEX_SLICE_NS 50000000 /* 50 ms */

/* Where the mapping holding addr comes from: its device and inode as
 * /proc/PID/maps prints them ("fd:01", 1234). 0, or -1 if not found. */
static int backing_of(const char *maps, uintptr_t addr, unsigned *maj, unsigned *min,
		      unsigned long *ino)
{
	FILE *f = fopen(maps, "re");
	char *line = NULL;
	size_t cap = 0;
	int r = -1;

	if (!f)
		return -1;
	while (r < 0 && getline(&line, &cap, f) > 0) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx %*s %*s %x:%x %lu", &lo, &hi, maj, min, ino) == 5 &&
		    addr >= lo && addr < hi)
			r = 0;
	}
	free(line);
	fclose(f);
	return r;
}

/* 1 if thread tid's process maps what addr (in our mapping) maps, 0 if it
 * provably does not (no such thread, or none of its mappings is backed by the
 * same object), -1 if that cannot be told (its maps unreadable to us). */
static int tid_maps_object(pid_t tid, const void *addr)
{
	char path[64];
	unsigned maj, min, omaj, omin;
	unsigned long ino, oino;

	if (backing_of("/proc/self/maps", (uintptr_t)addr, &maj, &min, &ino) < 0)
		return -1;
	if (ino == 0) {
		/* private memory: only a thread of this process can hold it */
		snprintf(path, sizeof(path), "/proc/self/task/%d", (int)tid);
		return access(path, F_OK) == 0;
	}
	FILE *f;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)tid);
	if ((f = fopen(path, "re")) == NULL)
		return errno == ENOENT || errno == ESRCH ? 0 : -1;
	char *line = NULL;
	size_t cap = 0;
	int r = 0;
	while (r == 0 && getline(&line, &cap, f) > 0)
		r = sscanf(line, "%*s %*s %*s %x:%x %lu", &omaj, &omin, &oino) == 3 && omaj == maj &&
		    omin == min && oino == ino;
	free(line);
	fclose(f);
	return r;
}

/* 1 if lock word v names no holder that could ever release it: the waiters
 * bit alone, or a thread that no longer exists or does not map the mutex (a
 * kernel thread, an unrelated process, a zombie). The kernel marks the word
 * FUTEX_OWNER_DIED only for a holder that had the mutex on its robust list;
 * a word written by anyone else (a scribbled or fuzzed segment) would keep
 * every locker waiting forever. A tid is only meaningful in our own pid
 * namespace, which every sharer of a mutex must share (docs/ARCHITECTURE.md);
 * a holder whose mappings we may not read is given the benefit of the doubt. */
static int holder_gone(struct shmkit__mutex_shared *s, uint32_t v)
{
	pid_t tid = (pid_t)(v & FUTEX_TID_MASK);

	if (v & FUTEX_OWNER_DIED)
		return 0; /* glibc's own lock path takes it over */
	if (tid == 0)
		return v != 0; /* FUTEX_WAITERS and no holder: nobody will unlock */
	return tid_maps_object(tid, s) == 0;
}

/* Marks the lock word as the kernel would on the death of its holder, when the
 * holder is gone: the next lock then returns EOWNERDEAD and its caller repairs
 * what the mutex guards. 1 if marked. */
static int mark_gone_holder(struct shmkit__mutex_shared *s)
{
	_Atomic uint32_t *word = (_Atomic uint32_t *)(void *)&s->pm.__data.__lock;
	uint32_t v = atomic_load_explicit(word, memory_order_relaxed);

	if (!holder_gone(s, v))
		return 0;
	/* Relaxed: nothing is published; the CAS fails if the word moved. */
	return atomic_compare_exchange_strong_explicit(word, &v, FUTEX_OWNER_DIED | (v & FUTEX_WAITERS),
						       memory_order_relaxed, memory_order_relaxed);
}

static int lock_in_slices(struct shmkit__mutex_shared *s, int64_t timeout_ns)
{
	int64_t deadline = shmkit__deadline(timeout_ns);

	for (;;) {
		int64_t until = shmkit__now_ns() + MUTEX_SLICE_NS;
		int last = deadline <= until;
		struct timespec ts = shmkit__ns_to_timespec(last ? deadline : until);
		int r = pthread_mutex_clocklock(&s->pm, CLOCK_MONOTONIC, &ts);

		if (r != ETIMEDOUT)
			return r;
		/* Each slice, look at the holder: a gone one would hold forever.
		 * Once marked, the next clocklock takes the lock over (glibc
		 * checks FUTEX_OWNER_DIED before looking at the deadline). */
		if (!mark_gone_holder(s) && last)
			return r;
	}
}

/* Lock ordering is glibc's: the futex CAS in pthread_mutex_*lock acquires,
 * the one in pthread_mutex_unlock releases. */
SHMKIT_API int shmkit_mutex_lock(struct shmkit_mutex *m, int64_t timeout_ns)
{
	struct shmkit__mutex_shared *s = mutex_shared(m);
	int r = mutex_check(s);

	if (SHMKIT__UNLIKELY(r))
		return r;
	/* Uncontended: one CAS, no clock read. */
	r = pthread_mutex_trylock(&s->pm);
	if (SHMKIT__UNLIKELY(r == ENOTRECOVERABLE))
		trylock_notrecoverable_fixup(s);
	if (r == EBUSY)
		r = timeout_ns == 0 ? EAGAIN : lock_in_slices(s, timeout_ns);
	if (SHMKIT__UNLIKELY(r == ENOTRECOVERABLE))
		wake_all_notrecoverable(s);
	return -r;
}

SHMKIT_API int shmkit_mutex_unlock(struct shmkit_mutex *m)
{
	struct shmkit__mutex_shared *s = mutex_shared(m);
	int r = mutex_check(s);

	if (SHMKIT__UNLIKELY(r))
		return r;
	return -pthread_mutex_unlock(&s->pm);
}

SHMKIT_API int shmkit_mutex_consistent(struct shmkit_mutex *m)
{
	struct shmkit__mutex_shared *s = mutex_shared(m);
	int r = mutex_check(s);

	if (r)
		return r;
	return -pthread_mutex_consistent(&s->pm);
}
