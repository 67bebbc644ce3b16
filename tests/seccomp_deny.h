/* SPDX-License-Identifier: MIT */
/* Tests: make some system calls fail with an errno from here on (this
 * process, its children and what they exec), as a seccomp filter installed
 * by systemd (SystemCallFilter=) or a container runtime does. A raw BPF
 * program set with prctl(PR_SET_SECCOMP): no libseccomp needed. */
#ifndef SHMKIT_TEST_SECCOMP_DENY_H
#define SHMKIT_TEST_SECCOMP_DENY_H

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__i386__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_I386
#elif defined(__aarch64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef TEST_AUDIT_ARCH
/* A filter's first four instructions: other architectures pass, then the
 * system call's number is loaded. Returns how many it wrote. */
static inline unsigned short test_seccomp_prologue(struct sock_filter *f)
{
	f[0] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					    offsetof(struct seccomp_data, arch));
	f[1] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 1, 0);
	f[2] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[3] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					    offsetof(struct seccomp_data, nr));
	return 4;
}

/* Installs the k instructions of f: 0, or -1. */
static inline int test_seccomp_install(struct sock_filter *f, unsigned short k)
{
	struct sock_fprog prog = { k, f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -1;
	return 0;
}
#endif

/* Each of the n system call numbers in nrs (negative: skipped) fails with
 * err: 0, or -1 when no filter can be installed here (another architecture,
 * no seccomp). */
static inline int test_seccomp_deny(const long *nrs, int n, int err)
{
#ifdef TEST_AUDIT_ARCH
	struct sock_filter f[4 + 2 * 8 + 1];
	if (n > 8)
		return -1;
	unsigned short k = test_seccomp_prologue(f);
	for (int i = 0; i < n; i++) {
		if (nrs[i] < 0)
			continue;
		f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nrs[i], 0, 1);
		f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
						      SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA));
	}
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	return test_seccomp_install(f, k);
#else
	(void)nrs;
	(void)n;
	(void)err;
	return -1;
#endif
}

/* System call nr fails with err from here on, but only when its first
 * argument's low 32 bits are arg0 (socket(AF_UNIX, ...), say); any call
 * when arg0 < 0. 0, or -1 as above. */
static inline int test_seccomp_deny_arg0(long nr, int err, long arg0)
{
#ifdef TEST_AUDIT_ARCH
	struct sock_filter f[10];
#ifdef __i386__
	/* glibc may reach these through socketcall(2) there: no filter on
	 * their own numbers would hold */
	if (nr == SYS_socket || nr == SYS_sendto)
		return -1;
#endif
	unsigned short k = test_seccomp_prologue(f);
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 1, 0);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	if (arg0 >= 0) {
		/* the low 32 bits of args[0] on a little-endian machine */
		f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
						      offsetof(struct seccomp_data, args[0]));
		f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)arg0, 1, 0);
		f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	}
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
					      SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA));
	return test_seccomp_install(f, k);
#else
	(void)nr;
	(void)err;
	(void)arg0;
	return -1;
#endif
}

#endif
