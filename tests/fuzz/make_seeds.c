/* SPDX-License-Identifier: MIT */
/* Writes the fuzz seeds: real segment images made by the create calls, in
 * the states a peer can leave them (empty, holding messages, a reservation
 * left open, pairs inline and chained, named blocks, subscribers joined),
 * plus URI strings and SCM_RIGHTS sender programs. Run by `make fuzz-seeds`
 * into tests/fuzz/corpus/; the images are taken while the handles are still
 * open, so their attach tables name a process that is gone when they are
 * replayed, as after a crash.
 *
 * make_seeds --check DIR opens every seed image in DIR with its kind's open
 * call (CTest fuzz_seeds_fresh): a layout change makes old seeds unopenable,
 * and a fuzzer that starts from them only ever tests the rejection path. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <shmkit.h>

static const char *out_dir;
static char uri[128];

static void fail(const char *what, int r)
{
	fprintf(stderr, "make_seeds: %s: %s\n", what, shmkit_strerror(r));
	shmkit_remove(uri);
	exit(1);
}

static void write_file(const char *kind, const char *name, const void *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", out_dir, kind);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/seed-%s", out_dir, kind, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* Copies the segment at uri as it is now into <kind>/ and managed/. */
static void dump(const char *kind, const char *name)
{
	struct shmkit_seg *seg;
	int r = shmkit_seg_open(&seg, uri, 0, SHMKIT_RDONLY, 0);
	if (r < 0)
		fail("seg_open for the dump", r);
	write_file(kind, name, shmkit_seg_addr(seg), shmkit_seg_size(seg));
	if (strcmp(kind, "managed") == 0) {
		shmkit_seg_close(seg);
		return;
	}
	char both[128];
	snprintf(both, sizeof(both), "%s-%s", kind, name);
	write_file("managed", both, shmkit_seg_addr(seg), shmkit_seg_size(seg));
	shmkit_seg_close(seg);
}

static void fresh_uri(const char *tag)
{
	snprintf(uri, sizeof(uri), "posix:/shmkit-fuzz-seed-%d-%s", (int)getpid(), tag);
	shmkit_remove(uri);
}

/* kind 0: SPSC (marker and message in one line), 1: MPMC, 2: SPSC with
 * max_msg 96 (markers in their own array) */
static void queue_dump(int kind, const char *state)
{
	static const char *const kinds[] = { "spsc", "mpmc", "spsc-wide" };
	char name[64];
	snprintf(name, sizeof(name), "%s-%s", kinds[kind], state);
	dump("queue", name);
}

static void queues(int kind)
{
	struct shmkit_queue *q;
	struct shmkit_queue_opts o = { .capacity = 4, .max_msg = kind == 2 ? 96 : 32,
				       .multi_producer = kind == 1, .multi_consumer = kind == 1 };
	void *slot;
	int r;
	fresh_uri("queue");
	if ((r = shmkit_queue_create(&q, uri, &o)) < 0)
		fail("queue_create", r);
	queue_dump(kind, "empty");
	shmkit_queue_send(q, "hello", 5, 0);
	shmkit_queue_send(q, "0123456789abcdef0123456789abcdef", 32, 0);
	queue_dump(kind, "two");
	char buf[96];
	shmkit_queue_recv(q, buf, sizeof(buf), 0);
	if (shmkit_queue_reserve(q, 16, &slot, 0) == 0) {
		memset(slot, 'r', 16);
		queue_dump(kind, "reserved");
		shmkit_queue_commit(q, slot, 16);
	}
	while (shmkit_queue_send(q, "full", 4, 0) == 0)
		;
	queue_dump(kind, "full");
	shmkit_queue_close(q);
	shmkit_remove(uri);
}

/* A queue whose producer and consumer claimed their roles while a stranger
 * who may only read the file held a read lock over it: their entries say
 * SHMKIT__AI_CONTENDED (a read lock of their own), so their liveness is
 * judged by identity first (managed.c, contended_dead). The roles lie at
 * header bytes 2688..2815 (docs/LAYOUT.md). */
static void queue_contended(void)
{
	struct shmkit_queue *q;
	struct shmkit_queue_opts o = { .capacity = 4, .max_msg = 32 };
	char path[160], buf[32];
	int r;
	fresh_uri("queue");
	if ((r = shmkit_queue_create(&q, uri, &o)) < 0)
		fail("queue_create", r);
	snprintf(path, sizeof(path), "/dev/shm%s", uri + strlen("posix:"));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	/* over the role entries only: a lock over the attach table would
	 * meet our own handle's write lock there */
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 2688, .l_len = 128 };
	if (fd < 0 || fcntl(fd, F_OFD_SETLK, &fl) < 0)
		fail("a stranger's read lock", -errno);
	shmkit_queue_send(q, "hello", 5, 0);
	shmkit_queue_send(q, "again", 5, 0);
	shmkit_queue_recv(q, buf, sizeof(buf), 0);
	queue_dump(0, "contended");
	close(fd);
	shmkit_queue_close(q);
	shmkit_remove(uri);
}

static void topics(int reliable)
{
	struct shmkit_pub *p;
	struct shmkit_sub *s;
	struct shmkit_topic_opts o = { .slot_size = 32, .slots = 4, .reliable = reliable, .max_subs = 2 };
	int r;
	fresh_uri("topic");
	if ((r = shmkit_pub_create(&p, uri, &o)) < 0)
		fail("pub_create", r);
	if ((r = shmkit_sub_open(&s, uri)) < 0)
		fail("sub_open", r);
	shmkit_pub_send(p, "one", 3, 0);
	shmkit_pub_send(p, "two two two", 11, 0);
	dump("topic", reliable ? "reliable-two" : "lossy-two");
	char buf[32];
	shmkit_sub_recv(s, buf, sizeof(buf), 0);
	void *loan;
	if (shmkit_pub_loan(p, 20, &loan, 0) == 0) {
		memset(loan, 'l', 20);
		dump("topic", reliable ? "reliable-loaned" : "lossy-loaned");
		shmkit_pub_publish(p, loan, 20);
	}
	for (int i = 0; i < 6; i++)
		shmkit_pub_send(p, "wrap", 4, 0);
	dump("topic", reliable ? "reliable-wrapped" : "lossy-wrapped");
	shmkit_sub_close(s);
	shmkit_pub_close(p);
	dump("topic", reliable ? "reliable-closed" : "lossy-closed");
	shmkit_remove(uri);
}

static void heaps(void)
{
	struct shmkit_heap *h;
	shmkit_off off[6], named;
	int r;
	fresh_uri("heap");
	if ((r = shmkit_heap_create(&h, uri, 12288, 0)) < 0)
		fail("heap_create", r);
	dump("heap", "empty");
	for (int i = 0; i < 6; i++)
		shmkit_heap_alloc(h, (size_t)(24 << i), &off[i]);
	shmkit_heap_named(h, "fuzz", 64, SHMKIT_CREATE, &named);
	dump("heap", "used");
	for (int i = 0; i < 6; i += 2)
		shmkit_heap_free(h, off[i]);
	dump("heap", "holes");
	shmkit_heap_close(h);
	shmkit_remove(uri);
}

/* A heap large enough that its small sizes are cached per process
 * (heap_cache.c gives a class a share of the arena), holding blocks this
 * process cached (tag CACHED, owner word) in a cache slot it holds: gone
 * when the fuzzer opens it, so the open takes the slot's blocks back. */
static void heap_cached(void)
{
	struct shmkit_heap *h;
	shmkit_off off[4];
	int r;
	fresh_uri("heap");
	if ((r = shmkit_heap_create(&h, uri, 256 << 10, 0)) < 0)
		fail("heap_create", r);
	for (int i = 0; i < 4; i++)
		shmkit_heap_alloc(h, (size_t)(1 + 20 * i), &off[i]);
	for (int i = 0; i < 4; i += 2)
		shmkit_heap_free(h, off[i]);
	dump("heap", "cached");
	shmkit_heap_close(h);
	shmkit_remove(uri);
}

static void maps(void)
{
	struct shmkit_map *m;
	char big[200];
	int r;
	fresh_uri("map");
	if ((r = shmkit_map_create(&m, uri, 24576, 0)) < 0)
		fail("map_create", r);
	dump("map", "empty");
	memset(big, 'x', sizeof(big));
	shmkit_map_put(m, "a", 1, "b", 1);
	shmkit_map_put(m, "key-1", 5, "inline value", 12);
	shmkit_map_put(m, "key-2", 5, big, sizeof(big));
	for (int i = 0; i < 20; i++) {
		char k[16];
		snprintf(k, sizeof(k), "k%d", i);
		shmkit_map_put(m, k, strlen(k), big, (size_t)(i * 7));
	}
	dump("map", "pairs");
	shmkit_map_del(m, "key-1", 5);
	shmkit_map_del(m, "k3", 2);
	dump("map", "deleted");
	shmkit_map_close(m);
	shmkit_remove(uri);
}

static void raws(void)
{
	struct shmkit_raw *r;
	int rc;
	fresh_uri("raw");
	if ((rc = shmkit_raw_create(&r, uri, 64, 0)) < 0)
		fail("raw_create", rc);
	memcpy(shmkit_raw_data(r), "raw user data", 13);
	dump("managed", "raw");
	shmkit_raw_close(r);
	shmkit_remove(uri);
}

static void uris(void)
{
	static const char *const list[] = {
		"posix:/name", "/bare", "name", "sysv:0x1234", "sysv:private", "sysv:id=7",
		"sysv:/tmp?proj=0x41", "file:/tmp/x", "file:/tmp/x?private", "memfd:m",
		"anon:", "fd:3", "posix:/a/b", "sysv:0", "file:rel", "unknown:x",
	};
	for (size_t i = 0; i < sizeof(list) / sizeof(list[0]); i++) {
		char name[16];
		snprintf(name, sizeof(name), "%02zu", i);
		write_file("uri", name, list[i], strlen(list[i]));
	}
}

/* Sender programs for fuzz_fdpass.c (see its reader): socket type, options,
 * message count; per message: fd count, (kind, size lo, size hi) per fd,
 * payload kind and its bytes, control layout. */
static void fdpass(void)
{
	/* stream, 1 msg, 1 sealed 4 KiB memfd, well-formed header for 4096 */
	static const unsigned char good[] = { 0, 0, 0, 1, 0, 0xff, 0x0f, 1, 0x00, 0x10, 0 };
	/* dgram, 1 msg, 2 fds (unsealed memfd, pipe) in two cmsgs, header for a huge size */
	static const unsigned char two[] = { 1, 0, 0, 2, 2, 0, 1, 3, 0, 0,
					     0, 0, 0, 0, 0, 0, 0, 0, 0x40, 1 };
	/* seqpacket, passcred, 2 msgs: a sealed memfd announcing more than it
	 * holds, then credentials without descriptors */
	static const unsigned char creds[] = { 2, 1, 1, 1, 1, 0x10, 0, 1, 0x00, 0x20, 2,
					       0, 2, 5, 'h', 'e', 'l', 'l', 'o', 2 };
	write_file("fdpass", "good", good, sizeof(good));
	write_file("fdpass", "two-fds", two, sizeof(two));
	write_file("fdpass", "creds", creds, sizeof(creds));
}

/* 0 if the image opens as its kind. */
static int open_image(const char *kind, const char *path)
{
	char fd_uri[32];
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	/* a private writable copy: opening registers in the attach table */
	int mfd = memfd_create("seed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	char buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (write(mfd, buf, (size_t)n) != n)
			return -EIO;
	close(fd);
	if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		return -errno;
	snprintf(fd_uri, sizeof(fd_uri), "fd:%d", mfd);
	int r = -EINVAL;
	if (strcmp(kind, "queue") == 0) {
		struct shmkit_queue *q;
		if ((r = shmkit_queue_open(&q, fd_uri)) == 0)
			shmkit_queue_close(q);
	} else if (strcmp(kind, "topic") == 0) {
		struct shmkit_topic_info info;
		r = shmkit_topic_stat(fd_uri, &info, NULL, 0);
	} else if (strcmp(kind, "heap") == 0) {
		struct shmkit_heap *h;
		if ((r = shmkit_heap_open(&h, fd_uri)) == 0)
			shmkit_heap_close(h);
	} else if (strcmp(kind, "map") == 0) {
		struct shmkit_map *m;
		if ((r = shmkit_map_open(&m, fd_uri)) == 0)
			shmkit_map_close(m);
	}
	close(mfd);
	return r;
}

static int check(const char *dir)
{
	static const char *const kinds[] = { "queue", "topic", "heap", "map" };
	int stale = 0, n = 0;
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		char sub[4096];
		snprintf(sub, sizeof(sub), "%s/%s", dir, kinds[k]);
		DIR *d = opendir(sub);
		struct dirent *e;
		while (d && (e = readdir(d)) != NULL) {
			if (strncmp(e->d_name, "seed-", 5) != 0)
				continue;
			char path[8192];
			snprintf(path, sizeof(path), "%s/%s", sub, e->d_name);
			int r = open_image(kinds[k], path);
			n++;
			if (r < 0) {
				fprintf(stderr, "stale seed %s: %s (%s)\n", path, shmkit_strerror(r),
					shmkit_last_error_detail());
				stale++;
			}
		}
		if (d)
			closedir(d);
	}
	if (stale)
		fprintf(stderr, "%d of %d seed images no longer open: a layout changed; "
				"run `make fuzz-seeds` and commit tests/fuzz/corpus\n", stale, n);
	else
		printf("%d seed images open as their kind\n", n);
	return stale || n == 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--check") == 0)
		return check(argv[2]);
	if (argc != 2) {
		fprintf(stderr, "usage: make_seeds DIR | make_seeds --check DIR\n");
		return 2;
	}
	out_dir = argv[1];
	mkdir(out_dir, 0755);
	queues(0);
	queues(1);
	queues(2);
	queue_contended();
	topics(0);
	topics(1);
	heaps();
	heap_cached();
	maps();
	raws();
	uris();
	fdpass();
	return 0;
}
