/* SPDX-License-Identifier: MIT */
/* The bench's side of a latctl run: see latrun.h. */
#include "latrun.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

pid_t latrun_fork(void)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	return pid;
}

void latrun_exec_iceoryx(int is_pub, int ctl_fd, char tag, uint32_t k)
{
#ifdef SHMKIT_PEER_ICEORYX
	char fd[16], kk[16], event[32];
	snprintf(fd, sizeof(fd), "%d", ctl_fd);
	snprintf(kk, sizeof(kk), "%u", k);
	snprintf(event, sizeof(event), "%c%d", tag, (int)getppid());
	execl(SHMKIT_PEER_ICEORYX, "peer_iceoryx", is_pub ? "pub" : "sub", fd, event, kk,
	      (char *)NULL);
#else
	(void)is_pub;
	(void)ctl_fd;
	(void)tag;
	(void)k;
#endif
	_exit(127);
}

int latrun_wait(struct latctl *c, pid_t *pids, int n, unsigned poll_us, long *minflt)
{
	int64_t end = bench_now_ns() + LATRUN_TIMEOUT_NS;
	int bad = 0, left = n;

	if (minflt)
		*minflt = 0;
	while (left > 0) {
		int status;
		struct rusage ru;
		pid_t pid = wait4(-1, &status, WNOHANG, &ru);
		if (pid > 0) {
			for (int i = 0; i < n; i++)
				if (pids[i] == pid) {
					pids[i] = -1;
					left--;
					if (minflt)
						*minflt += ru.ru_minflt;
					bad |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
				}
			continue;
		}
		if (bench_now_ns() > end) {
			atomic_store(&c->failed, 1);
			for (int i = 0; i < n; i++)
				if (pids[i] > 0)
					kill(pids[i], SIGKILL);
			end = INT64_MAX;
			bad = 1;
		}
		usleep(poll_us);
	}
	return bad || atomic_load(&c->failed) ? -EIO : 0;
}
