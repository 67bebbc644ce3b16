/* SPDX-License-Identifier: MIT */
/* shmkit — hash map of byte strings inside a shared segment, built on the
 * heap; a persistent key-value store over file:. See shmkit_map(3). */
#ifndef SHMKIT_MAP_H
#define SHMKIT_MAP_H

#include <shmkit/common.h>
#include <shmkit/heap.h>

SHMKIT_BEGIN_DECLS

struct shmkit_map;

SHMKIT_API int shmkit_map_create(struct shmkit_map **m, const char *uri, size_t size, unsigned mode);
SHMKIT_API int shmkit_map_open(struct shmkit_map **m, const char *uri);
/* shmkit_map_open with flags: 0 is shmkit_map_open; SHMKIT_RDONLY opens a
 * look: a read-only mapping with no attach slot and no lock, on which get,
 * len, count and iter work (a stripe a writer holds is waited out, -EBUSY
 * after 1 s) and put, del, check and flush give -EPERM; shmkit_map_heap()
 * gives NULL. Nothing in the segment changes by looking. System V is read
 * through a process that has it attached (a copy), -ENODATA without one. */
SHMKIT_API int shmkit_map_open_flags(struct shmkit_map **m, const char *uri, int flags);
SHMKIT_API int shmkit_map_put(struct shmkit_map *m, const void *k, size_t klen, const void *v, size_t vlen);
SHMKIT_API ssize_t shmkit_map_get(struct shmkit_map *m, const void *k, size_t klen, void *buf, size_t cap);
SHMKIT_API int shmkit_map_del(struct shmkit_map *m, const void *k, size_t klen);
SHMKIT_API int shmkit_map_close(struct shmkit_map *m);

/* shmkit_map_get returns the value's length, -ENOENT, or -EMSGSIZE when cap
 * is smaller than the value (the map is unchanged; shmkit_map_len gives the
 * length to retry with). Readers never block each other nor take the lock. */

/* Removes the pair under k and copies its value into buf, in one step under
 * the writers' lock: of several processes taking one key, exactly one gets
 * its value. Returns the value's length, -ENOENT, or -EMSGSIZE when cap is
 * smaller than the value (nothing removed; shmkit_map_len gives the length
 * to retry with). Waits for the lock as put and del do. */
SHMKIT_API ssize_t shmkit_map_take(struct shmkit_map *m, const void *k, size_t klen, void *buf, size_t cap);

/* Length of the value stored under k, or -ENOENT. */
SHMKIT_API ssize_t shmkit_map_len(struct shmkit_map *m, const void *k, size_t klen);
/* Number of keys. */
SHMKIT_API ssize_t shmkit_map_count(struct shmkit_map *m);

/* Calls fn for every pair, under the writers' lock (readers go on; writers
 * wait): fn must not modify the map. Pointers are valid during the call
 * only. A non-zero return from fn stops the walk and is returned. */
typedef int (*shmkit_map_iter_fn)(const void *k, size_t klen, const void *v, size_t vlen, void *arg);
SHMKIT_API int shmkit_map_iter(struct shmkit_map *m, shmkit_map_iter_fn fn, void *arg);

/* Full consistency check: the heap (shmkit_heap_check) and every chain,
 * entry, hash and the count. 0 or 1 (repaired) as the heap's, or -EBADMSG. */
SHMKIT_API int shmkit_map_check(struct shmkit_map *m);
/* Makes the map durable (shmkit_seg_flush: msync for file:, 0 elsewhere). */
SHMKIT_API int shmkit_map_flush(struct shmkit_map *m);
/* How long put, del, iter and check on this handle wait for the writers'
 * lock (get and len too, in the rare case they need it: a writer stopped
 * half-way through their part of the map): SHMKIT_FOREVER (the default)
 * waits without limit, 0 tries once (-EAGAIN), > 0 gives up after that many
 * nanoseconds with -ETIMEDOUT. A call that gives up changes nothing;
 * shmkit_last_error_detail() names the holder ("the map's lock is held by
 * pid 1234 (stopped) for over 2 s"). A holder that died is still taken
 * over and repaired. Also bounds calls through shmkit_map_heap(m). 0 and
 * nothing to do on a look (SHMKIT_RDONLY); -EINVAL for timeout_ns < -1. */
SHMKIT_API int shmkit_map_set_lock_timeout(struct shmkit_map *m, int64_t timeout_ns);
/* The heap under the map (for shmkit_heap_stats; allocating from it takes
 * space from the map). */
SHMKIT_API struct shmkit_heap *shmkit_map_heap(struct shmkit_map *m);

SHMKIT_END_DECLS

#endif
