/* SPDX-License-Identifier: MIT */
/* shmkit — process-shared synchronization that survives a crashed process.
 * All objects live in shared memory and may be embedded in a user's own
 * struct inside any segment; their sizes are fixed (see shmkit_mutex(3)).
 * They hold no pointers, so processes may map them at different addresses. */
#ifndef SHMKIT_SYNC_H
#define SHMKIT_SYNC_H

#include <shmkit/common.h>

SHMKIT_BEGIN_DECLS

/* Robust, process-shared mutex: 64 bytes, 8-byte aligned. */
struct shmkit_mutex {
	uint64_t opaque[8];
};
/* Counting semaphore: 16 bytes, 8-byte aligned. */
struct shmkit_sem {
	uint64_t opaque[2];
};
/* Futex eventcount: 16 bytes, 8-byte aligned. */
struct shmkit_event {
	uint64_t opaque[2];
};

SHMKIT_API int shmkit_mutex_init(struct shmkit_mutex *m);
SHMKIT_API int shmkit_mutex_lock(struct shmkit_mutex *m, int64_t timeout_ns);
SHMKIT_API int shmkit_mutex_unlock(struct shmkit_mutex *m);
SHMKIT_API int shmkit_mutex_consistent(struct shmkit_mutex *m);

SHMKIT_API int shmkit_sem_init(struct shmkit_sem *s, unsigned value);
SHMKIT_API int shmkit_sem_post(struct shmkit_sem *s);
SHMKIT_API int shmkit_sem_wait(struct shmkit_sem *s, int64_t timeout_ns);

SHMKIT_API int shmkit_event_init(struct shmkit_event *e);
SHMKIT_API uint32_t shmkit_event_seq(struct shmkit_event *e);
SHMKIT_API int shmkit_event_wait(struct shmkit_event *e, uint32_t seen, int64_t timeout_ns);
SHMKIT_API int shmkit_event_signal(struct shmkit_event *e);

SHMKIT_END_DECLS

#endif
