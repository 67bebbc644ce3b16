/* SPDX-License-Identifier: MIT */
/* shmkit topic create / pub / sub, and the topic part of `shmkit stat`:
 * broadcast topics from the shell, through the public pubsub API only. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cli.h"
#include "cli_stream.h"
#include "topic.h"

struct topic_cli_opts {
	uint64_t slots, slot_size, count, max_subs, wait_subs;
	int reliable, has_count;
	int64_t timeout;
	unsigned mode;
};

static void defaults(struct topic_cli_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->slots = 64;
	o->slot_size = 4096;
	o->mode = 0600;
	o->timeout = SHMKIT_FOREVER;
}

/* ---- shmkit topic create / stat ---- */

static int topic_stat(int argc, char **argv);

CLI_COMMAND(cmd_topic)
{
	struct topic_cli_opts o;
	int ret;

	/* "topic create URI" or, like map and heap, "topic URI create" (and stat) */
	if (argc >= 3 && (strcmp(argv[2], "create") == 0 || strcmp(argv[2], "stat") == 0) &&
	    strcmp(argv[1], "create") != 0 && strcmp(argv[1], "stat") != 0) {
		char *uri_arg = argv[1];
		argv[1] = argv[2];
		argv[2] = uri_arg;
	}
	if (argc >= 2 && strcmp(argv[1], "stat") == 0)
		return topic_stat(argc - 1, argv + 1);
	if (argc < 2)
		return cli_usage_error(argv[0], "expects 'create URI' or 'stat URI'");
	if (strcmp(argv[1], "create") != 0)
		return cli_not_an_action(argv[0], argc - 1, argv + 1, "create, stat");
	struct cli_owner w = { 0 };
	defaults(&o);
	const struct cli_opt opts[] = {
		{ "slots", 0, CLI_U64, &o.slots, NULL },     { "slot-size", 0, CLI_SIZE, &o.slot_size, NULL },
		{ "reliable", 0, CLI_FLAG, &o.reliable, NULL }, { "max-subs", 0, CLI_U64, &o.max_subs, NULL },
		{ "mode", 0, CLI_MODE, &o.mode, NULL },      CLI_OPT_OWNER(&w), { 0 },
	};
	int n = cli_parse(argv[0], argc - 1, argv + 1, opts);
	if (n < 0 || cli_owner_mode(argv[0], &w, &o.mode) != 0)
		return CLI_USAGE;
	if (n != 1)
		return cli_usage_error(argv[0], "expects one URI");
	if (cli_take_uris(argv[0], argv + 2, 1) != CLI_OK)
		return CLI_USAGE;
	const char *uri = argv[2];
	/* the library's limits (src/topic.c), said before it answers a bare EINVAL */
	if (o.slots == 0 || o.slots > (1u << 24))
		return cli_usage_error(argv[0], "--slots must be 1 to 16777216 (messages the ring holds)");
	if (o.slot_size == 0 || o.slot_size > (1ull << 32))
		return cli_usage_error(argv[0], "--slot-size must be 1 byte to 4G (the largest message)");
	if (o.max_subs > 4096)
		return cli_usage_error(argv[0], "--max-subs must be at most 4096 (0: the default, 64)");
	/* a number no create could take is a usage error, as --slots 0 is */
	if (o.slots * o.slot_size > SIZE_MAX) /* an i386 build: size_t would cut them */
		return cli_usage_error(argv[0], "%" PRIu64 " slots of %" PRIu64 " bytes: more than "
				       "this 32-bit program can map", o.slots, o.slot_size);
	struct shmkit_topic_opts to = {
	    .slot_size = (size_t)o.slot_size,
	    .slots = (size_t)o.slots,
	    .reliable = o.reliable,
	    .mode = o.mode,
	    .max_subs = (unsigned)o.max_subs,
	};
	/* each in range, the ring they make together may still be too large */
	if ((ret = shmkit__topic_create_check(&to)) < 0)
		return cli_usage_error(argv[0], "%s", cli_why(ret));
	if ((ret = cli_check_lasting("topic create", uri)) != CLI_OK)
		return ret;
	ret = shmkit_topic_create(uri, &to);
	if (ret < 0)
		return cli_fail_create("topic create", uri, ret);
	return cli_say_made(uri, NULL); /* shmkit_topic_create keeps no handle: looked up */
}

/* The topic at look (what opens uri: cli_look_uri) as topic stat shows it. */
static int print_topic_stat(const char *uri, const char *look, int json)
{
	struct shmkit_topic_info info;
	int ret = shmkit_topic_stat(look, &info, NULL, 0);
	if (ret < 0)
		return cli_fail_kind("topic stat", uri, ret, "topic");
	if (!json) {
		cli_topic_print(look);
		return CLI_OK;
	}
	struct cli_json j;
	cli_json_init(&j, stdout);
	cli_json_object(&j, NULL);
	cli_json_str(&j, "uri", uri);
	cli_topic_json(&j, look);
	cli_json_end(&j);
	int w = cli_json_finish(&j);
	return w < 0 ? cli_fail_write("topic stat", uri, w) : CLI_OK;
}

/* shmkit topic stat URI [--json]: what `shmkit stat` says of a topic, alone.
 * A look (shmkit_topic_stat): joins nothing, changes nothing. */
static int topic_stat(int argc, char **argv)
{
	int json = 0;
	const struct cli_opt opts[] = { { "json", 0, CLI_FLAG, &json, NULL }, { 0 } };
	int n = cli_parse("topic", argc, argv, opts);

	if (n < 0)
		return CLI_USAGE;
	if (n != 1)
		return cli_usage_error("topic", "stat expects one URI");
	if (cli_take_uris("topic", argv + 1, 1) != CLI_OK ||
	    cli_uri_options("topic", argv[1], CLI_URI_LOOK) != CLI_OK)
		return CLI_USAGE;
	const char *uri = argv[1];
	char fd_uri[32];
	int fd;
	const char *look = cli_look_uri("topic stat", uri, fd_uri, sizeof(fd_uri), &fd);
	if (!look)
		return CLI_FAIL;
	int ret = print_topic_stat(uri, look, json);
	if (fd >= 0)
		close(fd);
	return ret;
}

/* ---- shmkit pub ---- */

static struct shmkit_topic_sub_info *topic_snapshot(const char *uri, struct shmkit_topic_info *info,
						    size_t *n, int *err);

/* Subscribers of the topic not known to be dead; negative errno on failure. */
static long live_subs(const char *uri)
{
	struct shmkit_topic_info info;
	size_t n;
	int err;
	long live = 0;
	struct shmkit_topic_sub_info *subs = topic_snapshot(uri, &info, &n, &err);

	if (!subs)
		return err;
	for (size_t i = 0; i < n; i++)
		live += subs[i].alive != 0;
	free(subs);
	return live;
}

/* --wait-subs: poll the subscriber table until `want` live subscribers have
 * joined (a subscriber gets what is published after it joined, so publishing
 * before then would lose messages), within timeout (SHMKIT_FOREVER: no limit). */
static int wait_subs(const char *uri, uint64_t want, int64_t timeout)
{
	int64_t deadline = cli_deadline(timeout);
	long live;

	while ((live = live_subs(uri)) >= 0 && (uint64_t)live < want) {
		if (cli_left(deadline) == 0)
			return cli_fail_msg("pub", uri, "timed out waiting for %" PRIu64
					    " %s (%ld joined); nothing was published", want,
					    cli_plural(want, "subscriber", "subscribers"), live);
		usleep(2000);
	}
	return live < 0 ? cli_fail("pub", uri, (int)live) : CLI_OK;
}

/* The pid of the live subscriber furthest behind (the one a reliable
 * topic's publisher waits for), or 0 when none can be told. */
static pid_t slowest_sub(const char *uri)
{
	struct shmkit_topic_info info;
	size_t n;
	int err;
	pid_t pid = 0;
	uint64_t at = UINT64_MAX;
	struct shmkit_topic_sub_info *subs = topic_snapshot(uri, &info, &n, &err);

	for (size_t i = 0; subs && i < n; i++)
		if (subs[i].alive != 0 && subs[i].position < at) {
			at = subs[i].position;
			pid = subs[i].pid;
		}
	free(subs);
	return pid;
}

/* One message; *sent counts those published, so a failure can say how far
 * the command got (this message and those after it were not published). */
static int pub_one(struct shmkit_pub *p, const char *uri, const void *msg, size_t len,
		   int64_t timeout, uint64_t *sent)
{
	int64_t deadline = cli_deadline(timeout);
	struct shmkit_topic_info info;
	const char *were = cli_plural(*sent, "message was", "messages were");
	int ret;

	/* waits for room in slices, between which a held-back signal ends it */
	while ((ret = shmkit_pub_send(p, msg, len, cli_room_slice(deadline))) == -ETIMEDOUT ||
	       ret == -EAGAIN)
		if ((ret = cli_room_wait_over(deadline)) < 0)
			break;
	if (ret == -EINTR)
		return CLI_FAIL; /* cli_end_interrupted says how far it got */

	if (ret == -EMSGSIZE && shmkit_topic_stat(uri, &info, NULL, 0) == 0)
		return cli_fail_msg("pub", uri, "a message of %zu bytes is over the topic's "
				    "slot size of %zu %s (%" PRIu64 " %s published "
				    "before that)", len, info.slot_size,
				    cli_plural(info.slot_size, "byte", "bytes"), *sent, were);
	if (ret == -ETIMEDOUT) {
		/* not "Connection timed out": what it waited for, as send says */
		pid_t slow = slowest_sub(uri);
		if (slow > 0)
			return cli_fail_msg("pub", uri, "timed out waiting for room: subscriber pid %ld "
					    "has not read what the topic holds (%" PRIu64 " %s published, "
					    "this one and any after it were not)", (long)slow, *sent,
					    cli_plural(*sent, "message", "messages"));
		return cli_fail_msg("pub", uri, "timed out waiting for room in the topic (%" PRIu64
				    " %s published, this one and any after it were not)", *sent,
				    cli_plural(*sent, "message", "messages"));
	}
	if (ret < 0)
		return cli_fail_msg("pub", uri, "%s (%" PRIu64 " %s published before that)",
				    cli_why(ret), *sent, were);
	(*sent)++;
	return CLI_OK;
}

/* Each line of standard input (its newline dropped) as one message, read
 * as send reads it (cli_stream.h): a line is refused once
 * cli_read_limit() of the slot size of it has come, unread past that
 * (getline took a line of a huge file, or /dev/zero, into memory until none
 * was left); a signal ends it only between messages, or while it waits. */
static int pub_lines(struct shmkit_pub *p, const char *uri, int64_t timeout, uint64_t *sent)
{
	struct shmkit_topic_info info;
	struct cli_splitter sp;
	struct iovec m[32];
	int ret = CLI_OK;
	/* unknown (a failed stat): no early refusal; the publish says it */
	size_t slot = shmkit_topic_stat(uri, &info, NULL, 0) == 0 ? info.slot_size : SIZE_MAX - 1;
	size_t limit = (size_t)cli_read_limit(slot);

	if (cli_splitter_init(&sp, '\n') < 0)
		return cli_fail("pub", uri, -ENOMEM);
	while (ret == CLI_OK) {
		size_t n = cli_split_batch(&sp, m, 32);
		for (size_t i = 0; i < n && ret == CLI_OK; i++)
			ret = pub_one(p, uri, m[i].iov_base, m[i].iov_len, timeout, sent);
		if (n > 0)
			continue;
		if (sp.eof)
			break;
		if (sp.end - sp.start > limit) {
			ret = cli_fail_msg("pub", uri, "a message of at least %zu bytes is over the "
					   "topic's slot size of %zu %s (%" PRIu64 " %s published "
					   "before that)", limit + 1, slot,
					   cli_plural(slot, "byte", "bytes"), *sent,
					   cli_plural(*sent, "message was", "messages were"));
			break;
		}
		int r = cli_split_fill(&sp);
		if (r == -EINTR)
			ret = CLI_FAIL; /* cli_end_interrupted says how far it got */
		else if (r < 0)
			ret = r == -ENOMEM ? cli_fail("pub", uri, r) : cli_fail_stdin("pub", uri, r);
	}
	cli_splitter_free(&sp);
	return ret;
}

static int look_topic(const char *uri)
{
	struct shmkit_topic_info info;
	return shmkit_topic_stat(uri, &info, NULL, 0);
}

CLI_COMMAND(cmd_pub)
{
	struct topic_cli_opts o;
	struct shmkit_pub *p;
	int ret;

	defaults(&o);
	const struct cli_opt opts[] = { { "timeout", 0, CLI_DURATION, &o.timeout, NULL },
					{ "wait-subs", 0, CLI_U64, &o.wait_subs, NULL },
					{ 0 } };
	int n = cli_parse(argv[0], argc, argv, opts);
	if (n < 0)
		return CLI_USAGE;
	if (n < 1)
		return cli_usage_error(argv[0], "expects a URI (then messages, or - or nothing for stdin)");
	if (cli_take_uris(argv[0], argv + 1, 1) != CLI_OK)
		return CLI_USAGE;
	const char *uri = argv[1];
	ret = cli_await_creator(look_topic, uri, o.timeout, cli_deadline(o.timeout));
	if (ret < 0)
		return cli_fail_waited("pub", uri, ret);
	ret = shmkit_pub_open(&p, uri);
	if (ret < 0)
		return cli_fail_kind("pub", uri, ret, "topic");
	if (o.wait_subs)
		ret = wait_subs(uri, o.wait_subs, o.timeout);
	uint64_t sent = 0;
	cli_hold_interrupts();
	if (n == 1 && ret == CLI_OK) /* no message: standard input, as send reads it */
		ret = pub_lines(p, uri, o.timeout, &sent);
	for (int i = 2; i <= n && ret == CLI_OK; i++) {
		if (strcmp(argv[i], "-") == 0)
			ret = pub_lines(p, uri, o.timeout, &sent);
		else
			ret = pub_one(p, uri, argv[i], strlen(argv[i]), o.timeout, &sent);
	}
	shmkit_pub_close(p);
	cli_end_interrupted("pub", uri, sent, "published");
	return ret;
}

/* ---- shmkit sub ---- */

CLI_COMMAND(cmd_sub)
{
	struct topic_cli_opts o;
	struct shmkit_sub *s;
	int ret;

	defaults(&o);
	const struct cli_opt opts[] = { { "count", 0, CLI_U64, &o.count, &o.has_count },
					{ "timeout", 0, CLI_DURATION, &o.timeout, NULL },
					{ 0 } };
	int nops = cli_parse(argv[0], argc, argv, opts);
	if (nops < 0)
		return CLI_USAGE;
	if (nops != 1)
		return cli_usage_error(argv[0], "expects one URI");
	if (cli_take_uris(argv[0], argv + 1, 1) != CLI_OK)
		return CLI_USAGE;
	const char *uri = argv[1];
	int64_t deadline = cli_deadline(o.timeout);
	ret = cli_await_creator(look_topic, uri, o.timeout, deadline);
	if (ret < 0)
		return cli_fail_waited("sub", uri, ret);
	ret = shmkit_sub_open(&s, uri);
	if (ret < 0)
		return cli_fail_kind("sub", uri, ret, "topic");
	/* Everything we will print fits a slot; ask the topic how big one is. */
	struct shmkit_topic_info info;
	ret = shmkit_topic_stat(uri, &info, NULL, 0);
	char *buf = ret < 0 ? NULL : malloc(info.slot_size ? info.slot_size : 1);
	if (!buf) {
		shmkit_sub_close(s);
		return cli_fail("sub", uri, ret < 0 ? ret : -ENOMEM);
	}
	/* With --count or --timeout the topic outlives its publishers: a
	 * publisher that closes or dies (-EPIPE) is waited out for the next one.
	 * With neither, the end of the publisher ends the command. */
	int bounded = o.has_count || o.timeout >= 0;
	/* --count 0 is no count, as recv's: until the timeout (or for good),
	 * publishers waited out; it printed nothing and ended at once */
	int counted = o.has_count && o.count > 0;
	uint64_t got = 0;
	ret = CLI_OK;
	while (!counted || got < o.count) {
		int64_t left = cli_left(deadline);
		ssize_t n = shmkit_sub_recv(s, buf, info.slot_size, left);
		if (n == -EPIPE && bounded && left != 0) {
			usleep(5000); /* no publisher now: look again for a new one */
			continue;
		}
		if (n == -ETIMEDOUT || n == -EAGAIN || n == -EPIPE) {
			/* With --count a publisher's end is waited out (above), so
			 * reaching here with a count means the time ran out, even
			 * when the last look found no publisher (-EPIPE at left 0):
			 * "the publisher is gone" hid the timeout that ended it. */
			if (counted)
				ret = cli_fail_msg(
				    "sub", uri, "timed out after %" PRIu64 " of %" PRIu64 " %s%s",
				    got, o.count, cli_plural(o.count, "message", "messages"),
				    n == -EPIPE ? " (no publisher has the topic open now)" : "");
			break;
		}
		if (n < 0) {
			ret = cli_fail("sub", uri, (int)n);
			break;
		}
		/* straight to the descriptor: a stdio stream gave up on a
		 * non-blocking one (EAGAIN) and lost the message it held */
		struct iovec out[2] = { { buf, (size_t)n }, { (void *)"\n", 1 } };
		size_t whole;
		int w = cli_write_out(out, 2, &whole);
		if (w < 0) {
			/* stop at once: read on, every later message would be lost */
			ret = cli_fail_write("sub", uri, w);
			break;
		}
		got++;
	}
	uint64_t dropped = shmkit_sub_dropped(s);
	if (dropped)
		fprintf(stderr, "shmkit: sub %s: %" PRIu64 " %s read\n", uri, dropped,
			cli_plural(dropped, "message overwritten before it was",
				   "messages overwritten before they were"));
	free(buf);
	shmkit_sub_close(s);
	return ret;
}

/* ---- the topic part of `shmkit stat` ---- */

static const char *pub_state_name(int state)
{
	switch (state) {
	case SHMKIT_TOPIC_PUB_ACTIVE:
		return "active";
	case SHMKIT_TOPIC_PUB_CLOSED:
		return "closed";
	default:
		return "none";
	}
}

static const char *alive_name(int alive)
{
	return alive > 0 ? "alive" : alive == 0 ? "dead" : "unknown";
}

/* Reads the topic and its subscriber table; NULL (with *err) on failure. */
static struct shmkit_topic_sub_info *topic_snapshot(const char *uri, struct shmkit_topic_info *info,
						    size_t *n, int *err)
{
	size_t cap = SHMKIT_TOPIC_DEFAULT_SUBS;

	for (;;) {
		struct shmkit_topic_sub_info *subs = calloc(cap, sizeof(*subs));
		if (!subs) {
			*err = -ENOMEM;
			return NULL;
		}
		*err = shmkit_topic_stat(uri, info, subs, cap);
		if (*err < 0 || info->n_subs <= cap) {
			*n = *err < 0 ? 0 : info->n_subs;
			if (*err < 0) {
				free(subs);
				return NULL;
			}
			return subs;
		}
		free(subs);
		cap = info->n_subs;
	}
}

void cli_topic_print(const char *uri)
{
	struct shmkit_topic_info info;
	size_t n;
	int err;
	struct shmkit_topic_sub_info *subs = topic_snapshot(uri, &info, &n, &err);

	if (!subs) {
		printf("topic:              not read (%s)\n", cli_why(err));
		return;
	}
	printf("topic:              %zu %s x %zu %s, %s, up to %u %s\n", info.slots,
	       cli_plural(info.slots, "slot", "slots"), info.slot_size,
	       cli_plural(info.slot_size, "byte", "bytes"), info.reliable ? "reliable" : "lossy",
	       info.max_subs, cli_plural(info.max_subs, "subscriber", "subscribers"));
	printf("published:          %" PRIu64 " (%" PRIu64 " %s)\n", info.published,
	       info.bytes_published, cli_plural(info.bytes_published, "byte", "bytes"));
	if (info.pub_state == SHMKIT_TOPIC_PUB_ACTIVE)
		printf("publisher:          %d, %s\n", (int)info.pub_pid,
		       alive_name(info.pub_alive));
	else
		printf("publisher:          %s\n", pub_state_name(info.pub_state));
	printf("subscribers:        %u\n", info.n_subs);
	if (n)
		printf("  %8s %-7s %12s %8s %10s\n", "pid", "alive", "position", "behind",
		       "dropped");
	for (size_t i = 0; i < n; i++)
		printf("  %8d %-7s %12" PRIu64 " %8" PRIu64 " %10" PRIu64 "%s\n", (int)subs[i].pid,
		       alive_name(subs[i].alive), subs[i].position,
		       info.published >= subs[i].position ? info.published - subs[i].position : 0,
		       subs[i].dropped, subs[i].sleeping ? "  (waiting)" : "");
	free(subs);
}

void cli_topic_json(struct cli_json *j, const char *uri)
{
	struct shmkit_topic_info info;
	size_t n;
	int err;
	struct shmkit_topic_sub_info *subs = topic_snapshot(uri, &info, &n, &err);

	cli_json_object(j, "topic");
	if (!subs) {
		cli_json_str(j, "error", shmkit_strerror(err));
		cli_json_end(j);
		return;
	}
	cli_json_uint(j, "slots", info.slots);
	cli_json_uint(j, "slot_size", info.slot_size);
	cli_json_bool(j, "reliable", info.reliable);
	cli_json_uint(j, "max_subs", info.max_subs);
	cli_json_uint(j, "published", info.published);
	cli_json_uint(j, "bytes_published", info.bytes_published);
	cli_json_str(j, "publisher", pub_state_name(info.pub_state));
	/* the same fields every time (null without an active publisher): a
	 * script reads them without asking first whether they are there */
	if (info.pub_state == SHMKIT_TOPIC_PUB_ACTIVE)
		cli_json_int(j, "publisher_pid", info.pub_pid);
	else
		cli_json_null(j, "publisher_pid");
	if (info.pub_state == SHMKIT_TOPIC_PUB_ACTIVE && info.pub_alive >= 0)
		cli_json_bool(j, "publisher_alive", info.pub_alive);
	else
		cli_json_null(j, "publisher_alive");
	cli_json_array(j, "subscribers");
	for (size_t i = 0; i < n; i++) {
		cli_json_object(j, NULL);
		cli_json_int(j, "pid", subs[i].pid);
		if (subs[i].alive >= 0)
			cli_json_bool(j, "alive", subs[i].alive);
		else
			cli_json_null(j, "alive");
		cli_json_uint(j, "position", subs[i].position);
		cli_json_uint(j, "dropped", subs[i].dropped);
		cli_json_uint(j, "bytes_received", subs[i].bytes_received);
		cli_json_bool(j, "waiting", subs[i].sleeping);
		cli_json_end(j);
	}
	cli_json_end(j);
	cli_json_end(j);
	free(subs);
}
