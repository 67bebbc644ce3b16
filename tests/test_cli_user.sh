#!/usr/bin/env bash
# A new user's mistakes at the shell (issue 10): each is refused, or answered,
# with a line that says what is wrong and what to do, and nothing the user did
# not name is lost. Every segment has a run-unique name and is removed on exit.
set -uo pipefail
SHMKIT=${SHMKIT:-build/shmkit}
TAG="shmkit-test-$$-user"
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
# expect CODE CMD...: run CMD, stdout/stderr in $TMP/out $TMP/err, check the exit code.
expect() {
	local want=$1; shift
	"$@" >"$TMP/out" 2>"$TMP/err"
	local got=$?
	[ "$got" = "$want" ] || fail "exit $got (want $want): $* :: $(head -c 300 "$TMP/err")"
}
err_has() { grep -Eq -- "$1" "$TMP/err" || fail "stderr '$(cat "$TMP/err")' !~ '$1'"; }
out_has() { grep -Fq -- "$1" "$TMP/out" || fail "stdout lacks '$1': $(head -c 500 "$TMP/out")"; }
out_is() { [ "$(cat "$TMP/out")" = "$1" ] || fail "stdout '$(cat "$TMP/out")' != '$1'"; }

# ---- defect 4: raw writes and creates never destroy a shmkit object ----
Q="posix:/$TAG-q"; CLEANUP+=("$Q")
expect 0 "$SHMKIT" queue create "$Q" --capacity 8 --max-msg 64
expect 0 "$SHMKIT" send "$Q" one two
expect 1 "$SHMKIT" write "$Q" oops
err_has "^shmkit: write $Q: is a shmkit queue: .*--force"
expect 1 "$SHMKIT" write --offset 4096 "$Q" oops
expect 1 "$SHMKIT" create "$Q" 4K
err_has "File exists; left as it was"
for c in "queue create $Q --capacity 2 --max-msg 8" "topic create $Q" "map $Q create 64K" \
	"heap $Q create 64K"; do
	# shellcheck disable=SC2086
	expect 1 "$SHMKIT" $c
	err_has "File exists; left as it was"
done
# the queue still holds both messages, in order
expect 0 "$SHMKIT" recv "$Q" --count 2 --timeout 5
out_is $'one\ntwo'
# --force writes raw bytes when asked
expect 0 "$SHMKIT" write --force "$Q" oops
expect 1 "$SHMKIT" recv "$Q" --timeout 0
# a plain segment takes raw writes without --force
S="posix:/$TAG-s"; CLEANUP+=("$S")
expect 0 "$SHMKIT" create "$S" 4K
expect 0 "$SHMKIT" write "$S" hello
expect 0 "$SHMKIT" read "$S"
out_is hello

echo "test_cli_user: $FAILS failure(s)"
[ "$FAILS" = 0 ]
