/* SPDX-License-Identifier: MIT */
/* A process whose main thread called pthread_exit() while its other
 * threads run: its leader is a zombie, and /proc/PID (and /proc/self, in
 * it) shows no maps, descriptors or namespaces. The library judges from
 * /proc/thread-self in such a process, and through a live thread of such
 * a process from outside:
 * - its main thread dies holding 40 mutexes (8 of them off the kernel's
 *   robust list, judged by /proc): a worker thread recovers all 40;
 * - another process dies holding 40: a worker of a zombie-leader process
 *   recovers all 40 (it reads its own maps to judge the holder);
 * - a zombie-leader process that maps a segment (descriptor closed) is
 *   seen as its mapper by shmkit_stat and kept by gc.
 * Real processes (fork); the mutexes in a shared anonymous mapping. */
#include "test.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define HELD 40 /* more than the kernel's robust-list walk takes (32) */
#define SEC 1000000000ll

static struct shmkit_mutex *mx;

static struct shmkit_mutex *mutexes_new(void)
{
	void *p = mmap(NULL, HELD * sizeof(struct shmkit_mutex), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	struct shmkit_mutex *m = p;
	for (int i = 0; i < HELD; i++)
		CHECK_OK(shmkit_mutex_init(&m[i]));
	return m;
}

/* Locks each mutex with a timeout: exits 0 if every one came back
 * -EOWNERDEAD (made consistent and unlocked), else 10 + how many did not. */
static void *recover_all(void *arg)
{
	int bad = 0;
	(void)arg;
	usleep(200000); /* the holder is gone by now */
	for (int i = 0; i < HELD; i++) {
		int r = shmkit_mutex_lock(&mx[i], 2 * SEC);
		if (r == -EOWNERDEAD) {
			shmkit_mutex_consistent(&mx[i]);
			shmkit_mutex_unlock(&mx[i]);
			continue;
		}
		fprintf(stderr, "mutex %d: %s\n", i, shmkit_strerror(r));
		if (r == 0)
			shmkit_mutex_unlock(&mx[i]);
		bad++;
	}
	exit(bad ? 10 + bad : 0);
}

/* The main thread takes all, starts the recoverer and exits alone. */
static int main_exits_holding(void *arg)
{
	pthread_t t;
	(void)arg;
	for (int i = 0; i < HELD; i++)
		if (shmkit_mutex_lock(&mx[i], 0) != 0)
			return 2;
	if (pthread_create(&t, NULL, recover_all, NULL) != 0)
		return 3;
	pthread_exit(NULL);
}

/* A process that takes all and dies (kill -9 by the test). */
static int hold_and_wait(void *arg)
{
	int *ready = arg;
	for (int i = 0; i < HELD; i++)
		if (shmkit_mutex_lock(&mx[i], 0) != 0)
			return 2;
	__atomic_store_n(ready, 1, __ATOMIC_RELEASE);
	for (;;)
		pause();
}

/* Its main thread exits first, then a worker recovers another's locks. */
static int zombie_recovers(void *arg)
{
	pthread_t t;
	(void)arg;
	if (pthread_create(&t, NULL, recover_all, NULL) != 0)
		return 3;
	pthread_exit(NULL);
}

static void test_mutexes(void)
{
	mx = mutexes_new();
	CHECK_RET(test_wait(test_fork(main_exits_holding, NULL)), 0);

	int *ready = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			  -1, 0);
	CHECK(ready != MAP_FAILED);
	pid_t holder = test_fork(hold_and_wait, ready);
	for (int i = 0; i < 1000 && !__atomic_load_n(ready, __ATOMIC_ACQUIRE); i++)
		usleep(5000);
	CHECK(kill(holder, SIGKILL) == 0);
	CHECK_RET(test_wait(holder), 128 + SIGKILL);
	CHECK_RET(test_wait(test_fork(zombie_recovers, NULL)), 0);
	munmap(ready, sizeof(int));
	munmap(mx, HELD * sizeof(struct shmkit_mutex));
}

static const char *seg_uri;

/* Maps the segment with its descriptor closed, and its main thread
 * exits; a worker keeps the mapping until killed. */
static void *idle(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static int zombie_maps(void *arg)
{
	struct shmkit_seg *s;
	pthread_t t;
	int *ready = arg;
	if (shmkit_seg_open(&s, seg_uri, 0, 0, 0) != 0)
		return 2;
	/* the mapping only: a second one of the same object, the handle closed */
	int fd = shmkit_seg_fd(s);
	void *p = mmap(NULL, shmkit_seg_size(s), PROT_READ, MAP_SHARED, fd, 0);
	shmkit_seg_close(s);
	if (p == MAP_FAILED || pthread_create(&t, NULL, idle, NULL) != 0)
		return 3;
	__atomic_store_n(ready, 1, __ATOMIC_RELEASE);
	pthread_exit(NULL);
}

static void test_mapper_seen(void)
{
	struct shmkit_raw *r;
	struct shmkit_stat st;

	seg_uri = test_uri("posix", "zombie-map");
	CHECK_OK(shmkit_raw_create(&r, seg_uri, 4096, 0600));
	CHECK_OK(shmkit_raw_close(r));
	int *ready = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			  -1, 0);
	CHECK(ready != MAP_FAILED);
	pid_t pid = test_fork(zombie_maps, ready);
	for (int i = 0; i < 1000 && !__atomic_load_n(ready, __ATOMIC_ACQUIRE); i++)
		usleep(5000);
	usleep(100000); /* its main thread has exited */
	CHECK_OK(shmkit_stat(seg_uri, &st));
	int seen = 0;
	for (int i = 0; i < st.n_mappers && i < SHMKIT_STAT_MAPPERS; i++)
		seen |= st.mappers[i].pid == pid;
	CHECK(seen);
	CHECK(kill(pid, SIGKILL) == 0);
	CHECK_RET(test_wait(pid), 128 + SIGKILL);
	munmap(ready, sizeof(int));
	CHECK_OK(shmkit_remove(seg_uri));
}

int main(int argc, char **argv)
{
	test_child_dispatch(argc, argv, NULL);
	test_mutexes();
	test_mapper_seen();
	return test_done();
}
