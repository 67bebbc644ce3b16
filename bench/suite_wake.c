/* SPDX-License-Identifier: MIT */
/* Suite "wake": the wake-up core (issues 11 and 14).
 *
 * - SPSC blocking one-way latency (both handles sleep at once) in each
 *   barrier mode, next to the raw futex ping-pong floor: the sleeper's
 *   membarrier(GLOBAL_EXPEDITED) costs IPIs that under a hypervisor exceed a
 *   futex sleep and wake (issue 14); FENCE mode pays a fence per message.
 * - Descriptor wake-up one-way latency: each side waits in epoll_wait on its
 *   queue's shmkit_queue_fd(), then receives with timeout 0 until -EAGAIN;
 *   next to a pipe ping-pong (blocking read/write; the goal's pair), the same
 *   pipe ping-pong with each side in epoll_wait before its read (the
 *   informational "fd wake-up / pipe in epoll": how much of the gap is epoll
 *   itself), the same ping-pong over raw eventfds in epoll (no shmkit: the
 *   floor of any descriptor wake-up, with its ratio to the blocking pipe),
 *   the futex floor, and what arming costs in the ping-pong (the receive
 *   that finds nothing: drain, CAS, and in MEMBARRIER mode the sleeper's
 *   membarrier); and the CPU one descriptor wake-up costs (arm, signal,
 *   receive) in one process. Two more floors have shmkit's shape (the
 *   token drained after the reply, off the round trip): raw eventfds
 *   (any descriptor's floor) and raw Unix datagram sockets sent to by
 *   abstract name (the socket's own, without shmkit's protocol).
 * - Each of those in three barrier modes: FENCE and MEMBARRIER forced
 *   (SHMKIT_WAKE_BARRIER), and the library's own choice (unset): what a
 *   program gets.
 * - Topic 64 B streaming throughput (reliable, 1 subscriber) vs the SPSC
 *   queue's (same ring length and backend), each in both barrier modes: the
 *   two take turns, 5 runs each, and the rows are medians.
 * Goals: fd wake-up <= 1.5x futex and <= 1.0x pipe; blocking <= 1.3x futex;
 * topic 64 B throughput >= 0.9x SPSC. The topic's 8 B latency goal (<= 1.0x
 * the SPSC queue) is a row of suite pubsub. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <shmkit.h>

#include "bench.h"

/* SHMKIT_WAKE_BARRIER per mode; NULL: unset, the library chooses */
#define MODES 3
static const char *const mode_env[MODES] = {"fence", "membarrier", NULL};
static const char *const mode_name[MODES] = {"fence", "membarrier", "library's choice"};

static void set_mode(int mode)
{
	if (mode_env[mode])
		setenv("SHMKIT_WAKE_BARRIER", mode_env[mode], 1);
	else
		unsetenv("SHMKIT_WAKE_BARRIER");
}

static struct shmkit_queue *q_out, *q_back;
static int use_fd;
static int ep = -1;

static int make_pair(void)
{
	struct shmkit_queue_opts o = {.capacity = 64, .max_msg = 8};
	int r = shmkit_queue_create(&q_out, "anon:", &o);
	if (r < 0)
		return r;
	r = shmkit_queue_create(&q_back, "anon:", &o);
	if (r < 0)
		shmkit_queue_close(q_out);
	return r;
}

static void close_pair(void)
{
	shmkit_queue_close(q_out);
	shmkit_queue_close(q_back);
}

/* The parent's arming times (TSC ticks of the first receive of each wait
 * that found nothing, which arms the descriptor), or NULL: not recorded. */
static uint64_t *arm_ticks;
static size_t arm_n, arm_cap;

/* Receive one u32 from q: blocking, or through its descriptor in epoll. */
static uint32_t get(struct shmkit_queue *q)
{
	uint32_t v = 0;
	int armed = 0;
	if (!use_fd) {
		shmkit_queue_recv(q, &v, sizeof(v), SHMKIT_FOREVER);
		return v;
	}
	for (;;) {
		uint64_t t0 = bench_tsc();
		ssize_t n = shmkit_queue_recv(q, &v, sizeof(v), 0);
		if (n == sizeof(v))
			return v;
		if (!armed && arm_ticks && arm_n < arm_cap)
			arm_ticks[arm_n++] = bench_tsc() - t0;
		armed = 1;
		struct epoll_event ev;
		epoll_wait(ep, &ev, 1, -1);
	}
}

/* Each side's epoll set holds the descriptor of the queue it receives on. */
static int watch(struct shmkit_queue *q)
{
	int fd = shmkit_queue_fd(q);
	struct epoll_event ev = {.events = EPOLLIN};
	if (fd < 0)
		return fd;
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	return 0;
}

static int peer(void *shm, void *arg)
{
	size_t total = *(const size_t *)arg;
	(void)shm;
	arm_ticks = NULL; /* the parent records; this is its copy */
	if (use_fd && watch(q_out) < 0)
		return 1;
	for (uint32_t i = 0; i < total; i++) {
		if (get(q_out) != i)
			return 1;
		shmkit_queue_send(q_back, &i, sizeof(i), SHMKIT_FOREVER);
	}
	return 0;
}

static void trip(void *shm, uint32_t i, void *arg)
{
	(void)shm;
	(void)arg;
	shmkit_queue_send(q_out, &i, sizeof(i), SHMKIT_FOREVER);
	get(q_back);
}

/* What arming cost the parent in the descriptor ping-pong: the receive
 * that found nothing (drain one token, CAS, FD bit; MEMBARRIER mode adds
 * the sleeper's membarrier, whose IPI reaches the peer's CPU while it
 * replies). The warm-up's arms are left out. */
static void report_arm(struct bench_ctx *ctx, int mode)
{
	double tick = bench_tsc_ns_per_tick();
	size_t skip = arm_n > BENCH_WARMUP ? BENCH_WARMUP : 0, m = arm_n - skip;
	double *ns = m ? malloc(sizeof(double) * m) : NULL;
	struct bench_row row = {0};

	if (!ns)
		return;
	for (size_t i = 0; i < m; i++)
		ns[i] = (double)arm_ticks[skip + i] * tick;
	row.lat = bench_percentiles(ns, m);
	free(ns);
	snprintf(row.name, sizeof(row.name), "queue fd arm in the ping-pong");
	row.size = 8;
	snprintf(row.note, sizeof(row.note), "receive finding nothing, barrier %s",
		 mode_name[mode]);
	bench_report(ctx, &row);
}

static double queue_oneway(struct bench_ctx *ctx, int mode, int fd, const char *name)
{
	size_t n = bench_iters(ctx, 20000), total = n + BENCH_WARMUP;
	struct bench_stats st;
	struct bench_row row = {0};

	set_mode(mode);
	int r = make_pair();
	unsetenv("SHMKIT_WAKE_BARRIER");
	if (r < 0)
		return 0;
	/* sleep at once: every message is a wake-up */
	shmkit_queue_set_spin(q_out, 0);
	shmkit_queue_set_spin(q_back, 0);
	use_fd = fd;
	if (fd && watch(q_back) < 0) {
		close_pair();
		return 0;
	}
	arm_cap = fd ? total : 0;
	arm_n = 0;
	arm_ticks = fd ? malloc(sizeof(*arm_ticks) * total) : NULL;
	r = bench_pingpong(ctx, 64, NULL, peer, &total, trip, NULL, n, &st);
	if (ep >= 0)
		close(ep);
	ep = -1;
	close_pair();
	if (r == 0) {
		snprintf(row.name, sizeof(row.name), "%s", name);
		row.size = 8;
		row.lat = st;
		snprintf(row.note, sizeof(row.note), "one-way, barrier %s, cpus %d,%d",
			 mode_name[mode], ctx->cpu[0], ctx->cpu[1]);
		bench_report(ctx, &row);
		if (fd)
			report_arm(ctx, mode);
	}
	free(arm_ticks);
	arm_ticks = NULL;
	return r < 0 ? 0 : st.median_ns;
}

/* ---- pipe ping-pong, blocking read or epoll_wait then read ---- */

static int pipes[2][2];
static int pipe_ep = -1; /* this process's epoll set, or -1: blocking read */

/* Read one u32 from fd, first waiting in epoll_wait when pipe_ep is set
 * (the shape of get() on a queue descriptor: the wait, then the read). */
static int pipe_get(int fd, uint32_t *v)
{
	struct epoll_event ev;
	if (pipe_ep >= 0 && epoll_wait(pipe_ep, &ev, 1, -1) != 1)
		return -1;
	return read(fd, v, sizeof(*v)) == sizeof(*v) ? 0 : -1;
}

static int pipe_watch(int fd)
{
	struct epoll_event ev = {.events = EPOLLIN};
	pipe_ep = epoll_create1(EPOLL_CLOEXEC);
	return pipe_ep < 0 || epoll_ctl(pipe_ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? -1 : 0;
}

static int pipe_peer(void *shm, void *arg)
{
	size_t total = *(const size_t *)arg;
	uint32_t v;
	(void)shm;
	if (pipe_ep >= 0 && pipe_watch(pipes[0][0]) < 0) /* its own set, not the parent's */
		return 1;
	for (size_t i = 0; i < total; i++)
		if (pipe_get(pipes[0][0], &v) < 0 || write(pipes[1][1], &v, sizeof(v)) != sizeof(v))
			return 1;
	return 0;
}

static void pipe_trip(void *shm, uint32_t i, void *arg)
{
	(void)shm;
	(void)arg;
	if (write(pipes[0][1], &i, sizeof(i)) != sizeof(i) || pipe_get(pipes[1][0], &i) < 0)
		abort();
}

/* Reports a floor's 8-byte one-way latency row; its median, for the goals. */
static double report_floor_row(struct bench_ctx *ctx, const char *name, const char *note,
			       const struct bench_stats *st)
{
	struct bench_row row = {0};

	snprintf(row.name, sizeof(row.name), "%s", name);
	row.size = 8;
	row.lat = *st;
	snprintf(row.note, sizeof(row.note), "%s", note);
	bench_report(ctx, &row);
	return st->median_ns;
}

/* One-way latency of a pipe ping-pong; with epoll, each side waits in
 * epoll_wait on the pipe it reads, then reads: how much of the descriptor
 * row's gap to the blocking pipe is epoll itself. */
static double pipe_oneway(struct bench_ctx *ctx, int epoll)
{
	size_t n = bench_iters(ctx, 20000), total = n + BENCH_WARMUP;
	struct bench_stats st;
	int r = -1;

	if (pipe(pipes[0]) < 0)
		return 0;
	if (pipe(pipes[1]) < 0) {
		close(pipes[0][0]);
		close(pipes[0][1]);
		return 0;
	}
	if (!epoll || pipe_watch(pipes[1][0]) == 0)
		r = bench_pingpong(ctx, 64, NULL, pipe_peer, &total, pipe_trip, NULL, n, &st);
	if (pipe_ep >= 0)
		close(pipe_ep);
	pipe_ep = -1;
	for (int i = 0; i < 2; i++) {
		close(pipes[i][0]);
		close(pipes[i][1]);
	}
	if (r < 0)
		return 0;
	if (epoll)
		return report_floor_row(ctx, "pipe ping-pong latency (epoll)",
					"one-way, epoll_wait then read", &st);
	return report_floor_row(ctx, "pipe ping-pong latency", "one-way, blocking read", &st);
}

/* ---- eventfd ping-pong in epoll: the floor of a descriptor wake-up ---- */

static int efds[2];  /* [0] parent -> peer, [1] peer -> parent */
static int efd_ep = -1; /* this process's epoll set */

static int efd_watch(int fd)
{
	struct epoll_event ev = {.events = EPOLLIN};
	efd_ep = epoll_create1(EPOLL_CLOEXEC);
	return efd_ep < 0 || epoll_ctl(efd_ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? -1 : 0;
}

/* Waits in epoll_wait, then takes the count (resets it to 0). */
static int efd_get(int fd)
{
	struct epoll_event ev;
	uint64_t v;
	if (epoll_wait(efd_ep, &ev, 1, -1) != 1)
		return -1;
	return read(fd, &v, sizeof(v)) == sizeof(v) ? 0 : -1;
}

static int efd_put(int fd)
{
	uint64_t one = 1;
	return write(fd, &one, sizeof(one)) == sizeof(one) ? 0 : -1;
}

static int efd_peer(void *shm, void *arg)
{
	size_t total = *(const size_t *)arg;
	(void)shm;
	if (efd_watch(efds[0]) < 0) /* its own set, not the parent's */
		return 1;
	for (size_t i = 0; i < total; i++)
		if (efd_get(efds[0]) < 0 || efd_put(efds[1]) < 0)
			return 1;
	return 0;
}

static void efd_trip(void *shm, uint32_t i, void *arg)
{
	(void)shm;
	(void)i;
	(void)arg;
	if (efd_put(efds[0]) < 0 || efd_get(efds[1]) < 0)
		abort();
}

/* One-way latency of two processes signalling raw eventfds, each waiting
 * in epoll_wait then reading: no shmkit code. The least any descriptor
 * wake-up with the receiver in epoll can cost (an eventfd write is the
 * cheapest signal the kernel has; shmkit's listeners are datagram sockets,
 * which unrelated processes can reach by name). */
static double eventfd_oneway(struct bench_ctx *ctx)
{
	size_t n = bench_iters(ctx, 20000), total = n + BENCH_WARMUP;
	struct bench_stats st;
	int r = -1;

	efds[0] = eventfd(0, EFD_CLOEXEC);
	efds[1] = eventfd(0, EFD_CLOEXEC);
	if (efds[0] >= 0 && efds[1] >= 0 && efd_watch(efds[1]) == 0)
		r = bench_pingpong(ctx, 64, NULL, efd_peer, &total, efd_trip, NULL, n, &st);
	if (efd_ep >= 0)
		close(efd_ep);
	efd_ep = -1;
	for (int i = 0; i < 2; i++)
		if (efds[i] >= 0)
			close(efds[i]);
	if (r < 0)
		return 0;
	return report_floor_row(ctx, "eventfd ping-pong latency (epoll)",
				"one-way, epoll_wait then read; no shmkit code", &st);
}

/* ---- the floors of shmkit's own shape: a token drained after the reply ----
 *
 * shmkit's descriptor receiver does not read its token when it wakes: it
 * takes the message from the ring, replies, and drains the token only when
 * its next receive finds nothing (arming), so the drain is off the round
 * trip's path; the rows above read before replying. These two do as shmkit
 * does: wait in epoll_wait, reply, then read one token. Over an eventfd
 * (EFD_SEMAPHORE: a read takes one token): the least any descriptor wake-up
 * of that shape costs. Over Unix datagram sockets bound to abstract names,
 * the sender an unbound socket sending by name (shmkit's listener and
 * waker, without the shared-memory protocol): the socket's own floor, so
 * that fd wake-up / this is what shmkit's protocol adds. */

static int late_kind;		/* 0: eventfd, 1: unix datagram */
static int late_rd[2], late_wr[2]; /* [0] parent -> peer, [1] peer -> parent */
static struct sockaddr_un late_addr[2];
static socklen_t late_len[2];
static int late_ep = -1;

static int late_put(int k)
{
	if (late_kind == 0) {
		uint64_t one = 1;
		return write(late_wr[k], &one, sizeof(one)) == sizeof(one) ? 0 : -1;
	}
	char t = 1;
	return sendto(late_wr[k], &t, 1, MSG_DONTWAIT | MSG_NOSIGNAL,
		      (const struct sockaddr *)&late_addr[k], late_len[k]) == 1 ? 0 : -1;
}

static void late_drain(int k)
{
	uint64_t v;
	if (late_kind == 0)
		(void)!read(late_rd[k], &v, sizeof(v));
	else
		(void)recv(late_rd[k], &v, 1, MSG_DONTWAIT);
}

static int late_wait(void)
{
	struct epoll_event ev;
	return epoll_wait(late_ep, &ev, 1, -1) == 1 ? 0 : -1;
}

static int late_watch(int fd)
{
	struct epoll_event ev = {.events = EPOLLIN};
	late_ep = epoll_create1(EPOLL_CLOEXEC);
	return late_ep < 0 || epoll_ctl(late_ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? -1 : 0;
}

/* The sending side of each process: an unbound socket of its own (a
 * waker's), or the eventfd itself. */
static int late_senders(void)
{
	for (int k = 0; k < 2; k++) {
		if (late_kind == 0) {
			late_wr[k] = late_rd[k];
			continue;
		}
		if (k == 0)
			late_wr[0] = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		else
			late_wr[1] = late_wr[0];
		if (late_wr[k] < 0)
			return -1;
	}
	return 0;
}

static int late_peer(void *shm, void *arg)
{
	size_t total = *(const size_t *)arg;
	(void)shm;
	if (late_senders() < 0 || late_watch(late_rd[0]) < 0)
		return 1;
	for (size_t i = 0; i < total; i++) {
		if (late_wait() < 0 || late_put(1) < 0)
			return 1;
		late_drain(0);
	}
	return 0;
}

static void late_trip(void *shm, uint32_t i, void *arg)
{
	(void)shm;
	(void)arg;
	if (late_put(0) < 0)
		abort();
	if (i > 0)
		late_drain(1); /* the previous reply's token */
	if (late_wait() < 0)
		abort();
}

/* Direction k's eventfd (a semaphore: one read takes one token). */
static int late_eventfd(int k)
{
	late_rd[k] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE);
	return late_rd[k] < 0 ? -1 : 0;
}

/* Direction k's datagram socket, bound to an abstract name of this run. */
static int late_socket(int k)
{
	struct sockaddr_un *a = &late_addr[k];

	late_rd[k] = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	int len = snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1, "shmkit-bench-wake/%d/%d",
			   (int)getpid(), k);
	late_len[k] = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
	if (late_rd[k] < 0 || bind(late_rd[k], (const struct sockaddr *)a, late_len[k]) < 0)
		return -1;
	return 0;
}

static double late_oneway(struct bench_ctx *ctx, int kind)
{
	size_t n = bench_iters(ctx, 20000), total = n + BENCH_WARMUP;
	struct bench_stats st;
	int r = -1, ok = 1;

	late_kind = kind;
	for (int k = 0; k < 2; k++) {
		late_wr[k] = -1;
		if ((kind == 0 ? late_eventfd(k) : late_socket(k)) < 0)
			ok = 0;
	}
	if (ok && late_senders() == 0 && late_watch(late_rd[1]) == 0)
		r = bench_pingpong(ctx, 64, NULL, late_peer, &total, late_trip, NULL, n, &st);
	if (late_ep >= 0)
		close(late_ep);
	late_ep = -1;
	if (kind == 1 && late_wr[0] >= 0)
		close(late_wr[0]);
	for (int k = 0; k < 2; k++)
		if (late_rd[k] >= 0)
			close(late_rd[k]);
	if (r < 0)
		return 0;
	const char *name =
		kind ? "unix dgram ping-pong (epoll, late)" : "eventfd ping-pong (epoll, late)";
	return report_floor_row(ctx, name, "one-way, epoll_wait, reply, then read; no shmkit code",
				&st);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* ---- the system calls of one descriptor wake-up, in one process ---- */

/* What a wake-up through a descriptor costs in CPU, without the scheduler:
 * a receive with timeout 0 that finds nothing arms the listener (drains
 * its token), a send signals it (sendto), a receive takes the message. The
 * median of 5 batches, ns per cycle. */
static void fd_cycle(struct bench_ctx *ctx)
{
	size_t n = bench_iters(ctx, 20000);
	struct shmkit_queue *q;
	struct shmkit_queue_opts o = {.capacity = 64, .max_msg = 8};
	double runs[5];
	uint32_t v = 0;

	if (shmkit_queue_create(&q, "anon:", &o) < 0)
		return;
	if (shmkit_queue_fd(q) < 0) {
		shmkit_queue_close(q);
		return;
	}
	for (int r = 0; r < 5; r++) {
		int64_t t0 = bench_now_ns();
		for (uint32_t i = 0; i < n; i++) {
			if (shmkit_queue_recv(q, &v, sizeof(v), 0) != -EAGAIN ||
			    shmkit_queue_send(q, &i, sizeof(i), 0) < 0 ||
			    shmkit_queue_recv(q, &v, sizeof(v), 0) != sizeof(v)) {
				shmkit_queue_close(q);
				return;
			}
		}
		runs[r] = (double)(bench_now_ns() - t0) / (double)n;
	}
	shmkit_queue_close(q);
	qsort(runs, 5, sizeof(double), cmp_double);
	struct bench_row row = {0};
	snprintf(row.name, sizeof(row.name), "queue fd arm+signal+recv, one process");
	row.size = 4;
	row.lat.median_ns = row.lat.mean_ns = runs[2];
	row.lat.n = 5;
	snprintf(row.note, sizeof(row.note), "CPU per wake-up: drain + sendto, median of 5");
	bench_report(ctx, &row);
}

/* ---- topic vs queue streaming, 64 B ---- */

static size_t stream_n;
static struct shmkit_sub *t_sub;

static int topic_stream_peer(void *shm, void *arg)
{
	unsigned char buf[64];
	(void)shm;
	(void)arg;
	for (size_t i = 0; i < stream_n; i++)
		if (shmkit_sub_recv(t_sub, buf, sizeof(buf), SHMKIT_FOREVER) < 0)
			return 1;
	return 0;
}

static int queue_stream_peer(void *shm, void *arg)
{
	unsigned char buf[64];
	(void)shm;
	(void)arg;
	for (size_t i = 0; i < stream_n; i++)
		if (shmkit_queue_recv(q_out, buf, sizeof(buf), SHMKIT_FOREVER) < 0)
			return 1;
	return 0;
}

/* One streaming run (2 M messages one way) of the queue or the topic;
 * messages per second, 0 on failure. Both live in a posix: segment made in
 * this run's barrier mode; the receiver is the peer process. */
static double stream_once(struct bench_ctx *ctx, int mode, int topic)
{
	struct bench_peer pr;
	struct shmkit_pub *pub = NULL;
	unsigned char buf[64] = {0};
	char uri[96];
	double rate = 0;
	int r;

	stream_n = bench_iters(ctx, 2000000);
	snprintf(uri, sizeof(uri), "posix:/shmkit-bench-wake-%d", (int)getpid());
	set_mode(mode);
	if (topic) {
		struct shmkit_topic_opts o = {.slot_size = 64, .slots = 1024, .reliable = 1};
		r = shmkit_pub_create(&pub, uri, &o);
		if (r == 0 && (r = shmkit_sub_open(&t_sub, uri)) < 0)
			shmkit_pub_close(pub);
	} else {
		struct shmkit_queue_opts o = {.capacity = 1024, .max_msg = 64};
		r = shmkit_queue_create(&q_out, uri, &o);
	}
	unsetenv("SHMKIT_WAKE_BARRIER");
	if (r < 0) {
		shmkit_remove(uri);
		return 0;
	}
	r = bench_peer_start(ctx, &pr, 64, NULL, topic ? topic_stream_peer : queue_stream_peer,
			     NULL);
	if (r == 0) {
		int64_t t0 = bench_now_ns();
		for (size_t i = 0; i < stream_n; i++) {
			memcpy(buf, &i, sizeof(i));
			if (topic)
				shmkit_pub_send(pub, buf, sizeof(buf), SHMKIT_FOREVER);
			else
				shmkit_queue_send(q_out, buf, sizeof(buf), SHMKIT_FOREVER);
		}
		int rc = bench_peer_finish(&pr);
		int64_t dt = bench_now_ns() - t0;
		if (rc == 0 && dt > 0)
			rate = (double)stream_n * 1e9 / (double)dt;
	}
	if (topic) {
		shmkit_sub_close(t_sub);
		shmkit_pub_close(pub);
	} else {
		shmkit_queue_close(q_out);
	}
	shmkit_remove(uri);
	return rate;
}

/* Streaming throughput varies from run to run on a VM far more than
 * between the two (who catches up with whom, where the peer lands): the
 * queue and the topic take turns, STREAM_ROUNDS runs each, and each row is
 * the median of its runs. tq/tt get the two medians. */
#define STREAM_ROUNDS 5
static void stream(struct bench_ctx *ctx, int mode, double *tq, double *tt)
{
	double runs[2][STREAM_ROUNDS];

	for (int r = 0; r < STREAM_ROUNDS; r++)
		for (int k = 0; k < 2; k++) /* alternate which goes first */
			runs[(r + k) % 2][r] = stream_once(ctx, mode, (r + k) % 2);
	for (int topic = 0; topic < 2; topic++) {
		qsort(runs[topic], STREAM_ROUNDS, sizeof(double), cmp_double);
		double rate = runs[topic][STREAM_ROUNDS / 2];
		struct bench_row row = {0};
		snprintf(row.name, sizeof(row.name), "%s 64 B throughput",
			 topic ? "topic 1 sub (reliable)" : "SPSC queue");
		row.size = 64;
		row.msgs_per_s = rate;
		row.mb_per_s = rate * 64 / 1e6;
		snprintf(row.note, sizeof(row.note), "barrier %s, median of %d (%.3g-%.3g)",
			 mode_name[mode], STREAM_ROUNDS, runs[topic][0],
			 runs[topic][STREAM_ROUNDS - 1]);
		bench_report(ctx, &row);
		*(topic ? tt : tq) = rate;
	}
}

static void goal(struct bench_ctx *ctx, const char *name, double num, double den, const char *vs,
		 double g, int max, const char *note)
{
	struct bench_row row = {0};
	snprintf(row.name, sizeof(row.name), "%s", name);
	row.ratio = num > 0 && den > 0 ? num / den : 0;
	snprintf(row.ratio_to, sizeof(row.ratio_to), "%s", vs);
	row.goal = g;
	row.goal_max = max;
	snprintf(row.note, sizeof(row.note), "%s", note);
	bench_report(ctx, &row);
}

static int run_wake(struct bench_ctx *ctx)
{
	const struct bench_stats *fx = bench_floor(ctx, BENCH_FLOOR_FUTEX);
	double futex = fx ? fx->median_ns : 0;
	double block[MODES], fdw[MODES], tq[2], tt[2];
	double pipe_ns[MODES], pipe_ep_ns[MODES], efd_ns[MODES], efd_late[MODES], dgram_late[MODES];

	if (fx) {
		struct bench_row row = {0};
		snprintf(row.name, sizeof(row.name), "futex ping-pong latency (floor)");
		row.lat = *fx;
		bench_report(ctx, &row);
	}
	for (int m = 0; m < MODES; m++) {
		block[m] = queue_oneway(ctx, m, 0, "SPSC blocking latency");
		/* the pipes next to each descriptor row: the goal pairs them */
		pipe_ns[m] = pipe_oneway(ctx, 0);
		fdw[m] = queue_oneway(ctx, m, 1, "queue fd wake-up latency (epoll)");
		pipe_ep_ns[m] = pipe_oneway(ctx, 1);
		efd_ns[m] = eventfd_oneway(ctx);
		efd_late[m] = late_oneway(ctx, 0);
		dgram_late[m] = late_oneway(ctx, 1);
	}
	fd_cycle(ctx);
	for (int m = 0; m < 2; m++)
		stream(ctx, m, &tq[m], &tt[m]);
	for (int m = 0; m < MODES; m++) {
		char note[96];
		snprintf(note, sizeof(note), "barrier %s", mode_name[m]);
		goal(ctx, "goal: SPSC blocking / futex", block[m], futex, "futex ping-pong", 1.3, 1,
		     note);
		goal(ctx, "goal: fd wake-up / futex", fdw[m], futex, "futex ping-pong", 1.5, 1,
		     note);
		goal(ctx, "goal: fd wake-up / pipe", fdw[m], pipe_ns[m], "pipe ping-pong", 1.0, 1,
		     note);
		/* not a goal: how much of the fd / pipe gap is epoll itself */
		snprintf(note, sizeof(note), "barrier %s; not a goal: pipe with epoll", mode_name[m]);
		goal(ctx, "fd wake-up / pipe in epoll", fdw[m], pipe_ep_ns[m],
		     "pipe ping-pong (epoll)", 0, 1, note);
		if (m < 2) {
			snprintf(note, sizeof(note), "barrier %s", mode_name[m]);
			goal(ctx, "goal: topic 64 B tput / SPSC", tt[m], tq[m], "SPSC queue 64 B",
			     0.9, 0, note);
		}
		/* not a goal: how near 1.0x the pipe any descriptor wake-up can
		 * come here (no shmkit code), and how far shmkit's is from it */
		goal(ctx, "eventfd in epoll / pipe (floor)", efd_ns[m], pipe_ns[m],
		     "pipe ping-pong", 0, 1, "not a goal: the floor of fd / pipe, same run");
		snprintf(note, sizeof(note), "barrier %s; not a goal", mode_name[m]);
		goal(ctx, "fd wake-up / eventfd in epoll", fdw[m], efd_ns[m],
		     "eventfd ping-pong (epoll)", 0, 1, note);
		/* not goals: the floors of shmkit's shape (token drained after
		 * the reply): any descriptor's, the socket's, and what shmkit's
		 * protocol adds to its socket */
		goal(ctx, "eventfd late / pipe (fd floor)", efd_late[m], pipe_ns[m],
		     "pipe ping-pong", 0, 1, "not a goal: any descriptor, drained after reply");
		goal(ctx, "unix dgram late / pipe", dgram_late[m], pipe_ns[m], "pipe ping-pong", 0,
		     1, "not a goal: the socket alone, drained after reply");
		goal(ctx, "fd wake-up / unix dgram late", fdw[m], dgram_late[m],
		     "unix dgram ping-pong (late)", 0, 1, note);
	}
	return 0;
}

BENCH_SUITE(wake, 35,
	    "wake-up core: blocking and descriptor (epoll) wake-up latency vs futex, pipe and "
	    "eventfd, arming cost, topic vs queue 64 B throughput, per barrier mode",
	    run_wake)
