/* SPDX-License-Identifier: MIT */
/* gc's reasons where /proc hides other users' processes (mounted
 * hidepid=2): an attacher alive by its lock, in our pid namespace but whose
 * /proc entry we may not see, is one "/proc hides", not one "of another pid
 * namespace"; and a live creator /proc hides is "cannot tell" saying so
 * (not "Input/output error"), never removed. Needs root (a proc mount in a
 * private mount namespace, then gc as nobody) and a kernel whose proc
 * mounts keep their own options
 * (5.8: on older ones hidepid would change the host's /proc); skips (77)
 * otherwise. */
#include "test.h"

#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gc_seen.h"

static int create_and_die(void *arg)
{
	struct shmkit_queue *q;
	struct shmkit_queue_opts o = { .capacity = 4, .max_msg = 16, .mode = 0666 };
	return shmkit_queue_create(&q, arg, &o) == 0 ? 0 : 1; /* exits without close */
}

static const char *live_uri; /* created by a root child that stays alive */

/* In a mount namespace of its own with /proc hidepid=2, as nobody. */
static int hidden_gc(void *arg)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2") < 0)
		return 77;
	if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
		return 77;
	struct seen s;
	CHECK(gc_once(arg, SHMKIT_GC_DRY_RUN, arg, NULL, &s) >= 0);
	CHECK(s.found == 1 && s.total == 1);
	CHECK(s.verdict == SHMKIT_GC_KEPT);
	CHECK(strstr(s.reason, "/proc hides it") != NULL);
	CHECK(strstr(s.reason, "another pid namespace") == NULL);
	/* its creator alive, hidden: never removed, and the reason says why
	 * (was: "cannot tell whether creator pid N is alive (Input/output error)") */
	CHECK(gc_once(live_uri, 0, live_uri, NULL, &s) >= 0);
	CHECK(s.found == 1 && s.verdict != SHMKIT_GC_REMOVED);
	CHECK(strstr(s.reason, "/proc hides it") != NULL);
	return 0;
}

static int create_and_stay(void *arg)
{
	struct shmkit_queue *q;
	struct shmkit_queue_opts o = { .capacity = 4, .max_msg = 16, .mode = 0666 };
	int *ready = arg;
	if (shmkit_queue_create(&q, live_uri, &o) != 0)
		return 1;
	if (write(ready[1], "r", 1) != 1)
		return 1;
	pause();
	return 0;
}

int main(void)
{
	if (!test_is_root())
		test_skip("needs root: a hidepid=2 proc mount in a private mount namespace");
	struct utsname u;
	int major = 0, minor = 0;
	if (uname(&u) < 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2 ||
	    major * 1000 + minor < 5008)
		test_skip("kernel %s: proc mount options are shared before 5.8", u.release);
	const char *uri = test_uri("posix", "hidepid");
	CHECK_RET(test_wait(test_fork(create_and_die, (void *)uri)), 0);
	struct shmkit_queue *q; /* root attaches: alive by its lock */
	CHECK_OK(shmkit_queue_open(&q, uri));
	live_uri = test_uri("posix", "hidepid-live");
	int ready[2];
	char c;
	CHECK_OK(pipe(ready));
	pid_t live = test_fork(create_and_stay, ready);
	CHECK(read(ready[0], &c, 1) == 1);
	int rc = test_wait(test_fork(hidden_gc, (void *)uri));
	kill(live, SIGKILL);
	test_wait(live);
	shmkit_queue_close(q);
	struct shmkit_stat st;
	CHECK_OK(shmkit_stat(live_uri, &st)); /* still there */
	CHECK_OK(shmkit_remove(live_uri));
	if (rc == 77) {
		test_cleanup_run();
		test_skip("no private mount namespace, hidepid proc mount or setuid here");
	}
	CHECK_RET(rc, 0);
	return test_done();
}
