/* SPDX-License-Identifier: MIT */
/* Create / unlink / attach churn: 3 processes x 10 000 steps on the same two
 * names (posix:), each step a random create (exclusive), open, or remove of
 * a managed object (raw kind, queues now and then). Nothing may crash or
 * hang, every failure must be one that a race explains, an open that
 * succeeds must see the object whole (the size its header says), no process
 * may leak a descriptor or a mapping, and nothing may be left behind. */
/* TIMEOUT: 240 */
#include "test.h"

#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#define PROCS 3
#define STEPS 10000
#define RAW_SIZE 64
#define STEP_LIMIT_NS 3000000000LL /* far above the library's 1 s bounded waits */

static const char *names[2];

static int count_dir(const char *dir)
{
	int n = 0;
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Mappings of /dev/shm files (the sanitizer's allocator adds its own
 * anonymous ones as the heap grows: not ours to count). */
static int count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[4096];
	int n = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "/dev/shm/") != NULL;
	fclose(f);
	return n;
}

/* Errors a race between creators, openers and removers explains. */
static int explained(int r)
{
	return r == -EEXIST || r == -ENOENT || r == -EBADMSG || r == -EOWNERDEAD || r == -EAGAIN ||
	       r == -ETIMEDOUT;
}

static int churner(void *arg)
{
	int id = (int)(intptr_t)arg;
	uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(id + 1);
	int fds = count_dir("/proc/self/fd"), maps = count_maps();
	long ok = 0, raced = 0;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (int i = 0; i < STEPS; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		const char *uri = names[x & 1];
		int op = (int)((x >> 8) % 3), r = 0;
		int queue = ((x >> 16) & 7) == 0;
		int64_t t0 = test_now_ns();
		if (op == 0 && queue) {
			struct shmkit_queue *q;
			struct shmkit_queue_opts o = { .capacity = 4, .max_msg = 16 };
			/* a raw object may hold the name: then -EEXIST */
			if ((r = shmkit_queue_create(&q, uri, &o)) == 0)
				shmkit_queue_close(q);
		} else if (op == 0) {
			struct shmkit_raw *raw;
			if ((r = shmkit_raw_create(&raw, uri, RAW_SIZE, 0)) == 0)
				shmkit_raw_close(raw);
		} else if (op == 1) {
			struct shmkit_raw *raw;
			if ((r = shmkit_raw_open(&raw, uri)) == 0) {
				/* whole: the header's size, which the open checked */
				if (shmkit_raw_size(raw) != RAW_SIZE)
					return 20;
				shmkit_raw_close(raw);
			} /* a queue there is a kind mismatch: -EBADMSG */
		} else {
			r = shmkit_remove(uri);
		}
		if (test_now_ns() - t0 > STEP_LIMIT_NS) {
			fprintf(stderr, "churner %d: step %d (op %d) took %.2f s\n", id, i, op,
				(double)(test_now_ns() - t0) / 1e9);
			return 21;
		}
		if (r == 0)
			ok++;
		else if (explained(r))
			raced++;
		else {
			fprintf(stderr, "churner %d: op %d on %s: %s (%s)\n", id, op, uri,
				shmkit_strerror(r), shmkit_last_error_detail());
			return 22;
		}
	}
	int fds2 = count_dir("/proc/self/fd"), maps2 = count_maps();
	if (fds2 != fds || maps2 != maps) {
		fprintf(stderr, "churner %d: fds %d -> %d, mappings %d -> %d\n", id, fds, fds2, maps,
			maps2);
		return 23;
	}
	printf("churner %d: %ld succeeded, %ld lost a race\n", id, ok, raced);
	return 0;
}

int main(void)
{
	pid_t pids[PROCS];
	names[0] = test_uri("posix", "churn-a");
	names[1] = test_uri("posix", "churn-b");
	int64_t t0 = test_now_ns();
	for (int i = 0; i < PROCS; i++)
		pids[i] = test_fork(churner, (void *)(intptr_t)i);
	for (int i = 0; i < PROCS; i++) {
		int rc = test_wait(pids[i]);
		if (rc != 0)
			fprintf(stderr, "churner %d exited %d\n", i, rc);
		CHECK(rc == 0);
	}
	printf("%d x %d steps in %.2f s\n", PROCS, STEPS, (double)(test_now_ns() - t0) / 1e9);
	for (int i = 0; i < 2; i++) {
		int r = shmkit_remove(names[i]);
		CHECK(r == 0 || r == -ENOENT);
		struct shmkit_stat st;
		CHECK_RET(shmkit_stat(names[i], &st), -ENOENT);
	}
	return test_done();
}
