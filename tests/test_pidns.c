/* SPDX-License-Identifier: MIT */
/* Liveness across pid namespaces (issue 13): a peer in another pid
 * namespace — as `unshare -pf --mount-proc` makes it, a container sharing
 * /dev/shm — is never judged dead while it lives. A producer, a subscriber
 * and an attacher living in a private pid namespace (pid 1 there, its own
 * /proc) against a host-namespace consumer, publisher and gc; then, after
 * kill -9, the kernel's locks prove it dead and its role and object go.
 * Root only (unshare); skipped otherwise. */
/* TIMEOUT: 90 */
#include "test.h"

#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include "internal.h"

struct peer {
	const char *queue, *topic, *raw;
	int ready_w;
};

/* In the new namespaces: pid 1, /proc of its own. Uses each object, says
 * "ready", holds everything until killed. */
static int peer_main(const struct peer *p)
{
	/* EINVAL: / is no mount point (a plain chroot): cannot be made private */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		return errno == EINVAL ? 77 : 20;
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
		return 20;
	if (getpid() != 1)
		return 21;
	struct shmkit_queue *q;
	struct shmkit_sub *s;
	struct shmkit_raw *r;
	if (shmkit_queue_open(&q, p->queue) != 0 || shmkit_queue_send(q, "from ns", 7, 0) != 0)
		return 22;
	if (shmkit_sub_open(&s, p->topic) != 0)
		return 23;
	if (shmkit_raw_create(&r, p->raw, 4096, 0) != 0)
		return 24;
	if (write(p->ready_w, "ready", 5) != 5)
		return 25;
	for (;;)
		pause();
}

/* Child of the test: new pid and mount namespaces, then the peer as pid 1.
 * Exits with the peer's status; killing this child's peer ends both. */
static int ns_parent(void *arg)
{
	if (unshare(CLONE_NEWPID | CLONE_NEWNS) != 0)
		return 77;
	pid_t pid = fork();
	if (pid < 0)
		return 30;
	if (pid == 0)
		_exit(peer_main(arg));
	printf("peer pid in the host namespace: %d\n", (int)pid);
	fflush(stdout);
	return test_wait(pid);
}

static pid_t peer_host_pid(pid_t ns_parent_pid)
{
	char path[64], buf[64] = "";
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)ns_parent_pid,
		 (int)ns_parent_pid);
	FILE *f = fopen(path, "re");
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
	}
	return (pid_t)atoi(buf);
}

static int attacher_alive(const char *uri, int *n)
{
	struct shmkit_attacher a[8];
	*n = shmkit_managed_attachers(uri, a, 8);
	for (int i = 0; i < *n && i < 8; i++)
		if (a[i].pid == 1) /* the peer, as its namespace numbers it */
			return a[i].alive;
	return -100;
}

struct gc_seen {
	const char *uri;
	int verdict;
	char reason[512];
};

static int gc_record(const struct shmkit_gc_entry *e, void *arg)
{
	struct gc_seen *s = arg;
	printf("  gc: %-12s %s: %s\n", shmkit_gc_verdict_name(e->verdict), e->uri, e->reason);
	if (strcmp(e->uri, s->uri) == 0) {
		s->verdict = e->verdict;
		snprintf(s->reason, sizeof(s->reason), "%s", e->reason);
	}
	return 0;
}

int main(void)
{
	if (!test_is_root())
		test_skip("needs root for unshare(CLONE_NEWPID)");
	struct peer p = {test_uri("posix", "ns-queue"), test_uri("posix", "ns-topic"),
			 test_uri("posix", "ns-raw"), -1};
	struct shmkit_queue_opts qo = {.capacity = 8, .max_msg = 64};
	struct shmkit_topic_opts to = {.slot_size = 64, .slots = 4, .reliable = 1};
	struct shmkit_queue *q;
	struct shmkit_pub *pub;
	CHECK_OK(shmkit_queue_create(&q, p.queue, &qo));
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_pub_create(&pub, p.topic, &to));

	int fds[2];
	CHECK_OK(pipe(fds));
	p.ready_w = fds[1];
	pid_t child = test_fork(ns_parent, &p);
	close(fds[1]);
	char buf[8] = "";
	if (read(fds[0], buf, 5) != 5) {
		int st = test_wait(child);
		if (st == 77)
			test_skip("unshare(CLONE_NEWPID | CLONE_NEWNS) refused here, or / is no mount point");
		CHECK(!"the peer in its pid namespace did not start");
		fprintf(stderr, "peer exit status %d\n", st);
		return test_done();
	}
	close(fds[0]);
	pid_t peer = peer_host_pid(child);
	CHECK(peer > 1);

	/* 1. The queue's producer lives in the other namespace: a host
	 * producer is refused, not let in beside it. */
	CHECK_OK(shmkit_queue_open(&q, p.queue));
	CHECK_RET(shmkit_queue_send(q, "host", 4, 0), -EBUSY);
	char msg[64];
	CHECK_RET(shmkit_queue_recv(q, msg, sizeof(msg), 0), 7); /* the consumer side is free */

	/* 2. The attacher in the other namespace reads alive (its kernel lock),
	 * never dead. */
	int n;
	CHECK_RET(attacher_alive(p.raw, &n), 1);

	/* 3. A reliable publisher waits for the live subscriber there: with
	 * slots 4, the fifth message has no room (it is never reaped as dead). */
	for (int i = 0; i < 4; i++)
		CHECK_OK(shmkit_pub_send(pub, "m", 1, 0));
	CHECK_RET(shmkit_pub_send(pub, "m", 1, 0), -EAGAIN);

	/* 4. gc keeps the object its creator in the other namespace uses: the
	 * creator's kernel lock says it is alive. */
	struct gc_seen s = {p.raw, -1, ""};
	CHECK(shmkit_gc_prefix(0, p.raw, gc_record, &s) == 0);
	CHECK(s.verdict == SHMKIT_GC_KEPT && strstr(s.reason, "alive"));

	/* kill -9: now provably dead, by the kernel's word. */
	kill(peer, SIGKILL);
	CHECK_RET(test_wait(child), 128 + SIGKILL);
	CHECK_OK(shmkit_queue_send(q, "host", 4, 0)); /* the role is taken over */
	CHECK_OK(shmkit_queue_close(q));
	CHECK_RET(attacher_alive(p.raw, &n), 0); /* its lock went with it */
	CHECK_OK(shmkit_pub_send(pub, "m", 1, 1000000000)); /* the dead subscriber is passed */
	CHECK_OK(shmkit_pub_close(pub));
	/* The raw object's creator lived in another pid namespace: /proc here
	 * cannot judge it, but the kernel dropped the lock on its attach slot
	 * when it died: gc may remove the (owned, empty) object now. */
	memset(&s, 0, sizeof(s));
	s.uri = p.raw;
	CHECK_RET(shmkit_gc_prefix(0, p.raw, gc_record, &s), 1);
	CHECK(s.verdict == SHMKIT_GC_REMOVED);
	return test_done();
}
