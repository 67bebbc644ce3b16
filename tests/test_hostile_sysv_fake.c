/* SPDX-License-Identifier: MIT */
/* A process mapping a file named /SYSV<key> whose inode number is a shmid
 * looked, in /proc/PID/maps, like a holder of that SysV segment: `shmkit
 * read sysv:id=N` printed the file's bytes as the segment's (an unprivileged
 * user can stage it: a user namespace, a tmpfs, a file named so). Only a
 * mapping on the kernel's own shmem or hugetlbfs mounts is a SysV segment.
 * Root only: it sets kernel.shm_next_id to give the segment the file's
 * inode number, and makes the file at / (where /proc shows it as /SYSV...). */
#include "test.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIZE 4096

static char fake_path[64];
static int shmid = -1;

static void cleanup(void)
{
	unlink(fake_path);
	if (shmid >= 0)
		shmctl(shmid, IPC_RMID, NULL);
}

static int set_next_id(long id)
{
	FILE *f = fopen("/proc/sys/kernel/shm_next_id", "w");
	if (!f)
		return -1;
	int ok = fprintf(f, "%ld\n", id) > 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* The faker: maps the file and waits to be killed. */
static int hold_fake(void *arg)
{
	int fd = *(int *)arg;
	void *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return 1;
	for (;;)
		pause();
}

int main(void)
{
	char buf[SIZE], out[8192];
	struct stat sb;

	if (!test_is_root())
		test_skip("needs root (kernel.shm_next_id, a file at /)");
	snprintf(fake_path, sizeof(fake_path), "/SYSV%08x", (unsigned)getpid());
	int fd = open(fake_path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		test_skip("cannot make %s", fake_path);
	atexit(cleanup);
	memset(buf, 'F', sizeof(buf));
	memcpy(buf, "FAKE-BYTES", 10);
	CHECK(write(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf));
	CHECK(fstat(fd, &sb) == 0);
	if (sb.st_ino > 0x7fffffff || set_next_id((long)sb.st_ino) < 0)
		test_skip("cannot give a segment the id %llu", (unsigned long long)sb.st_ino);
	shmid = shmget(IPC_PRIVATE, SIZE, IPC_CREAT | 0600);
	set_next_id(-1);
	if (shmid != (int)sb.st_ino)
		test_skip("the kernel gave id %d, not %llu", shmid, (unsigned long long)sb.st_ino);
	char *seg = shmat(shmid, NULL, 0);
	CHECK(seg != (void *)-1);
	memset(seg, 'R', SIZE);
	memcpy(seg, "REAL-BYTES", 10);
	shmdt(seg);

	pid_t faker = test_fork(hold_fake, &fd);
	usleep(100000);
	int rc = test_sh_capture(out, sizeof(out), "'%s' read sysv:id=%d 2>&1 | head -c 64",
				 SHMKIT_TOOL_PATH, shmid);
	printf("read sysv:id=%d beside a fake holder: exit %d: %.64s\n", shmid, rc, out);
	CHECK(strstr(out, "FAKE") == NULL);
	rc = test_sh_capture(out, sizeof(out), "'%s' stat sysv:id=%d 2>&1", SHMKIT_TOOL_PATH,
			     shmid);
	char pid[32];
	snprintf(pid, sizeof(pid), "%d", (int)faker);
	CHECK(strstr(out, pid) == NULL); /* not listed as attached */
	kill(faker, SIGKILL);
	test_wait(faker);
	close(fd);
	return test_done();
}
