/* SPDX-License-Identifier: MIT */
/* A second user on the same objects (root only: it needs setpriv/setuid).
 *  - a 0600 object of root's: the other user (nobody, via setpriv) cannot
 *    send to it, receive from it, remove it, or gc it away, each a clear
 *    "Permission denied" (or a skip), and its bytes do not change;
 *  - a 0666 queue and map: the two users exchange messages and pairs;
 *  - a robust mutex shared between the users: a waiter never takes over a
 *    live holder of the other user (a non-root waiter cannot read a root
 *    holder's /proc: it must wait, not guess), and each side recovers the
 *    lock (-EOWNERDEAD) once the other is killed holding it. */
/* TIMEOUT: 120 */
#include "test.h"

#include <grp.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#define NOBODY 65534
#define AS_NOBODY "setpriv --reuid=65534 --regid=65534 --clear-groups "

static uint64_t checksum(const char *uri)
{
	struct shmkit_seg *seg;
	uint64_t h = 1469598103934665603ull;
	if (shmkit_seg_open(&seg, uri, 0, SHMKIT_RDONLY, 0) != 0)
		return 0;
	const unsigned char *p = shmkit_seg_addr(seg);
	for (size_t i = 0; i < shmkit_seg_size(seg); i++)
		h = (h ^ p[i]) * 1099511628211ull;
	shmkit_seg_close(seg);
	return h;
}

static void test_private_object(void)
{
	char out[4096];
	const char *uri = test_uri("posix", "users-private");
	struct shmkit_queue *q;
	struct shmkit_queue_opts o = { .capacity = 4, .max_msg = 32 };
	CHECK_RET(shmkit_queue_create(&q, uri, &o), 0);
	CHECK_RET(shmkit_queue_send(q, "root's", 6, 0), 0);
	uint64_t before = checksum(uri);
	int rc = test_sh_capture(out, sizeof(out), AS_NOBODY "%s send %s intruder 2>&1",
				 SHMKIT_TOOL_PATH, uri);
	CHECK(rc == 1 && strstr(out, "Permission denied"));
	rc = test_sh_capture(out, sizeof(out), AS_NOBODY "%s recv %s --timeout 0 2>&1",
			     SHMKIT_TOOL_PATH, uri);
	CHECK(rc == 1 && strstr(out, "Permission denied"));
	rc = test_sh_capture(out, sizeof(out), AS_NOBODY "%s rm %s 2>&1", SHMKIT_TOOL_PATH, uri);
	CHECK(rc == 1 && strstr(out, "Permission denied"));
	rc = test_sh_capture(out, sizeof(out), AS_NOBODY "%s gc --prefix %s 2>&1", SHMKIT_TOOL_PATH,
			     uri);
	printf("nobody's gc on root's 0600 queue: exit %d: %.160s\n", rc, out);
	CHECK(checksum(uri) == before); /* nothing of it changed, nothing removed */
	char buf[32];
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), 6);
	shmkit_queue_close(q);
	shmkit_remove(uri);
}

static void test_shared_objects(void)
{
	char out[4096];
	const char *qu = test_uri("posix", "users-q"), *mu = test_uri("posix", "users-m");
	struct shmkit_queue *q;
	struct shmkit_map *m;
	struct shmkit_queue_opts o = { .capacity = 4, .max_msg = 32, .mode = 0666 };
	CHECK_RET(shmkit_queue_create(&q, qu, &o), 0);
	CHECK_RET(shmkit_map_create(&m, mu, 64 * 1024, 0666), 0);
	CHECK(test_sh(AS_NOBODY "%s send %s from-nobody", SHMKIT_TOOL_PATH, qu) == 0);
	char buf[32];
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 1000000000LL), 11);
	CHECK(memcmp(buf, "from-nobody", 11) == 0);
	/* one consumer at a time: root lets go of the role, then only sends */
	CHECK_RET(shmkit_queue_close(q), 0);
	CHECK_RET(shmkit_queue_open(&q, qu), 0);
	CHECK_RET(shmkit_queue_send(q, "from-root", 9, 0), 0);
	int rc = test_sh_capture(out, sizeof(out), AS_NOBODY "%s recv %s --timeout 1", SHMKIT_TOOL_PATH,
				 qu);
	CHECK(rc == 0 && strstr(out, "from-root"));
	CHECK(test_sh(AS_NOBODY "%s map %s put nk nv", SHMKIT_TOOL_PATH, mu) == 0);
	CHECK_RET(shmkit_map_get(m, "nk", 2, buf, sizeof(buf)), 2);
	CHECK_RET(shmkit_map_put(m, "rk", 2, "rv", 2), 0);
	rc = test_sh_capture(out, sizeof(out), AS_NOBODY "%s map %s get rk", SHMKIT_TOOL_PATH, mu);
	CHECK(rc == 0 && strstr(out, "rv"));
	CHECK_RET(shmkit_map_check(m), 0);
	shmkit_queue_close(q);
	shmkit_map_close(m);
	shmkit_remove(qu);
	shmkit_remove(mu);
}

/* ---- a mutex between the two users ---- */

struct shared {
	_Atomic int holding;
};
static struct shared *sh;
static const char *mx_uri;

static int become_nobody(void)
{
	return setgroups(0, NULL) == 0 && setgid(NOBODY) == 0 && setuid(NOBODY) == 0 ? 0 : -1;
}

static struct shmkit_mutex *open_mutex(struct shmkit_raw **r)
{
	return shmkit_raw_open(r, mx_uri) == 0 ? shmkit_raw_data(*r) : NULL;
}

/* Takes the lock and holds it until killed. */
static int holder(void *arg)
{
	struct shmkit_raw *r;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (arg && become_nobody() < 0)
		return 2;
	struct shmkit_mutex *m = open_mutex(&r);
	if (!m || shmkit_mutex_lock(m, SHMKIT_FOREVER) < 0)
		return 3;
	atomic_store(&sh->holding, 1);
	for (;;)
		pause();
}

/* Must time out while the holder lives; must get EOWNERDEAD once it is
 * killed. The parent kills the holder when we report waiting. */
static int waiter(void *arg)
{
	struct shmkit_raw *r;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (arg && become_nobody() < 0)
		return 2;
	struct shmkit_mutex *m = open_mutex(&r);
	if (!m)
		return 3;
	int t = shmkit_mutex_lock(m, 300000000LL);
	if (t != -ETIMEDOUT) {
		fprintf(stderr, "waiter (%s): lock with a live holder of the other user: %s\n",
			arg ? "nobody" : "root", shmkit_strerror(t));
		return 4;
	}
	atomic_store(&sh->holding, 2); /* tell the parent: kill the holder now */
	int d = shmkit_mutex_lock(m, 10000000000LL);
	if (d != -EOWNERDEAD) {
		fprintf(stderr, "after the holder's death: %s\n", shmkit_strerror(d));
		return 5;
	}
	shmkit_mutex_consistent(m);
	shmkit_mutex_unlock(m);
	return 0;
}

static void cross_user_mutex(int holder_is_nobody)
{
	struct shmkit_raw *r;
	mx_uri = test_uri("posix", "users-mx");
	CHECK_RET(shmkit_raw_create(&r, mx_uri, sizeof(struct shmkit_mutex), 0666), 0);
	CHECK_RET(shmkit_mutex_init(shmkit_raw_data(r)), 0);
	/* closed before the forks: a child would inherit the handle's memory */
	shmkit_raw_close(r);
	atomic_store(&sh->holding, 0);
	pid_t h = test_fork(holder, holder_is_nobody ? (void *)1 : NULL);
	int64_t end = test_now_ns() + 10000000000LL;
	while (atomic_load(&sh->holding) != 1 && test_now_ns() < end)
		usleep(1000);
	CHECK(atomic_load(&sh->holding) == 1);
	pid_t w = test_fork(waiter, holder_is_nobody ? NULL : (void *)1);
	while (atomic_load(&sh->holding) != 2 && test_now_ns() < end)
		usleep(1000);
	kill(h, SIGKILL);
	test_wait(h);
	int rc = test_wait(w);
	printf("holder %s, waiter %s: waiter exit %d\n", holder_is_nobody ? "nobody" : "root",
	       holder_is_nobody ? "root" : "nobody", rc);
	CHECK(rc == 0);
	shmkit_remove(mx_uri);
}

int main(void)
{
	if (!test_is_root())
		test_skip("needs root to act as a second user (setpriv, setuid)");
	if (test_sh("command -v setpriv >/dev/null") != 0)
		test_skip("setpriv (util-linux) missing");
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(sh != MAP_FAILED);
	test_private_object();
	test_shared_objects();
	cross_user_mutex(0); /* root holds, nobody waits: it cannot read root's /proc */
	cross_user_mutex(1); /* nobody holds, root waits */
	return test_done();
}
