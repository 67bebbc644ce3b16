/* SPDX-License-Identifier: MIT */
/* The heap's block cache in a pid namespace whose /proc is not its own
 * (`unshare -fp` without --mount-proc, a container that bind-mounts the
 * host's /proc): pids there name other processes in /proc, so a start time
 * read there proves nothing. A live process's cached blocks must not be
 * returned by another process's open or check: before the fix the peer's
 * open took the cacher (pid 1 in the namespace, whose /proc/1 is the host's
 * init) for dead, freed its cached blocks, and every later alloc from its
 * cache gave -EBADMSG on a healthy heap.
 * And a process of another pid namespace with its own /proc (a container)
 * killed -9 with blocks cached: its attach slot's lock proves it dead, and
 * the host's check returns its blocks (they were kept for good: "another
 * pid namespace, cannot judge").
 * And a live thread's cache, in such a namespace, is not taken over by
 * another thread's stats or check as if that thread had exited (its tid,
 * of our namespace, was looked up in the host's /proc/self/task: the other
 * thread then flushed the cache the live one popped and pushed without the
 * lock, and blocks were handed out twice).
 * And a child forked into a new pid namespace with the handle does not
 * return its live parent's cached blocks: it judges the parent (another
 * pid namespace) by the parent's attach slot lock, which it asked through
 * the inherited descriptor, whose open file description is the one holding
 * that lock, and F_OFD_GETLK does not report a description's own locks:
 * the parent read as dead, its next allocs gave -EBADMSG and its check
 * found the heap corrupt.
 * Root only (unshare); skipped otherwise. */
/* TIMEOUT: 60 */
#include "test.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#define HEAP_SIZE (64 << 20)
#define K 8

static const char *heap_uri;

/* The peer, in the same namespace: its open and check must keep the live
 * cacher's blocks. 0 if they did. */
static int peer(void)
{
	struct shmkit_heap *h;
	struct shmkit_heap_stats st;
	if (shmkit_heap_open(&h, heap_uri) != 0)
		return 40;
	if (shmkit_heap_check(h) != 0)
		return 41;
	if (shmkit_heap_stats(h, &st) != 0)
		return 42;
	shmkit_heap_close(h);
	return st.n_used >= K ? 0 : 43;
}

/* pid 1 of the new namespace, with the host's /proc: caches K blocks, lets
 * a peer of its namespace open and check the heap, then allocates again. */
/* fn(arg) in a process of new namespaces (`flags` for unshare: at least
 * CLONE_NEWPID; fn runs in a child of the unsharer, the namespace's first
 * process): its exit code, 51 if it was killed, 77 if unshare is refused,
 * -1 if the processes could not be made or waited for. */
static int in_new_pidns(int flags, int (*fn)(void *), void *arg)
{
	int status;
	fflush(NULL);
	pid_t outer = fork();
	if (outer < 0)
		return -1;
	if (outer == 0) {
		if (unshare(flags) != 0)
			_exit(77);
		pid_t in = fork();
		if (in == 0)
			_exit(fn(arg));
		if (in < 0 || waitpid(in, &status, 0) != in)
			_exit(50);
		_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 51);
	}
	if (waitpid(outer, &status, 0) != outer || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static int cacher(void *arg)
{
	(void)arg;
	struct shmkit_heap *h;
	shmkit_off off[K];
	int status;
	if (getpid() != 1)
		return 30;
	if (shmkit_heap_open(&h, heap_uri) != 0)
		return 31;
	for (int i = 0; i < K; i++)
		if (shmkit_heap_alloc(h, 64, &off[i]) != 0)
			return 32;
	for (int i = 0; i < K; i++)
		if (shmkit_heap_free(h, off[i]) != 0) /* into this process's cache */
			return 33;
	fflush(NULL);
	pid_t p = fork();
	if (p == 0)
		_exit(peer());
	if (p < 0 || waitpid(p, &status, 0) != p || !WIFEXITED(status))
		return 34;
	if (WEXITSTATUS(status) != 0)
		return WEXITSTATUS(status);
	for (int i = 0; i < K; i++)
		if (shmkit_heap_alloc(h, 64, &off[i]) != 0)
			return 35; /* its cached blocks were taken from under it */
	for (int i = 0; i < K; i++)
		if (shmkit_heap_free(h, off[i]) != 0)
			return 36;
	shmkit_heap_close(h);
	return test_done();
}

static struct shmkit_heap *thread_heap;
static int thread_phase;
static pthread_mutex_t thread_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t thread_cv = PTHREAD_COND_INITIALIZER;

static void thread_wait(int phase)
{
	pthread_mutex_lock(&thread_mu);
	while (thread_phase != phase)
		pthread_cond_wait(&thread_cv, &thread_mu);
	pthread_mutex_unlock(&thread_mu);
}

static void thread_set(int phase)
{
	pthread_mutex_lock(&thread_mu);
	thread_phase = phase;
	pthread_cond_broadcast(&thread_cv);
	pthread_mutex_unlock(&thread_mu);
}

/* Caches K blocks, stays alive while the main thread looks, then allocates
 * them again from its cache. */
static void *thread_cacher(void *arg)
{
	shmkit_off off[K];
	intptr_t r = 0;
	(void)arg;
	for (int i = 0; i < K && !r; i++)
		r = shmkit_heap_alloc(thread_heap, 64, &off[i]) != 0 ? 71 : 0;
	for (int i = 0; i < K && !r; i++)
		r = shmkit_heap_free(thread_heap, off[i]) != 0 ? 72 : 0;
	thread_set(1);
	thread_wait(2); /* alive while the main thread looks */
	for (int i = 0; i < K && !r; i++)
		r = shmkit_heap_alloc(thread_heap, 64, &off[i]) != 0 ? 73 : 0;
	for (int i = 0; i < K && !r; i++)
		r = shmkit_heap_free(thread_heap, off[i]) != 0 ? 74 : 0;
	return (void *)r;
}

/* pid 1 of a new namespace with the host's /proc: a live thread caches K
 * blocks; this thread's stats and check must leave them cached. */
static int threads_in_namespace(void *arg)
{
	(void)arg;
	struct shmkit_heap_stats st;
	pthread_t t;
	void *ret;
	if (getpid() != 1)
		return 80;
	if (shmkit_heap_open(&thread_heap, heap_uri) != 0)
		return 81;
	if (pthread_create(&t, NULL, thread_cacher, NULL) != 0)
		return 82;
	thread_wait(1);
	int r = shmkit_heap_stats(thread_heap, &st) != 0 ? 83 : st.n_used < K ? 84 : 0;
	if (r == 0 && shmkit_heap_check(thread_heap) != 0)
		r = 85;
	if (r == 0 && (shmkit_heap_stats(thread_heap, &st) != 0 || st.n_used < K))
		r = 86; /* the live thread's cache was taken over */
	thread_set(2);
	pthread_join(t, &ret);
	if (r == 0)
		r = (int)(intptr_t)ret;
	if (r == 0 && shmkit_heap_check(thread_heap) != 0)
		r = 87;
	shmkit_heap_close(thread_heap);
	return r;
}

static void test_live_thread_in_namespace(void)
{
	int code = in_new_pidns(CLONE_NEWPID, threads_in_namespace, NULL);
	if (code == 77)
		return;
	if (code != 0)
		fprintf(stderr, "live thread in a namespace: exited %d (84/86: its cache was "
			"taken over by another thread)\n", code);
	CHECK(code == 0);
}

/* A process of ours with one handle (so its only attach slot is that
 * handle's) caches K blocks; a child forked into a new pid namespace with
 * the handle checks the heap through it; then the process allocates the K
 * blocks again from its cache, and the heap checks clean. 0 if so. */
/* The child's check through the handle it inherited. */
static int check_inherited(void *h)
{
	return shmkit_heap_check(h) == 0 ? 0 : 95;
}

static int cache_then_child_checks(void)
{
	struct shmkit_heap *h;
	struct shmkit_heap_stats st;
	shmkit_off off[K];
	if (shmkit_heap_open(&h, heap_uri) != 0)
		return 91;
	for (int i = 0; i < K; i++)
		if (shmkit_heap_alloc(h, 64, &off[i]) != 0)
			return 92;
	for (int i = 0; i < K; i++)
		if (shmkit_heap_free(h, off[i]) != 0) /* into our cache */
			return 93;
	int code = in_new_pidns(CLONE_NEWPID, check_inherited, h);
	if (code < 0)
		return 96;
	if (code != 0)
		return code;
	if (shmkit_heap_stat(heap_uri, &st) != 0) /* a look: leaves our cache */
		return 97;
	if (st.n_used < K) {
		fprintf(stderr, "the child in a new pid namespace returned our cached blocks "
			"(n_used %llu)\n", (unsigned long long)st.n_used);
		return 98;
	}
	for (int i = 0; i < K; i++)
		if (shmkit_heap_alloc(h, 64, &off[i]) != 0)
			return 99;
	for (int i = 0; i < K; i++)
		if (shmkit_heap_free(h, off[i]) != 0)
			return 100;
	if (shmkit_heap_check(h) != 0)
		return 101;
	shmkit_heap_close(h);
	return 0;
}

static void test_inherited_handle_in_namespace(void)
{
	int status;
	fflush(NULL);
	pid_t p = fork();
	CHECK(p >= 0);
	if (p == 0)
		_exit(cache_then_child_checks());
	CHECK(waitpid(p, &status, 0) == p && WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		return;
	if (WEXITSTATUS(status) != 0)
		fprintf(stderr, "inherited handle in a new pid namespace: exited %d\n",
			WEXITSTATUS(status));
	CHECK(WEXITSTATUS(status) == 0);
}

/* In a new pid and mount namespace with its own /proc: pid 2 caches K
 * blocks and is killed -9 with them. */
static int container_cacher(void *arg)
{
	(void)arg;
	struct shmkit_heap *h;
	shmkit_off off[K];
	/* EINVAL: / is no mount point (a plain chroot): cannot be made private */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		return errno == EINVAL ? 77 : 60;
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
		return 61;
	/* not pid 1 itself: a namespace's init ignores its own SIGKILL */
	int status;
	fflush(NULL);
	pid_t p = fork();
	if (p < 0 || (p > 0 && waitpid(p, &status, 0) != p))
		return 66;
	if (p > 0)
		return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? 0
		       : WIFEXITED(status) ? WEXITSTATUS(status) : 67;
	if (shmkit_heap_open(&h, heap_uri) != 0)
		return 62;
	for (int i = 0; i < K; i++)
		if (shmkit_heap_alloc(h, 64, &off[i]) != 0)
			return 63;
	for (int i = 0; i < K; i++)
		if (shmkit_heap_free(h, off[i]) != 0)
			return 64;
	raise(SIGKILL);
	_exit(65);
}

static void test_dead_in_other_namespace(struct shmkit_heap *h)
{
	struct shmkit_heap_stats st;
	int code = in_new_pidns(CLONE_NEWPID | CLONE_NEWNS, container_cacher, NULL);
	if (code == 77) {
		printf("skipped: no private mount namespace here\n");
		return;
	}
	if (code != 0)
		fprintf(stderr, "the container's cacher exited %d\n", code);
	CHECK(code == 0);
	CHECK_RET(shmkit_heap_check(h), 0);
	CHECK_RET(shmkit_heap_stats(h, &st), 0);
	if (st.n_used != 0)
		fprintf(stderr, "%llu blocks of the dead process still used\n",
			(unsigned long long)st.n_used);
	CHECK(st.n_used == 0);
}

int main(void)
{
	struct shmkit_heap *h;

	if (geteuid() != 0)
		test_skip("needs root (unshare)");
	heap_uri = test_uri("posix", "h-cache-pidns");
	CHECK_RET(shmkit_heap_create(&h, heap_uri, HEAP_SIZE, 0600), 0);
	int code = in_new_pidns(CLONE_NEWPID, cacher, NULL);
	if (code == 77)
		test_skip("unshare(CLONE_NEWPID) refused");
	if (code != 0)
		fprintf(stderr, "the namespace's processes exited %d\n", code);
	CHECK(code == 0);
	CHECK_RET(shmkit_heap_check(h), 0);
	test_dead_in_other_namespace(h);
	test_live_thread_in_namespace();
	test_inherited_handle_in_namespace();
	CHECK_RET(shmkit_heap_check(h), 0);
	shmkit_heap_close(h);
	return test_done();
}
