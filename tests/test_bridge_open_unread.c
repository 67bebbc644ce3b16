/* SPDX-License-Identifier: MIT */
/* shmkit_bridge_open on a queue whose header it cannot read says why, as
 * shmkit_queue_open does: -EACCES for another user's 0600 queue, -EMFILE
 * (never -EBADMSG) with no descriptor left. It said -EBADMSG, "not a valid
 * shmkit object", for both: shmkit_stat succeeds there with managed 0 and
 * the reason in header_status. A refused open leaves no descriptor and no
 * thread. Root only (another user); skips (77) without the bridge. */
#include "test.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/resource.h>
#include <unistd.h>

#ifdef SHMKIT_TEST_HAVE_BRIDGE
#include <shmkit/bridge.h>

static const char *uri;

static int count_entries(const char *path)
{
	int n = 0;
	DIR *d = opendir(path);
	struct dirent *e;
	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static int open_refused(int want)
{
	struct shmkit_bridge *b = (void *)0x5;
	int fds = count_entries("/proc/self/fd"), threads = count_entries("/proc/self/task");
	int r = shmkit_bridge_open(&b, SHMKIT_BRIDGE_OUT, uri, "tcp://127.0.0.1:1", NULL);
	if (r >= 0)
		shmkit_bridge_close(b);
	return r != want || b != NULL || count_entries("/proc/self/fd") != fds ||
	       count_entries("/proc/self/task") != threads;
}

static int as_nobody(void *arg)
{
	(void)arg;
	if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
		return 100;
	return open_refused(-EACCES);
}

/* The lowest limit that lets the queue's name be opened but not its
 * header be read is found by stepping: every failure must be -EMFILE. */
static int out_of_descriptors(void *arg)
{
	(void)arg;
	struct rlimit unlimited, rl;
	getrlimit(RLIMIT_NOFILE, &unlimited);
	int lowest_free = fcntl(0, F_DUPFD_CLOEXEC, 0);
	close(lowest_free);
	int bad = 0;
	for (int lim = lowest_free; lim < lowest_free + 8; lim++) {
		struct shmkit_bridge *b;
		rl = (struct rlimit){(rlim_t)lim, unlimited.rlim_max};
		CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
		int r = shmkit_bridge_open(&b, SHMKIT_BRIDGE_OUT, uri, "tcp://127.0.0.1:1", NULL);
		CHECK(setrlimit(RLIMIT_NOFILE, &unlimited) == 0);
		if (r >= 0)
			shmkit_bridge_close(b);
		if (r < 0 && r != -EMFILE) {
			fprintf(stderr, "RLIMIT_NOFILE %d: %d (%s), want -EMFILE\n", lim, r,
				shmkit_strerror(r));
			bad++;
		}
	}
	return bad;
}

int main(void)
{
	struct shmkit_queue *q;
	struct shmkit_queue_opts qo = {.capacity = 4, .max_msg = 16};

	if (!test_is_root())
		test_skip("needs root (another user's queue)");
	uri = test_uri("posix", "brunread");
	CHECK_OK(shmkit_queue_create(&q, uri, &qo)); /* 0600: root's alone */
	CHECK_OK(shmkit_queue_close(q));
	CHECK_RET(test_wait(test_fork(as_nobody, NULL)), 0);
	CHECK_RET(test_wait(test_fork(out_of_descriptors, NULL)), 0);
	CHECK_OK(shmkit_remove(uri));
	return test_done();
}
#else
int main(void)
{
	test_skip("shmkit built without the bridge (ZeroMQ)");
}
#endif
