/* SPDX-License-Identifier: MIT */
/* shmkit-bench [SUITE...|all] [--json] [--quick] [--cpus A,B] [--size N] [--list]
 *
 * Runs the named suites (default: all) in their registered order and prints
 * one aligned table, or one JSON document with --json. Suites register
 * themselves with BENCH_SUITE() (bench.h). Exit 0, 1 if a suite failed, 2 on
 * usage errors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmkit.h>

#include "bench.h"
#include "bench_internal.h"

#define MAX_SUITES 64

static const struct bench_suite *suites[MAX_SUITES];
static size_t n_suites;

void bench_register(const struct bench_suite *s)
{
	if (n_suites < MAX_SUITES)
		suites[n_suites++] = s;
}

static int cmp_suite(const void *a, const void *b)
{
	const struct bench_suite *x = *(const struct bench_suite *const *)a;
	const struct bench_suite *y = *(const struct bench_suite *const *)b;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return strcmp(x->name, y->name);
}

static const struct bench_suite *find_suite(const char *name)
{
	for (size_t i = 0; i < n_suites; i++)
		if (strcmp(suites[i]->name, name) == 0)
			return suites[i];
	return NULL;
}

static int usage(FILE *f, int rc)
{
	fprintf(f, "usage: shmkit-bench [SUITE...|all] [--json] [--quick] [--cpus A,B] [--size N] "
		   "[--list]\n"
		   "suites:");
	for (size_t i = 0; i < n_suites; i++)
		fprintf(f, " %s", suites[i]->name);
	fprintf(f, "\n");
	return rc;
}

static int parse_cpus(const char *s, int cpu[2])
{
	char *end;
	long a = strtol(s, &end, 10);
	if (end == s || *end != ',')
		return -1;
	const char *s2 = end + 1;
	long b = strtol(s2, &end, 10);
	if (end == s2 || *end || a < -1 || b < -1 || a > 4095 || b > 4095)
		return -1;
	cpu[0] = (int)a;
	cpu[1] = (int)b;
	return 0;
}

static int bench_main(int argc, char **argv)
{
	struct bench_ctx ctx = { 0 };
	const struct bench_suite *chosen[MAX_SUITES];
	size_t n_chosen = 0;
	int all = 0;

	qsort(suites, n_suites, sizeof(suites[0]), cmp_suite);
	bench_default_cpus(ctx.cpu);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--json") == 0) {
			ctx.json = 1;
		} else if (strcmp(a, "--quick") == 0) {
			ctx.quick = 1;
		} else if (strcmp(a, "--cpus") == 0 && i + 1 < argc) {
			if (parse_cpus(argv[++i], ctx.cpu) != 0)
				return usage(stderr, 2);
		} else if (strncmp(a, "--cpus=", 7) == 0) {
			if (parse_cpus(a + 7, ctx.cpu) != 0)
				return usage(stderr, 2);
		} else if (strcmp(a, "--size") == 0 && i + 1 < argc) {
			/* paired comparisons of one row (bench/compare.sh BENCH_ARGS) */
			char *end;
			unsigned long long n = strtoull(argv[++i], &end, 10);
			/* strtoull takes "-1" as ULLONG_MAX */
			if (end == argv[i] || *end || n == 0 || n > SIZE_MAX || argv[i][0] == '-')
				return usage(stderr, 2);
			ctx.size = (size_t)n;
		} else if (strcmp(a, "--list") == 0) {
			for (size_t k = 0; k < n_suites; k++)
				printf("%-10s %s\n", suites[k]->name, suites[k]->what);
			return 0;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			return usage(stdout, 0);
		} else if (strcmp(a, "all") == 0) {
			all = 1;
		} else if (a[0] == '-') {
			return usage(stderr, 2);
		} else {
			const struct bench_suite *s = find_suite(a);
			if (!s) {
				fprintf(stderr, "shmkit-bench: no suite named %s\n", a);
				return usage(stderr, 2);
			}
			if (n_chosen < MAX_SUITES)
				chosen[n_chosen++] = s;
		}
	}
	if (all || n_chosen == 0) {
		n_chosen = 0;
		for (size_t i = 0; i < n_suites; i++)
			chosen[n_chosen++] = suites[i];
	}

	struct bench_machine m;
	bench_machine(&m);
	if (!ctx.json)
		bench_print_header(&ctx, &m);
	int failed = 0;
	for (size_t i = 0; i < n_chosen; i++) {
		ctx.suite = chosen[i]->name;
		int r = chosen[i]->run(&ctx);
		if (r < 0) {
			fprintf(stderr, "shmkit-bench: suite %s failed: %s\n", chosen[i]->name,
				shmkit_strerror(r));
			failed++;
		}
	}
	if (ctx.json)
		bench_print_json(&ctx, &m, failed);
	return failed ? 1 : 0;
}

/* Results that did not reach standard output (a full disk under
 * "shmkit-bench all --json > run.json", a closed pipe with SIGPIPE ignored)
 * are a failure, as for every shmkit command (shmkit(1), EXIT STATUS): a
 * truncated run must not exit 0. */
int main(int argc, char **argv)
{
	int rc = bench_main(argc, argv);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "shmkit-bench: write error on standard output: %s\n", strerror(errno));
		return 1;
	}
	return rc;
}
