#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every example runs and does what its comment promises: the SysV and POSIX
# writer/reader pairs (on names unique to this run), the file counter across
# restarts, the fork-shared counter, memfd passing. Cleans up even on failure.
set -uo pipefail
SHMKIT=${SHMKIT:-build/shmkit}
EX=${SHMKIT_EXAMPLES_DIR:-build/examples}
TMP=$(mktemp -d)
FAILS=0
KEY=$(printf '0x%08x' $(( (0x5d000000 | ($$ << 4)) & 0x7fffffff )))
NAME="/shmkit-test-$$-examples"
cleanup() {
	"$SHMKIT" rm "sysv:$KEY" "posix:$NAME" >/dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
# `make valgrind`: the examples themselves run under memcheck; an error is exit 99.
if [ -n "${SHMKIT_UNDER_VALGRIND:-}" ] && command -v valgrind >/dev/null; then
	for e in "$EX"/*; do
		[ -x "$e" ] && [ -f "$e" ] || continue
		printf '#!/bin/sh\nexec valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 "%s" "$@"\n' \
			"$e" >"$TMP/$(basename "$e")"
		chmod +x "$TMP/$(basename "$e")"
	done
	EX=$TMP
fi
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }

# the classic pairs: the writer exits before the reader starts
for pair in "sysv $KEY" "posix $NAME"; do
	set -- $pair
	out=$("$EX/$1_writer" "$2" 2>&1) || { fail "$1_writer: $out"; continue; }
	# --keep leaves the segment; without it the reader removes it (issue 10:
	# the pair used to leave sysv:0x44 behind for ever)
	out=$("$EX/$1_reader" --keep "$2" 2>&1)
	[ "$out" = "hello, world" ] || fail "$1_reader --keep printed '$out'"
	out=$("$EX/$1_reader" "$2" 2>&1)
	[ "$out" = "hello, world" ] || fail "$1_reader printed '$out'"
	"$SHMKIT" stat "$1:$2" >/dev/null 2>&1 && fail "$1_reader left $1:$2 behind"
	out=$("$EX/$1_reader" "$2" 2>&1) && fail "$1_reader succeeded after it removed it: $out"
done

# the file counter counts across runs
F="file:$TMP/counter"
for want in 1 2 3; do
	out=$("$EX/file_counter" "$F" 2>&1)
	[ "$out" = "$F: run $want" ] || fail "file_counter run $want printed '$out'"
done
[ "$(stat -c %a "$TMP/counter")" = 600 ] || fail "file_counter file is not 0600"

# the fork counter sees both processes' increments
out=$("$EX/fork_counter" 2>&1)
[ "$out" = "atomic 200000, locked 200000 (sum ok)" ] || fail "fork_counter printed '$out'"

# memfd passing: the child reads the parent's text and answers
out=$("$EX/memfd_pass" 2>&1) || fail "memfd_pass: $out"
grep -q '^child [0-9]* got: hello from the parent$' <<<"$out" || fail "memfd_pass child: $out"
grep -q '^parent read: hello back from [0-9]*$' <<<"$out" || fail "memfd_pass parent: $out"

echo "test_examples: $FAILS failure(s)"
[ "$FAILS" = 0 ]
