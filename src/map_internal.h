/* SPDX-License-Identifier: MIT */
/* Internal views of a map for tests and tools: where a key lives. */
#ifndef SHMKIT_MAP_INTERNAL_H
#define SHMKIT_MAP_INTERNAL_H

#include <shmkit/map.h>

/* 1 if k is its bucket's own pair, 2 if it is in the bucket's chain; if
 * absent, 3 when its bucket holds no pair of its own (a small new pair would
 * go there), else 0; or a negative errno. Takes the lock. */
int shmkit__map_placement(struct shmkit_map *m, const void *k, size_t klen);
/* The key's hash with `seed`: part of the format (buckets store it, a
 * bucket's index is taken from it), so it never changes for a version. */
uint64_t shmkit__map_hash(const void *k, size_t klen, uint64_t seed);
/* Number of chain entries (heap blocks holding pairs), or a negative errno. */
int64_t shmkit__map_chained(struct shmkit_map *m);
/* Whether a create of this size could succeed anywhere: 0, or -EINVAL with
 * its detail when the map's header, heap and buckets cannot fit (what the
 * create returns then, before or after making the segment). The CLI calls
 * it first: a size no create takes is a usage error there. */
int shmkit__map_create_check(size_t size);

#endif
