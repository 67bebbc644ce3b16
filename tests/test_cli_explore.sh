#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Defects a demanding user found at the shell (explore-cli): each case failed
# before its fix. Every segment has a run-unique name and is removed on exit.
set -uo pipefail
SHMKIT=${SHMKIT:-build/shmkit}
TAG="shmkit-test-$$-explore"
TMP=$(mktemp -d)
FAILS=0
CLEANUP=()
cleanup() {
	for u in "${CLEANUP[@]}"; do "$SHMKIT" rm "$u" >/dev/null 2>&1; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
expect() {
	local want=$1; shift
	"$@" >"$TMP/out" 2>"$TMP/err"
	local got=$?
	[ "$got" = "$want" ] || fail "exit $got (want $want): $* :: $(head -c 300 "$TMP/err")"
}
err_has() { grep -Eq -- "$1" "$TMP/err" || fail "stderr '$(cat "$TMP/err")' !~ '$1'"; }

# ---- ls: two different names never print the same ----
# A blank is written \x20, so a backslash must be escaped too: else
# 'a b' and 'a\x20b' (a real backslash) are one line twice.
BL="posix:/$TAG-b c"; BS="posix:/$TAG-b\\x20c"; CLEANUP+=("$BL" "$BS")
expect 0 "$SHMKIT" create "$BL" 4K
expect 0 "$SHMKIT" create "$BS" 4K
expect 0 "$SHMKIT" ls -n -o URI "posix:/$TAG-b"
[ "$(sort -u "$TMP/out" | wc -l)" = 2 ] || fail "ls: two names print the same: $(cat "$TMP/out")"
grep -qxF "posix:/$TAG-b\\x5cx20c" "$TMP/out" || fail "ls: backslash not written \\x5c: $(cat "$TMP/out")"

# ---- URI prefixes take the /name shorthand every URI operand takes ----
# (ls /app-, top /app-, gc --prefix /app- matched nothing and said nothing)
PQ="posix:/$TAG-pq"; CLEANUP+=("$PQ")
expect 0 "$SHMKIT" queue create "/$TAG-pq" --capacity 2 --max-msg 8 --owned
expect 0 "$SHMKIT" ls -n -o URI "/$TAG-p"
[ "$(cat "$TMP/out")" = "$PQ" ] || fail "ls /prefix: '$(cat "$TMP/out")' != '$PQ'"
expect 0 "$SHMKIT" top --once --interval 0.05 "/$TAG-p"
grep -qF "$PQ" "$TMP/out" || fail "top /prefix misses $PQ: $(cat "$TMP/out")"
expect 0 "$SHMKIT" gc --dry-run --prefix "/$TAG-p"
grep -qF "would remove $PQ" "$TMP/out" || grep -qE "^would remove +$PQ " "$TMP/out" ||
	fail "gc --prefix /prefix misses $PQ: $(cat "$TMP/out")"
expect 0 "$SHMKIT" ls -n -o URI "posix" # a bare word still matches the scheme
grep -qF "$PQ" "$TMP/out" || fail "ls posix no longer lists $PQ"

echo "test_cli_explore: $FAILS failure(s)"
[ "$FAILS" = 0 ]
