/* shmkit — an allocator inside a shared segment; links are offsets, never
 * pointers. See shmkit_heap(3). */
#ifndef SHMKIT_HEAP_H
#define SHMKIT_HEAP_H

#include <shmkit/common.h>

SHMKIT_BEGIN_DECLS

typedef uint64_t shmkit_off; /* offset from the segment base; 0 = none */

struct shmkit_heap;

SHMKIT_API int shmkit_heap_create(struct shmkit_heap **h, const char *uri, size_t size, unsigned mode);
SHMKIT_API int shmkit_heap_open(struct shmkit_heap **h, const char *uri);
SHMKIT_API int shmkit_heap_alloc(struct shmkit_heap *h, size_t size, shmkit_off *off);
SHMKIT_API int shmkit_heap_free(struct shmkit_heap *h, shmkit_off off);
SHMKIT_API void *shmkit_heap_ptr(struct shmkit_heap *h, shmkit_off off);
/* flags SHMKIT_CREATE creates the block if missing (size bytes, zeroed), with
 * SHMKIT_EXCL fails -EEXIST if it exists; flags 0 only looks up (-ENOENT). */
SHMKIT_API int shmkit_heap_named(struct shmkit_heap *h, const char *name, size_t size, int flags,
				 shmkit_off *off);
SHMKIT_API int shmkit_heap_check(struct shmkit_heap *h);
SHMKIT_API int shmkit_heap_close(struct shmkit_heap *h);

SHMKIT_END_DECLS

#endif
