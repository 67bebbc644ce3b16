/* SPDX-License-Identifier: MIT */
/* A persistent key-value store: a shmkit map in a file.
 *
 *     ./kv_store set colour green      # creates /tmp/shmkit-kv.map on first use
 *     ./kv_store get colour            # green  (in another process, after a reboot...)
 *     ./kv_store del colour
 *     ./kv_store list
 *     SHMKIT_KV=file:/var/tmp/my.map ./kv_store list
 *
 * Any number of copies may run at once: readers never block, writers take
 * turns, and a writer killed half-way leaves every key whole. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmkit.h>

static int print_pair(const void *k, size_t klen, const void *v, size_t vlen, void *arg)
{
	(void)arg;
	printf("%.*s=%.*s\n", (int)klen, (const char *)k, (int)vlen, (const char *)v);
	return 0;
}

static int open_store(struct shmkit_map **m, const char *uri)
{
	int ret = shmkit_map_open(m, uri);
	if (ret == -ENOENT) {
		ret = shmkit_map_create(m, uri, 8 << 20, 0600);
		if (ret == -EEXIST) /* another copy created it just now */
			ret = shmkit_map_open(m, uri);
	}
	return ret;
}

int main(int argc, char **argv)
{
	const char *uri = getenv("SHMKIT_KV") ? getenv("SHMKIT_KV") : "file:/tmp/shmkit-kv.map";
	struct shmkit_map *m;
	char value[4096];
	ssize_t n;
	int ret;

	if (argc < 2) {
		fprintf(stderr, "usage: kv_store set KEY VALUE | get KEY | del KEY | list\n");
		return 2;
	}
	if ((ret = open_store(&m, uri)) < 0) {
		fprintf(stderr, "kv_store: %s: %s\n", uri, shmkit_strerror(ret));
		return 1;
	}
	if (strcmp(argv[1], "set") == 0 && argc == 4) {
		ret = shmkit_map_put(m, argv[2], strlen(argv[2]), argv[3], strlen(argv[3]));
		if (ret == 0)
			ret = shmkit_map_flush(m); /* durable, not just visible */
	} else if (strcmp(argv[1], "get") == 0 && argc == 3) {
		n = shmkit_map_get(m, argv[2], strlen(argv[2]), value, sizeof(value));
		if (n >= 0)
			printf("%.*s\n", (int)n, value);
		ret = n < 0 ? (int)n : 0;
	} else if (strcmp(argv[1], "del") == 0 && argc == 3) {
		ret = shmkit_map_del(m, argv[2], strlen(argv[2]));
	} else if (strcmp(argv[1], "list") == 0) {
		ret = shmkit_map_iter(m, print_pair, NULL);
	} else {
		fprintf(stderr, "usage: kv_store set KEY VALUE | get KEY | del KEY | list\n");
		shmkit_map_close(m);
		return 2;
	}
	if (ret < 0)
		fprintf(stderr, "kv_store: %s: %s\n", argv[1], shmkit_strerror(ret));
	shmkit_map_close(m);
	return ret < 0 ? 1 : 0;
}
