/* SPDX-License-Identifier: MIT */
/* shmkit gc: remove orphaned shmkit objects, printing the proof for each
 * segment looked at (see shmkit_gc(3)). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

struct gc_tally {
	int json;
	struct cli_json j;
	int n[4]; /* by enum shmkit_gc_verdict */
};

static int print_entry(const struct shmkit_gc_entry *e, void *arg)
{
	struct gc_tally *t = arg;

	if ((unsigned)e->verdict < 4)
		t->n[e->verdict]++;
	if (t->json) {
		cli_json_object(&t->j, NULL);
		cli_json_str(&t->j, "uri", e->uri);
		cli_json_str(&t->j, "verdict", shmkit_gc_verdict_name(e->verdict));
		cli_json_bool(&t->j, "managed", e->managed);
		if (e->managed)
			cli_json_str(&t->j, "kind", cli_kind_name(e->kind));
		else
			cli_json_null(&t->j, "kind");
		cli_json_str(&t->j, "reason", e->reason);
		cli_json_end(&t->j);
		return 0;
	}
	/* Any local user names POSIX segments: a newline in one would forge a
	 * verdict line, an escape sequence would drive the terminal (as in ls). */
	char uri[4 * SHMKIT_URI_MAX], reason[2048];
	printf("%-12s %-40s %-6s %s\n", shmkit_gc_verdict_name(e->verdict),
	       cli_name(e->uri, uri, sizeof(uri)), e->managed ? cli_kind_name(e->kind) : "-",
	       cli_printable(e->reason, reason, sizeof(reason)));
	return 0;
}

static int run_gc(struct gc_tally *t, int dry_run, int foreign, int force, const char *prefix)
{
	unsigned flags = 0;

	flags |= dry_run ? SHMKIT_GC_DRY_RUN : 0;
	flags |= foreign ? SHMKIT_GC_FOREIGN : 0;
	flags |= force ? SHMKIT_GC_FORCE : 0;
	if (t->json) {
		cli_json_init(&t->j, stdout);
		cli_json_object(&t->j, NULL);
		cli_json_bool(&t->j, "dry_run", (flags & SHMKIT_GC_DRY_RUN) != 0);
		cli_json_bool(&t->j, "foreign", (flags & SHMKIT_GC_FOREIGN) != 0);
		cli_json_bool(&t->j, "force", (flags & SHMKIT_GC_FORCE) != 0);
		cli_json_array(&t->j, "segments");
	}
	int r = shmkit_gc_prefix(flags, prefix, print_entry, t);
	if (t->json) {
		cli_json_end(&t->j);
		cli_json_int(&t->j, "removed", t->n[SHMKIT_GC_REMOVED]);
		cli_json_int(&t->j, "would_remove", t->n[SHMKIT_GC_WOULD_REMOVE]);
		cli_json_int(&t->j, "kept", t->n[SHMKIT_GC_KEPT]);
		cli_json_int(&t->j, "skipped", t->n[SHMKIT_GC_SKIPPED]);
		cli_json_end(&t->j);
		int w = cli_json_finish(&t->j);
		if (w < 0)
			return cli_fail_write("gc", "", w);
	}
	if (r < 0)
		return cli_fail("gc", "", r);
	if (!t->json) {
		if (flags & SHMKIT_GC_DRY_RUN)
			printf("gc (dry run): %d would be removed, %d kept, %d skipped\n",
			       t->n[SHMKIT_GC_WOULD_REMOVE], t->n[SHMKIT_GC_KEPT],
			       t->n[SHMKIT_GC_SKIPPED]);
		else
			printf("gc: %d removed, %d kept, %d skipped\n", t->n[SHMKIT_GC_REMOVED],
			       t->n[SHMKIT_GC_KEPT], t->n[SHMKIT_GC_SKIPPED]);
	}
	return CLI_OK;
}

/* What a --prefix (as spelt for matching) matches all of, or NULL: `--prefix
 * "/$APP"`, "posix:$APP" or "sysv:id=$ID" with the variable unset or empty
 * is not a gc of every orphan of that kind on the machine. */
static const char *whole_kind(const char *p)
{
	static const struct {
		const char *uri, *kind;
	} all[] = {
	    {"posix:/", "POSIX segment"},
	    {"sysv:id=", "System V segment"},
	    {"sysv:0x", "System V key"},
	};
	size_t n = strlen(p);

	if (n == 0)
		return "segment";
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (n <= strlen(all[i].uri) && strncasecmp(all[i].uri, p, n) == 0)
			return all[i].kind;
	return NULL;
}

CLI_COMMAND(cmd_gc)
{
	struct gc_tally t;
	const char *prefix = NULL;
	int dry_run = 0, foreign = 0, force = 0;

	memset(&t, 0, sizeof(t));
	const struct cli_opt opts[] = {
	    {"dry-run", 0, CLI_FLAG, &dry_run, NULL},
	    {"foreign", 0, CLI_FLAG, &foreign, NULL},
	    {"force", 0, CLI_FLAG, &force, NULL},
	    {"json", 0, CLI_FLAG, &t.json, NULL},
	    {"prefix", 0, CLI_STRING, &prefix, NULL},
	    {0},
	};
	int nops = cli_parse(argv[0], argc, argv, opts);
	if (nops < 0)
		return CLI_USAGE;
	if (nops != 0)
		return cli_usage_error(argv[0], "unexpected argument '%s'", argv[1]);
	char *v[1] = {(char *)prefix}; /* "/name" is posix:/name (a new string: freed below) */
	if (cli_take_uris(argv[0], v, 1) != CLI_OK) /* in argv: decoded in place */
		return CLI_USAGE;
	if (prefix && cli_check_prefixes(argv[0], v, 1) != CLI_OK)
		return CLI_USAGE;
	if (prefix && cli_uri_prefixes(v, 1) < 0)
		return cli_fail("gc", "", -ENOMEM);
	const char *all = prefix ? whole_kind(v[0]) : NULL;
	char safe[256];
	int r = all ? cli_usage_error(argv[0], "--prefix '%s' would match every %s (leave --prefix "
				      "out to mean every segment)",
				      cli_name(prefix, safe, sizeof(safe)), all)
		    : run_gc(&t, dry_run, foreign, force, v[0]);
	if (v[0] != prefix)
		free(v[0]);
	return r;
}
