/* SPDX-License-Identifier: MIT */
/* Crash-consistency torture of the heap and the map (opt-in, not a CTest):
 * N forked workers do random heap alloc/free/named and map put/get/del;
 * the parent kill -9s a random worker at a random moment (or at a random
 * SHMKIT_TEST_PAUSE point), restarts it, and checks invariants:
 *  - after every kill: the dead worker's map keys hold their last
 *    committed value, or the in-flight one, whole;
 *  - every QUIESCE kills, with all workers parked between operations:
 *    heap/map check is 0 (or 1), every held heap block is live, its pattern
 *    intact, no two overlap; no used block is unaccounted for beyond the
 *    allocations a kill may have cut short; no cached block of a dead
 *    process is left; every map key is exactly what was committed; the map
 *    heap holds exactly the chained entries.
 * Usage: torture_heapmap [-t SECONDS] [-w WORKERS] [-p PAUSE_PERCENT]
 *                        [-s (scribble mode)] [-k KILLS] [-S SEED]
 *                        [-m 1|2|3 (heap, map, both)] [-n (no named objects)]
 *                        [-H HEAP_BYTES] [-M MAP_BYTES] [-U SCRIBBLE_US] [-P PREFIX]
 * Exit 0: no invariant broken, 1 otherwise (each FAIL line says what).
 * Names: posix:/<PREFIX>-<pid>-{heap,map}, PREFIX "shmkit-torture", removed
 * at the end. Build: cmake -DSHMKIT_BUILD_TORTURE=ON (tests/torture/README.md). */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmkit.h>

#include "heap_internal.h"
#include "layout.h"
#include "map_internal.h"

extern int shmkit__test_armed;

#define MAXW 8
#define NH 48   /* heap entries per worker */
#define NK 160  /* map keys per worker */
#define NN 2    /* named objects per worker */

enum { H_EMPTY, H_PEND_ALLOC, H_HELD, H_FREEING };
enum { K_NONE, K_PUT, K_DEL };

struct hent {
	_Atomic uint32_t state;
	uint32_t size;
	uint64_t off;
	uint64_t seed;
};

struct kent {
	_Atomic uint32_t pend_op;
	uint64_t committed; /* 0 = absent */
	uint64_t pend;
};

struct nent {
	_Atomic uint32_t state; /* H_EMPTY, H_PEND_ALLOC (creating), H_HELD, H_FREEING */
	uint64_t off;
};

struct wslot {
	_Atomic int paused;
	_Atomic uint64_t ops;
	_Atomic int fatal; /* a worker saw a broken invariant */
	char why[256];
	uint64_t next_ver;
	uint64_t rng;
	struct hent h[NH];
	struct kent k[NK];
	struct nent n[NN];
};

struct reg {
	_Atomic int pause_req;
	_Atomic int stop;
	struct wslot w[MAXW];
};

static struct reg *R;
static char heap_uri[128], map_uri[128];
static size_t heap_size = 4 << 20, map_size = 4 << 20;
static useconds_t scribble_us = 20000;
static const char *prefix = "shmkit-torture";
static int nworkers = 4, pause_pct = 30, scribble, no_named;
static unsigned seed0;

static const char *points[] = {
	"heap.alloc.1",     "heap.alloc.2",	"heap.alloc.3",	   "heap.free.1",
	"heap.free.2",	    "heap.free.3",	"heap.rebuild",	   "heap.cache.alloc",
	"heap.cache.free",  "heap.reclaim",	"heap.named.1",	   "map.put.inline.1",
	"map.put.inline.2", "map.put.1",	"map.put.2",	   "map.put.3",
	"map.put.4",	    "map.del.1",	"map.del.2",	   "map.del.3",
	"managed.open.liveness", "heap.named.free",
};
#define NPOINTS (sizeof(points) / sizeof(points[0]))

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void wfail(struct wslot *ws, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ws->why, sizeof(ws->why), fmt, ap);
	va_end(ap);
	atomic_store(&ws->fatal, 1);
	fprintf(stderr, "WORKER %d: %s\n", (int)getpid(), ws->why);
	_exit(3);
}

/* ---- heap block patterns ---- */

static void pattern_fill(uint8_t *p, uint32_t size, uint64_t seed)
{
	uint32_t n = size < 512 ? size : 256;
	for (uint32_t i = 0; i < n; i++)
		p[i] = (uint8_t)mix64(seed + i);
	if (size >= 512)
		for (uint32_t i = size - 64; i < size; i++)
			p[i] = (uint8_t)mix64(seed + i);
}

static int pattern_ok(const uint8_t *p, uint32_t size, uint64_t seed)
{
	uint32_t n = size < 512 ? size : 256;
	for (uint32_t i = 0; i < n; i++)
		if (p[i] != (uint8_t)mix64(seed + i))
			return 0;
	if (size >= 512)
		for (uint32_t i = size - 64; i < size; i++)
			if (p[i] != (uint8_t)mix64(seed + i))
				return 0;
	return 1;
}

/* ---- map values ---- */

static int key_of(int w, int k, char *buf)
{
	return sprintf(buf, "w%dk%03d", w, k); /* 6-7 bytes */
}

static size_t vlen_of(uint64_t ver)
{
	uint64_t x = mix64(ver * 7919);
	switch (x % 4) {
	case 0: return 16;                 /* inline with a short key */
	case 1: return 16 + x % 17;        /* around the inline limit */
	case 2: return 40 + (x >> 8) % 200; /* chained */
	default: return 16 + (x >> 8) % 1200;
	}
}

static size_t make_val(const char *key, size_t klen, uint64_t ver, uint8_t *buf)
{
	size_t n = vlen_of(ver);
	uint64_t kh = mix64(shmkit__map_hash(key, klen, 12345) ^ ver);
	memcpy(buf, &ver, 8);
	memcpy(buf + 8, &kh, 8);
	for (size_t i = 16; i < n; i++)
		buf[i] = (uint8_t)mix64(kh + i);
	return n;
}

/* 0 ok (*ver set), -1 torn/invalid */
static int val_check(const char *key, size_t klen, const uint8_t *buf, size_t n, uint64_t *ver)
{
	uint64_t v, kh;
	if (n < 16)
		return -1;
	memcpy(&v, buf, 8);
	memcpy(&kh, buf + 8, 8);
	if (kh != mix64(shmkit__map_hash(key, klen, 12345) ^ v) || n != vlen_of(v))
		return -1;
	for (size_t i = 16; i < n; i++)
		if (buf[i] != (uint8_t)mix64(kh + i))
			return -1;
	*ver = v;
	return 0;
}

/* ---- the worker ---- */

static void park(struct wslot *ws)
{
	if (!atomic_load(&R->pause_req))
		return;
	atomic_store(&ws->paused, 1);
	while (atomic_load(&R->pause_req))
		usleep(500);
	atomic_store(&ws->paused, 0);
}

static uint32_t pick_size(uint64_t *s)
{
	uint64_t x = rnd(s) % 100;
	if (x < 70)
		return 1 + (uint32_t)(rnd(s) % 512);
	if (x < 95)
		return 513 + (uint32_t)(rnd(s) % 7600);
	return 8192 + (uint32_t)(rnd(s) % 40000);
}

static void heap_op(struct wslot *ws, struct shmkit_heap *h, int wi)
{
	int i = (int)(rnd(&ws->rng) % NH);
	struct hent *e = &ws->h[i];
	uint32_t st = atomic_load(&e->state);

	if (st == H_EMPTY) {
		e->size = pick_size(&ws->rng);
		e->seed = rnd(&ws->rng);
		atomic_store(&e->state, H_PEND_ALLOC);
		shmkit_off off;
		int r = shmkit_heap_alloc(h, e->size, &off);
		if (r == -ENOSPC) {
			atomic_store(&e->state, H_EMPTY);
			return;
		}
		if (r < 0 && scribble) {
			atomic_store(&e->state, H_EMPTY);
			return;
		}
		if (r < 0)
			wfail(ws, "w%d alloc %u: %s", wi, e->size, shmkit_strerror(r));
		e->off = off;
		uint8_t *p = shmkit_heap_ptr(h, off);
		if (p == NULL) {
			if (scribble) {
				atomic_store(&e->state, H_EMPTY);
				return;
			}
			wfail(ws, "w%d alloc gave %llu, ptr NULL", wi, (unsigned long long)off);
		}
		pattern_fill(p, e->size, e->seed);
		atomic_store(&e->state, H_HELD);
	} else if (st == H_HELD) {
		uint8_t *p = shmkit_heap_ptr(h, e->off);
		if (!scribble && (p == NULL || !pattern_ok(p, e->size, e->seed)))
			wfail(ws, "w%d held block %llu size %u: %s", wi, (unsigned long long)e->off,
			      e->size, p == NULL ? "not live" : "pattern overwritten");
		atomic_store(&e->state, H_FREEING);
		int r = shmkit_heap_free(h, e->off);
		if (r < 0 && !scribble)
			wfail(ws, "w%d free %llu: %s", wi, (unsigned long long)e->off,
			      shmkit_strerror(r));
		atomic_store(&e->state, H_EMPTY);
	}
}

static void named_op(struct wslot *ws, struct shmkit_heap *h, int wi)
{
	int i = (int)(rnd(&ws->rng) % NN);
	struct nent *e = &ws->n[i];
	char name[32];
	snprintf(name, sizeof(name), "w%dn%d", wi, i);
	uint32_t st = atomic_load(&e->state);
	if (st == H_EMPTY) {
		atomic_store(&e->state, H_PEND_ALLOC);
		shmkit_off off;
		int r = shmkit_heap_named(h, name, 100, SHMKIT_CREATE | SHMKIT_EXCL, &off);
		if (r == -ENOSPC || (r < 0 && scribble)) {
			atomic_store(&e->state, H_EMPTY);
			return;
		}
		if (r < 0)
			wfail(ws, "w%d named create %s: %s", wi, name, shmkit_strerror(r));
		e->off = off;
		atomic_store(&e->state, H_HELD);
	} else if (st == H_HELD) {
		shmkit_off off;
		int r = shmkit_heap_named(h, name, 0, 0, &off);
		if (!scribble && (r < 0 || off != e->off))
			wfail(ws, "w%d named %s lookup: %s (%llu vs %llu)", wi, name,
			      shmkit_strerror(r), (unsigned long long)off,
			      (unsigned long long)e->off);
		atomic_store(&e->state, H_FREEING);
		r = shmkit_heap_free(h, e->off);
		if (r < 0 && !scribble)
			wfail(ws, "w%d free named: %s", wi, shmkit_strerror(r));
		atomic_store(&e->state, H_EMPTY);
	}
}

static void map_op(struct wslot *ws, struct shmkit_map *m, int wi)
{
	int k = (int)(rnd(&ws->rng) % NK);
	struct kent *e = &ws->k[k];
	char key[16];
	size_t klen = (size_t)key_of(wi, k, key);
	static uint8_t buf[4096];
	uint64_t x = rnd(&ws->rng) % 100;

	if (atomic_load(&e->pend_op) != K_NONE)
		return; /* left by my previous life: the parent settles it */
	if (x < 45) {
		uint64_t ver = ++ws->next_ver;
		size_t n = make_val(key, klen, ver, buf);
		e->pend = ver;
		atomic_store(&e->pend_op, K_PUT);
		int r = shmkit_map_put(m, key, klen, buf, n);
		if (r == -ENOSPC || (r < 0 && scribble)) {
			atomic_store(&e->pend_op, K_NONE);
			return;
		}
		if (r < 0)
			wfail(ws, "w%d put %s: %s", wi, key, shmkit_strerror(r));
		e->committed = ver;
		atomic_store(&e->pend_op, K_NONE);
	} else if (x < 65) {
		atomic_store(&e->pend_op, K_DEL);
		int r = shmkit_map_del(m, key, klen);
		if (!scribble && r < 0 && r != -ENOENT)
			wfail(ws, "w%d del %s: %s", wi, key, shmkit_strerror(r));
		if (!scribble && (r == -ENOENT) != (e->committed == 0))
			wfail(ws, "w%d del %s: %s but committed %llu", wi, key, shmkit_strerror(r),
			      (unsigned long long)e->committed);
		e->committed = 0;
		atomic_store(&e->pend_op, K_NONE);
	} else {
		/* read my key (exact) or another worker's (whole or absent) */
		int ow = x < 85 ? wi : (int)(rnd(&ws->rng) % (uint64_t)nworkers);
		int ok = (int)(rnd(&ws->rng) % NK);
		klen = (size_t)key_of(ow, ok, key);
		ssize_t n = shmkit_map_get(m, key, klen, buf, sizeof(buf));
		if (scribble)
			return;
		uint64_t ver = 0;
		if (n == -ENOENT) {
			ver = 0;
		} else if (n < 0) {
			wfail(ws, "w%d get %s: %s", wi, key, shmkit_strerror((int)n));
		} else if (val_check(key, klen, buf, (size_t)n, &ver) < 0) {
			wfail(ws, "w%d get %s: torn value (%zd bytes)", wi, key, n);
		}
		if (ow == wi && atomic_load(&ws->k[ok].pend_op) == K_NONE && ver != ws->k[ok].committed)
			wfail(ws, "w%d get own %s: version %llu, committed %llu", wi, key,
			      (unsigned long long)ver, (unsigned long long)ws->k[ok].committed);
	}
}

static int worker(int wi, const char *pause_point, int mode)
{
	struct wslot *ws = &R->w[wi];
	struct shmkit_heap *h = NULL;
	struct shmkit_map *m = NULL;
	int r;

	if (pause_point != NULL) {
		setenv("SHMKIT_TEST_PAUSE", pause_point, 1);
		shmkit__test_armed = -1;
	} else {
		unsetenv("SHMKIT_TEST_PAUSE");
		shmkit__test_armed = -1;
	}
	ws->rng = mix64((uint64_t)getpid() * 0x9e37 + seed0 + now_ns()) | 1;
	if (mode & 1) {
		while (scribble && (r = shmkit_heap_open(&h, heap_uri)) < 0 && !atomic_load(&R->stop)) {
			park(ws); /* corrupt for good: wait to be stopped */
			atomic_fetch_add(&ws->ops, 1);
			usleep(20000);
		}
		if (scribble && h == NULL)
			_exit(0);
		if (!scribble && (r = shmkit_heap_open(&h, heap_uri)) < 0) {
			wfail(ws, "w%d heap open: %s (%s)", wi, shmkit_strerror(r),
			      shmkit_last_error_detail());
		}
		if (scribble)
			shmkit_heap_set_lock_timeout(h, 2000000000);
	}
	if (mode & 2) {
		while (scribble && (r = shmkit_map_open(&m, map_uri)) < 0 && !atomic_load(&R->stop)) {
			park(ws);
			atomic_fetch_add(&ws->ops, 1);
			usleep(20000);
		}
		if (scribble && m == NULL)
			_exit(0);
		if (!scribble && (r = shmkit_map_open(&m, map_uri)) < 0) {
			wfail(ws, "w%d map open: %s (%s)", wi, shmkit_strerror(r),
			      shmkit_last_error_detail());
		}
		if (scribble)
			shmkit_map_set_lock_timeout(m, 2000000000);
	}
	while (!atomic_load(&R->stop)) {
		park(ws);
		uint64_t x = rnd(&ws->rng) % 100;
		if ((mode & 1) && (x < 55 || !(mode & 2)))
			x % 50 == 0 && !no_named ? named_op(ws, h, wi) : heap_op(ws, h, wi);
		else
			map_op(ws, m, wi);
		atomic_fetch_add(&ws->ops, 1);
		if (x == 98 && rnd(&ws->rng) % 20 == 0) {
			/* a check among the others (killed inside it too) */
			int c = (mode & 2) && (rnd(&ws->rng) & 1) ? shmkit_map_check(m)
								 : h ? shmkit_heap_check(h) : 0;
			if (!scribble && c != 0)
				wfail(ws, "w%d check in a worker: %d %s", wi, c,
				      c < 0 ? shmkit_strerror(c) : "(repaired)");
		}
		if (x == 99 && rnd(&ws->rng) % 50 == 0) {
			/* now and then a close and reopen: the magazine goes back */
			if (h) {
				shmkit_heap_close(h);
				if (shmkit_heap_open(&h, heap_uri) < 0)
					_exit(scribble ? 0 : 4);
			}
		}
	}
	_exit(0);
}

/* ---- the parent ---- */

static pid_t pids[MAXW];
static int mode = 3;
static uint64_t kills, paused_kills, not_reached, quiesces, failures;
static uint64_t pend_alloc_kills; /* kills that may leak one heap block */
static uint64_t check_ones;

static void pfail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	failures++;
}

static pid_t start_worker(int wi, const char *pt)
{
	atomic_store(&R->w[wi].paused, 0);
	pid_t p = fork();
	if (p == 0)
		worker(wi, pt, mode);
	return p;
}

/* Waits for a stop at the pause point: 1 stopped, 0 not within ms, -1 exited. */
static int wait_stop(pid_t p, int ms, int *status)
{
	for (int i = 0; i < ms; i++) {
		pid_t q = waitpid(p, status, WNOHANG | WUNTRACED);
		if (q == p)
			return WIFSTOPPED(*status) ? 1 : -1;
		usleep(1000);
	}
	return 0;
}

static void reap_killed(int wi)
{
	int status;
	kill(pids[wi], SIGKILL);
	while (waitpid(pids[wi], &status, 0) == pids[wi] && !WIFEXITED(status) && !WIFSIGNALED(status))
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		pfail("worker %d exited %d before the kill: %s", wi, WEXITSTATUS(status), R->w[wi].why);
	if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL)
		pfail("worker %d died of signal %d", wi, WTERMSIG(status));
}

/* The dead worker's keys: committed, or the in-flight op's result, whole. */
static void settle_keys(struct shmkit_map *m, int wi)
{
	struct wslot *ws = &R->w[wi];
	static uint8_t buf[4096];
	for (int k = 0; k < NK; k++) {
		struct kent *e = &ws->k[k];
		char key[16];
		size_t klen = (size_t)key_of(wi, k, key);
		ssize_t n = shmkit_map_get(m, key, klen, buf, sizeof(buf));
		uint64_t ver = 0;
		uint32_t op = atomic_load(&e->pend_op);
		if (n == -ENOENT)
			ver = 0;
		else if (n < 0) {
			if (!scribble)
				pfail("settle w%d %s: get %s", wi, key, shmkit_strerror((int)n));
			continue;
		} else if (val_check(key, klen, buf, (size_t)n, &ver) < 0) {
			if (!scribble)
				pfail("settle w%d %s: torn value (%zd bytes)", wi, key, n);
			continue;
		}
		int ok = ver == e->committed || (op == K_PUT && ver == e->pend) ||
			 (op == K_DEL && ver == 0);
		if (!ok && !scribble)
			pfail("settle w%d %s: version %llu, committed %llu, pending %s %llu", wi, key,
			      (unsigned long long)ver, (unsigned long long)e->committed,
			      op == K_PUT ? "put" : op == K_DEL ? "del" : "none",
			      (unsigned long long)e->pend);
		e->committed = ver;
		atomic_store(&e->pend_op, K_NONE);
	}
}

static int kill_one(struct shmkit_map *m, uint64_t *rng)
{
	int wi = (int)(rnd(rng) % (uint64_t)nworkers);
	int status;
	if (rnd(rng) % 100 < (uint64_t)pause_pct) {
		/* restart it with a pause point armed, wait for the stop, kill */
		reap_killed(wi);
		if (mode & 2)
			settle_keys(m, wi);
		const char *pt = points[rnd(rng) % NPOINTS];
		pids[wi] = start_worker(wi, pt);
		int s = wait_stop(pids[wi], 400, &status);
		if (s == 1) {
			paused_kills++;
			/* let the others pile up behind it for a moment */
			if (rnd(rng) % 4 == 0)
				usleep((useconds_t)(rnd(rng) % 20000));
		} else if (s == 0) {
			not_reached++;
		} else {
			if (!(scribble && WIFEXITED(status) && WEXITSTATUS(status) == 0))
				pfail("worker %d (pause %s) exited early status %x: %s", wi, pt,
				      status, R->w[wi].why);
			pids[wi] = start_worker(wi, NULL);
			return wi;
		}
	} else {
		usleep((useconds_t)(rnd(rng) % 3000));
	}
	/* count the cut-short allocations before it dies: they may leak one block */
	reap_killed(wi);
	kills++;
	for (int i = 0; i < NH; i++)
		if (atomic_load(&R->w[wi].h[i].state) == H_PEND_ALLOC)
			pend_alloc_kills++;
	if (mode & 2)
		settle_keys(m, wi);
	pids[wi] = start_worker(wi, NULL);
	return wi;
}

static int quiesce(void)
{
	atomic_store(&R->pause_req, 1);
	int64_t end = now_ns() + 20000000000ll;
	for (;;) {
		int all = 1;
		for (int i = 0; i < nworkers; i++) {
			if (!atomic_load(&R->w[i].paused))
				all = 0;
			int status;
			pid_t q = waitpid(pids[i], &status, WNOHANG);
			if (q == pids[i]) {
				pfail("worker %d died during quiesce: status %x %s", i, status,
				      R->w[i].why);
				pids[i] = start_worker(i, NULL);
			}
		}
		if (all)
			return 0;
		if (now_ns() > end) {
			pfail("quiesce: workers did not park within 20 s (hang?)");
			for (int i = 0; i < nworkers; i++)
				fprintf(stderr, "  worker %d pid %d paused %d ops %llu\n", i, pids[i],
					atomic_load(&R->w[i].paused),
					(unsigned long long)atomic_load(&R->w[i].ops));
			return -1;
		}
		usleep(1000);
	}
}

static void resume(void)
{
	atomic_store(&R->pause_req, 0);
}

struct used {
	uint64_t off, size;
};

static int cmp_used(const void *a, const void *b)
{
	const struct used *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* Walks the block headers of a heap (a look of our own: the lock is held by
 * nobody now, every worker is parked). */
static int walk(struct shmkit_heap *h, struct used *u, size_t *nu, uint64_t *cached_dead,
		uint64_t *cached_live, uint64_t *free_bytes)
{
	uint64_t off = h->arena_off;
	*nu = 0;
	*cached_dead = *cached_live = *free_bytes = 0;
	while (off < h->arena_end) {
		struct shmkit__heap_block *b = (void *)(h->base + off);
		if ((b->tag & ~0xffu) != SHMKIT__BLOCK_MAGIC || b->size < 32 || (b->size & 15) ||
		    b->size > h->arena_end - off)
			return -1;
		uint32_t st = b->tag & 0xff;
		if (st == SHMKIT__BLOCK_USED) {
			u[*nu].off = off + 16;
			u[*nu].size = b->size - 16;
			(*nu)++;
		} else if (st == SHMKIT__BLOCK_CACHED) {
			uint64_t owner = *(uint64_t *)(h->base + off + 16);
			if (shmkit__heap_cache_released(h, owner))
				(*cached_dead)++;
			else
				(*cached_live)++;
		} else {
			*free_bytes += b->size;
		}
		off += b->size;
	}
	return 0;
}

static void verify_heap(struct shmkit_heap *h)
{
	int r = shmkit_heap_check(h);
	if (r == 1)
		check_ones++;
	if (r < 0 || r > 1) {
		pfail("heap check: %d %s (%s)", r, shmkit_strerror(r), shmkit_last_error_detail());
		return;
	}
	if (r == 1 && !scribble)
		fprintf(stderr, "note: heap check returned 1 after %llu kills\n",
			(unsigned long long)kills);
	static struct used u[1 << 18];
	size_t nu;
	uint64_t cdead, clive, fbytes;
	if (walk(h, u, &nu, &cdead, &clive, &fbytes) < 0) {
		pfail("heap walk broken after check 0/1");
		return;
	}
	if (cdead)
		pfail("heap: %llu cached blocks of released slots left after check",
		      (unsigned long long)cdead);
	/* every held entry must be a used block with its pattern */
	static char seen[1 << 18];
	memset(seen, 0, nu);
	qsort(u, nu, sizeof(u[0]), cmp_used);
	for (int wi = 0; wi < nworkers; wi++) {
		struct wslot *ws = &R->w[wi];
		for (int i = 0; i < NH + NN; i++) {
			int named = i >= NH;
			_Atomic uint32_t *stp = named ? &ws->n[i - NH].state : &ws->h[i].state;
			uint64_t off = named ? ws->n[i - NH].off : ws->h[i].off;
			uint32_t st = atomic_load(stp);
			if (st == H_PEND_ALLOC) {
				/* cut short by a kill: for a named one, its name
				 * tells (created or not); plain ones are counted */
				if (named) {
					char name[32];
					snprintf(name, sizeof(name), "w%dn%d", wi, i - NH);
					shmkit_off o;
					if (shmkit_heap_named(h, name, 0, 0, &o) == 0) {
						ws->n[i - NH].off = o;
						off = o;
						atomic_store(stp, H_HELD);
						st = H_HELD;
					} else {
						atomic_store(stp, H_EMPTY);
						continue;
					}
				} else {
					atomic_store(stp, H_EMPTY);
					continue;
				}
			}
			if (st == H_FREEING)
				continue; /* second pass, once the held ones are seen */
			if (st != H_HELD)
				continue;
			struct used key = { off, 0 };
			struct used *f = bsearch(&key, u, nu, sizeof(u[0]), cmp_used);
			if (f == NULL) {
				pfail("w%d entry %d: held block %llu is not a used block", wi, i,
				      (unsigned long long)off);
				continue;
			}
			if (seen[f - u]++)
				pfail("w%d entry %d: block %llu held twice", wi, i,
				      (unsigned long long)off);
			if (!named && ws->h[i].size) {
				if (f->size < ws->h[i].size)
					pfail("block %llu: %llu bytes < %u asked",
					      (unsigned long long)off, (unsigned long long)f->size,
					      ws->h[i].size);
				else if (!pattern_ok(h->base + off, ws->h[i].size, ws->h[i].seed))
					pfail("w%d entry %d: block %llu pattern overwritten", wi, i,
					      (unsigned long long)off);
			}
		}
	}
	/* a free cut short by a kill: a live block nobody else holds was not
	 * freed (or went to a cut-short allocation, which is the same leak) */
	for (int wi = 0; wi < nworkers; wi++) {
		struct wslot *ws = &R->w[wi];
		for (int i = 0; i < NH + NN; i++) {
			int named = i >= NH;
			_Atomic uint32_t *stp = named ? &ws->n[i - NH].state : &ws->h[i].state;
			uint64_t off = named ? ws->n[i - NH].off : ws->h[i].off;
			if (atomic_load(stp) != H_FREEING)
				continue;
			struct used key = { off, 0 };
			struct used *f = bsearch(&key, u, nu, sizeof(u[0]), cmp_used);
			if (f != NULL && !seen[f - u] && shmkit_heap_ptr(h, off) != NULL) {
				seen[f - u] = 1;
				if (!named)
					ws->h[i].size = 0; /* its pattern may be half gone */
				atomic_store(stp, H_HELD);
			} else {
				atomic_store(stp, H_EMPTY);
			}
		}
	}
	uint64_t leaked = 0;
	for (size_t i = 0; i < nu; i++)
		if (!seen[i])
			leaked++;
	if (leaked > pend_alloc_kills)
		pfail("heap: %llu used blocks nobody holds, only %llu allocations were cut short",
		      (unsigned long long)leaked, (unsigned long long)pend_alloc_kills);
	/* give the cut-short ones back: the next round starts clean */
	for (size_t i = 0; i < nu; i++)
		if (!seen[i] && shmkit_heap_free(h, u[i].off) < 0)
			pfail("free of leaked block failed");
	pend_alloc_kills = 0;
	struct shmkit_heap_stats st;
	if (shmkit_heap_stats(h, &st) == 0 && st.used_bytes + st.free_bytes != st.arena_bytes)
		pfail("heap stats: used %llu + free %llu != arena %llu",
		      (unsigned long long)st.used_bytes, (unsigned long long)st.free_bytes,
		      (unsigned long long)st.arena_bytes);
}

static int count_pairs(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	(void)k, (void)kl, (void)v, (void)vl;
	(*(uint64_t *)arg)++;
	return 0;
}

static void verify_map(struct shmkit_map *m)
{
	int r = shmkit_map_check(m);
	if (r == 1)
		check_ones++;
	if (r < 0 || r > 1) {
		pfail("map check: %d %s (%s)", r, shmkit_strerror(r), shmkit_last_error_detail());
		return;
	}
	uint64_t present = 0;
	static uint8_t buf[4096];
	for (int wi = 0; wi < nworkers; wi++) {
		for (int k = 0; k < NK; k++) {
			struct kent *e = &R->w[wi].k[k];
			char key[16];
			size_t klen = (size_t)key_of(wi, k, key);
			ssize_t n = shmkit_map_get(m, key, klen, buf, sizeof(buf));
			uint64_t ver = 0;
			if (n >= 0 && val_check(key, klen, buf, (size_t)n, &ver) < 0) {
				pfail("map %s: torn", key);
				continue;
			}
			if (n < 0 && n != -ENOENT) {
				pfail("map %s: get %s", key, shmkit_strerror((int)n));
				continue;
			}
			if (atomic_load(&e->pend_op) != K_NONE) {
				e->committed = ver; /* settled by the kill already; live ones are parked */
				atomic_store(&e->pend_op, K_NONE);
			}
			if (ver != e->committed)
				pfail("map %s: version %llu, committed %llu", key,
				      (unsigned long long)ver, (unsigned long long)e->committed);
			present += ver != 0;
		}
	}
	uint64_t walked = 0;
	if ((r = shmkit_map_iter(m, count_pairs, &walked)) < 0)
		pfail("map iter: %s", shmkit_strerror(r));
	if (walked != present || shmkit_map_count(m) != (ssize_t)present)
		pfail("map: %llu keys committed, iter %llu, count %zd", (unsigned long long)present,
		      (unsigned long long)walked, shmkit_map_count(m));
	/* the map's heap holds its header, the buckets and the chained entries */
	int64_t chained = shmkit__map_chained(m);
	struct shmkit_heap_stats st;
	if ((r = shmkit_heap_stats(shmkit_map_heap(m), &st)) < 0)
		pfail("map heap stats: %s", shmkit_strerror(r));
	else if (chained < 0 || st.n_used != (uint64_t)chained + 2)
		pfail("map heap: %llu used blocks, %lld chained entries + 2 (leak)",
		      (unsigned long long)st.n_used, (long long)chained);
}

/* ---- scribbler ---- */

static int scribbler(const char *uri, uint64_t seed)
{
	struct shmkit_seg *seg;
	if (shmkit_seg_open(&seg, uri, 0, 0, 0) < 0)
		_exit(1);
	uint8_t *base = shmkit_seg_addr(seg);
	size_t size = shmkit_seg_size(seg);
	uint64_t s = seed | 1;
	for (;;) {
		usleep(scribble_us / 2 + (useconds_t)(rnd(&s) % scribble_us));
		/* mostly the heap header and the first part of the arena */
		size_t at;
		uint64_t x = rnd(&s) % 100;
		if (x < 30)
			at = 4096 + (size_t)(rnd(&s) % 5888);
		else if (x < 60)
			at = 4096 + 5888 + (size_t)(rnd(&s) % 65536);
		else
			at = (size_t)(rnd(&s) % size);
		at &= ~(size_t)7;
		if (at < 4096 && x % 3)
			continue; /* the managed header: seldom */
		uint64_t v;
		switch (rnd(&s) % 5) {
		case 0: v = 0; break;
		case 1: v = rnd(&s); break;
		case 2: v = rnd(&s) % 4096; break;
		case 3: v = *(uint64_t *)(base + at) ^ (UINT64_C(1) << (rnd(&s) % 64)); break;
		default: v = *(uint64_t *)(base + at) + 16; break;
		}
		*(volatile uint64_t *)(base + at) = v;
	}
}

int main(int argc, char **argv)
{
	int secs = 60, opt;
	uint64_t max_kills = UINT64_MAX;
	seed0 = (unsigned)time(NULL);
	while ((opt = getopt(argc, argv, "t:w:p:sk:S:m:nH:M:U:P:")) != -1) {
		switch (opt) {
		case 't': secs = atoi(optarg); break;
		case 'w': nworkers = atoi(optarg); break;
		case 'p': pause_pct = atoi(optarg); break;
		case 's': scribble = 1; break;
		case 'k': max_kills = strtoull(optarg, NULL, 10); break;
		case 'S': seed0 = (unsigned)atoi(optarg); break;
		case 'm': mode = atoi(optarg); break;
		case 'n': no_named = 1; break;
		case 'U': scribble_us = (useconds_t)atoi(optarg); break;
		case 'P': prefix = optarg; break;
		case 'H': heap_size = strtoull(optarg, NULL, 0); break;
		case 'M': map_size = strtoull(optarg, NULL, 0); break;
		default: return 2;
		}
	}
	if (nworkers > MAXW)
		nworkers = MAXW;
	setvbuf(stderr, NULL, _IOLBF, 0);
	fprintf(stderr, "seed %u workers %d pause %d%% mode %d%s\n", seed0, nworkers, pause_pct,
		mode, scribble ? " scribble" : "");
	R = mmap(NULL, sizeof(*R), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	snprintf(heap_uri, sizeof(heap_uri), "posix:/%s-%d-heap", prefix, getpid());
	snprintf(map_uri, sizeof(map_uri), "posix:/%s-%d-map", prefix, getpid());
	struct shmkit_heap *h = NULL;
	struct shmkit_map *m = NULL;
	int r;
	if ((mode & 1) && (r = shmkit_heap_create(&h, heap_uri, heap_size, 0600)) < 0) {
		fprintf(stderr, "heap create: %s\n", shmkit_strerror(r));
		return 1;
	}
	if ((mode & 2) && (r = shmkit_map_create(&m, map_uri, map_size, 0600)) < 0) {
		fprintf(stderr, "map create: %s\n", shmkit_strerror(r));
		return 1;
	}
	if (h)
		shmkit_heap_set_lock_timeout(h, scribble ? 3000000000 : SHMKIT_FOREVER);
	if (m)
		shmkit_map_set_lock_timeout(m, scribble ? 3000000000 : SHMKIT_FOREVER);
	for (int i = 0; i < nworkers; i++)
		pids[i] = start_worker(i, NULL);
	pid_t scrib[2] = { 0, 0 };
	if (scribble) {
		if (h && (scrib[0] = fork()) == 0)
			scribbler(heap_uri, seed0 * 31 + 1);
		if (m && (scrib[1] = fork()) == 0)
			scribbler(map_uri, seed0 * 37 + 2);
	}
	uint64_t rng = mix64(seed0) | 1;
	int64_t end = now_ns() + (int64_t)secs * 1000000000;
	uint64_t last_ops[MAXW] = { 0 };
	int64_t last_prog[MAXW];
	for (int i = 0; i < nworkers; i++)
		last_prog[i] = now_ns();
	while (now_ns() < end && kills < max_kills && failures < 20) {
		usleep((useconds_t)(rnd(&rng) % 30000));
		/* a worker with no progress for 10 s (none is stopped now): hang */
		for (int i = 0; i < nworkers; i++) {
			uint64_t o = atomic_load(&R->w[i].ops);
			if (o != last_ops[i]) {
				last_ops[i] = o;
				last_prog[i] = now_ns();
			} else if (now_ns() - last_prog[i] > 10000000000ll) {
				pfail("worker %d (pid %d) made no progress for 10 s", i, pids[i]);
				char cmd[128];
				snprintf(cmd, sizeof(cmd), "cat /proc/%d/stack /proc/%d/wchan 2>/dev/null; echo", pids[i], pids[i]);
				if (system(cmd)) {}
				last_prog[i] = now_ns();
			}
			int status;
			if (waitpid(pids[i], &status, WNOHANG) == pids[i]) {
				if (!(scribble && WIFEXITED(status) && WEXITSTATUS(status) == 0))
					pfail("worker %d died on its own: status %x %s", i, status,
					      R->w[i].why);
				pids[i] = start_worker(i, NULL);
			}
		}
		int wi = kill_one(m, &rng);
		last_prog[wi] = now_ns();
		if (kills % 25 == 0) {
			if (quiesce() == 0) {
				if (!scribble) {
					if (h)
						verify_heap(h);
					if (m)
						verify_map(m);
				} else {
					if (h)
						(void)shmkit_heap_check(h);
					if (m)
						(void)shmkit_map_check(m);
				}
				quiesces++;
			}
			resume();
			for (int i = 0; i < nworkers; i++)
				last_prog[i] = now_ns();
		}
	}
	atomic_store(&R->stop, 1);
	resume();
	for (int i = 0; i < 2; i++)
		if (scrib[i] > 0) {
			kill(scrib[i], SIGKILL);
			waitpid(scrib[i], NULL, 0);
		}
	for (int i = 0; i < nworkers; i++) {
		int status;
		int64_t until = now_ns() + 10000000000ll;
		pid_t q;
		while ((q = waitpid(pids[i], &status, WNOHANG)) == 0 && now_ns() < until)
			usleep(1000);
		if (q == 0) {
			pfail("worker %d did not stop within 10 s", i);
			kill(pids[i], SIGKILL);
			waitpid(pids[i], &status, 0);
		} else if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
			pfail("worker %d ended with status %x: %s", i, status, R->w[i].why);
		}
	}
	if (!scribble) {
		if (h)
			verify_heap(h);
		if (m)
			verify_map(m);
	} else {
		if (h)
			fprintf(stderr, "final heap check: %d\n", shmkit_heap_check(h));
		if (m)
			fprintf(stderr, "final map check: %d\n", shmkit_map_check(m));
	}
	uint64_t total_ops = 0;
	for (int i = 0; i < nworkers; i++)
		total_ops += atomic_load(&R->w[i].ops);
	fprintf(stderr,
		"kills %llu (at pause points %llu, point not reached %llu), quiesces %llu, "
		"check==1 %llu, ops %llu, failures %llu\n",
		(unsigned long long)kills, (unsigned long long)paused_kills,
		(unsigned long long)not_reached, (unsigned long long)quiesces,
		(unsigned long long)check_ones, (unsigned long long)total_ops, (unsigned long long)failures);
	shmkit_heap_close(h);
	shmkit_map_close(m);
	shmkit_remove(heap_uri);
	shmkit_remove(map_uri);
	return failures ? 1 : 0;
}
