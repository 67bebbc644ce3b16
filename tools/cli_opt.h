/* SPDX-License-Identifier: MIT */
/* shmkit CLI — the one option parser every subcommand uses, and the parsers
 * of option values (sizes, counts, durations, modes).
 *
 * A command describes its options in a table and calls cli_parse() once:
 *
 *     int json = 0; int64_t timeout = SHMKIT_FOREVER;
 *     const struct cli_opt opts[] = {
 *             { "json", 'J', CLI_FLAG, &json },
 *             { "timeout", 0, CLI_DURATION, &timeout },
 *             { 0 },
 *     };
 *     int n = cli_parse("recv", argc, argv, opts);
 *     if (n < 0) return CLI_USAGE;         // already reported
 *     // operands: argv[1] .. argv[n]
 *
 * Rules (GNU style, checked by tests/test_cli_parse.c):
 *   - options and operands may be mixed; the operands keep their order and
 *     are moved to argv[1..n] (argv[0], the command name, is skipped);
 *   - "--name VALUE", "--name=VALUE", "-x VALUE", "-xVALUE"; short flags can
 *     be grouped ("-nb"); a long name may be abbreviated while it stays
 *     unique among THIS command's options (exact names always win);
 *   - a value is taken from the next argument whatever it looks like, so
 *     "--timeout -1" works;
 *   - "--" ends the options; "-" and negative numbers ("-5") are operands,
 *     so a bad number is reported by whoever reads it, not as an option;
 *   - an unknown option, a missing or malformed value, a value given to a
 *     flag, or an option given twice is a usage error: one line naming the
 *     option (and the options the command takes) plus the usage line. */
#ifndef SHMKIT_CLI_OPT_H
#define SHMKIT_CLI_OPT_H

#include <stdint.h>

enum cli_opt_type {
	CLI_FLAG,     /* int *: set to 1 */
	CLI_STRING,   /* const char **: the argument itself */
	CLI_U64,      /* uint64_t *: cli_parse_u64 */
	CLI_SIZE,     /* uint64_t *: cli_parse_size */
	CLI_DURATION, /* int64_t *: cli_parse_duration (ns) */
	CLI_PERIOD,   /* int64_t *: the same without "forever": how often, not how long */
	CLI_MODE,     /* unsigned *: cli_parse_mode */
};

struct cli_opt {
	const char *name;       /* long name without "--"; NULL ends the table */
	char letter;            /* short name, 0 for none */
	enum cli_opt_type type;
	void *value;            /* where the value goes (type above) */
	int *given;             /* optional: set to 1 when the option is present */
};

/* Parse argv[1..argc) (argv[0] is the command's name; cmd names it in
 * messages and finds its usage line). Returns the number of operands, now in
 * argv[1..n], or -1 after printing a usage error. No global state: it may be
 * called any number of times. */
int cli_parse(const char *cmd, int argc, char **argv, const struct cli_opt *opts);

/* ---- values; each returns 0 or -EINVAL / -ERANGE ---- */

/* "4096", "0x1000", "64K", "64k", "64KiB", "1M", "1G", "2T" (binary units). */
int cli_parse_size(const char *s, uint64_t *out);
/* A plain non-negative integer, decimal or 0x hex. */
int cli_parse_u64(const char *s, uint64_t *out);
/* Decimal seconds, fractions allowed ("2", "0.5"), or with a unit: "ns", "us",
 * "ms", "s", "m" (or "min"), "h" ("250ms"); no exponent, no hex ("1e3" and
 * "0x10" are -EINVAL). "forever", "inf" and "-1" give SHMKIT_FOREVER. */
int cli_parse_duration(const char *s, int64_t *ns);
/* Octal permission bits: "600", "0644"; at most 0777 (no setuid, setgid or
 * sticky bit: DESIGN §8), and not 0 (the library's "default": 0600). */
int cli_parse_mode(const char *s, unsigned *mode);

#endif
