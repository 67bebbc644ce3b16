/* SPDX-License-Identifier: MIT */
/* Looks at a file another process holds a write lease on (helper h37a): a
 * file server caching a file takes one, and one that does not let go when
 * told (SIGIO ignored, or a process stopped) held every look's blocking
 * open for the kernel's lease-break-time, 45 s: shmkit ls, stat, read and
 * top hung that long on another program's segment, where gc (which opens
 * O_NONBLOCK) said at once it could not look inside. A look now waits about
 * 100 ms, then fails -EBUSY saying why; a holder that lets go in that time
 * (what a lease break asks) is read as before. */
/* TIMEOUT: 120 */
#include "test.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#define LOOK_BOUND_NS 5000000000ll /* far under lease-break-time (45 s) */

struct holder {
	const char *path;
	int ready[2];
	int let_go; /* let go when the lease break comes, as asked */
};

static int lease_fd = -1;

static void let_go(int sig)
{
	(void)sig;
	fcntl(lease_fd, F_SETLEASE, F_UNLCK);
}

/* A write lease on fd: 0 or the errno. Refused (EAGAIN) while another
 * process has the file open: another look at /dev/shm (an ls or a gc of
 * another test) opens every file there for a moment. */
static int take_lease(int fd)
{
	for (int i = 0; i < 200; i++) {
		if (fcntl(fd, F_SETLEASE, F_WRLCK) == 0)
			return 0;
		if (errno != EAGAIN)
			break;
		usleep(10000);
	}
	return errno;
}

/* Takes a write lease on the file and keeps it: 0 on the pipe once held,
 * else the errno (leases refused here: the test skips). */
static int hold_lease(void *arg)
{
	struct holder *h = arg;
	close(h->ready[0]);
	signal(SIGIO, h->let_go ? let_go : SIG_IGN);
	lease_fd = open(h->path, O_RDWR | O_CLOEXEC);
	int err = lease_fd < 0 ? errno : take_lease(lease_fd);
	if (write(h->ready[1], &err, sizeof(err)) != (ssize_t)sizeof(err) || err)
		return 1;
	for (;;)
		pause();
}

static pid_t start_holder(struct holder *h)
{
	CHECK(pipe(h->ready) == 0);
	pid_t pid = test_fork(hold_lease, h);
	close(h->ready[1]);
	int err = -1;
	CHECK(read(h->ready[0], &err, sizeof(err)) == (ssize_t)sizeof(err));
	close(h->ready[0]);
	if (err != 0) {
		kill(pid, SIGKILL);
		test_wait(pid);
		test_skip("no write lease here: %s", strerror(err));
	}
	return pid;
}

static void stop_holder(pid_t pid)
{
	kill(pid, SIGKILL);
	test_wait(pid);
}

/* shmkit CMD URI REST: exits want, well within the bound. */
static void quick(const char *cmd, const char *uri, const char *rest, int want)
{
	int64_t t0 = test_now_ns();
	int rc = test_sh("%s %s %s %s", SHMKIT_TOOL_PATH, cmd, uri, rest);
	int64_t took = test_now_ns() - t0;
	if (rc != want || took > LOOK_BOUND_NS)
		fprintf(stderr, "%s: exit %d (want %d) after %.1f s\n", cmd, rc, want, took / 1e9);
	CHECK(rc == want && took <= LOOK_BOUND_NS);
}

int main(void)
{
	const char *uri = test_uri("posix", "leased");
	char path[256];
	struct shmkit_seg *seg;
	struct shmkit_stat st;

	CHECK_RET(shmkit_seg_open(&seg, uri, 4096, SHMKIT_CREATE | SHMKIT_EXCL, 0600), 0);
	memcpy(shmkit_seg_addr(seg), "held", 5);
	CHECK_OK(shmkit_seg_close(seg));
	snprintf(path, sizeof(path), "/dev/shm%s", uri + strlen("posix:"));

	/* A holder that never lets go: every look ends at once, saying why. */
	struct holder stubborn = {path, {-1, -1}, 0};
	pid_t pid = start_holder(&stubborn);
	int64_t t0 = test_now_ns();
	CHECK_RET(shmkit_stat(uri, &st), 0);
	CHECK(test_now_ns() - t0 <= LOOK_BOUND_NS);
	CHECK(st.header_status == -EBUSY);
	quick("ls", uri, ">/dev/null", 0);
	quick("stat", uri, ">/dev/null", 0);
	quick("read", uri, "2>&1 | grep -q 'holds a lease on it'", 0);
	/* not "segment is empty", what an object's look said of -EAGAIN */
	quick("queue stat", uri, "2>&1 | grep -q 'holds a lease on it'", 0);
	quick("top --once --interval 0.05", uri, ">/dev/null", 0);
	stop_holder(pid);

	/* A holder that lets go when told: the look reads the file. */
	struct holder polite = {path, {-1, -1}, 1};
	pid = start_holder(&polite);
	char out[64];
	CHECK(test_sh_capture(out, sizeof(out), "%s read %s", SHMKIT_TOOL_PATH, uri) == 0);
	CHECK(strcmp(out, "held\n") == 0);
	stop_holder(pid);
	return test_done();
}
