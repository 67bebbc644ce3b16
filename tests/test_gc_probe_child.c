/* SPDX-License-Identifier: MIT */
/* gc's lease probe (a child process, src/holders.c) is independent of the
 * caller's SIGCHLD: with SIGCHLD ignored (SIG_IGN, auto-reaping, as daemons
 * set it) an orphan is still proven and found; a caller's SIGCHLD handler
 * is not run for it and the caller's own children stay the caller's to
 * reap. And where the probe cannot start at all (clone refused: RLIMIT_NPROC,
 * a seccomp filter) gc says so ("could not ask the kernel: fork failed")
 * instead of claiming a process holds the object, and keeps it: no answer
 * is no proof (nor is a stranded 0-byte name taken over on it). */
#include "test.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gc_seen.h"
#include "seccomp_deny.h"

static int create_and_die(void *arg)
{
	struct shmkit_queue *q;
	struct shmkit_queue_opts o = { .capacity = 4, .max_msg = 16 };
	return shmkit_queue_create(&q, arg, &o) == 0 ? 0 : 1; /* exits without close */
}

/* An owned queue whose creator is dead: gc may remove it. */
static const char *orphan(const char *tag)
{
	const char *uri = test_uri("posix", tag);
	CHECK_RET(test_wait(test_fork(create_and_die, (void *)uri)), 0);
	return uri;
}

static void dry_gc(const char *uri, struct seen *s)
{
	CHECK(gc_once(uri, SHMKIT_GC_DRY_RUN, uri, NULL, s) >= 0);
	CHECK(s->found == 1 && s->total == 1);
}

/* A posix: name made and left at 0 bytes, as by a creator killed before it sized it. */
static int make_empty(const char *uri)
{
	char path[512];
	snprintf(path, sizeof(path), "/dev/shm%s", uri + strlen("posix:"));
	int fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static void test_sigchld_ignored(void)
{
	const char *uri = orphan("ign"), *stranded = test_uri("posix", "stranded-ign");
	struct seen s;
	signal(SIGCHLD, SIG_IGN);
	dry_gc(uri, &s);
	CHECK(s.verdict == SHMKIT_GC_WOULD_REMOVE);
	CHECK(strstr(s.reason, "granted a write lease") != NULL);
	/* a name stranded at 0 bytes (its creator died before sizing it) is
	 * taken over: the probe says nobody holds it */
	CHECK(make_empty(stranded) == 0);
	struct shmkit_queue *q;
	struct shmkit_queue_opts o = { .capacity = 4, .max_msg = 16 };
	CHECK_OK(shmkit_queue_create(&q, stranded, &o));
	shmkit_queue_close(q);
	signal(SIGCHLD, SIG_DFL);
}

static volatile sig_atomic_t sigchld_seen;

static void on_sigchld(int sig)
{
	(void)sig;
	sigchld_seen++;
}

/* A caller with its own SIGCHLD handler and a child of its own. */
static void test_sigchld_handler(void)
{
	const char *uri = orphan("handler");
	int p[2];
	CHECK(pipe(p) == 0);
	pid_t mine = fork();
	if (mine == 0) {
		char c;
		close(p[1]);
		_exit(read(p[0], &c, 1) == 0 ? 7 : 1);
	}
	close(p[0]);
	struct sigaction sa = { .sa_handler = on_sigchld, .sa_flags = SA_RESTART }, old;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGCHLD, &sa, &old) == 0);
	struct seen s;
	dry_gc(uri, &s);
	CHECK(s.verdict == SHMKIT_GC_WOULD_REMOVE);
	CHECK(sigchld_seen == 0); /* the probe's end is not the caller's signal */
	close(p[1]);		  /* our child ends now, and is still ours to reap */
	int status;
	CHECK(waitpid(mine, &status, 0) == mine && WIFEXITED(status) && WEXITSTATUS(status) == 7);
	CHECK(sigaction(SIGCHLD, &old, NULL) == 0);
}

/* Where clone (so fork) fails with EAGAIN, as under RLIMIT_NPROC. */
static int clone_refused(void *arg)
{
	const char *uri = arg;
	const long nr[] = {
		SYS_clone,
#ifdef SYS_clone3
		SYS_clone3,
#endif
#ifdef SYS_fork
		SYS_fork,
#endif
#ifdef SYS_vfork
		SYS_vfork,
#endif
	};
	if (test_seccomp_deny(nr, (int)(sizeof(nr) / sizeof(nr[0])), EAGAIN) < 0)
		return 77;
	struct seen s;
	dry_gc(uri, &s);
	CHECK(strstr(s.reason, "could not ask the kernel: fork failed: Resource temporarily "
			       "unavailable") != NULL);
	CHECK(strstr(s.reason, "cannot be inspected has it open") == NULL);
	/* no answer from the kernel is no proof: kept, whatever /proc shows */
	CHECK(s.verdict == SHMKIT_GC_SKIPPED);

	/* nor is a name stranded at 0 bytes taken over on it */
	const char *stranded = (const char *)arg + strlen(arg) + 1;
	CHECK(make_empty(stranded) == 0);
	struct shmkit_queue *q;
	struct shmkit_queue_opts o = { .capacity = 4, .max_msg = 16 };
	int r = shmkit_queue_create(&q, stranded, &o);
	if (r == 0)
		shmkit_queue_close(q);
	CHECK_RET(r, -EEXIST);
	return 0;
}

static void test_clone_refused(void)
{
	const char *uri = orphan("noclone"), *stranded = test_uri("posix", "stranded");
	char args[1024];
	size_t n = strlen(uri) + 1;
	memcpy(args, uri, n);
	memcpy(args + n, stranded, strlen(stranded) + 1);
	int rc = test_wait(test_fork(clone_refused, args));
	if (rc == 77) {
		printf("SKIP (part): no seccomp filter can be installed here\n");
		return;
	}
	CHECK_RET(rc, 0);
}

int main(void)
{
	test_sigchld_ignored();
	test_sigchld_handler();
	test_clone_refused();
	return test_done();
}
