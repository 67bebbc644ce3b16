/* SPDX-License-Identifier: MIT */
/* shmkit top [--interval S] [--once] [--json]: a live view of every shmkit
 * object (tools/top_sample.c reads the counters without attaching). On a
 * terminal the view is drawn with ncurses (q quits; the terminal is restored
 * on exit and on SIGINT/SIGTERM/SIGHUP); otherwise, and with --once, plain
 * text screens; --json one JSON document per refresh. Queues and topics
 * show messages and payload bytes per second in and out (from their byte
 * counters; heaps and maps have none, and SysV objects' are never read:
 * "-", null in JSON). Looking changes nothing. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef SHMKIT_HAVE_CURSES
#include <curses.h>
#include <langinfo.h>
#include <locale.h>
#endif

#include "cli.h"
#include "cli_opt.h"
#include "top_sample.h"

static volatile sig_atomic_t quit;

static void on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

static const char *num(uint64_t v, char *buf, size_t cap)
{
	if (v == TOP_NA)
		return "-";
	snprintf(buf, cap, "%llu", (unsigned long long)v);
	return buf;
}

#define URI_COLUMNS 40 /* the URI column's width, as HEAD gives it */

static const char *alive(int a)
{
	return a == 1 ? "yes" : a == 0 ? "no" : "?";
}

/* Bytes per second, human-sized ("-" when the kind counts no bytes). */
static const char *byte_rate(uint64_t total, double rate, char *buf, size_t cap)
{
	if (total == TOP_NA)
		return "-";
	return cli_human_size((uint64_t)(rate + 0.5), buf, cap);
}

/* Messages per second, "-" where no message counter was read: a heap or a
 * map has none, and a SysV object's are never read (top does not attach).
 * A 0 there would look measured. */
static const char *msg_rate(uint64_t total, double rate, char *buf, size_t cap)
{
	if (total == TOP_NA)
		return "-";
	snprintf(buf, cap, "%.0f", rate);
	return buf;
}

/* One line per object into buf (for printf and for curses alike). The URI
 * column is padded by the columns its name takes, not its bytes (cli_width,
 * as ls): a name holding é pushed the rest of its line one column left. */
static void format_line(const struct top_obj *o, char *line, size_t cap)
{
	char u[256 + URI_COLUMNS], d[24], c[24], dr[24], su[24], sl[24], sz[24], dc[64];
	char bi[24], bo[24];
	char mi[32], mo[32];

	if (o->kind == SHMKIT_KIND_HEAP || o->kind == SHMKIT_KIND_MAP)
		snprintf(dc, sizeof dc, "%s used", o->used == TOP_NA ? "-" : cli_human_size(o->used, d, sizeof d));
	else
		snprintf(dc, sizeof dc, "%s/%s", num(o->depth, d, sizeof d), num(o->capacity, c, sizeof c));
	cli_name(o->uri, u, 256);
	int pad = URI_COLUMNS - cli_width(u);
	snprintf(u + strlen(u), sizeof u - strlen(u), "%*s", pad > 0 ? pad : 0, "");
	snprintf(line, cap, "%-6s %s %7s %15s %10s %10s %7s %7s %8s %5s %5s %5s",
		 cli_kind_name(o->kind), u,
		 cli_human_size(o->size, sz, sizeof sz), dc,
		 msg_rate(o->msgs_in, o->in_rate, mi, sizeof mi),
		 msg_rate(o->msgs_out, o->out_rate, mo, sizeof mo),
		 byte_rate(o->bytes_in, o->bytes_in_rate, bi, sizeof bi),
		 byte_rate(o->bytes_out, o->bytes_out_rate, bo, sizeof bo),
		 num(o->drops, dr, sizeof dr), num(o->subscribers, su, sizeof su),
		 num(o->sleepers, sl, sizeof sl), alive(o->creator_alive));
}

static const char HEAD[] = "KIND   URI                                         SIZE     DEPTH/CAP"
			   "      IN/s      OUT/s   BIN/s  BOUT/s    DROPS  SUBS SLEEP ALIVE";

static int print_text(const struct top_sample *s, double interval)
{
	char line[512];

	printf("shmkit top: %zu %s, rates over %.3g s (IN/s, OUT/s: messages; BIN/s, BOUT/s: "
	       "payload bytes)\n", s->n, cli_plural(s->n, "object", "objects"), interval);
	printf("%s\n", HEAD);
	for (size_t i = 0; i < s->n; i++) {
		format_line(&s->objs[i], line, sizeof line);
		printf("%s\n", line);
	}
	size_t denied = s->unreadable - s->unattached;
	if (denied)
		printf("(%zu %s this user may not read: not shown; their owner or root sees them)\n",
		       denied, cli_plural(denied, "segment", "segments"));
	if (s->unattached)
		printf("(%zu System V %s not read: no process whose memory this user may read has "
		       "it attached, and top never attaches; not shown, shmkit ls lists %s)\n",
		       s->unattached, cli_plural(s->unattached, "segment", "segments"),
		       cli_plural(s->unattached, "it", "them"));
	if (s->invalid)
		printf("(%zu shmkit %s not shown: %s header was refused (resized by another "
		       "program, corrupt, or of another layout version); shmkit stat URI says why)\n",
		       s->invalid, cli_plural(s->invalid, "object", "objects"),
		       cli_plural(s->invalid, "its", "their"));
	return cli_stdout_flush();
}

static void json_num(struct cli_json *j, const char *key, uint64_t v)
{
	if (v == TOP_NA)
		cli_json_null(j, key);
	else
		cli_json_uint(j, key, v);
}

static int print_json(const struct top_sample *s, double interval)
{
	struct cli_json j;

	cli_json_init(&j, stdout);
	cli_json_object(&j, NULL);
	cli_json_uint(&j, "interval_ms", (uint64_t)(interval * 1000 + 0.5));
	/* the rates divide by this, not by interval_ms: a loaded machine
	 * wakes top late, and a script checking a rate needs the real span */
	cli_json_uint(&j, "elapsed_ms", s->span_ns > 0 ? (uint64_t)(s->span_ns + 500000) / 1000000 : 0);
	cli_json_array(&j, "objects");
	for (size_t i = 0; i < s->n; i++) {
		const struct top_obj *o = &s->objs[i];
		cli_json_object(&j, NULL);
		cli_json_str(&j, "uri", o->uri);
		cli_json_str(&j, "kind", cli_kind_name(o->kind));
		cli_json_uint(&j, "size", o->size);
		json_num(&j, "depth", o->depth);
		json_num(&j, "capacity", o->capacity);
		/* null, not 0, where no message counter was read (heaps and maps
		 * have none; SysV objects are never attached to read them) */
		bool msgs = o->msgs_in != TOP_NA;
		json_num(&j, "msgs_in", msgs ? o->in_delta : TOP_NA);
		json_num(&j, "msgs_out", msgs ? o->out_delta : TOP_NA);
		json_num(&j, "msgs_in_per_s", msgs ? (uint64_t)(o->in_rate + 0.5) : TOP_NA);
		json_num(&j, "msgs_out_per_s", msgs ? (uint64_t)(o->out_rate + 0.5) : TOP_NA);
		bool bytes = o->bytes_in != TOP_NA;
		json_num(&j, "bytes_in", bytes ? o->bytes_in_delta : TOP_NA);
		json_num(&j, "bytes_out", bytes ? o->bytes_out_delta : TOP_NA);
		json_num(&j, "bytes_in_per_s", bytes ? (uint64_t)(o->bytes_in_rate + 0.5) : TOP_NA);
		json_num(&j, "bytes_out_per_s", bytes ? (uint64_t)(o->bytes_out_rate + 0.5) : TOP_NA);
		json_num(&j, "total_in", o->msgs_in);
		json_num(&j, "total_out", o->msgs_out);
		json_num(&j, "drops", o->drops);
		json_num(&j, "subscribers", o->subscribers);
		json_num(&j, "dead_subscribers", o->dead_subscribers);
		json_num(&j, "sleepers", o->sleepers);
		json_num(&j, "used_bytes", o->used);
		json_num(&j, "keys", o->keys);
		if (o->creator_alive < 0)
			cli_json_null(&j, "creator_alive");
		else
			cli_json_bool(&j, "creator_alive", o->creator_alive);
		cli_json_bool(&j, "counters", o->readable);
		cli_json_end(&j);
	}
	cli_json_end(&j); /* objects */
	cli_json_uint(&j, "unreadable", s->unreadable);
	cli_json_uint(&j, "unattached_sysv", s->unattached);
	cli_json_uint(&j, "invalid", s->invalid);
	cli_json_end(&j); /* the document */
	return cli_json_finish(&j);
}

/* Standard input of the plain running view, read for a q while it lasts: a pipe
 * (echo q | shmkit top), a file, or a terminal we are the foreground of
 * (q then Enter, as the terminal stays in line mode); a terminal of a
 * background job is left alone, as reading it would stop us (SIGTTIN). */
static bool keys_open;

static void keys_start(void)
{
	keys_open = !isatty(STDIN_FILENO) || tcgetpgrp(STDIN_FILENO) == getpgrp();
}

/* Reads what standard input has; quits on a q, stops reading at its end. */
static void keys_read(void)
{
	char buf[256];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0)
		keys_open = false;
	else if (memchr(buf, 'q', (size_t)n) || memchr(buf, 'Q', (size_t)n))
		quit = 1;
}

/* Sleeps ns, or less when a signal or a q on standard input quits. */
static void sleep_ns(int64_t ns)
{
	int64_t end = cli_now_ns() + ns;

	for (int64_t left = ns; !quit && left > 0; left = end - cli_now_ns()) {
		if (!keys_open) {
			struct timespec ts = { left / 1000000000, left % 1000000000 };
			nanosleep(&ts, NULL);
			continue;
		}
		struct pollfd in = { .fd = STDIN_FILENO, .events = POLLIN };
		int ms = (int)(left / 1000000 < 1000 ? left / 1000000 + 1 : 1000);
		if (poll(&in, 1, ms) > 0)
			keys_read();
	}
}

/* Take a sample, replacing `before` with the previous `now`. */
static int resample(struct top_sample *now, struct top_sample *before)
{
	struct top_sample t = *before;

	*before = *now;
	*now = t;
	int r = top_sample_take(now);
	if (r == 0)
		top_rates(now, before);
	return r;
}

#ifdef SHMKIT_HAVE_CURSES
static void draw(const struct top_sample *s, double interval)
{
	char line[512];

	erase();
	mvprintw(0, 0, "shmkit top - %zu %s - every %.3g s - sorted by rate - q quits", s->n,
		 cli_plural(s->n, "object", "objects"), interval);
	if (s->unreadable)
		mvprintw(1, 0, "(%zu %s not shown: this user may not read %s, or (%zu) System "
			       "V ones no readable process has attached)",
			 s->unreadable, cli_plural(s->unreadable, "segment", "segments"),
			 cli_plural(s->unreadable, "it", "them"), s->unattached);
	if (s->invalid) {
		if (s->unreadable)
			addch(' ');
		else
			move(1, 0);
		printw("(%zu shmkit %s not shown: header refused, resized or corrupt; shmkit "
		       "stat says why)", s->invalid, cli_plural(s->invalid, "object", "objects"));
	}
	attron(A_REVERSE);
	mvprintw(2, 0, "%-*s", COLS > 0 ? COLS : 1, HEAD);
	attroff(A_REVERSE);
	for (size_t i = 0; i < s->n && (int)i + 3 < LINES; i++) {
		format_line(&s->objs[i], line, sizeof line);
		mvaddnstr((int)i + 3, 0, line, (int)cli_fit(line, COLS));
	}
	refresh();
}

static int interactive(struct top_sample *now, struct top_sample *before, int64_t interval)
{
	double secs = (double)interval / 1e9;
	int r = 0;

	/* Names are printed as UTF-8 (cli_name), as in the text screens: in
	 * the C locale curses drew each byte of an é as M-C M-), and the line
	 * lost its columns. The character type only: numbers stay as they are. */
	if (!setlocale(LC_CTYPE, "") || strcmp(nl_langinfo(CODESET), "UTF-8") != 0)
		setlocale(LC_CTYPE, "C.UTF-8");
	initscr();
	cbreak();
	noecho();
	curs_set(0);
	keypad(stdscr, TRUE);
	while (!quit && r == 0) {
		draw(now, secs);
		int64_t end = now->when_ns + interval;
		for (;;) { /* wait for the next refresh, a key every 50 ms */
			int64_t left = end - cli_now_ns();
			if (left <= 0 || quit)
				break;
			timeout((int)(left / 1000000 < 50 ? left / 1000000 + 1 : 50));
			int c = getch();
			if (c == 'q' || c == 'Q')
				quit = 1;
		}
		if (!quit)
			r = resample(now, before);
	}
	endwin(); /* restores the terminal: echo, canonical mode, the screen */
	return r;
}
#endif

CLI_COMMAND(cmd_top)
{
	int once = 0, json = 0;
	int64_t interval = 1000000000;
	const struct cli_opt opts[] = {
		{ "interval", 0, CLI_PERIOD, &interval, NULL },
		{ "once", 0, CLI_FLAG, &once, NULL },
		{ "json", 0, CLI_FLAG, &json, NULL },
		{ 0 },
	};
	int n = cli_parse(argv[0], argc, argv, opts);
	if (n < 0)
		return CLI_USAGE;
	if (interval < 10000000 || interval > 3600 * (int64_t)1000000000)
		return cli_usage_error(argv[0], "--interval between 0.01 s and 1 h");
	if (cli_take_uris(argv[0], argv + 1, n) != CLI_OK ||
	    cli_check_prefixes(argv[0], argv + 1, n) != CLI_OK)
		return CLI_USAGE;

	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	/* Operands left by cli_parse: URI prefixes, as for ls. */
	if (cli_uri_prefixes(argv + 1, n) < 0)
		return cli_fail("top", "", -ENOMEM);
	if (!once) /* one screen reads nothing: a script's loop keeps its input */
		keys_start();
	struct top_sample a = { .prefixes = argv + 1, .n_prefixes = n };
	struct top_sample b = a;
	int r = top_sample_take(&a);
	if (r < 0)
		goto out;
	sleep_ns(interval); /* rates need two samples */
	if (!quit && (r = resample(&a, &b)) < 0)
		goto out;
#ifdef SHMKIT_HAVE_CURSES
	if (!once && !json && isatty(STDOUT_FILENO) && isatty(STDIN_FILENO)) {
		r = interactive(&a, &b, interval);
		goto out;
	}
#endif
	while (!quit) {
		/* a screen nobody can read ends the run (> /dev/full ran for ever) */
		int err = json ? print_json(&a, (double)interval / 1e9)
			       : print_text(&a, (double)interval / 1e9);
		if (err < 0) {
			top_sample_free(&a);
			top_sample_free(&b);
			return cli_fail_write("top", NULL, err);
		}
		if (once)
			break;
		sleep_ns(interval);
		if (!quit && (r = resample(&a, &b)) < 0)
			break;
	}
out:
	top_sample_free(&a);
	top_sample_free(&b);
	return r < 0 ? cli_fail("top", NULL, r) : CLI_OK;
}
