/* SPDX-License-Identifier: MIT */
/* The bench's side of a latctl run (bench/latctl.h), shared by the suites
 * that fork a publisher and its subscribers (pubsub, large): forking a
 * side, making it the iceoryx peer, and waiting for the sides to end. None
 * of it runs while a side measures. */
#ifndef SHMKIT_BENCH_LATRUN_H
#define SHMKIT_BENCH_LATRUN_H

#include <stdint.h>
#include <sys/types.h>

#include "latctl.h"

/* The longest a run may take before its sides are killed. */
#define LATRUN_TIMEOUT_NS 120000000000ll

/* fork(), after flushing stdio: the pid in the parent, 0 in the child,
 * which is killed with the bench (it never outlives it, even spinning). */
pid_t latrun_fork(void);

/* In a forked side: becomes bench/peers/peer_iceoryx, the publisher or
 * subscriber k, on the control memfd ctl_fd and the iceoryx event named
 * tag and the bench's pid; exits 127 where the peer is not built. */
void latrun_exec_iceoryx(int is_pub, int ctl_fd, char tag, uint32_t k)
	__attribute__((noreturn));

/* Waits for the n sides pids[] (each set to -1 as it ends), looking every
 * poll_us; kills them all and marks the run failed if it overstays
 * LATRUN_TIMEOUT_NS. minflt (NULL: not counted) gets the sum of their minor
 * page faults. 0 if every side exited 0 and none failed, else -EIO. */
int latrun_wait(struct latctl *c, pid_t *pids, int n, unsigned poll_us, long *minflt);

#endif
