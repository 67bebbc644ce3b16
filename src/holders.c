/* SPDX-License-Identifier: MIT */
/* Who holds a segment: /proc (mappings and descriptors of every process we
 * may read) and the kernel's write lease (granted only when no other open
 * file refers to it, which covers processes we may not read). For gc before
 * it removes anything, and for create() before it takes over a name whose
 * creator died before writing a header. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/backend.h"
#include "holders.h"
#include "internal.h"
#include "proc.h"

/* ---- who uses an object (src/proc.c walks /proc) ---- */

/* How many times a holder that may be a look's brief open is asked about
 * (a descriptor only, or a refused lease): about 30 ms in all. */
#define LOOK_TRIES 6

struct use_report {
	pid_t user;	   /* a process that maps or holds it, 0 if none */
	int n_uninspected; /* processes that might, whose /proc we cannot read; -1 no /proc */
	pid_t uninspected; /* one of them */
};

static int first_user(pid_t pid, void *arg)
{
	*(pid_t *)arg = pid;
	return 1; /* one is enough */
}

static void find_users(const struct shmkit__obj_ref *ref, struct use_report *rep)
{
	struct shmkit__users u;
	memset(rep, 0, sizeof(*rep));
	shmkit__proc_users(ref, 1, first_user, &rep->user, &u);
	rep->n_uninspected = rep->user ? 0 : u.n_uninspected;
	rep->uninspected = u.uninspected;
}

/* Does the user found only hold a descriptor (no mapping)? A look does:
 * `shmkit ls` or stat, another gc's peek, for a few milliseconds. */
static int descriptor_only(const struct shmkit__obj_ref *ref, pid_t pid)
{
	unsigned long addr = 1;
	return shmkit__proc_pid_uses(pid, ref, &addr) == 1 && addr == 0;
}

/* A user that holds only a descriptor is looked at again a few times,
 * 2-9 ms apart (as a refused lease is, below): a look's brief open is no
 * use of the object, and gc kept orphans a concurrent `shmkit ls` was
 * reading at that instant. A mapping is a use at once. */
static void find_users_patient(const struct shmkit__obj_ref *ref, struct use_report *rep)
{
	find_users(ref, rep);
	for (int i = 1; rep->user && i < LOOK_TRIES && descriptor_only(ref, rep->user); i++) {
		shmkit__sleep_ns((2 + shmkit__now_ns() / 1000 % 8) * 1000000ll);
		find_users(ref, rep);
	}
}

/* ---- the kernel's word on open files: a write lease ----
 * The kernel grants a write lease on a file only when no other open file
 * refers to it (read or write; every mapping holds one). Processes whose
 * /proc we may not read (more privileged ones) are covered by it. The probe
 * runs in a child: a lease break signals the holder with SIGIO, which would
 * end the caller. The child ignores SIGIO and reads a break back
 * (F_GETLEASE): a child killed by any signal is a probe that did not
 * answer, never a holder found, and no SIGIO handler or mask inherited from
 * the caller changes the answer. */

/* Does this kernel count read-only opens for leases (CONFIG_IMA)? 1 yes,
 * 0 no (or no way to tell), negative errno when the file to try it on
 * cannot be made (no free inode on a full /dev/shm: no answer, not "not
 * counted"). Child only. */
static int lease_counts_readers(void)
{
	int w = open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (w < 0) /* EISDIR, EOPNOTSUPP: no O_TMPFILE here, so no way to tell */
		return errno == EISDIR || errno == EOPNOTSUPP ? 0 : -errno;
	char path[64];
	snprintf(path, sizeof(path), "%s/fd/%d", shmkit__proc_self_dir(), w);
	int r1 = open(path, O_RDONLY | O_CLOEXEC);
	close(w);
	if (r1 < 0)
		return 0;
	snprintf(path, sizeof(path), "%s/fd/%d", shmkit__proc_self_dir(), r1);
	int r2 = open(path, O_RDONLY | O_CLOEXEC);
	int counted = r2 >= 0 && fcntl(r2, F_SETLEASE, F_WRLCK) < 0 && errno == EAGAIN;
	if (r2 >= 0)
		close(r2);
	close(r1);
	return counted;
}

/* Exit codes of the probe child, with lease_probe()'s answer for each in
 * brackets: granted [1], broken since by an open [0], refused or another
 * lease holder [-EAGAIN], readers not counted [-ENOTSUP], the name names
 * another file now [-ESTALE], or
 * PROBE_ERRNO + errno [-errno: -ENOENT when the file was removed meanwhile,
 * by a concurrent gc say, which is no permission problem]. */
enum { PROBE_FREE, PROBE_HELD, PROBE_REFUSED, PROBE_OTHER, PROBE_UNCOUNTED, PROBE_ERRNO = 64 };

/* Why a probe gave no answer: the signal that killed it, or the errno of
 * starting (or waiting for) it. */
struct probe_fail {
	int sig;
	int spawn_err;
};

static _Noreturn void probe_exit_errno(int err)
{
	_exit(err > 0 && err < 256 - PROBE_ERRNO ? PROBE_ERRNO + err : PROBE_ERRNO + EIO);
}

/* The child's probe of ref's file, open as pfd or under path. */
static _Noreturn void probe_child(const struct shmkit__obj_ref *ref, const char *path, int pfd)
{
	struct stat sb;
	int counted = lease_counts_readers();
	if (counted < 0)
		probe_exit_errno(-counted);
	if (!counted)
		_exit(PROBE_UNCOUNTED);
	signal(SIGIO, SIG_IGN); /* a break is read back below */
	SHMKIT__TEST_POINT("holders.probe");
	int fd = pfd >= 0 ? shmkit__reopen_path_fd(pfd, O_RDONLY | O_NONBLOCK)
			  : open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 && errno == EWOULDBLOCK)
		_exit(PROBE_REFUSED); /* another lease holder */
	if (fd < 0)
		probe_exit_errno(errno == ELOOP ? ESTALE : errno); /* ELOOP: a symlink now */
	/* the name may name another file by now: its holders are not ref's */
	if (fstat(fd, &sb) < 0)
		probe_exit_errno(errno);
	if (sb.st_dev != ref->dev || (uint64_t)sb.st_ino != ref->ino)
		_exit(PROBE_OTHER);
	if (fcntl(fd, F_SETLEASE, F_WRLCK) < 0) {
		if (errno == EAGAIN)
			_exit(PROBE_REFUSED);
		probe_exit_errno(errno);
	}
	SHMKIT__TEST_POINT("holders.leased");
	/* an open since the grant is breaking it: "somebody has", unless a
	 * grant alone answers (pfd, see lease_probe) */
	int broken = fcntl(fd, F_GETLEASE) != F_WRLCK;
	fcntl(fd, F_SETLEASE, F_UNLCK);
	_exit(broken && pfd < 0 ? PROBE_HELD : PROBE_FREE);
}

/* 1 nobody else has the file open or mapped, 0 somebody opened it while we
 * held the lease, -EAGAIN somebody has it open (or a lease on it), other
 * negative errno when the kernel cannot be asked (no lease rights, readers not counted;
 * -ENOENT the file is gone, -ESTALE its name names another file now).
 * The file is the one open as pfd (O_PATH) if pfd >= 0, else path's. With
 * pfd, a lease granted is the answer even if an open breaks it at once: at
 * that instant no other open file referred to it, which is all a take-over
 * asks (abandoned.c: a creator holds its descriptor throughout); else such
 * an open makes it "somebody has". -EINTR: the child was killed (its
 * signal in f->sig) before it answered, by whoever signals our process group
 * or by the OOM killer: no answer, and no holder either. -ECHILD: the probe
 * could not run (f->spawn_err: clone failed, under RLIMIT_NPROC or a
 * seccomp filter, or it could not be waited for): no answer either. */
static int lease_probe(const struct shmkit__obj_ref *ref, const char *path, int pfd,
		       struct probe_fail *f)
{
	/* clone with exit signal 0 (flags 0; newsp 0: the child runs on a
	 * copy of this stack, as after fork): its end sends the caller no
	 * SIGCHLD (a handler of the caller's is not run, a reaper's
	 * waitpid(-1) does not take it: that waits for SIGCHLD children only),
	 * and it is not reaped by the kernel when the caller ignores SIGCHLD
	 * (SIG_IGN, SA_NOCLDWAIT: common in daemons), so waitpid below sees its
	 * status. No atfork handlers run; the child makes system calls only. */
	long pid = syscall(SYS_clone, 0L, 0L, NULL, NULL, 0L);
	if (pid < 0) {
		f->spawn_err = errno; /* EAGAIN under RLIMIT_NPROC, EPERM from seccomp */
		return -ECHILD;
	}
	if (pid == 0)
		probe_child(ref, path, pfd);
	int status;
	/* __WCLONE: a child whose exit signal is not SIGCHLD */
	while (waitpid((pid_t)pid, &status, __WCLONE) < 0)
		if (errno != EINTR) {
			f->spawn_err = errno;
			return -ECHILD;
		}
	if (WIFSIGNALED(status)) {
		f->sig = WTERMSIG(status);
		return -EINTR;
	}
	int code = WEXITSTATUS(status);
	switch (code) {
	case PROBE_FREE:
		return 1;
	case PROBE_HELD:
		return 0;
	case PROBE_REFUSED:
		return -EAGAIN;
	case PROBE_OTHER:
		return -ESTALE;
	case PROBE_UNCOUNTED:
		return -ENOTSUP;
	default:
		return code > PROBE_ERRNO ? -(code - PROBE_ERRNO) : -EIO;
	}
}

/* A lease refused may be a look's brief open: another gc's peek or lease
 * probe at the same file (two gcs at once then kept each other's orphans,
 * "a process that cannot be inspected has it open"), a `shmkit ls`. So a
 * refusal is asked again a few times, 2-9 ms apart with a jitter (two gcs
 * must not meet again), about 30 ms in all; a holder that stays is one.
 * An open that broke a granted lease is not asked again: an opener came. */
static int lease_probe_patient(const struct shmkit__obj_ref *ref, const char *path, int pfd,
			       struct probe_fail *f)
{
	int r = lease_probe(ref, path, pfd, f);
	for (int i = 1; r == -EAGAIN && i < LOOK_TRIES; i++) {
		shmkit__sleep_ns((2 + shmkit__now_ns() / 1000 % 8) * 1000000ll);
		r = lease_probe(ref, path, pfd, f);
	}
	return r == -EAGAIN ? 0 : r;
}

static int verdict(const struct shmkit__obj_ref *ref, const char *path, int pfd,
		   int kernel_counted, char *why, size_t cap)
{
	struct use_report rep;
	find_users_patient(ref, &rep);
	if (rep.user) {
		char comm[32];
		shmkit__proc_comm(rep.user, comm, sizeof(comm));
		snprintf(why, cap, "mapped or held open by live pid %d (%s)", (int)rep.user, comm);
		return 0;
	}
	if (kernel_counted) {
		snprintf(why, cap, "no attaches (kernel count)");
		return 1;
	}
	/* the walk skips this process (gc's own looks); a caller that maps
	 * the object itself keeps it, and is told so, not "cannot be inspected" */
	struct shmkit__obj_ref self = *ref;
	self.skip_path_fds = 1; /* our own O_PATH hold on the file judged is no use */
	if (shmkit__proc_pid_uses(getpid(), &self, NULL) == 1) {
		snprintf(why, cap, "mapped or held open by this process (pid %d), the one running gc",
			 (int)getpid());
		return 0;
	}
	struct probe_fail f = { 0, 0 };
	int lease = path || pfd >= 0 ? lease_probe_patient(ref, path, pfd, &f) : -ENOTSUP;
	if (lease == -EINTR) {
		snprintf(why, cap,
			 "who holds it cannot be told: the kernel's lease probe (a child "
			 "process) was killed by signal %d (%s)",
			 f.sig, strsignal(f.sig));
		return -1;
	}
	if (lease == -ECHILD) {
		/* /proc cannot see a process of another pid namespace that maps
		 * it: only the lease could, and a failed fork is no answer */
		snprintf(why, cap, "who holds it cannot be told: could not ask the kernel: fork "
				   "failed: %s",
			 shmkit_strerror(-f.spawn_err));
		return -1;
	}
	if (lease == -ENOENT || lease == -ESTALE) {
		snprintf(why, cap, "%s meanwhile: who holds the file judged cannot be asked",
			 lease == -ENOENT ? "it was removed" : "its name names another file");
		return -1;
	}
	if (lease == 0) {
		snprintf(why, cap,
			 "a process that cannot be inspected has it open or mapped "
			 "(the kernel refused a write lease, or an open broke it)");
		return 0;
	}
	if (lease == 1) {
		snprintf(why, cap,
			 "no live process maps or holds it (/proc%s, and the kernel "
			 "granted a write lease)",
			 rep.n_uninspected ? " where readable" : "");
		return 1;
	}
	if (rep.n_uninspected < 0) {
		snprintf(why, cap, "/proc is not readable: cannot see who maps it");
		return -1;
	}
	if (rep.n_uninspected) {
		snprintf(why, cap,
			 "%d process%s (e.g. pid %d) may map it but cannot be inspected "
			 "(permission denied), and the kernel cannot be asked (%s)",
			 rep.n_uninspected, rep.n_uninspected == 1 ? "" : "es",
			 (int)rep.uninspected, shmkit_strerror(lease));
		return -1;
	}
	snprintf(why, cap, "no live process maps or holds it (/proc)");
	return 1;
}

int shmkit__holders_verdict(const struct shmkit__obj_ref *ref, const char *path, int kernel_counted,
			    char *why, size_t cap)
{
	return verdict(ref, path, -1, kernel_counted, why, cap);
}

int shmkit__holders_verdict_fd(const struct shmkit__obj_ref *ref, int pfd, char *why, size_t cap)
{
	return verdict(ref, NULL, pfd, 0, why, cap);
}
