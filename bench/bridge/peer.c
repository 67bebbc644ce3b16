/* SPDX-License-Identifier: MIT */
/* bridge-bench-peer: one end of a bench/bridge/bench.sh run. Senders put a
 * CLOCK_MONOTONIC timestamp in each message's first 8 bytes (both network
 * namespaces share the clock), receivers report messages per second (first to
 * last message) and one-way latency percentiles.
 *   zpush|zpub EP N SIZE GAP_US      ZeroMQ alone (EP "bind:tcp://..." binds)
 *   zpull|zsub EP N
 *   qsend|tpub URI N SIZE GAP_US     into a local queue / topic (the bridge carries it)
 *   qrecv|tsub URI N                 out of one */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include <shmkit.h>

#define IDLE_NS 3000000000LL /* a lossy receiver stops after this long without a message */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void pace(int64_t *next, int64_t gap_ns)
{
	if (gap_ns <= 0)
		return;
	*next += gap_ns;
	while (now_ns() < *next)
		;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *what, int64_t *lat, long n, int64_t t0, int64_t t1)
{
	double secs = (double)(t1 - t0) / 1e9;
	qsort(lat, (size_t)n, sizeof *lat, cmp64);
	printf("%s msgs %ld rate %.0f/s lat_p50_us %.1f lat_p99_us %.1f lat_p10_us %.1f\n", what, n,
	       secs > 0 ? (double)(n - 1) / secs : 0, n ? lat[n / 2] / 1e3 : 0,
	       n ? lat[(long)(n * 0.99)] / 1e3 : 0, n ? lat[n / 10] / 1e3 : 0);
}

/* ZeroMQ's default high-water marks, as the bridge has; PUB with
 * XPUB_NODROP as the bridge's, so a blocking send waits for a full
 * link instead of dropping (a lossless rate, as a reliable topic's). */
static void *zsock(void *ctx, int type, const char *ep)
{
	void *s = zmq_socket(ctx, type);
	int one = 1;
	if (type == ZMQ_PUB)
		zmq_setsockopt(s, ZMQ_XPUB_NODROP, &one, sizeof one);
	if (type == ZMQ_SUB)
		zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
	int r = strncmp(ep, "bind:", 5) == 0 ? zmq_bind(s, ep + 5) : zmq_connect(s, ep);
	if (r < 0) {
		fprintf(stderr, "bridge-bench-peer: %s: %s\n", ep, zmq_strerror(zmq_errno()));
		exit(1);
	}
	return s;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: see the comment at the top of bench/bridge/peer.c\n");
		return 2;
	}
	const char *mode = argv[1], *where = argv[2];
	long n = atol(argv[3]);
	size_t size = argc > 4 ? (size_t)atol(argv[4]) : 64;
	int64_t gap = argc > 5 ? atol(argv[5]) * 1000LL : 0;
	char *buf = calloc(1, size < 64 ? 64 : size);
	int64_t *lat = calloc((size_t)n + 1, sizeof *lat);
	void *ctx = zmq_ctx_new();
	int send = !strcmp(mode, "zpush") || !strcmp(mode, "zpub") || !strcmp(mode, "qsend") ||
		   !strcmp(mode, "tpub");
	void *zs = NULL;
	struct shmkit_queue *q = NULL;
	struct shmkit_pub *p = NULL;
	struct shmkit_sub *s = NULL;
	int r = 0;

	if (mode[0] == 'z')
		zs = zsock(ctx, !strcmp(mode, "zpush") ? ZMQ_PUSH : !strcmp(mode, "zpull") ? ZMQ_PULL
				: !strcmp(mode, "zpub") ? ZMQ_PUB : ZMQ_SUB, where);
	else if (mode[0] == 'q')
		r = shmkit_queue_open(&q, where);
	else if (!strcmp(mode, "tpub"))
		r = shmkit_pub_open(&p, where);
	else
		r = shmkit_sub_open(&s, where);
	if (r < 0) {
		fprintf(stderr, "bridge-bench-peer: %s: %s\n", where, shmkit_strerror(r));
		return 1;
	}
	if (send) {
		if (!strcmp(mode, "zpub") || !strcmp(mode, "tpub"))
			sleep(1); /* let subscribers join */
		int64_t next = now_ns();
		for (long i = 0; i < n; i++) {
			pace(&next, gap);
			int64_t t = now_ns();
			memcpy(buf, &t, 8);
			if (zs)
				zmq_send(zs, buf, size, 0);
			else if (q)
				shmkit_queue_send(q, buf, size, SHMKIT_FOREVER);
			else
				shmkit_pub_send(p, buf, size, SHMKIT_FOREVER);
		}
		sleep(1); /* let ZeroMQ flush */
	} else {
		long got = 0;
		int64_t t0 = 0, t1 = 0;
		while (got < n) {
			ssize_t k;
			if (zs) {
				int to = got ? (int)(IDLE_NS / 1000000) : 30000;
				zmq_setsockopt(zs, ZMQ_RCVTIMEO, &to, sizeof to);
				k = zmq_recv(zs, buf, size < 64 ? 64 : size, 0);
			} else if (q) {
				k = shmkit_queue_recv(q, buf, size < 64 ? 64 : size, 30000000000LL);
			} else {
				k = shmkit_sub_recv(s, buf, size < 64 ? 64 : size, got ? IDLE_NS : 30000000000LL);
			}
			if (k < 8)
				break;
			int64_t t = now_ns(), sent;
			memcpy(&sent, buf, 8);
			if (!got)
				t0 = sent; /* end to end: from the first send */
			t1 = t;
			lat[got++] = t - sent;
		}
		report(mode, lat, got, t0, t1);
	}
	if (zs)
		zmq_close(zs);
	zmq_ctx_term(ctx);
	shmkit_queue_close(q);
	shmkit_pub_close(p);
	shmkit_sub_close(s);
	free(buf);
	free(lat);
	return 0;
}
