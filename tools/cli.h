/* SPDX-License-Identifier: MIT */
/* shmkit CLI — helpers every subcommand shares: error and usage reporting,
 * a small JSON writer and names for the enums of the public API; options are
 * parsed by cli_parse() (cli_opt.h).
 *
 * A subcommand is `int cmd_<x>(int argc, char **argv)` in tools/cmd_<x>.c,
 * listed with one line in the table in tools/commands.c. argv[0] is the command
 * name; the return value is the exit status: 0 ok, 1 failure (after
 * cli_fail), 2 usage error (after cli_usage_error). */
#ifndef SHMKIT_CLI_H
#define SHMKIT_CLI_H

#include <stdint.h>
#include <stdio.h>

#include <shmkit.h>

#include "cli_opt.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Run `shmkit ARGS...` (argv[0] is the program) and return its exit status. */
int cli_run(int argc, char **argv);

/* Define a subcommand (declares it too, for -Wmissing-prototypes):
 *     CLI_COMMAND(cmd_gc) { ... return CLI_OK; }                        */
#define CLI_COMMAND(fn)                      \
	int fn(int argc, char **argv);       \
	int fn(int argc, char **argv)

/* ---- reporting ---- */

/* "shmkit: <what> <uri>: write error on standard output: <reason>" on stderr;
 * returns CLI_FAIL. err: negative errno (cli_json_finish's). */
int cli_fail_write(const char *what, const char *uri, int err);
/* The whole of iov[0..n) to standard output (the entries are advanced past
 * what went), across short writes, signals and a descriptor left
 * non-blocking by another process sharing it (EAGAIN: wait until it takes
 * more); *done counts the entries written whole (all n on success).
 * 0, or the negative errno of the write that failed. */
struct iovec;
int cli_write_out(struct iovec *iov, size_t n, size_t *done);
/* Flushes stdout: 0, or the negative errno of the write that failed (-EIO
 * when the stream only remembers that one did). */
int cli_stdout_flush(void);
/* "shmkit: <what> <uri>: reading standard input: <reason>": a failed read of
 * stdin (closed, a directory) is named as such, not as the segment's fault. */
int cli_fail_stdin(const char *what, const char *uri, int err);
/* -errno for stdin's last failed stdio read (-EIO when errno says nothing). */
int cli_stdin_error(void);

/* Print "shmkit: <what> <uri>: <reason>" on stderr (reason from a negative
 * errno) and return CLI_FAIL. uri may be NULL or "" (then it is left out). */
int cli_fail(const char *what, const char *uri, int err);
/* Why the last library call failed: its detail, else the errno's text. */
const char *cli_why(int err);
/* ---- names: one escaping convention, out and in (shmkit(1), NAMES) ----
 * Names other processes chose must not drive the terminal, two different
 * names must never print alike, and what is printed must name the same
 * thing when given back. So a byte is written \xHH (two lowercase hex
 * digits) when it is a control byte (C0, DEL, or part of a C1 control
 * U+0080..U+009F), a backslash, not part of valid UTF-8, or, in a name, a
 * blank; valid UTF-8 prints as it is. Every URI operand (and URI prefix)
 * the CLI takes decodes \xHH back to the byte (cli_take_uris). buf: 4 *
 * strlen(s) + 1 bytes always hold the result (else it is truncated to cap,
 * at a whole character or escape). */
/* A URI or name: blanks escaped too (\x20), so it is one word. */
const char *cli_name(const char *s, char *buf, size_t cap);
/* Free text (a reason, a library detail, a process name): blanks kept. */
const char *cli_printable(const char *s, char *buf, size_t cap);
/* cli_name, in single quotes when the shell would change it (a backslash,
 * a blank, '$'...), a quote inside as \x27: for the commands a message
 * suggests ("remove it: shmkit rm 'posix:/a\x20b'"). cap: 4 * strlen(s) + 3. */
const char *cli_shell_name(const char *s, char *buf, size_t cap);
/* The columns s takes on a terminal, not its bytes (a name holding é took
 * one column less than its bytes, and every cell after it was pushed one
 * left): ls and top align their columns by it. s is what cli_name or
 * cli_printable made: valid UTF-8 (a stray byte counts as one column). */
int cli_width(const char *s);
/* The bytes of s's longest start of whole characters that takes at most
 * cols columns (top's view cuts its lines at the screen's edge by it). */
size_t cli_fit(const char *s, int cols);
/* Decodes every "\xHH" of s in place (exactly a backslash, 'x' and two hex
 * digits; any other backslash stays); -EINVAL, s unchanged, if one is
 * \x00 (no name holds a NUL byte). */
int cli_unescape(char *s);
/* cli_unescape on each of v[0..n) (NULL skipped), the URI operands of cmd:
 * CLI_OK, or CLI_USAGE after a usage error. */
int cli_take_uris(const char *cmd, char **v, int n);

/* The URI options a command uses (cli_uri_options' takes). */
enum {
	CLI_URI_HUGE = 1,
	CLI_URI_POPULATE = 2,
	CLI_URI_ADDR = 4, /* addr= and rnd */
	CLI_URI_PRIVATE = 8,
	CLI_URI_PROJ = 16,
	CLI_URI_LOOK = CLI_URI_PRIVATE | CLI_URI_PROJ, /* what a look uses */
};
/* CLI_OK, or CLI_USAGE after a usage error when the (decoded) uri carries an
 * option the command does not use (takes: CLI_URI_*): rm and the looks would
 * otherwise ignore ?huge, ?populate or ?addr= in silence. */
int cli_uri_options(const char *cmd, const char *uri, unsigned takes);

/* cli_fail for an object that may be of another kind: -EBADMSG says "not a
 * shmkit <kind>" and what the library found instead ("is a queue (kind 2),
 * not a topic", "no shmkit header"), not the errno's text, which reads as
 * corruption; -ENOENT is cli_fail_missing's. kind: "queue", "topic", "map",
 * "heap". */
int cli_fail_kind(const char *what, const char *uri, int err, const char *kind);
/* "no such <kind> (make one: shmkit queue create URI ...)": an object
 * that is not there (-ENOENT), with the command that makes one. */
int cli_fail_missing(const char *what, const char *uri, const char *kind);
/* As cli_fail, with a free-text reason. */
int cli_fail_msg(const char *what, const char *uri, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* cli_fail for a create command; -EEXIST says that nothing was touched and
 * how to see or remove what is there. */
int cli_fail_create(const char *what, const char *uri, int err);
/* The limits that decide whether a segment of this URI's backend fits here
 * (tmpfs size and free space or SysV shmmax/shmall, and the cgroup memory
 * limit), in one line; from `shmkit doctor`'s checks. */
void cli_limits_facts(const char *uri, char *buf, size_t cap);
/* The usage error of a command whose first two words hold its action
 * (queue and topic: "create URI" or "URI create"): names the words that
 * are none ("queue URI stats" named the URI an unknown subcommand).
 * actions: "create, stat". */
int cli_not_an_action(const char *cmd, int n, char **words, const char *actions);
/* Print "shmkit: <cmd>: <message>" and the command's usage line on stderr;
 * return CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The usage of one action of a command whose usage line lists its actions
 * as alternatives ("map URI create SIZE ... | put KEY VALUE|- ... | get KEY"):
 * "map URI put KEY VALUE|- [--timeout S]" into buf, or NULL when the line
 * has no such action. */
const char *cli_action_usage(const char *cmd, const char *action, char *buf, size_t cap);
/* As cli_usage_error, for one action: "shmkit: <cmd> <action>: <message>"
 * and that action's usage alone (cli_action_usage); returns CLI_USAGE. */
int cli_action_usage_error(const char *cmd, const char *action, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* URI-PREFIX operands (ls, top, gc --prefix) in the form URIs are listed in:
 * "/name" is posix:/name, as everywhere a URI is taken. Rewrites v[0..n) in
 * place (new strings stay reachable from v); -ENOMEM if one cannot be made. */
int cli_uri_prefixes(char **v, int n);
/* CLI_OK, or CLI_USAGE after a usage error when a prefix has a scheme no URI
 * has ("posx:/app"): it could only match nothing, which says "nothing there". */
int cli_check_prefixes(const char *cmd, char *const *v, int n);
/* Does st's URI start with prefix, a SysV key counting however it is spelt
 * (sysv:0x6f588 = sysv:0x0006F588) and sysv:id=N naming it too? ls and top. */
int cli_stat_has_prefix(const struct shmkit_stat *st, const char *prefix);
/* After a create that succeeded: a sysv:private or ftok-path URI gets its
 * id or key only now, so print the URI that names it (sysv:id=N, sysv:0xKEY)
 * on stdout. seg: the created segment, or NULL (then it is looked up).
 * CLI_OK, or CLI_FAIL (said) when that name could not be written: then a
 * private segment, which nobody else could name, has been removed. */
int cli_say_made(const char *uri, const struct shmkit_seg *seg);
/* CLI_OK, or a reported failure for a URI nothing made from the shell
 * outlives (memfd:, anon:: gone when this command exits). */
int cli_check_lasting(const char *what, const char *uri);
/* The usage line of a command from the table in main.c ("ls [--json]"), or NULL. */
const char *cli_command_usage(const char *cmd);

/* --persist / --owned, taken by every create command (DESIGN §8): what the
 * shell makes is persistent (gc never removes it) unless --owned. */
struct cli_owner {
	int persist, owned;
};
#define CLI_OPT_OWNER(w)                                         \
	{"persist", 0, CLI_FLAG, &(w)->persist, NULL},           \
	{                                                        \
		"owned", 0, CLI_FLAG, &(w)->owned, NULL          \
	}
/* ORs SHMKIT_PERSIST into *mode unless --owned; with --owned, removes
 * SHMKIT_PERSIST from the environment (the library would otherwise make the
 * object persistent all the same). 0, or CLI_USAGE after a usage error (both
 * given). */
int cli_owner_mode(const char *cmd, const struct cli_owner *w, unsigned *mode);

/* Human size: "4096", "64K", "1.5M" (always B, K, M, G, T suffixes). */
const char *cli_human_size(uint64_t bytes, char *buf, size_t cap);
/* one, or many unless n is 1, for a count in a sentence:
 * "%" PRIu64 " %s sent", n, cli_plural(n, "message was", "messages were") */
const char *cli_plural(uint64_t n, const char *one, const char *many);

/* How much of standard input send, pub and map put read before refusing a
 * message or value over the object's own limit: that limit, but at least
 * 64 KiB, so a refusal of a message up to there can give its size, while
 * an endless input (/dev/zero) is refused, not held in memory. */
uint64_t cli_read_limit(uint64_t limit);

/* ---- time ---- */

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t cli_now_ns(void);
/* A whole-command timeout (SHMKIT_FOREVER: none) as an absolute deadline
 * (-1: none) ... */
int64_t cli_deadline(int64_t timeout_ns);
/* ... and what is left of it for the next call: SHMKIT_FOREVER, or >= 0. */
int64_t cli_left(int64_t deadline);
/* Opening an object waits about a second for a creator still initializing
 * it (shmkit_raw(3)); a command with a --timeout waits for that creator
 * here instead, within its deadline, by looks (`look`: a call that never
 * waits nor writes, -EAGAIN while the creator initializes). 0: open it now;
 * -EAGAIN (timeout 0) or -ETIMEDOUT once the deadline passed, the library's
 * detail naming the creator. Without a deadline, 0 at once. */
int cli_await_creator(int (*look)(const char *uri), const char *uri, int64_t timeout_ns,
		      int64_t deadline);
/* Says that cli_await_creator gave up (err), naming the creator; CLI_FAIL. */
int cli_fail_waited(const char *what, const char *uri, int err);

/* ---- names ---- */
const char *cli_backend_name(enum shmkit_backend b);     /* "posix", "sysv", ... */
const char *cli_lifetime_name(enum shmkit_lifetime l);   /* "process", "kernel", "filesystem" */
const char *cli_kind_name(uint32_t kind);                /* "queue", "map", ... */
/* "alice" or the number when the id has no name. */
const char *cli_user_name(uid_t uid, char *buf, size_t cap);

/* ---- looks at a memfd (cmd_seg.c) ----
 * The URI a look at uri opens: memfd:NAME, which no library open reaches (it
 * makes a new memfd), as fd:N in buf, N a descriptor of the one memfd ls
 * lists under that name, reopened read-only through a process that holds it
 * (*fd, for the caller to close); any other URI as given (*fd -1). NULL,
 * said on stderr as what failed, when no one memfd has that name or no
 * process holds a descriptor for it. */
const char *cli_look_uri(const char *what, const char *uri, char *buf, size_t len, int *fd);

/* ---- topics (cmd_pubsub.c): the topic part of `shmkit stat` ---- */
struct cli_json;
void cli_topic_print(const char *uri);
void cli_topic_json(struct cli_json *j, const char *uri);

/* ---- heaps and maps (cmd_map.c): their part of `shmkit stat` ---- */
void cli_heap_print(const char *uri, uint32_t kind);
void cli_heap_json(struct cli_json *j, const char *uri, uint32_t kind);

/* ---- JSON ----
 * A streaming writer for one document, indented two spaces. Inside an object
 * every value has a key; inside an array (and at the top) key is NULL.
 * Commas and indentation are automatic. Strings are escaped; each byte that
 * is not part of valid UTF-8 is written \udcXX, the lone surrogate Python's
 * surrogateescape gives it (os.fsencode(json.loads(doc)["uri"]) is the exact
 * bytes), so the output always parses and two strings never read alike. */
#define CLI_JSON_DEPTH 32
struct cli_json {
	FILE *out;
	int depth;
	unsigned char has_items[CLI_JSON_DEPTH];
	char closer[CLI_JSON_DEPTH];
};
void cli_json_init(struct cli_json *j, FILE *out);
void cli_json_object(struct cli_json *j, const char *key);   /* begin { */
void cli_json_array(struct cli_json *j, const char *key);    /* begin [ */
void cli_json_end(struct cli_json *j);                       /* close the innermost */
void cli_json_str(struct cli_json *j, const char *key, const char *val);  /* NULL -> null */
void cli_json_int(struct cli_json *j, const char *key, int64_t val);
void cli_json_uint(struct cli_json *j, const char *key, uint64_t val);
void cli_json_bool(struct cli_json *j, const char *key, int val);
void cli_json_null(struct cli_json *j, const char *key);
/* len bytes as a string when they are valid UTF-8 (NUL and control bytes
 * escaped, so every byte is kept), else null. */
void cli_json_text(struct cli_json *j, const char *key, const void *p, size_t len);
/* len bytes in base64 (RFC 4648, with padding): every byte, always. */
void cli_json_base64(struct cli_json *j, const char *key, const void *p, size_t len);
/* Finish the document (newline, flush); 0, or the negative errno of the
 * failed write (-EIO if none was set): report it with cli_fail_write. */
int cli_json_finish(struct cli_json *j);
/* Write s as a quoted, escaped JSON string. */
void cli_json_write_string(FILE *out, const char *s);

/* ---- queues (cmd_queue.c), for `shmkit stat` on a queue ---- */
/* Print the queue's depth and counters (nothing if uri is not an openable queue). */
void cli_queue_stat_text(const char *uri);
/* Add a "queue" object with the same to the open JSON object. */
void cli_queue_stat_json(struct cli_json *j, const char *uri);

#endif
