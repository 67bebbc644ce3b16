/* SPDX-License-Identifier: MIT */
/* shmkit send / recv / queue: message queues from the shell.
 *
 *   shmkit queue create URI --capacity N --max-msg B [--multi] [--mode M]
 *   shmkit queue stat URI [--json]
 *   shmkit send URI [MSG...|-] [--null] [--raw] [--timeout S]
 *   shmkit recv URI [--count N] [--timeout S] [--null|--raw]
 *
 * send: one message per argument; with '-' one per line of stdin (the newline
 * is not part of the message), NUL-separated with --null, or the whole of
 * stdin as one message with --raw. recv: prints each message followed by a
 * newline (a NUL with --null, nothing with --raw). --count defaults to 1;
 * --count 0 receives until the timeout. --timeout bounds the whole command
 * (default: for ever); expiring before --count messages exits 1. send
 * stopped by a stop signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT...) says how
 * many messages went, then dies of the signal, as recv does. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cli.h"
#include "cli_stream.h"
#include "queue_internal.h"

/* Messages per shmkit_queue_send_many call (DESIGN §9 "Batches") ... */
#define BATCH 32
/* ... and per writev(2) of recv (a message and its separator: 512 of IOV_MAX 1024). */
#define RECV_BATCH 256

struct queue_opts {
	uint64_t capacity, max_msg, count;
	int has_capacity, has_max_msg, has_count;
	int multi, json, null_sep, raw;
	int64_t timeout_ns;
	unsigned mode;
};

/* The queue commands' options; each command lists those it takes. */
#define OPT_CAPACITY(o) { "capacity", 0, CLI_U64, &(o)->capacity, &(o)->has_capacity }
#define OPT_MAX_MSG(o) { "max-msg", 0, CLI_SIZE, &(o)->max_msg, &(o)->has_max_msg }
#define OPT_MULTI(o) { "multi", 0, CLI_FLAG, &(o)->multi, NULL }
#define OPT_MODE(o) { "mode", 0, CLI_MODE, &(o)->mode, NULL }
#define OPT_JSON(o) { "json", 0, CLI_FLAG, &(o)->json, NULL }
#define OPT_NULL(o) { "null", 0, CLI_FLAG, &(o)->null_sep, NULL }
#define OPT_RAW(o) { "raw", 0, CLI_FLAG, &(o)->raw, NULL }
#define OPT_TIMEOUT(o) { "timeout", 0, CLI_DURATION, &(o)->timeout_ns, NULL }
#define OPT_COUNT(o) { "count", 0, CLI_U64, &(o)->count, &(o)->has_count }

/* Defaults, then cli_parse(); returns the operand count (argv[1..n]) or -1. */
static int parse(const char *cmd, int argc, char **argv, const struct cli_opt *opts,
		 struct queue_opts *o)
{
	int n = cli_parse(cmd, argc, argv, opts);

	if (n >= 0 && o->null_sep && o->raw) {
		cli_usage_error(cmd, "--null and --raw exclude each other");
		return -1;
	}
	return n;
}

static void defaults(struct queue_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout_ns = SHMKIT_FOREVER;
	o->count = 1;
	o->mode = 0600;
}

static int look_queue(const char *uri)
{
	struct shmkit_queue_stats st;
	return shmkit_queue_stat(uri, &st);
}

/* Opens the queue within the command's deadline (cli_await_creator). */
static int open_queue(const char *what, const char *uri, const struct queue_opts *o,
		      int64_t deadline, struct shmkit_queue **q)
{
	int r = cli_await_creator(look_queue, uri, o->timeout_ns, deadline);
	if (r < 0)
		return cli_fail_waited(what, uri, r);
	r = shmkit_queue_open(q, uri);
	return r < 0 ? cli_fail_kind(what, uri, r, "queue") : CLI_OK;
}

/* ---- send ---- */

/* Why the message after the `sent` that went (len bytes) did not: one line
 * saying how far the command got, or nothing for a signal (the command says it). */
static int send_failed(struct shmkit_queue *q, const char *uri, size_t len, int err,
		       uint64_t sent)
{
	struct shmkit_queue_stats st;

	if (err == -EINTR)
		return CLI_FAIL;
	if (err == -ETIMEDOUT && shmkit__queue_peer_full(q))
		return cli_fail_msg("send", uri, "timed out waiting to join the queue: %s (%" PRIu64
				    " %s sent, this one and any after it were not)",
				    cli_why(err), sent, cli_plural(sent, "message", "messages"));
	if (err == -ETIMEDOUT)
		return cli_fail_msg("send", uri, "timed out with the queue full: %" PRIu64
				    " %s sent, this one and any after it were not", sent,
				    cli_plural(sent, "message", "messages"));
	if (err == -EMSGSIZE && shmkit_queue_stats(q, &st) == 0)
		return cli_fail_msg("send", uri,
				    "a message of %zu bytes is over the queue's max-msg of "
				    "%" PRIu64 " %s (%" PRIu64 " %s sent before that)",
				    len, st.max_msg, cli_plural(st.max_msg, "byte", "bytes"), sent,
				    cli_plural(sent, "message was", "messages were"));
	return cli_fail_msg("send", uri, "%s (%" PRIu64 " %s sent before that)", cli_why(err),
			    sent, cli_plural(sent, "message was", "messages were"));
}

/* One message; *sent counts those delivered, so a failure can say how far it got. */
static int send_one(struct shmkit_queue *q, const char *uri, const void *msg, size_t len,
		    int64_t deadline, uint64_t *sent)
{
	int r;

	while ((r = shmkit_queue_send(q, msg, len, cli_room_slice(deadline))) == -ETIMEDOUT ||
	       r == -EAGAIN)
		if ((r = cli_room_wait_over(deadline)) < 0)
			break;
	if (r < 0)
		return send_failed(q, uri, len, r, *sent);
	(*sent)++;
	return CLI_OK;
}

/* A batch of messages: all of them, in order, through send_many (which
 * takes fewer than offered when the queue fills); *sent counts those
 * delivered, and a failure says how far it got, as send_one. */
static int send_batch(struct shmkit_queue *q, const char *uri, struct iovec *m, size_t n,
		      int64_t deadline, uint64_t *sent)
{
	while (n > 0) {
		ssize_t r = shmkit_queue_send_many(q, m, n, cli_room_slice(deadline));
		if ((r == -ETIMEDOUT || r == -EAGAIN) && (r = cli_room_wait_over(deadline)) == 0)
			continue;
		if (r < 0) /* about the first message: say why, as one send would */
			return send_failed(q, uri, m[0].iov_len, (int)r, *sent);
		*sent += (uint64_t)r;
		m += r;
		n -= (size_t)r;
	}
	return CLI_OK;
}

/* Standard input failed: say so, but not for a signal (the command says it). */
static int read_failed(const char *uri, int err)
{
	if (err == -EINTR)
		return CLI_FAIL;
	return err == -ENOMEM ? cli_fail("send", uri, err) : cli_fail_stdin("send", uri, err);
}

/* A message still being read is already longer than the queue takes: say
 * so now, rather than read the rest of it (all of a huge file) first (up
 * to cli_read_limit(), so the error gives its size). */
static int too_long(const char *uri, size_t len, uint64_t max_msg, uint64_t sent)
{
	return cli_fail_msg("send", uri,
			    "a message of at least %zu bytes is over the queue's max-msg of "
			    "%" PRIu64 " %s (%" PRIu64 " %s sent before that)",
			    len, max_msg, cli_plural(max_msg, "byte", "bytes"), sent,
			    cli_plural(sent, "message was", "messages were"));
}

static int send_split(struct shmkit_queue *q, const char *uri, int sep, uint64_t max_msg,
		      int64_t deadline, uint64_t *sent)
{
	struct cli_splitter sp;
	struct iovec m[BATCH];
	int ret = CLI_OK;

	if (cli_splitter_init(&sp, sep) < 0)
		return cli_fail("send", uri, -ENOMEM);
	while (ret == CLI_OK) {
		size_t n = cli_split_batch(&sp, m, BATCH);
		if (n > 0) {
			ret = send_batch(q, uri, m, n, deadline, sent);
			continue;
		}
		if (sp.eof)
			break;
		if (sp.end - sp.start > cli_read_limit(max_msg)) {
			ret = too_long(uri, sp.end - sp.start, max_msg, *sent);
			break;
		}
		int r = cli_split_fill(&sp);
		if (r < 0)
			ret = read_failed(uri, r);
	}
	cli_splitter_free(&sp);
	return ret;
}

/* --raw: all of standard input as one message, read as lines are (a
 * partial or empty message is not what was asked: a failed read sends none). */
static int send_all(struct shmkit_queue *q, const char *uri, uint64_t max_msg, int64_t deadline,
		    uint64_t *sent)
{
	struct cli_splitter sp;
	int r = 0, ret;

	if (cli_splitter_init(&sp, 0) < 0)
		return cli_fail("send", uri, -ENOMEM);
	while (!sp.eof && sp.end <= cli_read_limit(max_msg) && (r = cli_split_fill(&sp)) == 0)
		;
	if (r == 0 && !sp.eof)
		ret = too_long(uri, sp.end, max_msg, *sent);
	else
		ret = r < 0 ? read_failed(uri, r) : send_one(q, uri, sp.buf, sp.end, deadline, sent);
	cli_splitter_free(&sp);
	return ret;
}

/* Messages from stdin: one per line (or per NUL), or all of it as one. */
static int send_stdin(struct shmkit_queue *q, const char *uri, const struct queue_opts *o,
		      int64_t deadline, uint64_t *sent)
{
	struct shmkit_queue_stats st;
	/* unknown (a failed stats): no early refusal; the send says it */
	uint64_t max_msg = shmkit_queue_stats(q, &st) == 0 ? st.max_msg : UINT64_MAX;

	if (o->raw)
		return send_all(q, uri, max_msg, deadline, sent);
	return send_split(q, uri, o->null_sep ? '\0' : '\n', max_msg, deadline, sent);
}

CLI_COMMAND(cmd_send)
{
	struct queue_opts o;
	struct shmkit_queue *q;
	int ret;

	defaults(&o);
	const struct cli_opt opts[] = { OPT_NULL(&o), OPT_RAW(&o), OPT_TIMEOUT(&o), { 0 } };
	int n = parse(argv[0], argc, argv, opts, &o);
	if (n < 0)
		return CLI_USAGE;
	if (n < 1)
		return cli_usage_error(argv[0], "expects a queue URI");
	if (cli_take_uris(argv[0], argv + 1, 1) != CLI_OK)
		return CLI_USAGE;
	const char *uri = argv[1];
	int from_stdin = n == 1 || (n == 2 && strcmp(argv[2], "-") == 0);
	if (!from_stdin && (o.raw || o.null_sep))
		return cli_usage_error(argv[0], "--%s reads standard input (send URI - --%s); "
				       "messages given as arguments go one each",
				       o.raw ? "raw" : "null", o.raw ? "raw" : "null");
	int64_t deadline = cli_deadline(o.timeout_ns);
	ret = open_queue("send", uri, &o, deadline, &q);
	if (ret != CLI_OK)
		return ret;
	uint64_t sent = 0;
	cli_hold_interrupts();
	if (from_stdin) {
		ret = send_stdin(q, uri, &o, deadline, &sent);
	} else {
		for (int i = 2; i <= n && ret == CLI_OK; i++)
			ret = send_one(q, uri, argv[i], strlen(argv[i]), deadline, &sent);
	}
	shmkit_queue_close(q);
	cli_end_interrupted("send", uri, sent, "sent");
	return ret;
}

/* ---- recv ---- */

/* recv prints a batch before it consumes it (zero-copy peek, write(2), then
 * consume), so a recv killed at any point (kill -9 while its stdout is
 * blocked, a closed pipe) has consumed only what it wrote in full: a message
 * cut mid-write stays in the queue and the next recv prints it again. The
 * messages behind the first are looked at in place (single-producer,
 * single-consumer queues); an MPMC queue goes one message at a time. */
struct recv_batch {
	struct iovec out[2 * RECV_BATCH]; /* each message and its separator */
	size_t n_out, n_msgs;
};

/* Waits (up to the deadline) for a first message, then takes up to want,
 * and no more than PIPE_BUF bytes in all unless the first alone is longer:
 * a write of at most PIPE_BUF bytes to a pipe is all or nothing, so a recv
 * killed while that write blocks has put no whole message in the pipe that
 * it did not consume (a longer batch left some there, printed again by the
 * next recv); only a message longer than PIPE_BUF can be cut. */
static ssize_t peek_batch(struct shmkit_queue *q, size_t want, int64_t deadline,
			  const char *sep, struct recv_batch *b)
{
	const void *msg;
	size_t bytes = 0;
	ssize_t len = shmkit_queue_peek(q, &msg, 0);
	if (len == -EAGAIN)
		len = shmkit_queue_peek(q, &msg, cli_left(deadline));
	b->n_out = b->n_msgs = 0;
	while (len >= 0) {
		size_t more = (size_t)len + (sep ? 1 : 0);
		if (b->n_msgs > 0 && bytes + more > PIPE_BUF)
			break; /* the next batch starts with it */
		bytes += more;
		b->out[b->n_out++] = (struct iovec){ (void *)msg, (size_t)len };
		if (sep)
			b->out[b->n_out++] = (struct iovec){ (void *)sep, 1 };
		if (++b->n_msgs == want)
			break;
		len = shmkit_queue_peek_at(q, b->n_msgs, &msg);
	}
	return b->n_msgs ? (ssize_t)b->n_msgs : len;
}

/* Standard output failed (closed, full disk, a reader gone) with a batch
 * peeked, the messages of it written whole already consumed: the message
 * still peeked, if any, is given back unconsumed (shmkit__queue_unpeek), so
 * closing the queue does not consume it. On an MPMC queue a peek claims the
 * message; left claimed (as this used to, exiting without closing) it showed
 * as taken in queue stat and came back to the next recv only as abandoned,
 * as if a consumer had crashed. */
static int give_back_unwritten(struct shmkit_queue *q, const char *uri, int err)
{
	(void)shmkit__queue_unpeek(q); /* -EINVAL: none outstanding */
	shmkit_queue_close(q);
	return cli_fail_msg("recv", uri,
			    "write error on standard output: %s (the messages not written are "
			    "still in the queue)",
			    strerror(-err));
}

/* A stop signal (cli_stream.h) that came after write(2) returned and
 * before the batch was consumed left the whole batch (up to 256 messages) in the queue, printed already:
 * the next recv printed it again. So a batch that fits one all-or-nothing
 * write holds them back from the write to the consume: recv first waits
 * for room in standard output with them let in (dying there writes and
 * consumes nothing), then writes and consumes with them held, and dies of
 * one that came only after that (SIGKILL cannot be held: a kill -9 in that
 * instant still repeats the batch). A longer message is written with them
 * let in, as before: its write can block for as long as the reader likes,
 * and a cut one is printed again anyway. */

static void hold_stop_sigs(sigset_t *old)
{
	sigset_t held;

	sigemptyset(&held);
	for (int i = 0; i < CLI_N_STOP_SIGS; i++)
		sigaddset(&held, cli_stop_sigs[i]);
	sigprocmask(SIG_BLOCK, &held, old);
	/* wait for room with them let in; any end (an error, a hang-up, a
	 * descriptor that polls badly) is left to the write to report */
	struct pollfd p = { .fd = STDOUT_FILENO, .events = POLLOUT };
	while (ppoll(&p, 1, NULL, old) < 0 && errno == EINTR)
		;
}

static size_t batch_bytes(const struct recv_batch *b)
{
	size_t bytes = 0;
	for (size_t i = 0; i < b->n_out; i++)
		bytes += b->out[i].iov_len;
	return bytes;
}

/* Consumes the peeked message and the n - 1 looked at behind it (peeking
 * each in turn: we are the only consumer, so it is the one already written). */
static int consume_batch(struct shmkit_queue *q, size_t n)
{
	const void *msg;
	int r = shmkit_queue_consume(q);
	for (size_t k = 1; k < n && r == 0; k++) {
		ssize_t len = shmkit_queue_peek(q, &msg, 0);
		r = len < 0 ? (int)len : shmkit_queue_consume(q);
	}
	return r;
}

CLI_COMMAND(cmd_recv)
{
	struct queue_opts o;
	struct shmkit_queue *q;
	int ret;

	defaults(&o);
	const struct cli_opt opts[] = { OPT_COUNT(&o), OPT_TIMEOUT(&o), OPT_NULL(&o), OPT_RAW(&o),
					{ 0 } };
	int nops = parse(argv[0], argc, argv, opts, &o);
	if (nops < 0)
		return CLI_USAGE;
	if (nops != 1)
		return cli_usage_error(argv[0], "expects one queue URI");
	if (cli_take_uris(argv[0], argv + 1, 1) != CLI_OK)
		return CLI_USAGE;
	const char *uri = argv[1];
	const char *sep = o.raw ? NULL : o.null_sep ? "" : "\n";
	int64_t deadline = cli_deadline(o.timeout_ns);
	ret = open_queue("recv", uri, &o, deadline, &q);
	if (ret != CLI_OK)
		return ret;
	fflush(stdout); /* everything below writes to the descriptor itself */
	struct recv_batch b;
	uint64_t got = 0;
	while (o.count == 0 || got < o.count) {
		/* never more than --count asks for: the rest stays in the queue */
		size_t want = o.count == 0 || o.count - got >= RECV_BATCH ? RECV_BATCH
									: (size_t)(o.count - got);
		ssize_t n = peek_batch(q, want, deadline, sep, &b);
		if ((n == -EAGAIN || n == -ETIMEDOUT) && shmkit__queue_peer_full(q)) {
			/* not an empty queue: this handle could not join it */
			ret = cli_fail_msg("recv", uri, "timed out waiting to join the queue after %"
					   PRIu64 " %s: %s", got, cli_plural(got, "message", "messages"),
					   cli_why((int)n));
			break;
		}
		if (n == -EAGAIN || n == -ETIMEDOUT) {
			if (o.count != 0) /* fewer than asked for */
				ret = cli_fail_msg("recv", uri, "timed out after %" PRIu64 " of %" PRIu64
						   " %s", got, o.count,
						   cli_plural(o.count, "message", "messages"));
			break;
		}
		size_t written = 0; /* iovec entries written whole */
		sigset_t old;
		int held = n > 0 && batch_bytes(&b) <= PIPE_BUF;
		if (held)
			hold_stop_sigs(&old);
		int r = n < 0 ? (int)n : cli_write_out(b.out, b.n_out, &written);
		if (r < 0 && n > 0) {
			/* those written whole (a full disk took some) go: printed once */
			size_t whole = sep ? written / 2 : written;
			if (whole > 0)
				(void)consume_batch(q, whole);
			r = give_back_unwritten(q, uri, r);
			if (held) /* one held back now ends it, as it would have */
				sigprocmask(SIG_SETMASK, &old, NULL);
			return r;
		}
		if (r == 0)
			r = consume_batch(q, b.n_msgs);
		if (held)
			sigprocmask(SIG_SETMASK, &old, NULL);
		if (r < 0) {
			ret = cli_fail("recv", uri, r);
			break;
		}
		got += (uint64_t)n;
	}
	shmkit_queue_close(q);
	return ret;
}

/* ---- queue create / stat ---- */

static void print_queue_stats(const struct shmkit_queue_stats *st)
{
	printf("queue:              %s\n",
	       st->multi_producer || st->multi_consumer ? "multi-producer/multi-consumer"
							 : "single-producer/single-consumer");
	printf("capacity:           %" PRIu64 " %s\n", st->capacity,
	       cli_plural(st->capacity, "message", "messages"));
	printf("max message:        %" PRIu64 " %s\n", st->max_msg,
	       cli_plural(st->max_msg, "byte", "bytes"));
	printf("depth:              %" PRIu64 "\n", st->depth);
	printf("sent:               %" PRIu64 "\n", st->sent);
	printf("received:           %" PRIu64 "\n", st->received);
	printf("bytes:              %" PRIu64 " sent, %" PRIu64 " received\n", st->bytes_sent,
	       st->bytes_received);
	printf("skipped:            %" PRIu64 " (producers died before commit)\n", st->skipped);
	printf("abandoned:          %" PRIu64 " (held by consumers that died, handed back)\n",
	       st->abandoned);
	printf("waiters:            %u receiving, %u sending\n", st->recv_waiters,
	       st->send_waiters);
}

static void json_queue_stats(struct cli_json *j, const struct shmkit_queue_stats *st)
{
	cli_json_object(j, "queue");
	cli_json_bool(j, "multi_producer", st->multi_producer);
	cli_json_bool(j, "multi_consumer", st->multi_consumer);
	cli_json_uint(j, "capacity", st->capacity);
	cli_json_uint(j, "max_msg", st->max_msg);
	cli_json_uint(j, "depth", st->depth);
	cli_json_uint(j, "sent", st->sent);
	cli_json_uint(j, "received", st->received);
	cli_json_uint(j, "bytes_sent", st->bytes_sent);
	cli_json_uint(j, "bytes_received", st->bytes_received);
	cli_json_uint(j, "skipped", st->skipped);
	cli_json_uint(j, "abandoned", st->abandoned);
	cli_json_uint(j, "recv_waiters", st->recv_waiters);
	cli_json_uint(j, "send_waiters", st->send_waiters);
	cli_json_end(j);
}

/* A look: read-only, never opened as a user (looking changes nothing). */
static int read_stats(const char *uri, struct shmkit_queue_stats *st)
{
	return shmkit_queue_stat(uri, st);
}

void cli_queue_stat_text(const char *uri)
{
	struct shmkit_queue_stats st;
	int r = read_stats(uri, &st);
	if (r == 0)
		print_queue_stats(&st);
	else
		printf("queue:              not read (%s)\n", cli_why(r));
}

void cli_queue_stat_json(struct cli_json *j, const char *uri)
{
	struct shmkit_queue_stats st;
	if (read_stats(uri, &st) == 0)
		json_queue_stats(j, &st);
	else
		cli_json_null(j, "queue");
}

static int queue_create(int argc, char **argv)
{
	struct queue_opts o;
	struct shmkit_queue *q;
	int ret;

	struct cli_owner w = { 0 };
	defaults(&o);
	const struct cli_opt opts[] = { OPT_CAPACITY(&o), OPT_MAX_MSG(&o), OPT_MULTI(&o),
					OPT_MODE(&o), CLI_OPT_OWNER(&w), { 0 } };
	int n = parse("queue", argc, argv, opts, &o);
	if (n < 0)
		return CLI_USAGE;
	if (cli_owner_mode("queue", &w, &o.mode) != 0)
		return CLI_USAGE;
	if (n != 1)
		return cli_usage_error("queue", "create expects one URI");
	if (cli_take_uris("queue", argv + 1, 1) != CLI_OK)
		return CLI_USAGE;
	if (!o.has_capacity || !o.has_max_msg)
		return cli_usage_error("queue", "create needs --capacity N and --max-msg B");
	if (o.capacity == 0 || o.max_msg == 0)
		return cli_usage_error("queue", "--capacity and --max-msg must be at least 1");
	/* A number no create could take is a usage error, as --capacity 0 is
	 * (past the library's range it was a failure, exit 1). A 32-bit size_t
	 * would cut it before the library sees it: said here, as given. */
	if (o.capacity > SIZE_MAX || o.max_msg > SIZE_MAX)
		return cli_usage_error("queue", "--capacity %" PRIu64 " or --max-msg %" PRIu64
				       " is past the largest a queue takes, %u",
				       o.capacity, o.max_msg, SHMKIT__QUEUE_MAX_CAPACITY);
	struct shmkit_queue_opts qo = { .capacity = o.capacity, .max_msg = o.max_msg,
					.multi_producer = o.multi, .multi_consumer = o.multi,
					.mode = o.mode };
	if ((ret = shmkit__queue_create_check(&qo)) < 0) /* its detail says which bound */
		return cli_usage_error("queue", "%s", cli_why(ret));
	const char *uri = argv[1];
	if ((ret = cli_check_lasting("queue create", uri)) != CLI_OK)
		return ret;
	ret = shmkit_queue_create(&q, uri, &qo);
	if (ret < 0)
		return cli_fail_create("queue create", uri, ret);
	ret = cli_say_made(uri, shmkit_queue_seg(q));
	shmkit_queue_close(q);
	return ret;
}

static int queue_stat(int argc, char **argv)
{
	struct queue_opts o;
	struct shmkit_queue_stats st;
	int ret;

	defaults(&o);
	const struct cli_opt opts[] = { OPT_JSON(&o), { 0 } };
	int n = parse("queue", argc, argv, opts, &o);
	if (n < 0)
		return CLI_USAGE;
	if (n != 1)
		return cli_usage_error("queue", "stat expects one URI");
	if (cli_take_uris("queue", argv + 1, 1) != CLI_OK ||
	    cli_uri_options("queue", argv[1], CLI_URI_LOOK) != CLI_OK)
		return CLI_USAGE;
	const char *uri = argv[1];
	char fd_uri[32];
	int fd;
	const char *look = cli_look_uri("queue stat", uri, fd_uri, sizeof(fd_uri), &fd);
	if (!look)
		return CLI_FAIL;
	ret = read_stats(look, &st);
	if (fd >= 0)
		close(fd);
	if (ret < 0)
		return cli_fail_kind("queue stat", uri, ret, "queue");
	if (o.json) {
		struct cli_json j;
		cli_json_init(&j, stdout);
		cli_json_object(&j, NULL);
		cli_json_str(&j, "uri", uri);
		json_queue_stats(&j, &st);
		cli_json_end(&j);
		int w = cli_json_finish(&j);
		return w < 0 ? cli_fail_write("queue stat", uri, w) : CLI_OK;
	}
	print_queue_stats(&st);
	return CLI_OK;
}

/* shmkit queue create|stat ... (argv[0] is "queue") */
CLI_COMMAND(cmd_queue)
{
	if (argc < 2)
		return cli_usage_error(argv[0], "expects create or stat");
	/* "queue URI create" (and stat), as topic, map and heap take it */
	if (argc >= 3 && (strcmp(argv[2], "create") == 0 || strcmp(argv[2], "stat") == 0) &&
	    strcmp(argv[1], "create") != 0 && strcmp(argv[1], "stat") != 0) {
		char *uri_arg = argv[1];
		argv[1] = argv[2];
		argv[2] = uri_arg;
	}
	if (strcmp(argv[1], "create") == 0)
		return queue_create(argc - 1, argv + 1);
	if (strcmp(argv[1], "stat") == 0)
		return queue_stat(argc - 1, argv + 1);
	return cli_not_an_action(argv[0], argc - 1, argv + 1, "create, stat");
}
