/* SPDX-License-Identifier: MIT */
/* file: data written by one process survives it and a reopen, across fork
 * and exec; ?private is copy-on-write and never writes back; flush; EXCL;
 * missing; a symlink planted at the path is refused, target untouched. */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

#define SIZE 12288

static int role_writer(int argc, char **argv)
{
	struct shmkit_seg *seg;
	if (argc < 1)
		return 2;
	CHECK_OK(shmkit_seg_open(&seg, argv[0], 0, 0, 0));
	CHECK(shmkit_seg_size(seg) == SIZE);
	CHECK(strcmp(shmkit_seg_addr(seg), "persist") == 0);
	strcpy((char *)shmkit_seg_addr(seg) + 4096, "exec wrote this");
	CHECK_OK(shmkit_seg_flush(seg));
	CHECK_OK(shmkit_seg_close(seg));
	return 0;
}

static int child_creates(void *arg)
{
	struct shmkit_seg *seg;
	CHECK_OK(shmkit_seg_open(&seg, arg, SIZE, SHMKIT_CREATE | SHMKIT_EXCL, 0));
	strcpy(shmkit_seg_addr(seg), "persist");
	CHECK_OK(shmkit_seg_flush(seg));
	CHECK_OK(shmkit_seg_close(seg));
	return 0; /* the data must outlive this process */
}

static int child_writes_rdonly(void *arg)
{
	struct shmkit_seg *seg;
	signal(SIGSEGV, SIG_DFL);
	CHECK_OK(shmkit_seg_open(&seg, arg, 0, SHMKIT_RDONLY, 0));
	*(volatile char *)shmkit_seg_addr(seg) = 'X';
	return 0;
}

static void check_persist(void)
{
	const char *uri = test_uri("file", "persist");
	struct shmkit_seg *seg, *priv;
	struct shmkit_stat st;
	char privuri[600];

	CHECK_RET(shmkit_seg_open(&seg, uri, 0, 0, 0), -ENOENT);
	/* open-or-create with size 0 and nothing there: no size, nothing made */
	CHECK_RET(shmkit_seg_open(&seg, uri, 0, SHMKIT_CREATE, 0), -EINVAL);
	CHECK(access(uri + 5, F_OK) < 0 && errno == ENOENT);
	CHECK(test_wait(test_fork(child_creates, (void *)uri)) == 0);
	const char *args[] = { uri, NULL };
	CHECK(test_wait(test_spawn_self("writer", args)) == 0);

	CHECK_OK(shmkit_seg_open(&seg, uri, 0, 0, 0));
	char *p = shmkit_seg_addr(seg);
	CHECK(shmkit_seg_size(seg) == SIZE);
	CHECK(strcmp(p, "persist") == 0 && strcmp(p + 4096, "exec wrote this") == 0);
	CHECK_OK(shmkit_seg_stat(seg, &st));
	CHECK(st.backend == SHMKIT_FILE && st.lifetime == SHMKIT_LIFE_FILESYSTEM);
	CHECK(st.mode == 0600 && st.size == SIZE && st.real_size >= SIZE);

	CHECK_RET(shmkit_seg_open(&priv, uri, SIZE, SHMKIT_CREATE | SHMKIT_EXCL, 0600), -EEXIST);
	CHECK_RET(shmkit_seg_open(&priv, uri, SIZE + 1, 0, 0), -EINVAL);
	CHECK(strcmp(p, "persist") == 0);
	/* open-or-create with size 0 opens it whole (DESIGN §4); it was -EINVAL */
	CHECK_OK(shmkit_seg_open(&priv, uri, 0, SHMKIT_CREATE, 0600));
	CHECK(shmkit_seg_size(priv) == SIZE);
	CHECK(strcmp(shmkit_seg_addr(priv), "persist") == 0);
	CHECK_OK(shmkit_seg_close(priv));

	/* ?private: writes stay in this process. */
	snprintf(privuri, sizeof(privuri), "%s?private", uri);
	CHECK_OK(shmkit_seg_open(&priv, privuri, 0, 0, 0));
	char *q = shmkit_seg_addr(priv);
	CHECK(strcmp(q, "persist") == 0);
	strcpy(q, "scribble");
	CHECK_OK(shmkit_seg_flush(priv));
	CHECK(strcmp(p, "persist") == 0);
	CHECK(strcmp(shmkit_seg_uri(priv), privuri) == 0);
	CHECK_OK(shmkit_seg_close(priv));

	CHECK(test_wait(test_fork(child_writes_rdonly, (void *)uri)) == 128 + SIGSEGV);
	CHECK_OK(shmkit_seg_close(seg));
	CHECK_OK(shmkit_seg_open(&seg, uri, 0, SHMKIT_RDONLY, 0));
	CHECK(strcmp(shmkit_seg_addr(seg), "persist") == 0);
	CHECK_OK(shmkit_seg_flush(seg));
	CHECK_OK(shmkit_seg_close(seg));

	CHECK_OK(shmkit_remove(uri));
	CHECK(access(uri + 5, F_OK) < 0 && errno == ENOENT);
	CHECK_RET(shmkit_remove(uri), -ENOENT);
}

/* A symlink (and a directory) at the path: refused, target untouched. */
static void check_symlink(void)
{
	const char *uri = test_uri("file", "link");
	const char *target_uri = test_uri("file", "target");
	const char *path = uri + 5, *target = target_uri + 5;
	struct shmkit_seg *seg;
	struct stat sb;
	char buf[32] = "";

	int fd = open(target, O_WRONLY | O_CREAT | O_EXCL, 0644);
	CHECK(fd >= 0 && write(fd, "precious", 8) == 8);
	close(fd);
	CHECK(symlink(target, path) == 0);
	CHECK_RET(shmkit_seg_open(&seg, uri, 0, 0, 0), -ELOOP);
	CHECK_RET(shmkit_seg_open(&seg, uri, 4096, SHMKIT_CREATE, 0600), -ELOOP);
	CHECK_RET(shmkit_seg_open(&seg, uri, 4096, SHMKIT_CREATE | SHMKIT_EXCL, 0600), -EEXIST);
	CHECK(stat(target, &sb) == 0 && sb.st_size == 8 && (sb.st_mode & 0777) == 0644);
	fd = open(target, O_RDONLY);
	CHECK(fd >= 0 && read(fd, buf, sizeof(buf)) == 8 && memcmp(buf, "precious", 8) == 0);
	close(fd);
	/* remove refuses to unlink something that is not a regular file... */
	CHECK_RET(shmkit_remove(uri), -EINVAL);
	CHECK(unlink(path) == 0);
	CHECK_OK(shmkit_remove(target_uri));

	/* ...and open refuses a directory. */
	CHECK(mkdir(path, 0700) == 0);
	CHECK(shmkit_seg_open(&seg, uri, 0, 0, 0) < 0);
	CHECK(rmdir(path) == 0);
}

int main(int argc, char **argv)
{
	static const struct test_role roles[] = { { "writer", role_writer }, { NULL, NULL } };
	test_child_dispatch(argc, argv, roles);

	check_persist();
	check_symlink();

	char out[256];
	test_sh_capture(out, sizeof(out), "ls /tmp | grep -c 'shmkit-test-%d-'", (int)getpid());
	CHECK(atoi(out) == 0);
	return test_done();
}
