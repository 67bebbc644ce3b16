/* SPDX-License-Identifier: MIT */
/* anon: shared with children forked after it; no name, no descriptor. */
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

static int child_counts(void *arg)
{
	volatile int *counter = arg;
	for (int i = 0; i < 1000; i++)
		__atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
	return 0;
}

int main(void)
{
	struct shmkit_seg *seg;
	struct shmkit_stat st;

	CHECK_RET(shmkit_seg_open(&seg, "anon:", 0, SHMKIT_CREATE, 0), -EINVAL);
	CHECK_RET(shmkit_seg_open(&seg, "anon:", 0, 0, 0), -EINVAL);
	CHECK_OK(shmkit_seg_open(&seg, "anon:", 4096, SHMKIT_CREATE | SHMKIT_POPULATE, 0));
	CHECK(shmkit_seg_size(seg) == 4096);
	CHECK(shmkit_seg_fd(seg) == -EBADF);
	CHECK(shmkit_seg_backend(seg) == SHMKIT_ANON);
	CHECK(strcmp(shmkit_seg_uri(seg), "anon:") == 0);
	int *counter = shmkit_seg_addr(seg);

	pid_t kids[4];
	for (int i = 0; i < 4; i++)
		kids[i] = test_fork(child_counts, counter);
	for (int i = 0; i < 4; i++)
		CHECK(test_wait(kids[i]) == 0);
	CHECK(*counter == 4000);

	CHECK_OK(shmkit_seg_stat(seg, &st));
	CHECK(st.backend == SHMKIT_ANON && st.lifetime == SHMKIT_LIFE_PROCESS);
	CHECK(st.size == 4096);
	CHECK(st.n_mappers == 1 && st.mappers[0].pid == getpid());
	CHECK_OK(shmkit_seg_flush(seg));
	CHECK_RET(shmkit_remove("anon:"), -EINVAL);
	CHECK_RET(shmkit_stat("anon:", &st), -EINVAL);
	CHECK_OK(shmkit_seg_close(seg));
	CHECK_OK(shmkit_seg_close(NULL));
	return test_done();
}
