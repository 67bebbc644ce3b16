/* SPDX-License-Identifier: MIT */
/* shmkit — common definitions shared by every public header.
 *
 * Error convention: every int/ssize_t function returns >= 0 on success and a
 * negative errno on failure; shmkit_strerror() gives the text.
 * Timeouts: int64_t nanoseconds, relative; 0 = do not block (-EAGAIN),
 * SHMKIT_FOREVER = wait without limit, > 0 expires with -ETIMEDOUT. Any
 * other negative value waits without limit too: clamp a computed
 * remainder (deadline - now) to 0. */
#ifndef SHMKIT_COMMON_H
#define SHMKIT_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#if defined(SHMKIT_BUILDING)
#define SHMKIT_API __attribute__((visibility("default")))
#else
#define SHMKIT_API
#endif

#ifdef __cplusplus
#define SHMKIT_BEGIN_DECLS extern "C" {
#define SHMKIT_END_DECLS }
#else
#define SHMKIT_BEGIN_DECLS
#define SHMKIT_END_DECLS
#endif

#define SHMKIT_VERSION_MAJOR 0
#define SHMKIT_VERSION_MINOR 1
#define SHMKIT_VERSION_PATCH 0
#define SHMKIT_VERSION_STRING "0.1.0"

/* Wait without limit. */
#define SHMKIT_FOREVER ((int64_t)-1)

SHMKIT_BEGIN_DECLS

/* Text for a negative (or positive) errno value returned by shmkit. Never NULL. */
SHMKIT_API const char *shmkit_strerror(int err);

/* The library's version string, e.g. "0.1.0". */
SHMKIT_API const char *shmkit_version(void);

/* Why the calling thread's last failed shmkit call failed, in words (which
 * kernel limit was hit, which check refused a segment); "" if nothing to add.
 * Valid until the thread's next shmkit call. shmkit(3). Declared here, not in
 * <shmkit/seg.h> only, so that every page's SYNOPSIS header declares it. */
SHMKIT_API const char *shmkit_last_error_detail(void);

SHMKIT_END_DECLS

#endif
