/* SPDX-License-Identifier: MIT */
/* shmkit_list finds posix, sysv, memfd, anon and deleted-but-mapped
 * segments, each with the pids and names of the processes mapping it
 * (a forked child and an exec'd one here); shmkit_stat agrees. */
#include <signal.h>
#include <unistd.h>

#include "test.h"

struct want {
	const char *uri;      /* match by URI... */
	uint64_t inode;       /* ...or by inode when non-zero */
	pid_t pids[3];
	int found;
	int deleted;
	struct shmkit_stat st;
};

struct wants {
	struct want *w;
	int n;
	int calls;
};

static int has_pid(const struct shmkit_stat *st, pid_t pid)
{
	int n = st->n_mappers < SHMKIT_STAT_MAPPERS ? st->n_mappers : SHMKIT_STAT_MAPPERS;
	for (int i = 0; i < n; i++)
		if (st->mappers[i].pid == pid && st->mappers[i].comm[0] != '\0')
			return 1;
	return 0;
}

static int on_seg(const struct shmkit_stat *st, void *arg)
{
	struct wants *ws = arg;
	ws->calls++;
	for (int i = 0; i < ws->n; i++) {
		struct want *w = &ws->w[i];
		if (w->inode ? st->inode != w->inode : strcmp(st->uri, w->uri) != 0)
			continue;
		w->found++;
		w->st = *st;
	}
	return 0;
}

static int stop_early(const struct shmkit_stat *st, void *arg)
{
	(void)st;
	(*(int *)arg)++;
	return 7;
}

/* exec'd: map argv[0] and wait until the parent closes our stdin. */
static int role_holder(int argc, char **argv)
{
	struct shmkit_seg *seg;
	char c;
	if (argc < 1)
		return 2;
	CHECK_OK(shmkit_seg_open(&seg, argv[0], 0, 0, 0));
	if (write(1, "r", 1) != 1)
		return 1;
	while (read(0, &c, 1) > 0)
		;
	CHECK_OK(shmkit_seg_close(seg));
	return 0;
}

static int hold_fd, hold_wr; /* pipe ends: the forked holder waits for EOF */

static int child_holds(void *arg)
{
	struct shmkit_seg *seg;
	char c;
	close(hold_wr);
	CHECK_OK(shmkit_seg_open(&seg, arg, 0, 0, 0)); /* sysv: attach here too */
	while (read(hold_fd, &c, 1) > 0)
		;
	CHECK_OK(shmkit_seg_close(seg));
	return 0;
}

/* Spawns role_holder on uri with pipes for "ready" and "go away". */
static pid_t spawn_holder(const char *uri, int *release)
{
	int in[2], out[2];
	CHECK(pipe(in) == 0 && pipe(out) == 0);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		char self[4096];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		self[n > 0 ? n : 0] = '\0';
		execl(self, self, "--role", "holder", uri, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	char c;
	CHECK(read(out[0], &c, 1) == 1);
	close(out[0]);
	*release = in[1];
	return pid;
}

int main(int argc, char **argv)
{
	static const struct test_role roles[] = { { "holder", role_holder }, { NULL, NULL } };
	test_child_dispatch(argc, argv, roles);

	struct shmkit_seg *px, *sv, *mf, *an, *gone, *fl;
	struct shmkit_stat st;
	const char *puri = test_uri("posix", "list");
	const char *suri = test_uri("sysv", "list");
	const char *guri = test_uri("posix", "gone");
	const char *furi = test_uri("file", "list");
	CHECK_OK(shmkit_seg_open(&fl, furi, 4096, SHMKIT_CREATE | SHMKIT_EXCL, 0600));
	CHECK_OK(shmkit_seg_open(&px, puri, 4096, SHMKIT_CREATE | SHMKIT_EXCL, 0600));
	CHECK_OK(shmkit_seg_open(&sv, suri, 4096, SHMKIT_CREATE | SHMKIT_EXCL, 0600));
	CHECK_OK(shmkit_seg_open(&mf, test_uri("memfd", "list"), 4096, SHMKIT_CREATE, 0));
	CHECK_OK(shmkit_seg_open(&an, "anon:", 4096, SHMKIT_CREATE, 0));
	CHECK_OK(shmkit_seg_open(&gone, guri, 4096, SHMKIT_CREATE | SHMKIT_EXCL, 0600));
	CHECK_OK(shmkit_remove(guri)); /* mapped, but its name is gone */

	int hold[2];
	CHECK(pipe(hold) == 0);
	hold_fd = hold[0];
	hold_wr = hold[1];
	pid_t forked = test_fork(child_holds, (void *)suri);
	close(hold[0]);
	int release;
	pid_t execd = spawn_holder(puri, &release);
	/* Wait for the forked child's attach to show. */
	for (int i = 0; i < 500; i++) {
		CHECK_OK(shmkit_seg_stat(sv, &st));
		if (st.attach_count == 3) /* the child inherited our attach, then made its own */
			break;
		usleep(1000);
	}

	struct shmkit_stat ms, as, gs;
	CHECK_OK(shmkit_seg_stat(mf, &ms));
	CHECK_OK(shmkit_seg_stat(an, &as));
	CHECK_OK(shmkit_seg_stat(gone, &gs));
	CHECK(ms.inode != 0 && as.inode != 0 && gs.inode != 0);
	struct want w[] = {
		{ .uri = puri, .pids = { getpid(), execd, 0 } },
		{ .uri = suri, .pids = { getpid(), forked, 0 } },
		{ .inode = ms.inode, .pids = { getpid(), forked, execd }, .deleted = 1 },
		{ .inode = as.inode, .pids = { getpid(), forked, 0 }, .deleted = 1 },
		{ .inode = gs.inode, .pids = { getpid(), forked, 0 }, .deleted = 1 },
		{ .uri = furi, .pids = { getpid(), forked, 0 } },
	};
	struct wants ws = { w, 6, 0 };
	int n = shmkit_list(on_seg, &ws);
	CHECK(n == ws.calls && n >= 6);
	for (int i = 0; i < 6; i++) {
		if (w[i].found != 1)
			fprintf(stderr, "want %d (%s) found %d times\n", i, w[i].uri ? w[i].uri : "", w[i].found);
		CHECK(w[i].found == 1);
		for (int j = 0; j < 3; j++)
			if (w[i].pids[j] && i != 2) /* the exec'd holder did not inherit the memfd */
				CHECK(has_pid(&w[i].st, w[i].pids[j]));
		CHECK(w[i].st.deleted == w[i].deleted);
	}
	if (w[1].st.attach_count != 3 || w[1].st.creator_pid != getpid())
		fprintf(stderr, "sysv nattch %lld cpid %d\n", (long long)w[1].st.attach_count,
			(int)w[1].st.creator_pid);
	CHECK(w[1].st.attach_count == 3 && w[1].st.creator_pid == getpid());
	CHECK(w[1].st.backend == SHMKIT_SYSV && w[1].st.size == 4096);
	/* The forked child holds the posix descriptor it inherited: a user too. */
	CHECK(w[0].st.backend == SHMKIT_POSIX && w[0].st.n_mappers == 3);
	CHECK(w[2].st.backend == SHMKIT_MEMFD && strcmp(w[2].st.uri, shmkit_seg_uri(mf)) == 0);
	CHECK(has_pid(&w[2].st, getpid()) && has_pid(&w[2].st, forked));
	CHECK(w[3].st.backend == SHMKIT_ANON && w[3].st.size == 4096);
	CHECK(w[4].st.backend == SHMKIT_POSIX && strcmp(w[4].st.uri, guri) == 0);
	CHECK(w[5].st.backend == SHMKIT_FILE && w[5].st.size == 4096 && w[5].st.mode == 0600);

	/* stat by name sees the same users. */
	CHECK_OK(shmkit_stat(puri, &st));
	CHECK(st.n_mappers == 3 && has_pid(&st, execd) && has_pid(&st, getpid()));
	CHECK_OK(shmkit_seg_stat(an, &st));
	CHECK(st.n_mappers == 2 && has_pid(&st, forked));

	int calls = 0;
	CHECK_RET(shmkit_list(stop_early, &calls), 7);
	CHECK(calls == 1);
	CHECK_RET(shmkit_list(NULL, NULL), -EINVAL);

	close(release);
	close(hold[1]);
	CHECK(test_wait(execd) == 0);
	CHECK(test_wait(forked) == 0);
	CHECK_OK(shmkit_stat(puri, &st));
	CHECK(st.n_mappers == 1);
	CHECK_OK(shmkit_seg_close(px));
	CHECK_OK(shmkit_seg_close(sv));
	CHECK_OK(shmkit_seg_close(mf));
	CHECK_OK(shmkit_seg_close(an));
	CHECK_OK(shmkit_seg_close(gone));
	CHECK_OK(shmkit_seg_close(fl));
	CHECK_OK(shmkit_remove(furi));
	CHECK_OK(shmkit_remove(puri));
	CHECK_OK(shmkit_remove(suri));
	return test_done();
}
