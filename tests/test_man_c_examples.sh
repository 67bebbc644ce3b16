#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every C example of a man3 page that is a whole file (its block begins with
# #include) compiles as written against include/ (-fsyntax-only), as a new
# user pasting it would build it. shmkit_mutex(3)'s example included only
# <shmkit.h> and <stdio.h> and compared with -EOWNERDEAD: 'EOWNERDEAD
# undeclared' (found by a helper compiling the man pages' examples, round 26).
set -uo pipefail
SRC=${SHMKIT_SOURCE_DIR:-.}
CC=${CC:-cc}
command -v "$CC" >/dev/null || { echo "skip: no C compiler ($CC)"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAILS=0
n=0
for page in "$SRC"/man/man3/*.3; do
	# each .nf/.fi block whose first line is an #include, roff escapes undone
	awk -v out="$TMP/$(basename "$page" .3)" '
		/^\.nf/ { on = 1; first = 1; k++; next }
		/^\.fi/ { on = 0; next }
		on && first { whole = ($0 ~ /^#include/); first = 0 }
		on && whole { print > (out "-" k ".c") }
	' "$page"
done
for c in "$TMP"/*.c; do
	[ -e "$c" ] || continue
	n=$((n + 1))
	sed -i -e 's/\\-/-/g' -e 's/\\e/\\/g' -e 's/\\&//g' -e 's/\\(dq/"/g' "$c"
	if ! "$CC" -std=c11 -fsyntax-only -I"$SRC/include" "$c" 2>"$TMP/err"; then
		echo "FAIL: the example in $(basename "$c" .c | sed 's/-[0-9]*$//')(3) does not compile:" >&2
		head -5 "$TMP/err" >&2
		FAILS=$((FAILS + 1))
	fi
done
[ "$n" -gt 0 ] || { echo "FAIL: found no whole-file C example in man/man3" >&2; FAILS=1; }
echo "test_man_c_examples: $n example(s), $FAILS failure(s)"
[ "$FAILS" = 0 ]
