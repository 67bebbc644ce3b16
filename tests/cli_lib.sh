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

# py_lib_env: sets PY_ENV, env(1) words for a python3 that loads this build's
# libshmkit.so. A sanitized library loads only with its runtime preloaded
# first ("ASan runtime does not come first"): the python holders of test_top
# and test_cli_look failed to start in the ASan build, and the parts they
# serve were skipped there. Python's own allocations are not ours to
# leak-check (as in tests/python).
py_lib_env() {
	local lib=$SHMKIT_BINARY_DIR/libshmkit.so asan
	PY_ENV=("PYTHONPATH=$SHMKIT_SOURCE_DIR/python" "SHMKIT_LIBRARY=$lib")
	asan=$(ldd "$lib" 2>/dev/null | awk '/libasan/ {print $3}')
	if [ -n "$asan" ]; then
		PY_ENV+=("LD_PRELOAD=$asan" PYTHONMALLOC=malloc ASAN_OPTIONS=detect_leaks=0:abort_on_error=0)
	fi
}
