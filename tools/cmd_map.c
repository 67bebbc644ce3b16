/* SPDX-License-Identifier: MIT */
/* shmkit map / shmkit heap: a key-value store and an allocator inside a
 * segment, from the shell.
 *
 *   shmkit map URI create SIZE [--mode M] [--persist|--owned]   (heap likewise)
 *   shmkit map URI put KEY VALUE|- [--timeout S]   shmkit heap URI check [--timeout S]
 *   shmkit map URI get KEY [--raw]                 shmkit heap URI stats [--json]
 *   shmkit map URI del KEY [--timeout S]
 *   shmkit map URI ls [--json]
 *   shmkit map URI count | check [--timeout S] | flush */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "heap_internal.h"
#include "map_internal.h"

struct kv_opts {
	int json, raw, has_mode, has_timeout;
	unsigned mode;
	int64_t timeout_ns;     /* --timeout: the wait for the lock (put, del, check) */
	struct cli_owner owner; /* --persist / --owned (create) */
};

/* Options of map (with_raw: get --raw) and heap; returns the operand count
 * (argv[1..n]) or -1. */
static int parse_kv_opts(int argc, char **argv, int with_raw, struct kv_opts *o)
{
	const struct cli_opt opts[] = {
		{ "json", 0, CLI_FLAG, &o->json, NULL },
		{ "mode", 0, CLI_MODE, &o->mode, &o->has_mode },
		CLI_OPT_OWNER(&o->owner),
		{ "timeout", 0, CLI_DURATION, &o->timeout_ns, &o->has_timeout },
		{ "raw", 0, CLI_FLAG, &o->raw, NULL }, /* last: heap leaves it out */
		{ 0 },
	};
	struct cli_opt heap_opts[sizeof(opts) / sizeof(opts[0]) - 1];

	memset(o, 0, sizeof(*o));
	o->mode = 0600;
	o->timeout_ns = SHMKIT_FOREVER;
	if (with_raw)
		return cli_parse(argv[0], argc, argv, opts);
	memcpy(heap_opts, opts, sizeof(heap_opts) - sizeof(heap_opts[0]));
	memset(&heap_opts[sizeof(heap_opts) / sizeof(heap_opts[0]) - 1], 0, sizeof(heap_opts[0]));
	return cli_parse(argv[0], argc, argv, heap_opts);
}

static const char *const map_actions[] = {"create", "put", "get", "del", "ls",
					  "count", "check", "flush", NULL};
static const char *const heap_actions[] = {"create", "check", "stats", NULL};

static int is_action(const char *word, const char *const *actions)
{
	for (; *actions; actions++)
		if (strcmp(word, *actions) == 0)
			return 1;
	return 0;
}

/* `shmkit map create URI SIZE`, the order queue and topic take, is read as
 * `shmkit map URI create SIZE` (likewise every action, and for heap). Only
 * when the second word is no action: a segment may have a bare name that
 * is one ("posix:/ls"), and `shmkit map ls get K` keeps meaning it. */
static void uri_first(char **argv, int nops, const char *const *actions)
{
	if (nops >= 2 && is_action(argv[1], actions) && !is_action(argv[2], actions)) {
		char *action = argv[1];
		argv[1] = argv[2];
		argv[2] = action;
	}
}

/* The actions that take the lock (and so take --timeout), and the words
 * that name them in a usage error. */
static const char *const map_lock_actions[] = {"put", "del", "check", NULL};
static const char *const heap_lock_actions[] = {"check", NULL};
#define MAP_LOCK_WORDS "put, del and check"
#define HEAP_LOCK_WORDS "check"

/* An option the action does not take is a usage error, as for queue and
 * topic: `map URI get K --json` printed text and `put K V --mode 0644`
 * changed no mode, both exit 0. json_act: the action --json goes with;
 * lock_acts (lock_words): the ones --timeout goes with. */
static int kv_options_fit(const char *cmd, const char *act, const char *json_act,
			  const char *const *lock_acts, const char *lock_words,
			  const struct kv_opts *o)
{
	const char *bad = NULL, *only = NULL;

	if (o->json && strcmp(act, json_act) != 0)
		bad = "json", only = json_act;
	else if (o->has_timeout && !is_action(act, lock_acts))
		bad = "timeout", only = lock_words;
	else if (o->raw && strcmp(act, "get") != 0)
		bad = "raw", only = "get";
	else if (strcmp(act, "create") != 0)
		bad = o->has_mode ? "mode" : o->owner.persist ? "persist" : o->owner.owned ? "owned" : NULL,
		only = "create";
	if (!bad)
		return CLI_OK;
	return cli_usage_error(cmd, "--%s is not an option of %s (only of %s)", bad, act, only);
}

/* The operands an action takes, as its usage names them ("put KEY VALUE|-":
 * KEY, VALUE|-), against the n given (args): CLI_OK, or a usage error that
 * says which are missing or which one is too many, with the action's usage.
 * `map URI put a` said only "unknown action or wrong arguments: put". */
static int kv_operands_fit(const char *cmd, const char *act, int n, char **args)
{
	char usage[512], *names[8], list[128] = "";
	int want = 0;

	if (!cli_action_usage(cmd, act, usage, sizeof(usage)))
		return CLI_OK;
	char *w = usage + strcspn(usage, " ") + 1; /* past the command's name */
	w += strcspn(w, " ") + 1 + strlen(act);    /* past URI and the action */
	for (char *save = NULL, *t = strtok_r(w, " ", &save); t && *t != '[' && want < 8;
	     t = strtok_r(NULL, " ", &save)) {
		t[strcspn(t, "|")] = '\0'; /* VALUE|-: VALUE */
		names[want++] = t;
	}
	if (n > want) {
		for (int i = 0; i < want; i++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 i ? " " : "", names[i]);
		return cli_action_usage_error(cmd, act, "unexpected operand '%s' (%s takes %s)",
					      args[want], act, want ? list : "none");
	}
	if (n == want)
		return CLI_OK;
	for (int i = n; i < want; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			 i == n ? "" : i + 1 == want ? " and " : ", ", names[i]);
	return cli_action_usage_error(cmd, act, "missing %s", list);
}

/* What map and heap differ in, for the start of the command they share. */
struct kv_kind {
	const char *create;               /* "map create": the create's error lines */
	const char *const *actions;
	const char *json_act;             /* the action --json goes with */
	const char *const *lock_actions;  /* the ones --timeout goes with */
	const char *lock_words;           /* ... as a usage error names them */
	int with_raw;                     /* get --raw */
	int (*create_check)(size_t size); /* whether a create of size could succeed */
};

static const struct kv_kind map_kind = { "map create", map_actions, "ls", map_lock_actions,
					 MAP_LOCK_WORDS, 1, shmkit__map_create_check };
static const struct kv_kind heap_kind = { "heap create", heap_actions, "stats",
					  heap_lock_actions, HEAP_LOCK_WORDS, 0,
					  shmkit__heap_create_check };

/* The start of `shmkit map` and `shmkit heap`: options, then URI and action
 * (in either order: they end up in argv[1] and argv[2]), then whether the
 * action takes the options given. CLI_OK with *n the operands after the
 * action, or CLI_USAGE (said). */
static int kv_begin(int argc, char **argv, const struct kv_kind *k, struct kv_opts *o, int *n)
{
	int nops = parse_kv_opts(argc, argv, k->with_raw, o);

	if (nops < 0)
		return CLI_USAGE;
	if (nops < 2)
		return cli_usage_error(argv[0], "expects a URI and an action");
	uri_first(argv, nops, k->actions);
	if (cli_take_uris(argv[0], argv + 1, 1) != CLI_OK)
		return CLI_USAGE;
	*n = nops - 2;
	if (!is_action(argv[2], k->actions)) {
		char list[128] = "", safe[256];
		for (const char *const *a = k->actions; *a; a++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 a == k->actions ? "" : ", ", *a);
		return cli_usage_error(argv[0], "unknown action '%s' (actions: %s)",
				       cli_name(argv[2], safe, sizeof(safe)), list);
	}
	/* before anything is opened: a usage error is no failure of the object */
	if (kv_options_fit(argv[0], argv[2], k->json_act, k->lock_actions, k->lock_words,
			   o) != CLI_OK ||
	    kv_operands_fit(argv[0], argv[2], *n, argv + 3) != CLI_OK)
		return CLI_USAGE;
	return CLI_OK;
}

/* ---- waiting for the lock (put, del, check) ---- */

/* A holder stopped with the lock (SIGSTOP, Ctrl-Z, a debugger) keeps it
 * until it runs again. Without --timeout the command waits as long as that
 * takes, as scripts expect, but says once, after SAY_WAITING_NS, what it
 * waits for; with --timeout it gives up when that has passed (exit 1). A
 * library call that gives up changed nothing, so it is simply made again,
 * with the handle's lock timeout set to the part of the wait left. */
#define SAY_WAITING_NS 1000000000ll /* 1 s */

struct lock_wait {
	struct shmkit_heap *heap; /* whose lock: the map's heap for a map */
	char what[32];      /* the command, "map put": every line it says starts so */
	const char *uri;
	int64_t start;      /* the command's start: opening may have waited too */
	int64_t timeout_ns; /* --timeout, or SHMKIT_FOREVER */
	int said;           /* the waiting line is out */
};

static void lock_wait_start(struct lock_wait *w, const char *cmd, const char *act, const char *uri,
			    int64_t timeout_ns)
{
	memset(w, 0, sizeof(*w));
	snprintf(w->what, sizeof(w->what), "%s %s", cmd, act);
	w->uri = uri;
	w->timeout_ns = timeout_ns;
	w->start = cli_now_ns();
}

/* Bounds the next try: until the waiting line is due (once), else until
 * --timeout. */
static void lock_wait_slice(struct lock_wait *w)
{
	int64_t used = cli_now_ns() - w->start;
	int64_t left = SHMKIT_FOREVER;

	if (w->timeout_ns >= 0)
		left = w->timeout_ns > used ? w->timeout_ns - used : 0;
	if (!w->said) {
		int64_t to_say = SAY_WAITING_NS > used ? SAY_WAITING_NS - used : 0;
		if (left < 0 || to_say < left)
			left = to_say;
	}
	shmkit_heap_set_lock_timeout(w->heap, left);
}

/* After a try that returned r: 1 to try again (the lock was held and time
 * is left), else 0. */
static int lock_wait_again(struct lock_wait *w, int r)
{
	char who[96], uri[256];

	if (!shmkit__heap_lock_gave_up(r))
		return 0;
	if (w->timeout_ns >= 0 && cli_now_ns() - w->start >= w->timeout_ns)
		return 0;
	if (!w->said) {
		shmkit__heap_lock_holder(w->heap, who, sizeof(who));
		fprintf(stderr, "shmkit: %s %s: waiting for the lock, %s; --timeout S gives up\n",
			w->what, cli_printable(w->uri, uri, sizeof(uri)), who);
		w->said = 1;
	}
	return 1;
}

/* The error of a try that failed (r), or that --timeout ended. */
static int lock_wait_fail(struct lock_wait *w, int r)
{
	char who[96];

	if (!shmkit__heap_lock_gave_up(r))
		return cli_fail(w->what, w->uri, r);
	shmkit__heap_lock_holder(w->heap, who, sizeof(who));
	return cli_fail_msg(w->what, w->uri,
			    "the lock is %s; gave up waiting (--timeout %g s), nothing changed",
			    who, (double)w->timeout_ns / 1e9);
}

/* All of standard input, or -EFBIG once it is past limit bytes (the rest
 * unread: put - < /dev/zero took memory until none was left). */
static int read_stdin(char **out, size_t *len, size_t limit)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);

	while (buf != NULL) {
		if (n > limit) {
			free(buf);
			return -EFBIG;
		}
		size_t got = fread(buf + n, 1, cap - n, stdin);
		n += got;
		if (got == 0)
			break;
		if (n == cap) {
			char *more = realloc(buf, cap * 2);
			if (more == NULL) { /* not a shorter value: no value */
				free(buf);
				return -ENOMEM;
			}
			buf = more;
			cap *= 2;
		}
	}
	if (buf == NULL)
		return -ENOMEM;
	if (ferror(stdin)) {
		int err = cli_stdin_error();
		free(buf);
		return err;
	}
	*out = buf;
	*len = n;
	return 0;
}

/* The checks of `create SIZE` before map or heap makes anything: SIZE,
 * the mode and owner options o. CLI_OK with *size, or the exit status. */
static int kv_create_args(const char *cmd, const struct kv_kind *k, const char *uri,
			  const char *size_arg, struct kv_opts *o, uint64_t *size)
{
	if (cli_parse_size(size_arg, size) < 0 || *size == 0 || *size > SIZE_MAX)
		return cli_usage_error(cmd, "bad SIZE '%s' (a positive number: 64K, 1M, 1G)",
				       size_arg);
	/* a size no create takes (too small for the object) is a usage error too */
	int r = k->create_check((size_t)*size);
	if (r < 0)
		return cli_action_usage_error(cmd, "create", "%s", cli_why(r));
	if (cli_owner_mode(cmd, &o->owner, &o->mode) != 0)
		return CLI_USAGE;
	return cli_check_lasting(k->create, uri);
}

/* What check printed, or its failure: r from shmkit_map_check/heap_check. */
static int say_checked(struct lock_wait *w, int r)
{
	if (r < 0)
		return lock_wait_fail(w, r);
	printf(r == 1 ? "repaired\n" : "ok\n");
	return CLI_OK;
}

/* ---- map ---- */

struct ls_ctx {
	struct cli_json *j;
	FILE *out;
};

static void print_bytes(const void *p, size_t n)
{
	fwrite(p, 1, n, stdout);
}

/* Bytes for a KEY<TAB>VALUE line: backslash, tab, newline and other control
 * bytes are escaped (\\ \t \n \r \0, else \xNN), so a line always splits
 * at its one real tab and ends at its newline. Other bytes pass unchanged. */
static void print_escaped(FILE *out, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (p[i]) {
		case '\\': fputs("\\\\", out); break;
		case '\t': fputs("\\t", out); break;
		case '\n': fputs("\\n", out); break;
		case '\r': fputs("\\r", out); break;
		case '\0': fputs("\\0", out); break;
		default:
			if (p[i] < 0x20 || p[i] == 0x7f)
				fprintf(out, "\\x%02x", p[i]);
			else
				putc(p[i], out);
		}
	}
}

static int ls_one(const void *k, size_t klen, const void *v, size_t vlen, void *arg)
{
	struct ls_ctx *c = arg;

	if (c->j != NULL) {
		/* text where the bytes are UTF-8 (else null); base64 always: every byte */
		cli_json_object(c->j, NULL);
		cli_json_text(c->j, "key", k, klen);
		cli_json_text(c->j, "value", v, vlen);
		cli_json_uint(c->j, "value_bytes", vlen);
		cli_json_base64(c->j, "key_base64", k, klen);
		cli_json_base64(c->j, "value_base64", v, vlen);
		cli_json_end(c->j);
	} else {
		print_escaped(c->out, k, klen);
		putc('\t', c->out);
		print_escaped(c->out, v, vlen);
		putc('\n', c->out);
	}
	return 0;
}

static int map_get(struct shmkit_map *m, const char *what, const char *uri, const char *key,
		   const struct kv_opts *o)
{
	size_t cap = 256;
	char *buf = NULL;
	ssize_t n;

	for (;;) { /* grow until the value fits (it may change between tries) */
		char *more = realloc(buf, cap);
		if (more == NULL) {
			free(buf);
			return cli_fail(what, uri, -ENOMEM);
		}
		buf = more;
		n = shmkit_map_get(m, key, strlen(key), buf, cap);
		if (n != -EMSGSIZE)
			break;
		ssize_t need = shmkit_map_len(m, key, strlen(key));
		cap = need > (ssize_t)cap ? (size_t)need : cap * 2;
	}
	if (n == -ENOENT) {
		free(buf);
		return cli_fail_msg(what, uri, "no key '%s'", key);
	}
	if (n < 0) {
		free(buf);
		return cli_fail(what, uri, (int)n);
	}
	print_bytes(buf, (size_t)n);
	if (!o->raw)
		putchar('\n');
	free(buf);
	int err = cli_stdout_flush();
	return err == 0 ? CLI_OK : cli_fail_write(what, uri, err);
}

static int map_put(struct shmkit_map *m, const char *uri, const char *key, const char *val,
		   struct lock_wait *w)
{
	char *in = NULL;
	size_t len = strlen(val);
	int r;

	if (strcmp(val, "-") == 0) {
		/* no value is longer than the map's whole segment (read up to
		 * cli_read_limit() of it, for put to say how much room it wanted) */
		size_t whole = shmkit_seg_size(shmkit_heap_seg(shmkit_map_heap(m)));
		if ((r = read_stdin(&in, &len, (size_t)cli_read_limit(whole))) == -EFBIG)
			return cli_fail_msg(w->what, uri, "the value on standard input is longer "
					    "than the whole map (%zu bytes); nothing changed",
					    whole);
		if (r < 0)
			return r == -ENOMEM ? cli_fail(w->what, uri, r)
					    : cli_fail_stdin(w->what, uri, r);
		val = in;
	}
	do {
		lock_wait_slice(w);
		r = shmkit_map_put(m, key, strlen(key), val, len);
	} while (lock_wait_again(w, r));
	free(in);
	/* the map's heap is full, not the disk: "No space left on device"
	 * alone sends the user to df */
	if (r == -ENOSPC)
		return cli_fail_msg(w->what, uri,
				    "the map is full: no room for a %zu-byte key and value "
				    "(nothing changed; heap URI stats shows what is free)",
				    strlen(key) + len);
	return r < 0 ? lock_wait_fail(w, r) : CLI_OK;
}

static int map_del(struct shmkit_map *m, const char *uri, const char *key, struct lock_wait *w)
{
	int r;

	do {
		lock_wait_slice(w);
		r = shmkit_map_del(m, key, strlen(key));
	} while (lock_wait_again(w, r));
	if (r == -ENOENT)
		return cli_fail_msg(w->what, uri, "no key '%s'", key);
	return r < 0 ? lock_wait_fail(w, r) : CLI_OK;
}

static int map_check(struct shmkit_map *m, struct lock_wait *w)
{
	int r;

	do {
		lock_wait_slice(w);
		r = shmkit_map_check(m);
	} while (lock_wait_again(w, r));
	return say_checked(w, r);
}

/* The listing is made in memory and written only once the walk has
 * ended well: a walk that fails half-way (a scribbled chain, a map kept
 * busy) printed the pairs before it, or "[]", a valid document a script
 * would take for the whole map, before its error. */
static int map_ls(struct shmkit_map *m, const char *what, const char *uri, const struct kv_opts *o)
{
	struct cli_json j;
	struct ls_ctx c = { NULL, NULL };
	char *text = NULL;
	size_t len = 0;
	int r;

	if ((c.out = open_memstream(&text, &len)) == NULL)
		return cli_fail(what, uri, -errno);
	if (o->json) {
		cli_json_init(&j, c.out);
		cli_json_array(&j, NULL);
		c.j = &j;
	}
	r = shmkit_map_iter(m, ls_one, &c);
	if (o->json) {
		cli_json_end(&j);
		fputc('\n', c.out);
	}
	if (fclose(c.out) != 0 && r >= 0)
		r = -ENOMEM;
	if (r >= 0)
		fwrite(text, 1, len, stdout);
	free(text);
	if (r < 0)
		return cli_fail(what, uri, r);
	int err = cli_stdout_flush();
	return err == 0 ? CLI_OK : cli_fail_write(what, uri, err);
}

/* Runs one map subcommand on an open map; w: the wait for its lock. */
static int map_action(struct shmkit_map *m, const char *uri, const char *act, int n, char **args,
		      const struct kv_opts *o, struct lock_wait *w)
{
	int r;

	w->heap = shmkit_map_heap(m); /* NULL for a look, which never locks */
	if (strcmp(act, "get") == 0 && n == 1)
		return map_get(m, w->what, uri, args[0], o);
	if (strcmp(act, "put") == 0 && n == 2)
		return map_put(m, uri, args[0], args[1], w);
	if (strcmp(act, "del") == 0 && n == 1)
		return map_del(m, uri, args[0], w);
	if (strcmp(act, "ls") == 0 && n == 0)
		return map_ls(m, w->what, uri, o);
	if (strcmp(act, "count") == 0 && n == 0) {
		ssize_t c = shmkit_map_count(m);
		if (c < 0)
			return cli_fail(w->what, uri, (int)c);
		printf("%zd\n", c);
		return CLI_OK;
	}
	if (strcmp(act, "check") == 0 && n == 0)
		return map_check(m, w);
	if (strcmp(act, "flush") == 0 && n == 0) {
		r = shmkit_map_flush(m);
		return r < 0 ? cli_fail(w->what, uri, r) : CLI_OK;
	}
	return -1;
}

CLI_COMMAND(cmd_map)
{
	struct kv_opts o;
	struct shmkit_map *m;
	int r, n;

	if ((r = kv_begin(argc, argv, &map_kind, &o, &n)) != CLI_OK)
		return r;
	const char *uri = argv[1], *act = argv[2];
	char **args = argv + 3;
	struct lock_wait w;
	lock_wait_start(&w, argv[0], act, uri, o.timeout_ns);

	if (strcmp(act, "create") == 0) {
		uint64_t size;
		if ((r = kv_create_args(argv[0], &map_kind, uri, args[0], &o, &size)) != CLI_OK)
			return r;
		if ((r = shmkit_map_create(&m, uri, (size_t)size, o.mode)) < 0)
			return cli_fail_create("map create", uri, r);
		r = cli_say_made(uri, shmkit_heap_seg(shmkit_map_heap(m)));
		return shmkit_map_close(m) < 0 ? CLI_FAIL : r;
	}
	/* get, ls and count only look: a read-only handle (nothing changes) */
	int look = !strcmp(act, "get") || !strcmp(act, "ls") || !strcmp(act, "count");
	if (look && cli_uri_options(argv[0], uri, CLI_URI_LOOK) != CLI_OK)
		return CLI_USAGE;
	char fd_uri[32];
	int fd = -1;
	const char *open_uri = look ? cli_look_uri("open map", uri, fd_uri, sizeof(fd_uri), &fd) : uri;
	if (!open_uri)
		return CLI_FAIL;
	r = shmkit_map_open_flags(&m, open_uri, look ? SHMKIT_RDONLY : 0);
	if (fd >= 0)
		close(fd); /* the map keeps its own */
	if (r < 0)
		return cli_fail_kind("open map", uri, r, "map");
	r = map_action(m, uri, act, n, args, &o, &w);
	shmkit_map_close(m);
	return r;
}

/* ---- heap ---- */

static void print_stats_text(const struct shmkit_heap_stats *st)
{
	char a[32], b[32], c[32], d[32];

	printf("arena    %s\nused     %s in %llu %s\nfree     %s in %llu %s\n"
	       "largest  %s (largest allocation possible now)\nnamed    %llu\n",
	       cli_human_size(st->arena_bytes, a, sizeof(a)), cli_human_size(st->used_bytes, b, sizeof(b)),
	       (unsigned long long)st->n_used, cli_plural(st->n_used, "block", "blocks"),
	       cli_human_size(st->free_bytes, c, sizeof(c)), (unsigned long long)st->n_free,
	       cli_plural(st->n_free, "block", "blocks"), cli_human_size(st->largest_free, d, sizeof(d)),
	       (unsigned long long)st->n_named);
	printf("class (block bytes up to)   used   free\n");
	for (int i = 0; i < SHMKIT_HEAP_CLASSES; i++) {
		if (st->class_used[i] == 0 && st->class_free[i] == 0)
			continue;
		if (st->class_max[i] == UINT64_MAX)
			printf("%-26s %6llu %6llu\n", "larger", (unsigned long long)st->class_used[i],
			       (unsigned long long)st->class_free[i]);
		else
			printf("%-26llu %6llu %6llu\n", (unsigned long long)st->class_max[i],
			       (unsigned long long)st->class_used[i], (unsigned long long)st->class_free[i]);
	}
}

static int print_stats_json(const struct shmkit_heap_stats *st)
{
	struct cli_json j;

	cli_json_init(&j, stdout);
	cli_json_object(&j, NULL);
	cli_json_uint(&j, "arena_bytes", st->arena_bytes);
	cli_json_uint(&j, "used_bytes", st->used_bytes);
	cli_json_uint(&j, "free_bytes", st->free_bytes);
	cli_json_uint(&j, "largest_free", st->largest_free);
	cli_json_uint(&j, "n_used", st->n_used);
	cli_json_uint(&j, "n_free", st->n_free);
	cli_json_uint(&j, "n_named", st->n_named);
	cli_json_array(&j, "classes");
	for (int i = 0; i < SHMKIT_HEAP_CLASSES; i++) {
		cli_json_object(&j, NULL);
		if (st->class_max[i] == UINT64_MAX)
			cli_json_null(&j, "max_block_bytes");
		else
			cli_json_uint(&j, "max_block_bytes", st->class_max[i]);
		cli_json_uint(&j, "used", st->class_used[i]);
		cli_json_uint(&j, "free", st->class_free[i]);
		cli_json_end(&j);
	}
	cli_json_end(&j);
	cli_json_end(&j);
	return cli_json_finish(&j);
}

/* ---- the heap/map part of `shmkit stat` ---- */

/* Looks only: read-only mappings, nothing opened as a user. */
static int stat_snapshot(const char *uri, uint32_t kind, struct shmkit_heap_stats *st, ssize_t *keys)
{
	struct shmkit_map *m;
	int r;

	*keys = -1;
	if (kind == SHMKIT_KIND_MAP) {
		if ((r = shmkit_map_open_flags(&m, uri, SHMKIT_RDONLY)) < 0)
			return r;
		*keys = shmkit_map_count(m);
		shmkit_map_close(m);
	}
	return shmkit_heap_stat(uri, st);
}

void cli_heap_print(const char *uri, uint32_t kind)
{
	struct shmkit_heap_stats st;
	ssize_t keys;
	char a[32], b[32], c[32];
	int r = stat_snapshot(uri, kind, &st, &keys);

	if (r == -EBUSY) {
		printf("heap:               not read (it kept changing while read: try again)\n");
		return;
	}
	if (r < 0) {
		printf("heap:               not read (%s)\n", cli_why(r));
		return;
	}
	if (keys >= 0)
		printf("keys:               %zd\n", keys);
	printf("heap:               %s used in %llu %s, %s free in %llu, largest %s\n",
	       cli_human_size(st.used_bytes, a, sizeof(a)), (unsigned long long)st.n_used,
	       cli_plural(st.n_used, "block", "blocks"),
	       cli_human_size(st.free_bytes, b, sizeof(b)), (unsigned long long)st.n_free,
	       cli_human_size(st.largest_free, c, sizeof(c)));
	printf("named objects:      %llu\n", (unsigned long long)st.n_named);
}

void cli_heap_json(struct cli_json *j, const char *uri, uint32_t kind)
{
	struct shmkit_heap_stats st;
	ssize_t keys;

	if (stat_snapshot(uri, kind, &st, &keys) < 0) {
		cli_json_null(j, "heap");
		return;
	}
	if (keys >= 0)
		cli_json_int(j, "keys", keys);
	cli_json_object(j, "heap");
	cli_json_uint(j, "arena_bytes", st.arena_bytes);
	cli_json_uint(j, "used_bytes", st.used_bytes);
	cli_json_uint(j, "free_bytes", st.free_bytes);
	cli_json_uint(j, "largest_free", st.largest_free);
	cli_json_uint(j, "n_used", st.n_used);
	cli_json_uint(j, "n_free", st.n_free);
	cli_json_uint(j, "n_named", st.n_named);
	cli_json_end(j);
}

CLI_COMMAND(cmd_heap)
{
	struct kv_opts o;
	struct shmkit_heap *h;
	struct shmkit_heap_stats st;
	int r, n;

	if ((r = kv_begin(argc, argv, &heap_kind, &o, &n)) != CLI_OK)
		return r;
	const char *uri = argv[1], *act = argv[2];
	struct lock_wait w;
	lock_wait_start(&w, argv[0], act, uri, o.timeout_ns);

	if (strcmp(act, "create") == 0) {
		uint64_t size;
		if ((r = kv_create_args(argv[0], &heap_kind, uri, argv[3], &o, &size)) != CLI_OK)
			return r;
		if ((r = shmkit_heap_create(&h, uri, (size_t)size, o.mode)) < 0)
			return cli_fail_create("heap create", uri, r);
		r = cli_say_made(uri, shmkit_heap_seg(h));
		return shmkit_heap_close(h) < 0 ? CLI_FAIL : r;
	}
	if (strcmp(act, "stats") == 0) { /* a look: read-only, nothing changes */
		if (cli_uri_options(argv[0], uri, CLI_URI_LOOK) != CLI_OK)
			return CLI_USAGE;
		char fd_uri[32];
		int fd;
		const char *look = cli_look_uri(w.what, uri, fd_uri, sizeof(fd_uri), &fd);
		if (!look)
			return CLI_FAIL;
		r = shmkit_heap_stat(look, &st);
		if (fd >= 0)
			close(fd);
		if (r < 0)
			return cli_fail_kind(w.what, uri, r, "heap");
		if (!o.json) {
			print_stats_text(&st);
			return CLI_OK;
		}
		r = print_stats_json(&st);
		return r < 0 ? cli_fail_write(w.what, uri, r) : CLI_OK;
	}
	/* check opens the heap as a user: it takes the lock and repairs */
	if ((r = shmkit_heap_open(&h, uri)) < 0)
		return cli_fail_kind("open heap", uri, r, "heap");
	w.heap = h;
	do {
		lock_wait_slice(&w);
		r = shmkit_heap_check(h);
	} while (lock_wait_again(&w, r));
	int rc = say_checked(&w, r);
	shmkit_heap_close(h);
	return rc;
}
