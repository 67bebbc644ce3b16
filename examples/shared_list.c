/* SPDX-License-Identifier: MIT */
/* A linked list shared between processes through a shmkit heap.
 *
 * Processes map a segment at different addresses, so the list links are
 * offsets (shmkit_off), turned into pointers by shmkit_heap_ptr() in each
 * process. A named block ("list") is the root every process finds.
 *
 *     ./shared_list posix:/my-list push hello     # creates the heap if needed
 *     ./shared_list posix:/my-list push world     # another process
 *     ./shared_list posix:/my-list print          # world hello
 *     ./shared_list posix:/my-list pop
 *     shmkit rm posix:/my-list
 *
 * The heap is crash-safe by itself; the list is ours, so a robust mutex in
 * the root guards it (a holder killed mid-push leaves at worst a node that
 * was allocated but not linked). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <shmkit.h>

struct node {
	shmkit_off next;
	char text[48];
};

struct root {
	struct shmkit_mutex lock;
	shmkit_off head;
	uint64_t initialized;
};

static int open_heap(struct shmkit_heap **h, const char *uri)
{
	int ret = shmkit_heap_open(h, uri);
	if (ret == -ENOENT) {
		ret = shmkit_heap_create(h, uri, 1 << 20, 0600);
		if (ret == -EEXIST)
			ret = shmkit_heap_open(h, uri);
	}
	return ret;
}

static struct root *find_root(struct shmkit_heap *h)
{
	shmkit_off off;
	/* exclusive create tells exactly one process to initialize the lock */
	int ret = shmkit_heap_named(h, "list", sizeof(struct root), SHMKIT_CREATE | SHMKIT_EXCL, &off);
	if (ret == 0) {
		struct root *r = shmkit_heap_ptr(h, off);
		shmkit_mutex_init(&r->lock);
		__atomic_store_n(&r->initialized, 1, __ATOMIC_RELEASE); /* pairs with the acquire below */
		return r;
	}
	if (ret != -EEXIST || shmkit_heap_named(h, "list", 0, 0, &off) < 0)
		return NULL;
	struct root *r = shmkit_heap_ptr(h, off);
	for (int i = 0; r && !__atomic_load_n(&r->initialized, __ATOMIC_ACQUIRE); i++) {
		if (i == 1000)
			return NULL; /* its creator died between create and init */
		usleep(1000);
	}
	return r;
}

int main(int argc, char **argv)
{
	struct shmkit_heap *h;
	struct root *r;
	int ret;

	if (argc < 3 || (strcmp(argv[2], "push") == 0 && argc < 4)) {
		fprintf(stderr, "usage: shared_list URI push TEXT | pop | print\n");
		return 2;
	}
	if ((ret = open_heap(&h, argv[1])) < 0 || (r = find_root(h)) == NULL) {
		fprintf(stderr, "shared_list: %s: %s\n", argv[1], shmkit_strerror(ret < 0 ? ret : -EBADMSG));
		return 1;
	}
	if (shmkit_mutex_lock(&r->lock, SHMKIT_FOREVER) == -EOWNERDEAD)
		shmkit_mutex_consistent(&r->lock); /* the list is always linked whole */
	if (strcmp(argv[2], "push") == 0) {
		shmkit_off off;
		if ((ret = shmkit_heap_alloc(h, sizeof(struct node), &off)) == 0) {
			struct node *n = shmkit_heap_ptr(h, off);
			snprintf(n->text, sizeof(n->text), "%s", argv[3]);
			n->next = r->head;
			r->head = off; /* linked only once complete */
		}
	} else if (strcmp(argv[2], "pop") == 0) {
		struct node *n = shmkit_heap_ptr(h, r->head);
		if (n != NULL) {
			shmkit_off off = r->head;
			printf("%s\n", n->text);
			r->head = n->next;
			ret = shmkit_heap_free(h, off);
		}
	} else {
		for (struct node *n = shmkit_heap_ptr(h, r->head); n; n = shmkit_heap_ptr(h, n->next))
			printf("%s%s", n->text, n->next ? " " : "\n");
	}
	shmkit_mutex_unlock(&r->lock);
	if (ret < 0)
		fprintf(stderr, "shared_list: %s\n", shmkit_strerror(ret));
	shmkit_heap_close(h);
	return ret < 0 ? 1 : 0;
}
