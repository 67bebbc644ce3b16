# SPDX-License-Identifier: MIT
# What the shell tests of the CLI share. Each sources it first:
#   . "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
# It sets SHMKIT (the tool under test), TMP (a private directory) and FAILS.
# On exit, and on INT or TERM, it runs the test's own `cleanup` when the test
# defines one (for processes it started), removes every URI the test put in
# CLEANUP, then TMP: what a test made goes even when the test fails.
set -uo pipefail
SHMKIT=${SHMKIT:-build/shmkit}
TMP=$(mktemp -d)
FAILS=0
CLEANUP=()

cli_lib_exit() {
	local u
	if declare -F cleanup >/dev/null; then cleanup; fi
	for u in "${CLEANUP[@]}"; do "$SHMKIT" rm "$u" >/dev/null 2>&1; done
	rm -rf "$TMP"
}
trap cli_lib_exit EXIT
trap 'exit 1' INT TERM

fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }

# expect CODE CMD...: run CMD, stdout/stderr in $TMP/out $TMP/err, check the exit code.
expect() {
	local want=$1 got
	shift
	"$@" >"$TMP/out" 2>"$TMP/err"
	got=$?
	[ "$got" = "$want" ] || fail "exit $got (want $want): $* :: $(head -c 300 "$TMP/err")"
}
err_has() { grep -Eq -- "$1" "$TMP/err" || fail "stderr '$(cat "$TMP/err")' !~ '$1'"; }
out_has() { grep -Fq -- "$1" "$TMP/out" || fail "stdout lacks '$1': $(head -c 500 "$TMP/out")"; }
out_is() { [ "$(cat "$TMP/out")" = "$1" ] || fail "stdout '$(cat "$TMP/out")' != '$1'"; }

# finish NAME: a test's last line: one summary line, and its exit status
# (0 only when nothing failed).
finish() {
	echo "$1: $FAILS failure(s)"
	[ "$FAILS" = 0 ]
}
