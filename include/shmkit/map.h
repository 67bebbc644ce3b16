/* shmkit — hash map of byte strings inside a shared segment, built on the
 * heap; a persistent key-value store over file:. See shmkit_map(3). */
#ifndef SHMKIT_MAP_H
#define SHMKIT_MAP_H

#include <shmkit/common.h>

SHMKIT_BEGIN_DECLS

struct shmkit_map;

SHMKIT_API int shmkit_map_create(struct shmkit_map **m, const char *uri, size_t size, unsigned mode);
SHMKIT_API int shmkit_map_open(struct shmkit_map **m, const char *uri);
SHMKIT_API int shmkit_map_put(struct shmkit_map *m, const void *k, size_t klen, const void *v, size_t vlen);
SHMKIT_API ssize_t shmkit_map_get(struct shmkit_map *m, const void *k, size_t klen, void *buf, size_t cap);
SHMKIT_API int shmkit_map_del(struct shmkit_map *m, const void *k, size_t klen);
SHMKIT_API int shmkit_map_close(struct shmkit_map *m);

SHMKIT_END_DECLS

#endif
