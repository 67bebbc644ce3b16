/* SPDX-License-Identifier: MIT */
/* shmkit top: one sample of every shmkit object's counters, read from a
 * read-only mapping without attaching (nothing a gc proof reads changes). */
#ifndef SHMKIT_TOP_SAMPLE_H
#define SHMKIT_TOP_SAMPLE_H

#include <stdint.h>

#include <shmkit.h>

#define TOP_NA UINT64_MAX /* a counter this kind or backend does not have */

struct top_obj {
	char uri[SHMKIT_URI_MAX];
	uint32_t kind;        /* enum shmkit_kind */
	uint64_t size;
	int creator_alive;    /* 1, 0, -1 unknown */
	int readable;         /* counters were read (0: SysV, not attached; or unreadable) */
	uint64_t depth, capacity;
	uint64_t msgs_in, msgs_out; /* totals: queue sent/received, topic published/read by subs */
	uint64_t bytes_in, bytes_out; /* payload bytes, the same way (queue bytes_sent/_received,
				       * topic bytes_published/subscribers' bytes_received) */
	uint64_t drops;       /* queue: skipped; topic: dropped by its subscribers */
	uint64_t subscribers; /* topics: subscribers present (alive, or not provably gone) */
	uint64_t dead_subscribers; /* topics: entries of subscribers killed, not yet reaped */
	uint64_t sleepers;    /* processes asleep on it */
	uint64_t used;        /* heaps and maps: bytes in use; maps: also keys below */
	uint64_t keys;
	/* topics: each subscriber entry's state word and position, so messages
	 * read per second count only entries alive in both samples */
	uint64_t *sub_state, *sub_pos, *sub_bytes;
	uint32_t n_entries;
	/* per second, filled by top_rates() */
	double in_rate, out_rate, bytes_in_rate, bytes_out_rate;
	uint64_t in_delta, out_delta, bytes_in_delta, bytes_out_delta;
};

struct top_sample {
	struct top_obj *objs;
	size_t n, cap;
	int64_t when_ns; /* CLOCK_MONOTONIC */
	int64_t span_ns; /* since the sample the rates came from (top_rates); 0 before */
	size_t unreadable; /* segments whose header was not read: not shown */
	size_t unattached; /* of those, SysV ones no process we may read has attached:
			    * top never attaches, so their kind is unknown */
	size_t invalid;    /* shmkit objects whose header was read and refused (resized
			    * by another program, corrupt, another layout version): not shown */
	/* Only objects whose URI starts with one of these (none: all). */
	char **prefixes;
	int n_prefixes;
};

/* Fill s with every shmkit object shmkit_list() sees (that s's prefixes
 * allow). */
int top_sample_take(struct top_sample *s);
void top_sample_free(struct top_sample *s);
/* Rates of `now` from the same objects in `before` (matched by URI), then
 * sort `now` by in + out rate, highest first (then by URI). */
void top_rates(struct top_sample *now, const struct top_sample *before);

#endif
