/* SPDX-License-Identifier: MIT */
/* Shared areas for the sync tests, made through the segment layer on three
 * backends: "anon" (shared with forked children only), "posix" and "sysv".
 * Exec'd children attach by URI, so their mapping lands at another address.
 * Every area is closed at exit and removed by the harness (test_uri). */
#ifndef SHMKIT_TEST_SYNC_AREA_H
#define SHMKIT_TEST_SYNC_AREA_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

#pragma GCC diagnostic ignored "-Wunused-function"

#define AREA_MAX 32
static struct shmkit_seg *area_segs[AREA_MAX];
static int area_n;
static pid_t area_owner;

static void area_cleanup(void)
{
	if (getpid() != area_owner)
		return;
	while (area_n > 0)
		shmkit_seg_close(area_segs[--area_n]);
}

static void area_keep(struct shmkit_seg *seg)
{
	if (!area_owner) {
		area_owner = getpid();
		atexit(area_cleanup); /* runs before the harness removes the segments */
	}
	if (area_n < AREA_MAX)
		area_segs[area_n++] = seg;
}

/* Creates a zeroed area of `size` bytes on `scheme`; writes its URI to uri. */
static void *area_create(const char *scheme, size_t size, char *uri, size_t cap)
{
	struct shmkit_seg *seg = NULL;
	const char *u = test_uri(scheme, "sync");

	snprintf(uri, cap, "%s", u);
	free((void *)u); /* test_uri's copy is ours (LeakSanitizer) */
	CHECK_OK(shmkit_seg_open(&seg, uri, size, SHMKIT_CREATE | SHMKIT_EXCL, 0600));
	if (!seg)
		exit(1);
	area_keep(seg);
	return shmkit_seg_addr(seg);
}

/* In an exec'd child: attaches the area named by uri (whole). */
static void *area_attach(const char *uri, size_t size)
{
	struct shmkit_seg *seg = NULL;
	CHECK_OK(shmkit_seg_open(&seg, uri, 0, 0, 0));
	if (!seg)
		exit(1);
	CHECK(shmkit_seg_size(seg) >= size);
	return shmkit_seg_addr(seg);
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

/* 1 if /proc/PID/wchan names a futex wait, or if the kernel hides it. */
static int area_in_futex(pid_t pid)
{
	char path[64], buf[128] = "";
	snprintf(path, sizeof(path), "/proc/%d/wchan", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, "futex") != NULL || strcmp(buf, "0") == 0 || n == 0;
}

/* Waits (up to 10 s) until pid sleeps in a futex wait; 0 or -ETIMEDOUT. */
static int area_wait_sleeping(pid_t pid)
{
	for (int i = 0; i < 10000; i++) {
		if (area_proc_state(pid) == 'S' && area_in_futex(pid))
			return 0;
		usleep(1000);
	}
	return -ETIMEDOUT;
}

#endif
