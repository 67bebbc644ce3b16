/* SPDX-License-Identifier: MIT */
/* The C side of the Python binding's interop tests: plain libshmkit calls, no Python.
 *
 *   c_peer produce URI N       send N messages, each the 8-byte little-endian index 0..N-1
 *   c_peer consume URI N       receive N messages and check they are 0..N-1 in order
 *   c_peer map-get URI KEY     print the value under KEY (exit 1 if absent)
 *   c_peer map-check URI N     check keys "k<i>" hold "v<i>" repeated i times, i < N
 *   c_peer sizes               print "name size" for each struct (and enum value) the binding mirrors
 *
 * Exit 0 on success, 1 with a message on stderr otherwise. */
#include <shmkit.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_NS (30LL * 1000000000LL) /* generous: the machine is shared */

static int fail(const char *what, const char *uri, int err)
{
	fprintf(stderr, "c_peer: %s %s: %s\n", what, uri, shmkit_strerror(err));
	return 1;
}

static int produce(const char *uri, uint64_t n)
{
	struct shmkit_queue *q;
	int r = shmkit_queue_open(&q, uri);

	if (r < 0)
		return fail("open", uri, r);
	for (uint64_t i = 0; i < n; i++) {
		unsigned char m[8];
		for (int b = 0; b < 8; b++)
			m[b] = (unsigned char)(i >> (8 * b));
		if ((r = shmkit_queue_send(q, m, sizeof(m), WAIT_NS)) < 0)
			return fail("send", uri, r);
	}
	shmkit_queue_close(q);
	return 0;
}

static int consume(const char *uri, uint64_t n)
{
	struct shmkit_queue *q;
	int r = shmkit_queue_open(&q, uri);

	if (r < 0)
		return fail("open", uri, r);
	for (uint64_t i = 0; i < n; i++) {
		unsigned char m[64];
		ssize_t len = shmkit_queue_recv(q, m, sizeof(m), WAIT_NS);
		uint64_t got = 0;
		if (len < 0)
			return fail("recv", uri, (int)len);
		for (int b = 0; b < 8 && b < len; b++)
			got |= (uint64_t)m[b] << (8 * b);
		if (len != 8 || got != i) {
			fprintf(stderr, "c_peer: message %llu: got %llu (%zd bytes)\n",
				(unsigned long long)i, (unsigned long long)got, len);
			return 1;
		}
	}
	shmkit_queue_close(q);
	return 0;
}

static int map_get(const char *uri, const char *key)
{
	struct shmkit_map *m;
	char buf[65536];
	int r = shmkit_map_open(&m, uri);

	if (r < 0)
		return fail("open", uri, r);
	ssize_t n = shmkit_map_get(m, key, strlen(key), buf, sizeof(buf));
	shmkit_map_close(m);
	if (n < 0)
		return fail("get", key, (int)n);
	fwrite(buf, 1, (size_t)n, stdout);
	return 0;
}

static int map_check(const char *uri, int n)
{
	struct shmkit_map *m;
	char key[32], want[4096], buf[4096];
	int r = shmkit_map_open(&m, uri);

	if (r < 0)
		return fail("open", uri, r);
	for (int i = 0; i < n; i++) {
		size_t wl = 0;
		snprintf(key, sizeof(key), "k%d", i);
		for (int j = 0; j < i && wl + 8 < sizeof(want); j++)
			wl += (size_t)snprintf(want + wl, sizeof(want) - wl, "v%d", i);
		ssize_t got = shmkit_map_get(m, key, strlen(key), buf, sizeof(buf));
		if (got < 0)
			return fail("get", key, (int)got);
		if ((size_t)got != wl || memcmp(buf, want, wl) != 0) {
			fprintf(stderr, "c_peer: %s holds %zd bytes, not the %zu expected\n", key, got, wl);
			return 1;
		}
	}
	ssize_t count = shmkit_map_count(m);
	shmkit_map_close(m);
	if (count != n) {
		fprintf(stderr, "c_peer: map holds %zd keys, not %d\n", count, n);
		return 1;
	}
	return 0;
}

/* The binding declares these structs again in ctypes: test_abi.py compares. */
static int sizes(void)
{
#define SZ(t) printf("%s %zu\n", #t, sizeof(struct t))
	SZ(shmkit_stat);
	SZ(shmkit_mapper);
	SZ(shmkit_queue_opts);
	SZ(shmkit_queue_stats);
	SZ(shmkit_topic_opts);
	SZ(shmkit_topic_info);
	SZ(shmkit_topic_sub_info);
	SZ(shmkit_attacher);
	SZ(shmkit_heap_stats);
	printf("shmkit_heap_stats.n_named %zu\n", offsetof(struct shmkit_heap_stats, n_named));
	printf("shmkit_stat.header_status %zu\n", offsetof(struct shmkit_stat, header_status));
	printf("backend.posix %d\nbackend.sysv %d\nbackend.file %d\nbackend.memfd %d\n"
	       "backend.anon %d\n", SHMKIT_POSIX, SHMKIT_SYSV, SHMKIT_FILE, SHMKIT_MEMFD, SHMKIT_ANON);
	printf("lifetime.process %d\nlifetime.kernel %d\nlifetime.filesystem %d\n",
	       SHMKIT_LIFE_PROCESS, SHMKIT_LIFE_KERNEL, SHMKIT_LIFE_FILESYSTEM);
#undef SZ
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "sizes") == 0)
		return sizes();
	if (argc == 4 && strcmp(argv[1], "produce") == 0)
		return produce(argv[2], strtoull(argv[3], NULL, 10));
	if (argc == 4 && strcmp(argv[1], "consume") == 0)
		return consume(argv[2], strtoull(argv[3], NULL, 10));
	if (argc == 4 && strcmp(argv[1], "map-get") == 0)
		return map_get(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "map-check") == 0)
		return map_check(argv[2], atoi(argv[3]));
	fprintf(stderr, "usage: c_peer produce|consume URI N | map-get URI KEY | map-check URI N\n");
	return 2;
}
