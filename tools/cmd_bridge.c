/* SPDX-License-Identifier: MIT */
/* shmkit bridge: a thin wrapper over libshmkit-bridge (include/shmkit/bridge.h).
 *   bridge out URI ENDPOINT   carry the local queue's or topic's messages to ENDPOINT
 *   bridge in ENDPOINT URI    put the messages arriving from ENDPOINT into URI
 *   bridge keygen             print a CURVE key pair (public, then secret)
 * Runs until SIGINT/SIGTERM (or --timeout), then prints what it carried. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_opt.h"

#ifdef SHMKIT_HAVE_BRIDGE
#include <shmkit/bridge.h>

/* The bridge the signal handler stops; NULL once run() is over, before the
 * bridge is closed: a SIGTERM that came during close or exit wrote into the
 * freed bridge (ASan then hung in its report, in its leak check at exit). */
static struct shmkit_bridge *volatile running;
static volatile sig_atomic_t stopped;
static volatile sig_atomic_t carrying; /* run() has begun: a signal stops the bridge */
static unsigned logged; /* lines the bridge logged */

/* What a peer sent that the bridge refused, ignored or dropped, and why:
 * one line on standard error, as "shmkit: bridge in URI: LINE". */
static void log_line(void *arg, const char *line)
{
	char l[1024];

	logged++;
	fprintf(stderr, "shmkit: bridge %s: %s\n", (const char *)arg, cli_printable(line, l, sizeof l));
}

static void on_signal(int sig)
{
	if (!carrying) { /* still opening: end as the default action does */
		signal(sig, SIG_DFL);
		raise(sig); /* delivered when this handler returns */
		return;
	}
	stopped = 1;
	shmkit_bridge_stop(running);
}

/* From the start, not once the bridge runs: a shell starts a background
 * command with SIGINT ignored, so a SIGINT while the bridge was opening
 * (ZeroMQ, CURVE, the record) was lost and the bridge, once running, ran
 * on for good, though the same SIGINT a moment later stopped it. */
static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* A key file holds the public key on its first line and the secret on its
 * second (what `shmkit bridge keygen` prints). */
static int read_keys(const char *path, char pub[41], char sec[41])
{
	FILE *f = fopen(path, "re");
	char line[128];
	int ok = 1;

	if (!f)
		return -errno;
	for (int i = 0; i < 2 && ok; i++) {
		char *k = i ? sec : pub;
		ok = fgets(line, sizeof line, f) && strcspn(line, "\r\n") == 40;
		if (ok) {
			memcpy(k, line, 40);
			k[40] = '\0';
		}
	}
	fclose(f);
	return ok ? 0 : -EINVAL;
}

/* "1 message, 1 byte, ...": every count that names a noun agrees with it. */
static void report(const char *dir, const char *uri, const struct shmkit_bridge_stats *st)
{
	char u[256];

	fprintf(stderr,
		"shmkit: bridge %s %s: %llu %s, %llu %s, %llu dropped, %llu resent, "
		"%llu %s ignored, %llu %s, %llu %s, %llu %s refused, "
		"%llu rejected, next seq %llu\n",
		dir, cli_name(uri, u, sizeof u),
		(unsigned long long)st->messages, cli_plural(st->messages, "message", "messages"),
		(unsigned long long)st->bytes, cli_plural(st->bytes, "byte", "bytes"),
		(unsigned long long)st->dropped, (unsigned long long)st->resent,
		(unsigned long long)st->duplicates,
		cli_plural(st->duplicates, "duplicate", "duplicates"),
		(unsigned long long)st->resyncs, cli_plural(st->resyncs, "handshake", "handshakes"),
		(unsigned long long)st->gaps, cli_plural(st->gaps, "gap", "gaps"),
		(unsigned long long)st->refused, cli_plural(st->refused, "sender", "senders"),
		(unsigned long long)st->rejected, (unsigned long long)st->next_seq);
}

/* Where a bound bridge listens: the port `tcp://STAR:STAR` chose, the
 * address a host name stood for. */
static void say_bound(const struct shmkit_bridge *b, const char *who)
{
	char ep[1024], l[1024];

	if (shmkit_bridge_endpoint(b, ep, sizeof ep) == 0)
		fprintf(stderr, "shmkit: bridge %s: listening on %s\n", who,
			cli_printable(ep, l, sizeof l));
}

/* keygen takes none of out's and in's options: ignored, --state or
 * --curve-keys FILE would let a user believe the keys went to that file. */
static int keygen(const char *cmd, const struct cli_opt *opts)
{
	char pub[41], sec[41];

	for (const struct cli_opt *o = opts; o->name; o++)
		if (*o->given)
			return cli_usage_error(cmd, "--%s is not an option of keygen (only of out and in)",
					       o->name);
	int r = shmkit_bridge_keypair(pub, sec);

	if (r < 0)
		return cli_fail("bridge keygen", NULL, r);
	printf("%s\n%s\n", pub, sec);
	return CLI_OK;
}

/* The bridge refused uri (-EBADMSG): say what it is when that is why, as
 * send says a map is not a queue, rather than suggest it is corrupt. */
static int not_carried(const char *what, const char *uri)
{
	struct shmkit_stat st;

	if (shmkit_stat(uri, &st) == 0 && st.header_status == 0 && st.managed &&
	    st.kind != SHMKIT_KIND_QUEUE && st.kind != SHMKIT_KIND_TOPIC)
		return cli_fail_msg(what, NULL, "is a %s, not a queue or a topic (a bridge carries "
				    "only those)", cli_kind_name(st.kind));
	if (shmkit_stat(uri, &st) == 0 && st.header_status == 0 && !st.managed)
		return cli_fail_msg(what, NULL, "has no shmkit header (a plain segment), not a queue "
				    "or a topic (a bridge carries only those)");
	return cli_fail(what, NULL, -EBADMSG);
}

/* A CURVE key as keygen prints it: 40 characters of Z85. */
static int is_z85_key(const char *k)
{
	static const char z85[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  ".-:+=^!/*?&<>()[]{}@%$#";
	return strlen(k) == 40 && strspn(k, z85) == 40;
}

/* The port of a tcp:// endpoint ("" if none can be read), for the
 * command that names who holds it. */
static const char *tcp_port(const char *endpoint)
{
	const char *colon = strrchr(endpoint, ':');
	return strncmp(endpoint, "tcp://", 6) == 0 && colon ? colon + 1 : "";
}

/* Is nothing at uri? (-ENOENT from the open may be the ipc:// path's.) */
static int no_object(const char *uri)
{
	struct shmkit_stat st;
	return shmkit_stat(uri, &st) == -ENOENT;
}

/* shmkit_bridge_open failed (r): what failed and what to do, one line. */
static int open_failed(const char *what, const char *uri, const char *endpoint, int r, int curve)
{
	char ep[1024], path[1024];

	cli_name(endpoint, ep, sizeof ep);
	if (r == -EOPNOTSUPP && curve && !shmkit_bridge_has_curve())
		return cli_fail_msg(what, NULL, "--curve-keys: this ZeroMQ has no CURVE (%s)",
				    shmkit_strerror(r));
	if (r == -EOPNOTSUPP)
		return cli_fail_msg(what, NULL, "is a multi-producer, multi-consumer queue (queue "
				    "create --multi): a bridge carries only single-producer, "
				    "single-consumer ones (it is the one consumer of one, the one "
				    "producer of the other)");
	if ((r == -EEXIST || r == -EADDRINUSE) && strncmp(endpoint, "ipc://", 6) == 0) {
		cli_printable(endpoint + 6, path, sizeof path);
		if (r == -EEXIST)
			return cli_fail_msg(what, NULL, "cannot bind %s: %s exists and is not a "
					    "socket (binding would delete it); nothing changed",
					    ep, path);
		return cli_fail_msg(what, NULL, "cannot bind %s: another process listens on %s "
				    "(binding would take it over); nothing changed", ep, path);
	}
	if (r == -EADDRINUSE)
		return cli_fail_msg(what, NULL, "cannot bind %s: %s (another process listens on "
				    "that port; ss -ltnp 'sport = :%s' names it): stop it, or bind "
				    "another port", ep, shmkit_strerror(r), tcp_port(endpoint));
	if (r == -EADDRNOTAVAIL)
		return cli_fail_msg(what, NULL, "cannot bind %s: %s (its host is no address of this "
				    "machine's): bind one of its own (ip -brief address), or * for "
				    "every one; to reach that host, connect (without --bind)",
				    ep, shmkit_strerror(r));
	if (r == -ENODEV) /* zmq_bind: the host is no address of this machine's */
		return cli_fail_msg(what, NULL, "cannot bind %s: its host is no address of this "
				    "machine (it cannot be resolved, or it names another host)", ep);
	if (r == -EPROTONOSUPPORT)
		return cli_fail_msg(what, NULL, "cannot use %s: %s (the queue and topic sockets of a "
				    "bridge do not run over it): use tcp:// or ipc://", ep,
				    shmkit_strerror(r));
	if (r == -EMFILE)
		return cli_fail_msg(what, NULL, "too few file descriptors left for ZeroMQ (ulimit "
				    "-n is %ld): raise the limit", sysconf(_SC_OPEN_MAX));
	if (r == -ENOENT && no_object(uri)) {
		char safe[4 * SHMKIT_URI_MAX + 3];
		cli_shell_name(uri, safe, sizeof safe);
		return cli_fail_msg(what, NULL, "no such queue or topic (make one: shmkit queue create "
				    "%s --capacity N --max-msg BYTES, or shmkit topic create %s)", safe,
				    safe);
	}
	if (logged)
		return CLI_FAIL; /* the bridge said why (a record it cannot use, a host unknown) */
	if (r == -EBADMSG)
		return not_carried(what, uri);
	return cli_fail(what, NULL, r);
}

/* Run until a signal, an error or the timeout; a report every `every` ns. */
static int run(struct shmkit_bridge *b, const char *dir, const char *uri, int64_t timeout,
	       int64_t every)
{
	struct shmkit_bridge_stats st;
	int64_t end = timeout < 0 ? INT64_MAX : cli_now_ns() + timeout;
	int r = 0;

	running = b;
	carrying = 1;
	while (r == 0 && !stopped) {
		int64_t left = end - cli_now_ns();
		if (left <= 0)
			break;
		int64_t slice = every > 0 && every < left ? every : left;
		r = shmkit_bridge_run(b, timeout < 0 && every <= 0
						 ? SHMKIT_FOREVER : slice);
		/* a slice cut short by the timeout ends the run: its report is the last one */
		if (r == 0 && every > 0 && slice == every && !stopped) {
			shmkit_bridge_stats(b, &st);
			report(dir, uri, &st);
		}
	}
	running = NULL; /* the handler runs on this thread: it sees NULL from here */
	shmkit_bridge_stats(b, &st);
	report(dir, uri, &st);
	return r;
}

CLI_COMMAND(cmd_bridge)
{
	int bind = 0, conn = 0;
	const char *state = NULL, *keys = NULL, *server_key = NULL;
	uint64_t window = 0;
	int64_t timeout = SHMKIT_FOREVER, every = 0;
	int given[8] = { 0 }; /* which options came, for keygen */
	const struct cli_opt opts[] = {
		{ "bind", 0, CLI_FLAG, &bind, &given[0] },
		{ "connect", 0, CLI_FLAG, &conn, &given[1] },
		{ "state", 0, CLI_STRING, &state, &given[2] },
		{ "window", 0, CLI_U64, &window, &given[3] },
		{ "curve-keys", 0, CLI_STRING, &keys, &given[4] },
		{ "curve-server-key", 0, CLI_STRING, &server_key, &given[5] },
		{ "timeout", 0, CLI_DURATION, &timeout, &given[6] },
		{ "stats", 0, CLI_PERIOD, &every, &given[7] },
		{ 0 },
	};
	catch_signals();
	int n = cli_parse(argv[0], argc, argv, opts);
	if (n < 0)
		return CLI_USAGE;
	if (n == 1 && strcmp(argv[1], "keygen") == 0)
		return keygen(argv[0], opts);
	if (n != 3 || (strcmp(argv[1], "out") != 0 && strcmp(argv[1], "in") != 0))
		return cli_usage_error(argv[0], "expects out URI ENDPOINT, in ENDPOINT URI, or keygen");
	if (bind && conn)
		return cli_usage_error(argv[0], "--bind and --connect exclude each other");
	if (window > 1u << 20)
		return cli_usage_error(argv[0], "--window is at most 1048576");
	if (server_key && !keys)
		return cli_usage_error(argv[0], "--curve-server-key needs --curve-keys");
	/* a period, as top's --interval: forever (a report that never comes)
	 * and 0 are refused by the parser and here, not read as "no reports" */
	if (given[7] && every < 10000000)
		return cli_usage_error(argv[0], "--stats is at least 0.01 s (how often to report)");

	int out = strcmp(argv[1], "out") == 0;
	if (cli_take_uris(argv[0], argv + (out ? 2 : 3), 1) != CLI_OK)
		return CLI_USAGE;
	const char *uri = out ? argv[2] : argv[3], *endpoint = out ? argv[3] : argv[2];
	char pub[41], sec[41], who[512], what[sizeof "bridge " + 512], u[256];
	snprintf(who, sizeof who, "%s %s", argv[1], cli_name(uri, u, sizeof u));
	snprintf(what, sizeof what, "bridge %s", who); /* what every failure is said under */
	struct shmkit_bridge_opts o = {
		.log = log_line,
		.log_arg = who,
		.how = bind ? SHMKIT_BRIDGE_BIND : conn ? SHMKIT_BRIDGE_CONNECT : SHMKIT_BRIDGE_AUTO,
		.state = state,
		.window = (unsigned)window,
		.curve_server_key = server_key,
	};
	int r;
	if (server_key && !is_z85_key(server_key))
		return cli_usage_error(argv[0], "--curve-server-key is no public key: want the 40 "
				       "characters of the first line of the server's shmkit bridge keygen");
	if (keys) {
		char k[1024];
		if ((r = read_keys(keys, pub, sec)) < 0)
			return cli_fail_msg(what, NULL, "--curve-keys %s: %s (want the two lines of "
					    "shmkit bridge keygen)", cli_name(keys, k, sizeof k),
					    r == -EINVAL ? "not a key pair" : shmkit_strerror(r));
		o.curve_public = pub;
		o.curve_secret = sec;
	}
	const char *bad = shmkit_bridge_endpoint_error(endpoint, o.how);
	if (bad) {
		char ep[1024];
		return cli_fail_msg(what, NULL, "bad endpoint %s: %s", cli_name(endpoint, ep, sizeof ep),
				    bad);
	}
	struct shmkit_bridge *b;
	r = shmkit_bridge_open(&b, out ? SHMKIT_BRIDGE_OUT : SHMKIT_BRIDGE_IN, uri, endpoint, &o);
	if (r < 0)
		return open_failed(what, uri, endpoint, r, keys != NULL);
	if (o.how == SHMKIT_BRIDGE_BIND || (o.how == SHMKIT_BRIDGE_AUTO && strstr(endpoint, "://*")))
		say_bound(b, who);
	r = run(b, argv[1], uri, timeout, every);
	shmkit_bridge_close(b);
	if (r == -EADDRINUSE)
		return cli_fail_msg(what, NULL, "refused by the receiving bridge at %s: it carries "
				    "another sender's queue (one sender per receiving bridge); nothing "
				    "was consumed here: give this queue a receiving bridge of its own",
				    endpoint);
	if (r == -EMSGSIZE) /* the bridge said which message and the limit */
		return cli_fail_msg(what, NULL, "stopped: a message is longer than the receiving "
				    "queue takes (its --max-msg); nothing was consumed here: make that "
				    "queue again with a --max-msg that holds it");
	if (r == -EPROTO)
		return cli_fail_msg(what, NULL, "stopped: the receiver named messages this queue does "
				    "not hold (its record is of another queue: docs/BRIDGE.md, Record); "
				    "nothing was consumed here");
	return r < 0 ? cli_fail(what, NULL, r) : CLI_OK;
}

#else

CLI_COMMAND(cmd_bridge)
{
	(void)argc;
	return cli_fail_msg(argv[0], NULL, "this shmkit was built without ZeroMQ (libzmq3-dev)");
}

#endif
