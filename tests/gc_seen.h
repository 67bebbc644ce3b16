/* SPDX-License-Identifier: MIT */
/* Tests: what shmkit_gc_prefix() said about the one or two URIs a test
 * cares about, and a run asked again while another test's look holds the
 * object for an instant. */
#ifndef SHMKIT_TEST_GC_SEEN_H
#define SHMKIT_TEST_GC_SEEN_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shmkit.h"

struct seen {
	const char *uri; /* the one we care about (NULL: record none) */
	const char *uri2;
	int found, verdict;
	char reason[512];
	int total; /* entries reported, ours or not */
};

static inline int seen_record(const struct shmkit_gc_entry *e, void *arg)
{
	struct seen *s = arg;
	s->total++;
	if ((s->uri && strcmp(e->uri, s->uri) == 0) || (s->uri2 && strcmp(e->uri, s->uri2) == 0)) {
		s->found++;
		s->verdict = e->verdict;
		snprintf(s->reason, sizeof(s->reason), "%s", e->reason);
	}
	printf("  gc: %-12s %s: %s\n", shmkit_gc_verdict_name(e->verdict), e->uri, e->reason);
	return 0;
}

/* One run, whatever it says (for a holder the test keeps itself). */
static inline int gc_once(const char *prefix, unsigned flags, const char *uri, const char *uri2,
			  struct seen *s)
{
	memset(s, 0, sizeof(*s));
	s->uri = uri;
	s->uri2 = uri2;
	return shmkit_gc_prefix(flags, prefix, seen_record, s);
}

/* Other tests on this machine list and stat every segment (`shmkit ls`
 * opens each one for a moment), and gc rightly keeps what a live process
 * holds open at that instant. That answer, for an object none of ours
 * holds, is the machine's timing, not gc's verdict: ask again (100 ms
 * apart, for up to 5 s; a holder that stays makes the test fail). */
#define GC_TRIES 50

static inline int gc_transient_holder(const char *reason)
{
	return strstr(reason, "held open by live pid") != NULL ||
	       strstr(reason, "refused a write lease") != NULL;
}

static inline int gc_one(const char *prefix, unsigned flags, const char *uri, const char *uri2,
			 struct seen *s)
{
	for (int tries = 1;; tries++) {
		int r = gc_once(prefix, flags, uri, uri2, s);
		if (tries == GC_TRIES ||
		    !(s->found && s->verdict == SHMKIT_GC_KEPT && gc_transient_holder(s->reason)))
			return r;
		usleep(100000);
	}
}

#endif
