/* SPDX-License-Identifier: MIT */
/* Counters shared with a forked child over anon: memory.
 *
 * anon: is MAP_SHARED|MAP_ANONYMOUS: no name, nothing to clean up, and shared
 * with every child forked after it (not with unrelated processes). Parent and
 * child each count ROUNDS times, two ways:
 *
 *   - a single word: a C11 atomic is all it takes;
 *   - a record of several fields that must change together: a struct
 *     shmkit_mutex, which lives in the shared memory and is robust -- if a
 *     holder dies, the next locker gets -EOWNERDEAD instead of hanging.
 *
 * The parent then prints "atomic 200000, locked 200000 (sum ok)". */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmkit.h>

#define ROUNDS 100000

/* What lives in the segment: fixed-width types, no pointers. */
struct shared {
	_Atomic uint64_t hits;         /* one word: atomic is enough */
	struct shmkit_mutex lock;      /* guards the two fields below */
	uint64_t count;
	uint64_t sum;                  /* always count * (count + 1) / 2 under the lock */
};

static int lock(struct shared *s)
{
	int ret = shmkit_mutex_lock(&s->lock, SHMKIT_FOREVER);

	if (ret == -EOWNERDEAD) {
		/* The last holder died mid-update: we hold the lock, repair, go on. */
		s->sum = s->count * (s->count + 1) / 2;
		ret = shmkit_mutex_consistent(&s->lock);
	}
	return ret;
}

static int count(struct shared *s)
{
	for (int i = 0; i < ROUNDS; i++) {
		atomic_fetch_add_explicit(&s->hits, 1, memory_order_relaxed);
		if (lock(s) < 0)
			return 1;
		s->count++;
		s->sum += s->count;
		shmkit_mutex_unlock(&s->lock);
	}
	return 0;
}

int main(void)
{
	struct shmkit_seg *seg;
	struct shared *s;
	pid_t child;
	int status, ret;

	/* Map it BEFORE fork: the child inherits the very same pages (zeroed). */
	ret = shmkit_seg_open(&seg, "anon:", sizeof(struct shared), SHMKIT_CREATE, 0600);
	if (ret < 0) {
		fprintf(stderr, "fork_counter: anon: %s\n", shmkit_strerror(ret));
		return 1;
	}
	s = shmkit_seg_addr(seg);
	shmkit_mutex_init(&s->lock); /* once, before anyone else can see it */

	child = fork();
	if (child < 0) {
		perror("fork_counter: fork");
		return 1;
	}
	if (child == 0)
		_exit(count(s));
	ret = count(s);

	/* waitpid orders the child's writes before our reads. */
	if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) || ret) {
		fprintf(stderr, "fork_counter: a counter failed\n");
		return 1;
	}
	printf("atomic %llu, locked %llu (sum %s)\n", (unsigned long long)atomic_load(&s->hits),
	       (unsigned long long)s->count,
	       s->sum == s->count * (s->count + 1) / 2 ? "ok" : "WRONG");
	shmkit_seg_close(seg); /* anon: memory goes away with its last mapping */
	return 0;
}
