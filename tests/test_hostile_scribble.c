/* SPDX-License-Identifier: MIT */
/* A hostile process writes random bytes at random places of a live object
 * (header, indices, markers, peer and subscriber tables, locks and their
 * robust-list links, heap blocks, map buckets) while two honest processes
 * use it: an MPMC and an SPSC queue (send; recv or peek + consume; stats),
 * a reliable topic (publish; receive), a map (put, get, del, count, check)
 * and a heap (alloc, free, check). The honest ones may get errors; they must
 * not crash, must not hang past their timeouts, and, in the sanitizer build,
 * must not touch memory outside their own buffers. Found: an unlock that
 * wrote through a scribbled robust-list link (src/mutex.c). */
/* TIMEOUT: 180 */
#include "test.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MS 1000000LL
#define OP_TIMEOUT (5 * MS)

enum kind { MPMC, SPSC, TOPIC, MAP, HEAP, KINDS };
static const char *const kind_name[KINDS] = {"mpmc queue", "spsc queue", "topic", "map", "heap"};

struct run {
	enum kind kind;
	const char *uri;
	int64_t end; /* the honest processes stop here */
};

/* Random bytes (mostly 0, 0xff or random) at random offsets, for ever. */
static int scribbler(void *arg)
{
	const struct run *r = arg;
	char path[300];
	snprintf(path, sizeof(path), "/dev/shm%s", r->uri + strlen("posix:"));
	int fd = open(path, O_RDWR);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size <= 0)
		return 1;
	unsigned char *m =
	    mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return 1;
	unsigned seed = (unsigned)getpid();
	for (;;) {
		usleep(rand_r(&seed) % 300);
		size_t off = rand_r(&seed) % (size_t)st.st_size;
		for (int i = 1 + rand_r(&seed) % 8; i > 0 && off < (size_t)st.st_size; i--, off++) {
			unsigned dice = rand_r(&seed) % 4;
			m[off] = dice == 0 ? 0 : dice == 1 ? 0xff : (unsigned char)rand_r(&seed);
		}
	}
}

static void queue_user(const struct run *r, int role, unsigned *seed)
{
	struct shmkit_queue *q;
	unsigned char buf[256];
	if (shmkit_queue_open(&q, r->uri) < 0)
		return; /* refused as corrupt: an answer */
	while (test_now_ns() < r->end) {
		const void *at;
		struct shmkit_queue_stats st;
		if (role == 0) {
			shmkit_queue_send(q, buf, rand_r(seed) % 64, OP_TIMEOUT);
		} else if (rand_r(seed) % 2) {
			shmkit_queue_recv(q, buf, sizeof(buf), OP_TIMEOUT);
		} else {
			ssize_t n = shmkit_queue_peek(q, &at, OP_TIMEOUT);
			if (n >= 0) {
				memcpy(buf, at, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf));
				shmkit_queue_consume(q);
			}
		}
		shmkit_queue_stats(q, &st);
	}
	shmkit_queue_close(q);
}

static void topic_user(const struct run *r, int role, unsigned *seed)
{
	unsigned char buf[256];
	if (role == 0) {
		struct shmkit_pub *p;
		if (shmkit_pub_open(&p, r->uri) < 0)
			return;
		while (test_now_ns() < r->end)
			shmkit_pub_send(p, buf, rand_r(seed) % 64, OP_TIMEOUT);
		shmkit_pub_close(p);
		return;
	}
	struct shmkit_sub *s;
	if (shmkit_sub_open(&s, r->uri) < 0)
		return;
	while (test_now_ns() < r->end) {
		ssize_t n = shmkit_sub_recv(s, buf, sizeof(buf), OP_TIMEOUT);
		if (n == -EPIPE || n == -EBADMSG) { /* join again */
			shmkit_sub_close(s);
			if (shmkit_sub_open(&s, r->uri) < 0)
				return;
		}
	}
	shmkit_sub_close(s);
}

static void map_user(const struct run *r, unsigned *seed)
{
	struct shmkit_map *m;
	unsigned char buf[256] = {0};
	if (shmkit_map_open(&m, r->uri) < 0)
		return;
	shmkit_map_set_lock_timeout(m, 20 * MS);
	while (test_now_ns() < r->end) {
		char key[16];
		int klen = snprintf(key, sizeof(key), "k%u", rand_r(seed) % 200);
		switch (rand_r(seed) % 5) {
		case 0:
			shmkit_map_put(m, key, (size_t)klen, buf, rand_r(seed) % 200);
			break;
		case 1:
			shmkit_map_get(m, key, (size_t)klen, buf, sizeof(buf));
			break;
		case 2:
			shmkit_map_del(m, key, (size_t)klen);
			break;
		case 3:
			shmkit_map_count(m);
			break;
		default:
			if (rand_r(seed) % 100 == 0)
				shmkit_map_check(m);
		}
	}
	shmkit_map_close(m);
}

static void heap_user(const struct run *r, unsigned *seed)
{
	struct shmkit_heap *h;
	shmkit_off held[64] = {0};
	if (shmkit_heap_open(&h, r->uri) < 0)
		return;
	while (test_now_ns() < r->end) {
		unsigned i = rand_r(seed) % 64;
		if (held[i]) {
			shmkit_heap_free(h, held[i]);
			held[i] = 0;
		} else if (shmkit_heap_alloc(h, 1 + rand_r(seed) % 4096, &held[i]) < 0) {
			held[i] = 0;
		}
		if (rand_r(seed) % 200 == 0)
			shmkit_heap_check(h);
	}
	shmkit_heap_close(h);
}

static int user(const struct run *r, int role)
{
	unsigned seed = (unsigned)getpid();
	switch (r->kind) {
	case MPMC:
	case SPSC:
		queue_user(r, role, &seed);
		break;
	case TOPIC:
		topic_user(r, role, &seed);
		break;
	case MAP:
		map_user(r, &seed);
		break;
	default:
		heap_user(r, &seed);
		break;
	}
	return 0;
}

static int user0(void *arg)
{
	return user(arg, 0);
}
static int user1(void *arg)
{
	return user(arg, 1);
}

static int create(enum kind kind, const char *uri)
{
	struct shmkit_queue_opts qo = {.capacity = 16,
				       .max_msg = 64,
				       .multi_producer = kind == MPMC,
				       .multi_consumer = kind == MPMC};
	struct shmkit_topic_opts to = {.slot_size = 64, .slots = 16, .reliable = 1};
	struct shmkit_queue *q;
	struct shmkit_map *m;
	struct shmkit_heap *h;
	int r;
	switch (kind) {
	case MPMC:
	case SPSC:
		if ((r = shmkit_queue_create(&q, uri, &qo)) == 0)
			shmkit_queue_close(q);
		return r;
	case TOPIC:
		return shmkit_topic_create(uri, &to);
	case MAP:
		if ((r = shmkit_map_create(&m, uri, 1 << 20, 0600)) == 0)
			shmkit_map_close(m);
		return r;
	default:
		if ((r = shmkit_heap_create(&h, uri, 1 << 20, 0600)) == 0)
			shmkit_heap_close(h);
		return r;
	}
}

/* waitpid with a deadline: the exit status, or -1 (then killed) if it hangs. */
static int wait_until(pid_t pid, int64_t deadline)
{
	int status;
	while (waitpid(pid, &status, WNOHANG) != pid) {
		if (test_now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		usleep(10000);
	}
	return status;
}

static void scribble_run(enum kind kind, int64_t run_ns)
{
	struct run r = {.kind = kind, .uri = test_uri("posix", "scribble")};
	CHECK_OK(create(kind, r.uri));
	r.end = test_now_ns() + run_ns;
	pid_t users[2] = {test_fork(user0, &r), test_fork(user1, &r)};
	pid_t hostile = test_fork(scribbler, &r);
	for (int i = 0; i < 2; i++) {
		int status = wait_until(users[i], r.end + 10000 * MS);
		if (status == -1)
			fprintf(stderr, "%s: user %d hung\n", kind_name[kind], i);
		else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fprintf(stderr, "%s: user %d ended with status %#x\n", kind_name[kind], i,
				status);
		CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	kill(hostile, SIGKILL);
	CHECK_RET(test_wait(hostile), 128 + SIGKILL);
	CHECK_OK(shmkit_remove(r.uri));
}

int main(void)
{
	int64_t run_ns = 1500 * MS; /* time, not steps: valgrind runs fewer */
	for (int round = 0; round < 2; round++)
		for (enum kind k = 0; k < KINDS; k++)
			scribble_run(k, run_ns);
	return test_done();
}
