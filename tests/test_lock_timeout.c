/* SPDX-License-Identifier: MIT */
/* A bound on waiting for a map's or heap's lock (shmkit_map_set_lock_timeout,
 * shmkit_heap_set_lock_timeout), against a real process stopped (SIGSTOP)
 * while it holds the lock:
 *  - put, del, iter, check, and a heap alloc, free and named give -ETIMEDOUT
 *    (0: -EAGAIN) within a bound, never earlier than asked; nothing changed;
 *    the detail names the holder's pid and says it is stopped;
 *  - once the holder is continued and gone, the same calls work;
 *  - the default (SHMKIT_FOREVER) still waits: a holder continued after
 *    300 ms lets the put finish;
 *  - a holder killed -9 holding the lock, or killed inside a put (pause
 *    point), is taken over and repaired, timeout or not. */
/* TIMEOUT: 90 */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "heap_internal.h"
#include "test.h"

#define MS 1000000ll
#define TIMEOUT_NS (100 * MS)
#define LATE_NS (1500 * MS) /* a give-up this late is a wait, not a bound */

static const char *map_uri, *heap_uri;

/* ---- the stopped holder ---- */

struct holder_args {
	const char *uri;
	int heap; /* a bare heap, else a map */
};

/* Child: takes the lock through its own handle, stops holding it; once
 * continued, lets go. */
static int hold_lock(void *arg)
{
	const struct holder_args *a = arg;
	struct shmkit_map *m = NULL;
	struct shmkit_heap *h = NULL;

	if (a->heap)
		CHECK_RET(shmkit_heap_open(&h, a->uri), 0);
	else
		CHECK_RET(shmkit_map_open(&m, a->uri), 0);
	struct shmkit_heap *locked = a->heap ? h : shmkit_map_heap(m);
	CHECK_RET(shmkit__heap_lock(locked), 0);
	raise(SIGSTOP);
	shmkit__heap_unlock(locked);
	shmkit_map_close(m);
	shmkit_heap_close(h);
	return 0;
}

/* A child holding uri's lock, stopped. */
static pid_t stopped_holder(const char *uri, int heap)
{
	static struct holder_args a; /* read by the child after fork only */
	a.uri = uri;
	a.heap = heap;
	pid_t pid = test_fork(hold_lock, &a);
	CHECK(test_wait_stopped(pid, 10000 * MS) == 0);
	return pid;
}

/* Continues the holder and reaps it: 0 when it let go and exited. */
static int release_holder(pid_t pid)
{
	kill(pid, SIGCONT);
	return test_wait(pid);
}

/* ---- checks on one call that must give up ---- */

static char want_pid[32];

/* r is what a call under timeout TIMEOUT_NS returned after t0: -ETIMEDOUT,
 * not earlier than asked nor much later, naming the stopped holder. */
static void check_gave_up(const char *what, long long r, int64_t t0)
{
	int64_t took = test_now_ns() - t0;
	const char *detail = shmkit_last_error_detail();

	printf("%s: %lld after %lld ms: %s\n", what, r, (long long)(took / MS), detail);
	CHECK_RET(r, -ETIMEDOUT);
	CHECK(took >= TIMEOUT_NS);
	CHECK(took < LATE_NS);
	CHECK(strstr(detail, want_pid) != NULL);
	CHECK(strstr(detail, "(stopped)") != NULL);
}

static int count_pairs(const void *k, size_t klen, const void *v, size_t vlen, void *arg)
{
	(void)k, (void)klen, (void)v, (void)vlen;
	++*(int *)arg;
	return 0;
}

static ssize_t get_str(struct shmkit_map *m, const char *k, char *buf, size_t cap)
{
	ssize_t n = shmkit_map_get(m, k, strlen(k), buf, cap - 1);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

/* ---- the cases ---- */

static void test_map_gives_up(void)
{
	struct shmkit_map *m;
	char buf[64];
	int n = 0;

	CHECK_RET(shmkit_map_open(&m, map_uri), 0);
	CHECK_RET(shmkit_map_put(m, "kept", 4, "old", 3), 0);
	pid_t pid = stopped_holder(map_uri, 0);
	snprintf(want_pid, sizeof(want_pid), "pid %d ", (int)pid);
	CHECK_RET(shmkit_map_set_lock_timeout(m, TIMEOUT_NS), 0);

	int64_t t0 = test_now_ns();
	check_gave_up("put", shmkit_map_put(m, "new", 3, "v", 1), t0);
	t0 = test_now_ns();
	check_gave_up("put over", shmkit_map_put(m, "kept", 4, "newer", 5), t0);
	t0 = test_now_ns();
	check_gave_up("del", shmkit_map_del(m, "kept", 4), t0);
	t0 = test_now_ns();
	check_gave_up("iter", shmkit_map_iter(m, count_pairs, &n), t0);
	CHECK(n == 0);
	t0 = test_now_ns();
	check_gave_up("check", shmkit_map_check(m), t0);
	/* through the map's heap: the map's handle bounds it too */
	shmkit_off off = 0;
	t0 = test_now_ns();
	check_gave_up("map heap alloc", shmkit_heap_alloc(shmkit_map_heap(m), 4000, &off), t0);
	CHECK(off == 0);
	CHECK(strstr(shmkit_last_error_detail(), "map's lock") != NULL);

	/* 0: one try, at once */
	CHECK_RET(shmkit_map_set_lock_timeout(m, 0), 0);
	t0 = test_now_ns();
	CHECK_RET(shmkit_map_put(m, "new", 3, "v", 1), -EAGAIN);
	CHECK(test_now_ns() - t0 < 500 * MS);
	CHECK(strstr(shmkit_last_error_detail(), want_pid) != NULL);

	/* nothing changed; readers never waited */
	CHECK_RET(shmkit_map_count(m), 1);
	CHECK_RET(get_str(m, "kept", buf, sizeof(buf)), 3);
	CHECK(strcmp(buf, "old") == 0);
	CHECK_RET(get_str(m, "new", buf, sizeof(buf)), -ENOENT);

	/* continued, the holder lets go: the same calls work */
	CHECK_RET(release_holder(pid), 0);
	CHECK_RET(shmkit_map_set_lock_timeout(m, TIMEOUT_NS), 0);
	CHECK_RET(shmkit_map_put(m, "new", 3, "v", 1), 0);
	CHECK_RET(shmkit_map_del(m, "kept", 4), 0);
	CHECK_RET(shmkit_map_check(m), 0);
	CHECK_RET(get_str(m, "new", buf, sizeof(buf)), 1);
	CHECK_RET(shmkit_map_del(m, "new", 3), 0);
	CHECK_RET(shmkit_map_close(m), 0);
}

static void test_heap_gives_up(void)
{
	struct shmkit_heap *h;
	shmkit_off small = 0, big = 0, named = 0, got = 0;

	CHECK_RET(shmkit_heap_open(&h, heap_uri), 0);
	/* blocks to free while the lock is held: a big one (never cached) */
	CHECK_RET(shmkit_heap_alloc(h, 100000, &big), 0);
	pid_t pid = stopped_holder(heap_uri, 1);
	snprintf(want_pid, sizeof(want_pid), "pid %d ", (int)pid);
	CHECK_RET(shmkit_heap_set_lock_timeout(h, TIMEOUT_NS), 0);

	/* a small size: making or refilling the cache needs the lock too (and
	 * says so once, not after a second wait on the locked path) */
	int64_t t0 = test_now_ns();
	check_gave_up("heap alloc small", shmkit_heap_alloc(h, 64, &small), t0);
	t0 = test_now_ns();
	check_gave_up("heap alloc big", shmkit_heap_alloc(h, 100000, &got), t0);
	t0 = test_now_ns();
	check_gave_up("heap free", shmkit_heap_free(h, big), t0);
	t0 = test_now_ns();
	check_gave_up("heap named", shmkit_heap_named(h, "root", 64, SHMKIT_CREATE, &named), t0);
	t0 = test_now_ns();
	check_gave_up("heap check", shmkit_heap_check(h), t0);
	CHECK(strstr(shmkit_last_error_detail(), "heap's lock") != NULL);
	CHECK(small == 0 && got == 0 && named == 0);
	CHECK(shmkit_heap_ptr(h, big) != NULL); /* the free did not happen */

	CHECK_RET(release_holder(pid), 0);
	CHECK_RET(shmkit_heap_free(h, big), 0);
	CHECK_RET(shmkit_heap_alloc(h, 64, &small), 0);
	CHECK_RET(shmkit_heap_free(h, small), 0);
	CHECK_RET(shmkit_heap_named(h, "root", 64, SHMKIT_CREATE, &named), 0);
	CHECK_RET(shmkit_heap_check(h), 0);
	CHECK_RET(shmkit_heap_close(h), 0);
}

/* Child: continues pid after 300 ms. */
static int continue_later(void *arg)
{
	usleep(300 * 1000);
	kill(*(pid_t *)arg, SIGCONT);
	return 0;
}

static void test_forever_still_waits(void)
{
	struct shmkit_map *m;
	char buf[16];

	CHECK_RET(shmkit_map_open(&m, map_uri), 0);
	CHECK_RET(shmkit_map_set_lock_timeout(m, TIMEOUT_NS), 0);
	CHECK_RET(shmkit_map_set_lock_timeout(m, SHMKIT_FOREVER), 0); /* back to the default */
	CHECK_RET(shmkit_map_set_lock_timeout(m, -2), -EINVAL);
	CHECK_RET(shmkit_map_set_lock_timeout(NULL, 0), -EINVAL);
	CHECK_RET(shmkit_heap_set_lock_timeout(NULL, 0), -EINVAL);
	/* a look takes no lock (0, nothing to bound) but refuses -2 as well */
	struct shmkit_map *look;
	CHECK_RET(shmkit_map_open_flags(&look, map_uri, SHMKIT_RDONLY), 0);
	CHECK_RET(shmkit_map_set_lock_timeout(look, TIMEOUT_NS), 0);
	CHECK_RET(shmkit_map_set_lock_timeout(look, -2), -EINVAL);
	CHECK_RET(shmkit_map_close(look), 0);
	pid_t pid = stopped_holder(map_uri, 0);
	static pid_t target;
	target = pid;
	pid_t waker = test_fork(continue_later, &target);
	int64_t t0 = test_now_ns();
	CHECK_RET(shmkit_map_put(m, "waited", 6, "yes", 3), 0);
	int64_t took = test_now_ns() - t0;
	printf("forever: the put waited %lld ms for the holder\n", (long long)(took / MS));
	CHECK(took >= 250 * MS);
	CHECK_RET(test_wait(waker), 0);
	CHECK_RET(test_wait(pid), 0);
	CHECK_RET(get_str(m, "waited", buf, sizeof(buf)), 3);
	CHECK_RET(shmkit_map_del(m, "waited", 6), 0);
	CHECK_RET(shmkit_map_close(m), 0);
}

/* A holder killed -9 while it holds the lock: taken over within the bound. */
static void test_killed_holder(void)
{
	struct shmkit_map *m;

	CHECK_RET(shmkit_map_open(&m, map_uri), 0);
	CHECK_RET(shmkit_map_set_lock_timeout(m, TIMEOUT_NS), 0);
	pid_t pid = stopped_holder(map_uri, 0);
	CHECK_RET(test_kill_stopped(pid), 128 + SIGKILL);
	CHECK_RET(shmkit_map_put(m, "after", 5, "kill", 4), 0);
	CHECK_RET(shmkit_map_check(m), 0);
	CHECK_RET(shmkit_map_del(m, "after", 5), 0);
	CHECK_RET(shmkit_map_close(m), 0);
}

/* Too long for a bucket: the put takes the chain path (pause point map.put.2). */
#define NEW_VALUE "a new value, longer than the 40 bytes a bucket holds inline"

/* Child (exec'd): one put, which a pause point stops half-way. */
static int role_put(int argc, char **argv)
{
	struct shmkit_map *m;
	(void)argc;
	CHECK_RET(shmkit_map_open(&m, argv[0]), 0);
	CHECK_RET(shmkit_map_put(m, "torn", 4, NEW_VALUE, strlen(NEW_VALUE)), 0);
	return shmkit_map_close(m) == 0 ? 0 : 1;
}

/* A writer stopped inside a put: the bound gives up on it; killed there,
 * its put is repaired by the next bounded put (the owner-dead path). */
static void test_killed_inside_put(void)
{
	struct shmkit_map *m;
	char buf[128];

	CHECK_RET(shmkit_map_open(&m, map_uri), 0);
	CHECK_RET(shmkit_map_put(m, "torn", 4, "old", 3), 0);
	CHECK_RET(shmkit_map_set_lock_timeout(m, TIMEOUT_NS), 0);
	const char *args[] = { map_uri, NULL };
	pid_t pid = test_spawn_paused("map.put.2", "put", args);
	snprintf(want_pid, sizeof(want_pid), "pid %d ", (int)pid);
	int64_t t0 = test_now_ns();
	check_gave_up("put beside a stopped put", shmkit_map_put(m, "other", 5, "v", 1), t0);
	CHECK_RET(test_kill_stopped(pid), 128 + SIGKILL);
	CHECK_RET(shmkit_map_put(m, "other", 5, "v", 1), 0);
	CHECK_RET(shmkit_map_check(m), 0);
	ssize_t n = get_str(m, "torn", buf, sizeof(buf));
	CHECK(n == 3 || n == (ssize_t)strlen(NEW_VALUE)); /* its old value or its new one, whole */
	printf("killed inside put: 'torn' is '%s'\n", n >= 0 ? buf : "?");
	CHECK_RET(shmkit_map_close(m), 0);
}

int main(int argc, char **argv)
{
	static const struct test_role roles[] = {
		{ "put", role_put },
		{ NULL, NULL },
	};
	test_child_dispatch(argc, argv, roles);
	struct shmkit_map *m;
	struct shmkit_heap *h;

	map_uri = test_uri("posix", "lock-timeout-map");
	heap_uri = test_uri("posix", "lock-timeout-heap");
	CHECK_RET(shmkit_map_create(&m, map_uri, 1 << 20, 0600), 0);
	CHECK_RET(shmkit_heap_create(&h, heap_uri, 1 << 20, 0600), 0);
	test_map_gives_up();
	test_heap_gives_up();
	test_forever_still_waits();
	test_killed_holder();
	test_killed_inside_put(); /* last: skipped where the library has no pause points */
	CHECK_RET(shmkit_map_check(m), 0);
	CHECK_RET(shmkit_heap_check(h), 0);
	shmkit_map_close(m);
	shmkit_heap_close(h);
	return test_done();
}
