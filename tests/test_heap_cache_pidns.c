/* SPDX-License-Identifier: MIT */
/* The heap's block cache in a pid namespace whose /proc is not its own
 * (`unshare -fp` without --mount-proc, a container that bind-mounts the
 * host's /proc): pids there name other processes in /proc, so a start time
 * read there proves nothing. A live process's cached blocks must not be
 * returned by another process's open or check: before the fix the peer's
 * open took the cacher (pid 1 in the namespace, whose /proc/1 is the host's
 * init) for dead, freed its cached blocks, and every later alloc from its
 * cache gave -EBADMSG on a healthy heap.
 * Root only (unshare); skipped otherwise. */
/* TIMEOUT: 60 */
#include "test.h"

#include <sched.h>
#include <signal.h>
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
static int cacher(void)
{
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

int main(void)
{
	struct shmkit_heap *h;
	int status;

	if (geteuid() != 0)
		test_skip("needs root (unshare)");
	heap_uri = test_uri("posix", "h-cache-pidns");
	CHECK_RET(shmkit_heap_create(&h, heap_uri, HEAP_SIZE, 0600), 0);
	fflush(NULL);
	pid_t outer = fork();
	CHECK(outer >= 0);
	if (outer == 0) {
		if (unshare(CLONE_NEWPID) != 0)
			_exit(77);
		pid_t in = fork();
		if (in == 0)
			_exit(cacher());
		if (in < 0 || waitpid(in, &status, 0) != in || !WIFEXITED(status))
			_exit(50);
		_exit(WEXITSTATUS(status));
	}
	CHECK(waitpid(outer, &status, 0) == outer && WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		test_skip("unshare(CLONE_NEWPID) refused");
	if (WEXITSTATUS(status) != 0)
		fprintf(stderr, "the namespace's processes exited %d\n", WEXITSTATUS(status));
	CHECK(WEXITSTATUS(status) == 0);
	CHECK_RET(shmkit_heap_check(h), 0);
	shmkit_heap_close(h);
	return test_done();
}
