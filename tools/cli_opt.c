/* SPDX-License-Identifier: MIT */
/* shmkit CLI — the one option parser and the option value parsers. See cli_opt.h. */
#include "cli_opt.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmkit.h>

#include "cli.h"

/* ---- values ---- */

/* Decimal, or hex with 0x: never octal, so a leading zero (010, 08) means
 * what a user who pads a number expects instead of 8 or an error. */
static int number_base(const char *s)
{
	return s[0] == '0' && (s[1] == 'x' || s[1] == 'X') ? 16 : 10;
}

/* The number s starts with into *v, and *end after it: 0, -EINVAL (no
 * number) or -ERANGE (over 64 bits). */
static int leading_number(const char *s, unsigned long long *v, char **end)
{
	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, end, number_base(s));
	if (errno == ERANGE)
		return -ERANGE;
	if (errno || *end == s)
		return -EINVAL;
	return 0;
}

int cli_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	int r = leading_number(s, &v, &end);

	if (r < 0)
		return r;
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int unit_shift(const char *u, unsigned *shift)
{
	static const char units[] = "KMGTPE";
	const char *p;

	if (*u == 0 || strcmp(u, "B") == 0 || strcmp(u, "b") == 0) {
		*shift = 0;
		return 0;
	}
	p = strchr(units, toupper((unsigned char)*u));
	if (!p)
		return -EINVAL;
	u++;
	/* K, KB, KiB: all binary, as ipcs and /dev/shm sizes are. */
	if (*u && strcmp(u, "B") && strcmp(u, "b") && strcmp(u, "iB") && strcmp(u, "ib"))
		return -EINVAL;
	*shift = 10 * (unsigned)(p - units + 1);
	return 0;
}

int cli_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift;
	int r = leading_number(s, &v, &end);

	if (r < 0)
		return r;
	if (unit_shift(end, &shift) < 0)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

int cli_parse_duration(const char *s, int64_t *ns)
{
	static const struct {
		const char *name;
		double ns;
	} units[] = { { "ns", 1 }, { "us", 1e3 }, { "ms", 1e6 }, { "s", 1e9 }, { "", 1e9 },
		      { "m", 60e9 }, { "min", 60e9 }, { "h", 3600e9 } };
	char digits[64];
	double v;

	if (!s)
		return -EINVAL;
	if (!strcmp(s, "forever") || !strcmp(s, "inf") || !strcmp(s, "-1")) {
		*ns = SHMKIT_FOREVER;
		return 0;
	}
	/* Decimal digits, a fraction allowed ("2", "0.5", ".5"), then the unit:
	 * strtod alone took 1e3 and 0x10 (and 0x1p4) too. */
	size_t whole = strspn(s, "0123456789"), len = whole, frac = 0;
	if (s[whole] == '.') {
		frac = strspn(s + whole + 1, "0123456789");
		len += 1 + frac;
	}
	if (whole + frac == 0)
		return -EINVAL;
	if (len >= sizeof(digits))
		return -ERANGE;
	memcpy(digits, s, len);
	digits[len] = '\0';
	v = strtod(digits, NULL); /* only decimal digits and a point: no errno to read */
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(s + len, units[i].name) == 0) {
			double t = v * units[i].ns;
			if (t >= 9.2e18)
				return -ERANGE;
			*ns = (int64_t)t;
			if ((double)*ns < t)
				(*ns)++; /* round up: a timeout never expires earlier than asked */
			return 0;
		}
	}
	return -EINVAL;
}

int cli_parse_mode(const char *s, unsigned *mode)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '7')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 8);
	/* 0 is refused: the library reads a mode of 0 as its default, 0600 */
	if (errno || *end || v > 0777 || v == 0)
		return -EINVAL;
	*mode = (unsigned)v;
	return 0;
}

/* ---- the option parser ---- */

/* What a malformed value should have looked like, for the error line. */
static const char *type_hint(enum cli_opt_type t)
{
	switch (t) {
	case CLI_U64: return "a whole number, like 8";
	case CLI_SIZE: return "a size, like 4096, 64K, 1M";
	case CLI_DURATION:
		return "seconds like 2 or 0.5, or with a unit ns, us, ms, s, m or h like 250ms; "
		       "or forever";
	case CLI_PERIOD:
		return "seconds like 2 or 0.5, or with a unit ns, us, ms, s, m or h like 250ms";
	case CLI_MODE: return "octal permission bits 1 to 777, like 600 or 0644; 0 would be the default, 0600";
	default: return "a word";
	}
}

/* A period (top --interval): "forever" would be one that never comes round,
 * so it is a bad value, and the hint above does not offer it. */
static int parse_period(const char *s, int64_t *ns)
{
	int64_t v;
	int r = cli_parse_duration(s, &v);

	if (r == 0 && v == SHMKIT_FOREVER)
		return -EINVAL;
	if (r == 0)
		*ns = v;
	return r;
}

static int store_value(const struct cli_opt *o, const char *arg)
{
	switch (o->type) {
	case CLI_FLAG: *(int *)o->value = 1; return 0;
	case CLI_STRING: *(const char **)o->value = arg; return 0;
	case CLI_U64: return cli_parse_u64(arg, o->value);
	case CLI_SIZE: return cli_parse_size(arg, o->value);
	case CLI_DURATION: return cli_parse_duration(arg, o->value);
	case CLI_PERIOD: return parse_period(arg, o->value);
	case CLI_MODE: return cli_parse_mode(arg, o->value);
	}
	return -EINVAL;
}

/* " (this command takes --a, --b)" or " (this command takes no options)". */
static void list_options(const struct cli_opt *opts, char *buf, size_t cap)
{
	size_t n = (size_t)snprintf(buf, cap, opts[0].name ? " (options: " : " (no options)");

	for (const struct cli_opt *o = opts; o->name && n < cap; o++)
		n += (size_t)snprintf(buf + n, cap - n, "%s--%s", o == opts ? "" : ", ", o->name);
	if (opts[0].name && n < cap)
		snprintf(buf + n, cap - n, ")");
}

static int bad_option(const char *cmd, const struct cli_opt *opts, const char *what)
{
	char list[512];

	list_options(opts, list, sizeof(list));
	cli_usage_error(cmd, "%s%s", what, list);
	return -1;
}

/* The option a long name (len bytes of it) means: exact, else a unique prefix. */
static const struct cli_opt *find_long(const char *cmd, const struct cli_opt *opts, const char *name,
				       size_t len, int *err)
{
	const struct cli_opt *hit = NULL;
	int hits = 0;
	char what[160];

	*err = 0;
	for (const struct cli_opt *o = opts; o->name; o++) {
		if (strncmp(o->name, name, len) != 0)
			continue;
		if (o->name[len] == '\0')
			return o;
		hit = o;
		hits++;
	}
	if (hits == 1)
		return hit;
	snprintf(what, sizeof(what), "%s option --%.*s", hits ? "ambiguous" : "bad", (int)len, name);
	*err = bad_option(cmd, opts, what);
	return NULL;
}

static const struct cli_opt *find_short(const char *cmd, const struct cli_opt *opts, char c,
					int *err)
{
	char what[32];

	*err = 0;
	for (const struct cli_opt *o = opts; o->name; o++)
		if (o->letter && o->letter == c)
			return o;
	snprintf(what, sizeof(what), "bad option -%c", c);
	*err = bad_option(cmd, opts, what);
	return NULL;
}

/* Record option o with its value (NULL for a flag); -1 after reporting. */
static int take(const char *cmd, const struct cli_opt *o, const char *arg, int *seen)
{
	if (seen[0]) {
		cli_usage_error(cmd, "option --%s given twice", o->name);
		return -1;
	}
	seen[0] = 1;
	if (store_value(o, arg) < 0) {
		cli_usage_error(cmd, "bad value for --%s: '%s' (expected %s)", o->name, arg,
				type_hint(o->type));
		return -1;
	}
	if (o->given)
		*o->given = 1;
	return 0;
}

/* An argument that is an operand although it starts with '-': "-" (stdin) and
 * negative numbers, which the command then rejects with a precise message. */
static int looks_like_operand(const char *a)
{
	return a[0] != '-' || a[1] == '\0' || isdigit((unsigned char)a[1]) || a[1] == '.';
}

/* "--name[=value]" at argv[*i]; advances *i past a separate value. */
static int parse_long(const char *cmd, int argc, char **argv, int *i, const struct cli_opt *opts,
		      int *seen)
{
	const char *name = argv[*i] + 2, *eq = strchr(name, '=');
	size_t len = eq ? (size_t)(eq - name) : strlen(name);
	int err;
	const struct cli_opt *o = find_long(cmd, opts, name, len, &err);

	if (!o)
		return err;
	if (o->type == CLI_FLAG) {
		if (eq) {
			cli_usage_error(cmd, "option --%s takes no value", o->name);
			return -1;
		}
		return take(cmd, o, NULL, &seen[o - opts]);
	}
	if (eq)
		return take(cmd, o, eq + 1, &seen[o - opts]);
	if (*i + 1 >= argc) {
		cli_usage_error(cmd, "option --%s needs a value (%s)", o->name, type_hint(o->type));
		return -1;
	}
	return take(cmd, o, argv[++*i], &seen[o - opts]);
}

/* "-abc" or "-xVALUE" or "-x VALUE" at argv[*i]. */
static int parse_short(const char *cmd, int argc, char **argv, int *i, const struct cli_opt *opts,
		       int *seen)
{
	for (const char *p = argv[*i] + 1; *p; p++) {
		int err;
		const struct cli_opt *o = find_short(cmd, opts, *p, &err);

		if (!o)
			return err;
		if (o->type == CLI_FLAG) {
			if (take(cmd, o, NULL, &seen[o - opts]) < 0)
				return -1;
			continue;
		}
		if (p[1])
			return take(cmd, o, p + 1, &seen[o - opts]);
		if (*i + 1 >= argc) {
			cli_usage_error(cmd, "option -%c (--%s) needs a value (%s)", *p, o->name,
					type_hint(o->type));
			return -1;
		}
		return take(cmd, o, argv[++*i], &seen[o - opts]);
	}
	return 0;
}

int cli_parse(const char *cmd, int argc, char **argv, const struct cli_opt *opts)
{
	int n_opts = 0, n = 0, ret = 0;

	while (opts[n_opts].name)
		n_opts++;
	int *seen = calloc((size_t)n_opts + 1, sizeof(int));
	char **operands = calloc((size_t)argc + 1, sizeof(char *));
	if (!seen || !operands) {
		free(seen);
		free(operands);
		cli_fail(cmd, NULL, -ENOMEM);
		return -1;
	}
	for (int i = 1; i < argc && ret == 0; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			while (++i < argc)
				operands[n++] = argv[i];
			break;
		}
		if (looks_like_operand(a))
			operands[n++] = argv[i];
		else if (a[1] == '-')
			ret = parse_long(cmd, argc, argv, &i, opts, seen);
		else
			ret = parse_short(cmd, argc, argv, &i, opts, seen);
	}
	if (ret == 0)
		memcpy(argv + 1, operands, (size_t)n * sizeof(char *));
	free(seen);
	free(operands);
	return ret < 0 ? -1 : n;
}
