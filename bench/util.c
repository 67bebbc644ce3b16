/* SPDX-License-Identifier: MIT */
/* shmkit-bench helpers: clock, percentiles, pinning, forked peers, result
 * rows (aligned table or one JSON document) and the machine header. */
#include <errno.h>
#include <gnu/libc-version.h>
#include <sched.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "bench_internal.h"

/* ---- clock ---- */

int64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint64_t bench_tsc(void)
{
#if defined(__x86_64__)
	uint32_t lo, hi;
	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
#else
	return (uint64_t)bench_now_ns();
#endif
}

double bench_tsc_ns_per_tick(void)
{
	static double ns_per_tick;
	if (ns_per_tick == 0) {
#if defined(__x86_64__)
		int64_t t0 = bench_now_ns();
		uint64_t c0 = bench_tsc();
		while (bench_now_ns() - t0 < 20000000)
			;
		int64_t t1 = bench_now_ns();
		uint64_t c1 = bench_tsc();
		ns_per_tick = (double)(t1 - t0) / (double)(c1 - c0);
#else
		ns_per_tick = 1.0;
#endif
	}
	return ns_per_tick;
}

/* ---- statistics ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double quantile(const double *sorted, size_t n, double q)
{
	size_t i = (size_t)(q * (double)(n - 1) + 0.5);
	return sorted[i < n ? i : n - 1];
}

struct bench_stats bench_percentiles(double *samples, size_t n)
{
	struct bench_stats st = { 0 };
	if (n == 0)
		return st;
	qsort(samples, n, sizeof(*samples), cmp_double);
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += samples[i];
	st.n = n;
	st.mean_ns = sum / (double)n;
	st.median_ns = quantile(samples, n, 0.5);
	st.p99_ns = quantile(samples, n, 0.99);
	st.p999_ns = quantile(samples, n, 0.999);
	return st;
}

size_t bench_iters(const struct bench_ctx *ctx, size_t n)
{
	if (!ctx->quick)
		return n;
	return n / 10 < 100 ? 100 : n / 10;
}

/* ---- processes and CPUs ---- */

int bench_pin(int cpu)
{
	if (cpu < 0)
		return 0;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) == 0 ? 0 : -errno;
}

/* The first two CPUs this process may run on (-1 where there are fewer). */
void bench_default_cpus(int cpu[2])
{
	cpu_set_t set;
	cpu[0] = cpu[1] = -1;
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return;
	for (int c = 0, k = 0; c < CPU_SETSIZE && k < 2; c++)
		if (CPU_ISSET(c, &set))
			cpu[k++] = c;
}

/* The area a peer shares starts with this line; the caller's part follows. */
struct peer_head {
	_Alignas(64) _Atomic int ready;
};

int bench_peer_start(struct bench_ctx *ctx, struct bench_peer *p, size_t size,
		     int (*init)(void *shm), int (*fn)(void *shm, void *arg), void *arg)
{
	size_t total = sizeof(struct peer_head) + size;
	char *base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return -errno;
	struct peer_head *h = (struct peer_head *)(void *)base;
	p->size = total;
	p->shm = base + sizeof(*h);
	int r = init ? init(p->shm) : 0;
	if (r < 0) {
		munmap(base, total);
		return r;
	}
	fflush(NULL);
	p->pid = fork();
	if (p->pid < 0) {
		int e = -errno;
		munmap(base, total);
		return e;
	}
	if (p->pid == 0) {
		bench_pin(ctx->cpu[1]);
		/* Release: pairs with the parent's acquire spin below. */
		atomic_store_explicit(&h->ready, 1, memory_order_release);
		_exit(fn(p->shm, arg));
	}
	bench_pin(ctx->cpu[0]);
	/* Acquire: pairs with the child's release store of ready. */
	while (!atomic_load_explicit(&h->ready, memory_order_acquire)) {
		if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
			munmap(base, total);
			return -ECHILD;
		}
		sched_yield();
	}
	return 0;
}

int bench_pingpong(struct bench_ctx *ctx, size_t shm_size, int (*init)(void *shm),
		   int (*peer)(void *shm, void *arg),
		   void *peer_arg, void (*trip)(void *shm, uint32_t i, void *arg), void *trip_arg,
		   size_t iters, struct bench_stats *one_way)
{
	double tick = bench_tsc_ns_per_tick();
	double *samples = malloc(iters * sizeof(*samples));
	struct bench_peer pr;
	int r;

	if (!samples)
		return -ENOMEM;
	r = bench_peer_start(ctx, &pr, shm_size, init, peer, peer_arg);
	if (r < 0) {
		free(samples);
		return r;
	}
	for (uint32_t i = 0; i < BENCH_WARMUP + iters; i++) {
		uint64_t t0 = bench_tsc();
		trip(pr.shm, i, trip_arg);
		uint64_t t = bench_tsc() - t0;
		if (i >= BENCH_WARMUP)
			samples[i - BENCH_WARMUP] = (double)t * tick / 2;
	}
	r = bench_peer_finish(&pr);
	*one_way = bench_percentiles(samples, iters);
	free(samples);
	return r == 0 ? 0 : -ECHILD;
}

int bench_peer_finish(struct bench_peer *p)
{
	int status, rc = -1;
	while (waitpid(p->pid, &status, 0) < 0)
		if (errno != EINTR)
			break;
	if (WIFEXITED(status))
		rc = WEXITSTATUS(status);
	munmap((char *)p->shm - sizeof(struct peer_head), p->size);
	return rc;
}

/* ---- results ---- */

static struct bench_row_rec *rows;
static size_t n_rows, cap_rows;

void bench_ratio(struct bench_row *row, double floor_ns, const char *floor_name, double goal)
{
	if (floor_ns > 0)
		row->ratio = row->lat.median_ns / floor_ns;
	snprintf(row->ratio_to, sizeof(row->ratio_to), "%s", floor_name);
	row->goal = goal;
	row->goal_max = 1;
}

static const char *goal_verdict(const struct bench_row *r)
{
	if (r->goal <= 0 || r->ratio <= 0)
		return "";
	int met = r->goal_max ? r->ratio <= r->goal : r->ratio >= r->goal;
	return met ? "met" : "NOT met";
}

/* "-" for an absent (zero) value, else v with `prec` decimals or, with
 * prec < 0, 3 significant digits. */
static void fmt_num(char *buf, size_t cap, double v, int prec)
{
	if (v <= 0)
		snprintf(buf, cap, "-");
	else if (prec < 0)
		snprintf(buf, cap, "%.3g", v);
	else
		snprintf(buf, cap, "%.*f", prec, v);
}

static void print_table_head(void)
{
	printf("%-8s %-34s %8s %10s %10s %10s %12s %10s %7s  %s\n", "suite", "name", "size",
	       "median_ns", "p99_ns", "p99.9_ns", "msg/s", "MB/s", "ratio", "vs (goal)");
}

static void print_table_row(const char *suite, const struct bench_row *r)
{
	char size[24], med[24], p99[24], p999[24], mps[24], mbs[24], ratio[24], vs[128] = "";
	if (r->size == 0)
		snprintf(size, sizeof(size), "-");
	else if (r->size >= 1024 * 1024 && r->size % (1024 * 1024) == 0)
		snprintf(size, sizeof(size), "%zuM", r->size >> 20);
	else if (r->size >= 1024 && r->size % 1024 == 0)
		snprintf(size, sizeof(size), "%zuK", r->size >> 10);
	else
		snprintf(size, sizeof(size), "%zu", r->size);
	fmt_num(med, sizeof(med), r->lat.median_ns, 1);
	fmt_num(p99, sizeof(p99), r->lat.p99_ns, 1);
	fmt_num(p999, sizeof(p999), r->lat.p999_ns, 1);
	fmt_num(mps, sizeof(mps), r->msgs_per_s, -1);
	fmt_num(mbs, sizeof(mbs), r->mb_per_s, 1);
	if (r->ratio > 0)
		snprintf(ratio, sizeof(ratio), "%.2fx", r->ratio);
	else
		snprintf(ratio, sizeof(ratio), "-");
	if (r->ratio_to[0] && r->goal > 0)
		snprintf(vs, sizeof(vs), "%s (%s %.2g: %s)", r->ratio_to, r->goal_max ? "<=" : ">=",
			 r->goal, goal_verdict(r));
	else if (r->ratio_to[0])
		snprintf(vs, sizeof(vs), "%s", r->ratio_to);
	printf("%-8s %-34s %8s %10s %10s %10s %12s %10s %7s  %s%s%s\n", suite, r->name, size, med,
	       p99, p999, mps, mbs, ratio, vs, r->note[0] ? "  " : "", r->note);
	fflush(stdout);
}

void bench_report(struct bench_ctx *ctx, const struct bench_row *row)
{
	if (n_rows == cap_rows) {
		cap_rows = cap_rows ? 2 * cap_rows : 64;
		rows = realloc(rows, cap_rows * sizeof(*rows));
		if (!rows) {
			perror("shmkit-bench");
			exit(1);
		}
	}
	rows[n_rows].row = *row;
	snprintf(rows[n_rows].suite, sizeof(rows[n_rows].suite), "%s", ctx->suite);
	n_rows++;
	if (!ctx->json)
		print_table_row(ctx->suite, row);
}

/* ---- machine header ---- */

static void read_cpu_model(char *buf, size_t cap)
{
	char line[512];
	FILE *f = fopen("/proc/cpuinfo", "r");
	snprintf(buf, cap, "unknown");
	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		if (strncmp(line, "model name", 10) == 0 && colon) {
			snprintf(buf, cap, "%s", colon + 2);
			buf[strcspn(buf, "\n")] = '\0';
			break;
		}
	}
	if (f)
		fclose(f);
}

/* The installed version of a Debian package, or "" if absent. */
static void dpkg_version(const char *pkg, char *buf, size_t cap)
{
	char cmd[320];
	buf[0] = '\0';
	snprintf(cmd, sizeof(cmd),
		 "dpkg-query -W -f='${db:Status-Abbrev} ${Version}' %s 2>/dev/null", pkg);
	FILE *p = popen(cmd, "r");
	if (!p)
		return;
	char out[128] = "";
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	pclose(p);
	if (strncmp(out, "ii ", 3) == 0) {
		char *v = strrchr(out, ' ');
		snprintf(buf, cap, "%s", v ? v + 1 : "");
	}
}

void bench_machine(struct bench_machine *m)
{
	struct utsname u;
	read_cpu_model(m->cpu, sizeof(m->cpu));
	m->cores = sysconf(_SC_NPROCESSORS_ONLN);
	uname(&u);
	snprintf(m->kernel, sizeof(m->kernel), "%s %s", u.sysname, u.release);
	snprintf(m->glibc, sizeof(m->glibc), "%s", gnu_get_libc_version());
	dpkg_version("libboost-dev", m->boost, sizeof(m->boost));
	dpkg_version("libiceoryx-binding-c-dev", m->iceoryx, sizeof(m->iceoryx));
}

void bench_print_header(const struct bench_ctx *ctx, const struct bench_machine *m)
{
	printf("shmkit-bench: %s, %ld cores, %s, glibc %s", m->cpu, m->cores, m->kernel, m->glibc);
	if (m->boost[0])
		printf(", boost %s", m->boost);
	if (m->iceoryx[0])
		printf(", iceoryx %s", m->iceoryx);
	printf("\ntwo-process tests: parent on cpu %d, peer on cpu %d%s\n\n", ctx->cpu[0],
	       ctx->cpu[1], ctx->quick ? " (--quick: fewer samples)" : "");
	print_table_head();
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void json_num(const char *key, double v)
{
	printf(", \"%s\": ", key);
	if (v > 0)
		printf("%.6g", v);
	else
		printf("null");
}

void bench_print_json(const struct bench_ctx *ctx, const struct bench_machine *m, int failed)
{
	printf("{\n  \"machine\": {\"cpu\": ");
	json_str(m->cpu);
	printf(", \"cores\": %ld, \"kernel\": ", m->cores);
	json_str(m->kernel);
	printf(", \"glibc\": ");
	json_str(m->glibc);
	printf(", \"boost\": ");
	if (m->boost[0])
		json_str(m->boost);
	else
		printf("null");
	printf(", \"iceoryx\": ");
	if (m->iceoryx[0])
		json_str(m->iceoryx);
	else
		printf("null");
	printf("},\n  \"cpus\": [%d, %d], \"quick\": %s, \"failed_suites\": %d,\n  \"rows\": [",
	       ctx->cpu[0], ctx->cpu[1], ctx->quick ? "true" : "false", failed);
	for (size_t i = 0; i < n_rows; i++) {
		const struct bench_row *r = &rows[i].row;
		printf("%s\n    {\"suite\": ", i ? "," : "");
		json_str(rows[i].suite);
		printf(", \"name\": ");
		json_str(r->name);
		printf(", \"size\": %zu", r->size);
		json_num("median_ns", r->lat.median_ns);
		json_num("p99_ns", r->lat.p99_ns);
		json_num("p999_ns", r->lat.p999_ns);
		json_num("msgs_per_s", r->msgs_per_s);
		json_num("mb_per_s", r->mb_per_s);
		json_num("ratio", r->ratio);
		printf(", \"ratio_to\": ");
		if (r->ratio_to[0])
			json_str(r->ratio_to);
		else
			printf("null");
		json_num("goal", r->goal);
		printf(", \"goal_max\": %s, \"goal_met\": ", r->goal_max ? "true" : "false");
		const char *v = goal_verdict(r);
		printf("%s", v[0] ? (strcmp(v, "met") == 0 ? "true" : "false") : "null");
		printf(", \"note\": ");
		json_str(r->note);
		printf("}");
	}
	printf("\n  ]\n}\n");
}
