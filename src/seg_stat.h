/* SPDX-License-Identifier: MIT */
/* The segment layer's stat and list (src/stat.c, src/list.c), for the layer
 * above. They fill every segment-level field (backend, /proc) and, for each
 * segment that could hold a shmkit header, call the caller's filler. The
 * managed layer passes shmkit__stat_managed and so adds the header's fields
 * from above: src/managed.c defines the public shmkit_stat, shmkit_seg_stat
 * and shmkit_list that way. The segment layer knows nothing of headers. */
#ifndef SHMKIT_SEG_STAT_H
#define SHMKIT_SEG_STAT_H

#include <shmkit/seg.h>

/* Adds what a higher layer knows of a segment whose segment-level fields
 * are set: seg is the open segment when the caller has one, else NULL (the
 * filler finds it by st->uri, or st->sysv_id and st->mappers). Never fails:
 * trouble is reported in st->header_status. */
/* Where a listing saw a segment's first bytes mapped shared: a process and
 * the address there (what shmkit_list found in /proc/PID/maps), so that a
 * filler reading an unnamed segment's header through that process need not
 * parse its maps again, once per segment. */
struct shmkit__seen_at {
	pid_t pid;
	unsigned long addr;
	uint64_t len; /* bytes mapped from there */
};
/* at: where the header was seen mapped, or NULL (then the filler looks). */
typedef void (*shmkit__stat_filler)(const struct shmkit_seg *seg, struct shmkit_stat *st,
				    const struct shmkit__seen_at *at);

/* shmkit_stat / shmkit_seg_stat / shmkit_list with the segment-level fields
 * only, then fill (may be NULL) where a header could be. */
int shmkit__stat_uri(const char *uri, struct shmkit_stat *st, shmkit__stat_filler fill);
int shmkit__stat_seg(const struct shmkit_seg *seg, struct shmkit_stat *st,
		     shmkit__stat_filler fill);
int shmkit__list(int (*fn)(const struct shmkit_stat *st, void *arg), void *arg,
		 shmkit__stat_filler fill);

#endif
