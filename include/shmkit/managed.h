/* shmkit — managed segments: the self-describing header every shmkit object
 * starts with, liveness of the processes using it, and garbage collection.
 * See shmkit_gc(3) and docs/LAYOUT.md. */
#ifndef SHMKIT_MANAGED_H
#define SHMKIT_MANAGED_H

#include <shmkit/common.h>

SHMKIT_BEGIN_DECLS

enum shmkit_kind {
	SHMKIT_KIND_NONE = 0,
	SHMKIT_KIND_RAW = 1,   /* user data after a shmkit header */
	SHMKIT_KIND_QUEUE = 2,
	SHMKIT_KIND_TOPIC = 3,
	SHMKIT_KIND_HEAP = 4,
	SHMKIT_KIND_MAP = 5,
};

/* Name of a kind ("queue", "topic", ...); "unknown" for others. */
SHMKIT_API const char *shmkit_kind_name(uint32_t kind);

SHMKIT_END_DECLS

#endif
