/* Shared areas for the sync tests, on three kinds of shared memory:
 * "anon" (MAP_SHARED|MAP_ANONYMOUS, shared with forked children only),
 * "posix" (shm_open by name) and "sysv" (shmget/shmat). Exec'd children
 * attach by the descriptor string, so their mapping lands at another address.
 * Built on raw system calls so the sync tests do not depend on the segment
 * layer; every area is removed at exit. */
#ifndef SHMKIT_TEST_SYNC_AREA_H
#define SHMKIT_TEST_SYNC_AREA_H

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

#pragma GCC diagnostic ignored "-Wunused-function"

static char area_posix_names[8][128];
static int area_n_posix;
static pid_t area_owner;

static void area_cleanup(void)
{
	if (getpid() != area_owner)
		return;
	for (int i = 0; i < area_n_posix; i++)
		shm_unlink(area_posix_names[i]);
	area_n_posix = 0;
}

/* Creates a zeroed area of `size` bytes; writes its descriptor ("anon:",
 * "posix:/name" or "sysv:id=N") to desc. */
static void *area_create(const char *scheme, size_t size, char *desc, size_t cap)
{
	void *p = MAP_FAILED;

	if (!area_owner) {
		area_owner = getpid();
		atexit(area_cleanup);
	}
	if (strcmp(scheme, "anon") == 0) {
		snprintf(desc, cap, "anon:");
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	} else if (strcmp(scheme, "posix") == 0) {
		const char *uri = test_uri("posix", "sync"); /* "posix:/name" */
		const char *name = uri + 6;
		snprintf(area_posix_names[area_n_posix++], sizeof(area_posix_names[0]), "%s", name);
		snprintf(desc, cap, "%s", uri);
		int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
		free((void *)uri); /* test_uri's copy is ours (LeakSanitizer) */
		CHECK(fd >= 0);
		CHECK(ftruncate(fd, (off_t)size) == 0);
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
	} else if (strcmp(scheme, "sysv") == 0) {
		int id = shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
		CHECK(id >= 0);
		snprintf(desc, cap, "sysv:id=%d", id);
		p = shmat(id, NULL, 0);
		if (p == (void *)-1)
			p = MAP_FAILED;
		/* Linux lets processes attach a segment marked for removal, so
		 * this makes it vanish with its last detach, even if we crash. */
		shmctl(id, IPC_RMID, NULL);
	}
	CHECK(p != MAP_FAILED);
	return p;
}

/* In an exec'd child: attaches the area named by desc. */
static void *area_attach(const char *desc, size_t size)
{
	void *p = MAP_FAILED;
	int id;

	if (strncmp(desc, "posix:", 6) == 0) {
		int fd = shm_open(desc + 6, O_RDWR, 0);
		CHECK(fd >= 0);
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
	} else if (sscanf(desc, "sysv:id=%d", &id) == 1) {
		p = shmat(id, NULL, 0);
		if (p == (void *)-1)
			p = MAP_FAILED;
	}
	CHECK(p != MAP_FAILED);
	return p;
}

/* Process state letter from /proc/PID/stat ('S' = sleeping), or '?'. */
static char area_proc_state(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return '?';
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' ? rp[2] : '?';
}

/* Waits (up to 10 s) until pid sleeps in the kernel; 0 or -ETIMEDOUT. */
static int area_wait_sleeping(pid_t pid)
{
	for (int i = 0; i < 10000; i++) {
		if (area_proc_state(pid) == 'S')
			return 0;
		usleep(1000);
	}
	return -ETIMEDOUT;
}

#endif
