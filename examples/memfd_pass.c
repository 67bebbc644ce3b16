/* SPDX-License-Identifier: MIT */
/* Passing a memfd segment to another process over a Unix socket.
 *
 * memfd: memory has no name anyone else could open: it is shared by handing
 * over its descriptor (SCM_RIGHTS). Here the parent creates one, writes a
 * greeting, and starts a child (fork + exec, so the child inherits no mapping
 * and, thanks to close-on-exec, not the memfd either). The child receives the
 * descriptor with shmkit_seg_recv -- which checks the seals and size before
 * mapping, so the sender cannot shrink it under us -- reads the greeting and
 * writes a reply the parent then prints. Nothing to clean up: the memory
 * goes away with the last descriptor and mapping. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmkit.h>

static int child(int sock)
{
	struct shmkit_seg *seg;
	char *text;
	int ret = shmkit_seg_recv(sock, &seg, 0);

	if (ret < 0) {
		fprintf(stderr, "memfd_pass child: recv: %s\n", shmkit_strerror(ret));
		return 1;
	}
	text = shmkit_seg_addr(seg);
	printf("child %d got: %.*s\n", (int)getpid(), (int)strnlen(text, 64), text);
	fflush(stdout);
	snprintf(text + 64, shmkit_seg_size(seg) - 64, "hello back from %d", (int)getpid());
	shmkit_seg_close(seg);
	return 0;
}

int main(int argc, char **argv)
{
	struct shmkit_seg *seg;
	int sv[2], status, ret;
	char fd_arg[16], self[4096];
	char *text;
	ssize_t n;
	pid_t pid;

	if (argc == 3 && strcmp(argv[1], "--child") == 0)
		return child(atoi(argv[2]));

	ret = shmkit_seg_open(&seg, "memfd:memfd_pass", 4096, SHMKIT_CREATE, 0600);
	if (ret < 0) {
		fprintf(stderr, "memfd_pass: memfd: %s\n", shmkit_strerror(ret));
		return 1;
	}
	text = shmkit_seg_addr(seg);
	strcpy(text, "hello from the parent");

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		perror("memfd_pass: socketpair");
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		perror("memfd_pass: fork");
		return 1;
	}
	if (pid == 0) {
		/* Run this program again, as "--child FD": a fresh process image. */
		close(sv[0]);
		snprintf(fd_arg, sizeof(fd_arg), "%d", sv[1]);
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n > 0) {
			self[n] = 0;
			execl(self, argv[0], "--child", fd_arg, (char *)NULL);
		}
		_exit(127);
	}
	close(sv[1]);

	ret = shmkit_seg_send(sv[0], seg);
	if (ret < 0)
		fprintf(stderr, "memfd_pass: send: %s\n", shmkit_strerror(ret));
	close(sv[0]);

	/* The child has exited, so everything it wrote is visible to us now. */
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "memfd_pass: child failed\n");
		return 1;
	}
	printf("parent read: %.*s\n", (int)strnlen(text + 64, 64), text + 64);
	shmkit_seg_close(seg);
	return ret < 0;
}
