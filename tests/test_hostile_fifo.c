/* SPDX-License-Identifier: MIT */
/* A FIFO planted under the name of a segment (anyone may make one in
 * /dev/shm, or beside a file: path): opening it without O_NONBLOCK waits
 * for a writer that never comes, so a user's open of their queue, and
 * `shmkit read`, hung for good. Every open of each object kind, and each
 * look from the shell, must return at once with -EINVAL ("not a regular
 * file") and leave the FIFO where it is, and its writer: a writer blocked
 * in its open was released by ours (O_NONBLOCK) and killed by SIGPIPE when
 * it wrote after our close. */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

/* shmkit rm refuses a posix: or file: name that is no regular file: the
 * test removes its FIFOs itself */
static const char *file_fifo;
static char posix_fifo[512];

static void hung(int sig)
{
	(void)sig;
	static const char msg[] = "FAIL: an open of a FIFO blocked (10 s)\n";
	(void)!write(2, msg, sizeof(msg) - 1);
	test_cleanup_run(); /* _exit skips the harness's atexit */
	if (posix_fifo[0])
		unlink(posix_fifo);
	if (file_fifo)
		unlink(file_fifo);
	_exit(1);
}

/* A writer that waits in its open of the FIFO for a reader. */
static int fifo_writer(void *path)
{
	int fd = open(path, O_WRONLY);
	return fd >= 0 && write(fd, "record\n", 7) == 7 ? 0 : 1;
}

static void check_opens(const char *uri, const char *path)
{
	pid_t writer = test_fork(fifo_writer, (void *)path);
	usleep(50000); /* in its open */
	struct shmkit_seg *seg;
	struct shmkit_queue *q;
	struct shmkit_sub *sub;
	struct shmkit_map *map;
	struct shmkit_heap *heap;

	CHECK_RET(shmkit_seg_open(&seg, uri, 0, 0, 0), -EINVAL);
	CHECK(strstr(shmkit_last_error_detail(), "not a regular file") != NULL);
	CHECK_RET(shmkit_seg_open(&seg, uri, 4096, SHMKIT_CREATE, 0600), -EINVAL);
	CHECK_RET(shmkit_queue_open(&q, uri), -EINVAL);
	CHECK_RET(shmkit_sub_open(&sub, uri), -EINVAL);
	CHECK_RET(shmkit_map_open(&map, uri), -EINVAL);
	CHECK_RET(shmkit_heap_open(&heap, uri), -EINVAL);
	CHECK_RET(test_sh("'%s' read '%s' 2>/dev/null", SHMKIT_TOOL_PATH, uri), 1);
	CHECK_RET(test_sh("'%s' recv '%s' --timeout 0 2>/dev/null", SHMKIT_TOOL_PATH, uri), 1);
	CHECK_RET(test_sh("'%s' map '%s' get k 2>/dev/null", SHMKIT_TOOL_PATH, uri), 1);
	usleep(50000);
	CHECK(waitpid(writer, NULL, WNOHANG) == 0); /* still waiting for its reader */
	int rd = open(path, O_RDONLY); /* that reader: the writer goes on */
	char buf[16];
	CHECK(rd >= 0 && read(rd, buf, sizeof(buf)) == 7);
	close(rd);
	CHECK_RET(test_wait(writer), 0);
}

int main(void)
{
	const char *posix = test_uri("posix", "fifo");
	const char *file = test_uri("file", "fifo");
	char *path = posix_fifo;

	signal(SIGALRM, hung);
	alarm(10);
	snprintf(posix_fifo, sizeof(posix_fifo), "/dev/shm%s", posix + strlen("posix:"));
	CHECK(mkfifo(path, 0600) == 0);
	check_opens(posix, path);
	CHECK_RET(test_sh("'%s' rm '%s' 2>/dev/null", SHMKIT_TOOL_PATH, posix), 1);
	struct stat sb;
	CHECK(lstat(path, &sb) == 0 && S_ISFIFO(sb.st_mode)); /* left where it was */
	CHECK(unlink(path) == 0);
	file_fifo = file + strlen("file:");
	CHECK(mkfifo(file_fifo, 0600) == 0);
	check_opens(file, file_fifo);
	CHECK(unlink(file_fifo) == 0);
	return test_done();
}
