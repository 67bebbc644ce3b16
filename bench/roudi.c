/* SPDX-License-Identifier: MIT */
/* Starting and stopping Eclipse iceoryx's RouDi daemon for the suites that
 * compare against iceoryx (pubsub, queue). One RouDi per machine: its
 * management segment has a fixed name, so a RouDi somebody else runs is left
 * alone (-EBUSY) rather than replaced. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define ROUDI_MGMT "/dev/shm/iceoryx_mgmt"
#define ROUDI_START_NS 10000000000ll
#define ROUDI_STOP_NS 5000000000ll

static int roudi_path(char *buf, size_t cap)
{
	const char *path = getenv("PATH");
	char dirs[4096];

	snprintf(dirs, sizeof(dirs), "%s", path ? path : "/usr/bin:/bin");
	for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d;
	     d = strtok_r(NULL, ":", &save)) {
		snprintf(buf, cap, "%s/iox-roudi", d);
		if (access(buf, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

/* RouDi is serving once its management segment exists and a short pause
 * later (it creates the segment before it listens). */
static int roudi_up(void)
{
	return access(ROUDI_MGMT, F_OK) == 0;
}

int bench_roudi_start(struct bench_roudi *r)
{
	char path[4200];

	r->pid = -1;
	if (roudi_path(path, sizeof(path)) < 0)
		return -ENOENT;
	if (roudi_up())
		return -EBUSY; /* somebody's RouDi (or its leftovers): not ours to stop */
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* If the bench dies, so does its RouDi (no orphan daemon). */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		execl(path, "iox-roudi", (char *)NULL);
		_exit(127);
	}
	r->pid = pid;
	int64_t end = bench_now_ns() + ROUDI_START_NS;
	while (!roudi_up()) {
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid || bench_now_ns() > end) {
			bench_roudi_stop(r);
			return -ETIMEDOUT;
		}
		usleep(10000);
	}
	usleep(200000);
	return 0;
}

void bench_roudi_stop(struct bench_roudi *r)
{
	int status;

	if (r->pid <= 0)
		return;
	kill(r->pid, SIGTERM);
	int64_t end = bench_now_ns() + ROUDI_STOP_NS;
	while (waitpid(r->pid, &status, WNOHANG) == 0) {
		if (bench_now_ns() > end) {
			kill(r->pid, SIGKILL);
			waitpid(r->pid, &status, 0);
			break;
		}
		usleep(10000);
	}
	r->pid = -1;
}
