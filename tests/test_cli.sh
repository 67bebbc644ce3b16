#!/usr/bin/env bash
# The shmkit CLI, command by command: output, exit codes (0 ok, 1 failure,
# 2 usage), the one-line error format, --json that parses. Every segment it
# makes has a run-unique name and is removed on exit, also on failure.
set -uo pipefail
SHMKIT=${SHMKIT:-build/shmkit}
TAG="shmkit-test-$$-cli"
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
# The error line: exactly one line "shmkit: <what> <uri>: <reason>".
err_is() {
	local re=$1
	[ "$(wc -l <"$TMP/err")" = 1 ] || fail "stderr is not one line: $(cat "$TMP/err")"
	grep -Eq "^shmkit: $re" "$TMP/err" || fail "stderr '$(cat "$TMP/err")' !~ '$re'"
}
# A usage error: first line "shmkit: <cmd>: <problem>", then the usage line.
usage_is() {
	head -1 "$TMP/err" | grep -Eq "^shmkit: $1" || fail "stderr '$(cat "$TMP/err")' !~ '$1'"
}
out_has() { grep -Fq -- "$1" "$TMP/out" || fail "stdout lacks '$1': $(head -c 500 "$TMP/out")"; }
json_ok() { python3 -m json.tool "$TMP/out" >/dev/null || fail "not JSON: $(head -c 300 "$TMP/out")"; }
# has CMD: the command exists in this build (others land theirs later)
has() { "$SHMKIT" help "$1" >/dev/null 2>&1; }

# ---- help, version, usage ----
expect 0 "$SHMKIT" --version;           grep -Eq '^shmkit [0-9]+\.[0-9]+\.[0-9]+$' "$TMP/out" || fail "--version: $(cat "$TMP/out")"
expect 0 "$SHMKIT" --help;              out_has "Commands:"
expect 0 "$SHMKIT" help;                out_has "Commands:"
expect 2 "$SHMKIT"
expect 2 "$SHMKIT" no-such-command;     usage_is "unknown command"
expect 2 "$SHMKIT" help no-such-command
for c in $("$SHMKIT" --help | awk '/^Commands:/{on=1; next} on && /^  [a-z]/{print $1}'); do
	expect 0 "$SHMKIT" help "$c";   out_has "usage: shmkit $c"
	[ "$c" = bench ] || { expect 0 "$SHMKIT" "$c" --help; out_has "usage: shmkit $c"; }
done

# ---- doctor ----
expect 0 "$SHMKIT" doctor
for w in /dev/shm "SysV limits" "cgroup memory" RemoveIPC; do out_has "$w"; done
grep -Eq -- '-> (ok|info|warn|fail): ' "$TMP/out" || fail "doctor: no verdict lines"
expect 0 "$SHMKIT" doctor --json;      json_ok
expect 2 "$SHMKIT" doctor --bogus;     usage_is "doctor: bad option --bogus"
expect 2 "$SHMKIT" doctor extra;       usage_is "doctor: unexpected argument"

echo "test_cli: $FAILS failure(s)"
[ "$FAILS" = 0 ]
