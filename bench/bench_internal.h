/* SPDX-License-Identifier: MIT */
/* shmkit-bench internals shared by main.c and util.c (suites use bench.h). */
#ifndef SHMKIT_BENCH_INTERNAL_H
#define SHMKIT_BENCH_INTERNAL_H

#include "bench.h"

struct bench_row_rec {
	char suite[32];
	struct bench_row row;
};

struct bench_machine {
	char cpu[128];
	long cores;
	char kernel[160];
	char glibc[32];
	char boost[64];   /* "" if not installed */
	char iceoryx[64]; /* "" if not installed */
};

void bench_default_cpus(int cpu[2]);
void bench_machine(struct bench_machine *m);
void bench_print_header(const struct bench_ctx *ctx, const struct bench_machine *m);
void bench_print_json(const struct bench_ctx *ctx, const struct bench_machine *m, int failed);

#endif
