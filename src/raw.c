/* SPDX-License-Identifier: MIT */
/* The "raw" managed kind: a user's own bytes after a shmkit header. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "managed.h"

struct shmkit_raw {
	struct shmkit__obj obj;
};

int shmkit_raw_create(struct shmkit_raw **r, const char *uri, size_t size, unsigned mode)
{
	shmkit__detail_clear();
	if (!r)
		return -EINVAL;
	*r = NULL;
	if (!uri || size == 0)
		return -EINVAL;
	struct shmkit_raw *raw = calloc(1, sizeof(*raw));
	if (!raw)
		return shmkit__no_memory("a raw handle");
	/* No init callback: a new segment's body is already zero. */
	int err = shmkit__obj_create(&raw->obj, uri, SHMKIT_KIND_RAW, size, mode, NULL, NULL);
	if (err < 0) {
		free(raw);
		return err;
	}
	*r = raw;
	return 0;
}

int shmkit_raw_open(struct shmkit_raw **r, const char *uri)
{
	shmkit__detail_clear();
	if (!r)
		return -EINVAL;
	*r = NULL;
	if (!uri)
		return -EINVAL;
	struct shmkit_raw *raw = calloc(1, sizeof(*raw));
	if (!raw)
		return shmkit__no_memory("a raw handle");
	int err = shmkit__obj_open(&raw->obj, uri, SHMKIT_KIND_RAW, 0);
	if (err < 0) {
		free(raw);
		return err;
	}
	*r = raw;
	return 0;
}

void *shmkit_raw_data(const struct shmkit_raw *r)
{
	return r ? r->obj.body : NULL;
}

size_t shmkit_raw_size(const struct shmkit_raw *r)
{
	return r ? r->obj.body_size : 0;
}

int shmkit_raw_close(struct shmkit_raw *r)
{
	if (!r)
		return 0; /* like free(NULL): shmkit(3), CONVENTIONS */
	int err = shmkit__obj_close(&r->obj);
	free(r);
	return err;
}
