/* shmkit-bench: shared helpers for the benchmark suites. */
#ifndef SHMKIT_BENCH_H
#define SHMKIT_BENCH_H
#endif
