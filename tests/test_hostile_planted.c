/* SPDX-License-Identifier: MIT */
/* Root looks at what an unprivileged user planted (root only).
 * nobody creates, in /dev/shm and as a SysV segment, objects with a shmkit
 * header that lies: huge total/body sizes, a huge attach table at a wild
 * offset, garbage attach words and pids, a queue body claiming 2^30 slots of
 * 1 GiB; and a symbolic link to a root-only file. root then runs
 * `shmkit ls`, `ls --json`, `stat`, `stat --json`, `gc --dry-run` and `gc`
 * (limited to the planted names) on them. Every command ends in seconds
 * with exit 0 or 1, JSON parses, control bytes are escaped, the planted
 * objects are byte for byte as they were (looking writes nothing), gc does
 * not remove them, and the symlink's target is untouched. */
/* TIMEOUT: 120 */
#include "test.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"

#define NOBODY 65534
#define PLANT_SIZE 16384

static unsigned char image[PLANT_SIZE];

/* A header that passes the first checks and lies everywhere after. */
static void make_image(uint32_t kind)
{
	struct shmkit__header *h = (void *)image;
	memset(image, 0, sizeof(image));
	h->magic = SHMKIT__MAGIC;
	h->fingerprint = SHMKIT__FINGERPRINT;
	h->layout_version = SHMKIT__LAYOUT_VERSION;
	h->kind = kind;
	h->header_size = SHMKIT__HEADER_SIZE;
	h->total_size = 1ull << 62;
	h->body_size = (1ull << 62) - 4096;
	atomic_store(&h->init, SHMKIT__WORD(1, SHMKIT__STATE_READY, 7));
	h->creator.pid = 1;
	h->creator.start_time = ~0ull;
	h->attach_slots = 0xffffffffu;
	h->attach_offset = 0xfffffff0u;
	for (int i = 0; i < (int)SHMKIT__ATTACH_SLOTS; i++)
		atomic_store(&h->attach[i].word, 0x1b5b3331ull * (uint64_t)(i + 1) | 0xdead0000ull << 32);
	/* the body: a queue/topic/heap header's sizes all wild */
	uint64_t *body = (uint64_t *)(image + SHMKIT__HEADER_SIZE);
	for (int i = 0; i < 64; i++)
		body[i] = i & 1 ? 0x40000000ull : 0xffffffffffffff00ull;
	memcpy(image + SHMKIT__HEADER_SIZE + 512, "\x1b[31mEVIL\x1b[0m\n", 15);
}

static int drop_to_nobody(void)
{
	return setgroups(0, NULL) == 0 && setgid(NOBODY) == 0 && setuid(NOBODY) == 0 ? 0 : -1;
}

static const char *plant_path;

static int plant_posix(void *arg)
{
	(void)arg;
	if (drop_to_nobody() < 0)
		return 2;
	int fd = open(plant_path, O_CREAT | O_EXCL | O_WRONLY, 0644);
	if (fd < 0 || write(fd, image, sizeof(image)) != (ssize_t)sizeof(image))
		return 3;
	close(fd);
	return 0;
}

static key_t plant_key;

static int plant_sysv(void *arg)
{
	(void)arg;
	if (drop_to_nobody() < 0)
		return 2;
	int id = shmget(plant_key, PLANT_SIZE, IPC_CREAT | IPC_EXCL | 0644);
	if (id < 0)
		return 3;
	void *p = shmat(id, NULL, 0);
	if (p == (void *)-1)
		return 4;
	memcpy(p, image, sizeof(image));
	shmdt(p);
	return 0;
}

static const char *link_path;

static int plant_link(void *arg)
{
	(void)arg;
	if (drop_to_nobody() < 0)
		return 2;
	return symlink("/etc/shadow", link_path) == 0 ? 0 : 3;
}

static uint64_t file_hash(const char *path)
{
	unsigned char buf[4096];
	uint64_t h = 1469598103934665603ull;
	int fd = open(path, O_RDONLY | O_NOFOLLOW);
	ssize_t n;
	if (fd < 0)
		return 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			h = (h ^ buf[i]) * 1099511628211ull;
	close(fd);
	return h;
}

static uint64_t sysv_hash(key_t key)
{
	int id = shmget(key, 0, 0);
	if (id < 0)
		return 0;
	const unsigned char *p = shmat(id, NULL, SHM_RDONLY);
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; p != (void *)-1 && i < PLANT_SIZE; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	if (p != (void *)-1)
		shmdt(p);
	return h;
}

/* Runs one command; it must end within the CTest timeout with 0 or 1 and
 * print no raw escape byte. */
static void run(const char *what, const char *args, const char *uri)
{
	char cmd[1024], out[65536];
	snprintf(cmd, sizeof(cmd), "%s %s %s", SHMKIT_TOOL_PATH, args, uri);
	int64_t t0 = test_now_ns();
	int rc = test_sh_capture(out, sizeof(out), "timeout 30 %s 2>&1", cmd);
	double s = (double)(test_now_ns() - t0) / 1e9;
	printf("%-14s exit %d in %.2f s\n", what, rc, s);
	CHECK(rc == 0 || rc == 1);
	CHECK(strchr(out, '\x1b') == NULL);
	if (strstr(cmd, "--json") && rc == 0)
		CHECK(test_sh("timeout 30 %s | python3 -c 'import json,sys; json.load(sys.stdin)'", cmd) == 0);
}

int main(void)
{
	if (!test_is_root())
		test_skip("needs root to plant as another user and look as root");
	char path[256], lpath[256], uri[300], luri[300], kuri[64], prefix[300];
	snprintf(path, sizeof(path), "/dev/shm/shmkit-test-%d-planted", (int)getpid());
	snprintf(lpath, sizeof(lpath), "/dev/shm/shmkit-test-%d-planted-link", (int)getpid());
	snprintf(uri, sizeof(uri), "posix:%s", path + 8);
	snprintf(luri, sizeof(luri), "posix:%s", lpath + 8);
	snprintf(prefix, sizeof(prefix), "posix:/shmkit-test-%d-planted", (int)getpid());
	plant_key = (key_t)(0x5d000000u | ((unsigned)getpid() & 0xffffffu));
	snprintf(kuri, sizeof(kuri), "sysv:0x%08x", (unsigned)plant_key);
	test_cleanup_add(uri);
	test_cleanup_add(kuri);
	plant_path = path;
	link_path = lpath;

	make_image(SHMKIT_KIND_QUEUE);
	CHECK(test_wait(test_fork(plant_posix, NULL)) == 0);
	make_image(SHMKIT_KIND_MAP);
	CHECK(test_wait(test_fork(plant_sysv, NULL)) == 0);
	CHECK(test_wait(test_fork(plant_link, NULL)) == 0);
	uint64_t h_posix = file_hash(path), h_sysv = sysv_hash(plant_key);
	uint64_t h_shadow = file_hash("/etc/shadow");
	CHECK(h_posix != 0 && h_sysv != 0);

	run("ls", "ls", "");
	run("ls --json", "ls --json", "");
	run("stat posix", "stat", uri);
	run("stat --json", "stat --json", uri);
	run("stat sysv", "stat", kuri);
	run("stat link", "stat", luri);
	run("gc --dry-run", "gc --dry-run --prefix", prefix);
	run("gc", "gc --prefix", prefix);
	run("gc sysv", "gc --foreign --prefix", kuri);

	CHECK(file_hash(path) == h_posix); /* looked at, never written, not removed */
	CHECK(sysv_hash(plant_key) == h_sysv);
	CHECK(file_hash("/etc/shadow") == h_shadow);
	struct stat sb;
	CHECK(lstat(lpath, &sb) == 0 || errno == ENOENT); /* the link itself may go; never its target */
	unlink(lpath);
	shmkit_remove(uri);
	shmkit_remove(kuri);
	return test_done();
}
