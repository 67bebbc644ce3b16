/* Every struct that lives in shared memory, in one place, with static
 * assertions on sizes and offsets. docs/LAYOUT.md documents the bytes.
 * Shared structs hold no pointers: offsets from the segment base, fixed-width
 * integers and atomics only. Laid out for 64-bit little-endian; the header's
 * fingerprint refuses anything else.
 *
 * Bump SHMKIT__LAYOUT_VERSION whenever any byte here changes meaning. */
#ifndef SHMKIT_LAYOUT_H
#define SHMKIT_LAYOUT_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SHMKIT__LAYOUT_VERSION 1u

/* ======================================================================
 * Managed-segment header (offset 0 of every shmkit object)
 * ====================================================================== */

#define SHMKIT__MAGIC 0x0174694b6d685353ull /* "SShmKit\x01" read little-endian */
/* 'L' little-endian, pointer width 8, int width 4: the only platform the
 * format is defined for. Stored as written by the creator. */
#define SHMKIT__FINGERPRINT 0x4c000804u
#define SHMKIT__HEADER_SIZE 4096u /* object body starts here, page aligned */
#define SHMKIT__ATTACH_SLOTS 64u

enum shmkit__state {
	SHMKIT__STATE_EMPTY = 0,        /* fresh zeroed segment: creator not started */
	SHMKIT__STATE_INITIALIZING = 1, /* creator is filling the body */
	SHMKIT__STATE_READY = 2,        /* body complete; published with release */
};

/* A process identity that survives pid reuse: pid + start time (clock ticks
 * since boot, /proc/PID/stat field 22) + boot id. 32 bytes. */
struct shmkit__ident {
	uint32_t pid;
	uint32_t reserved;
	uint64_t start_time;
	uint8_t boot_id[16];
};
_Static_assert(sizeof(struct shmkit__ident) == 32, "ident size");
_Static_assert(offsetof(struct shmkit__ident, start_time) == 8, "ident.start_time");
_Static_assert(offsetof(struct shmkit__ident, boot_id) == 16, "ident.boot_id");

#endif
