#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# "Nothing is lost by a user's hands" (cli-sweep): defects found trying the
# tool as a new user would; each case failed before its fix. Every segment
# and file has a run-unique name and is removed on exit, also on failure.
set -uo pipefail
SHMKIT=${SHMKIT:-build/shmkit}
TAG="shmkit-test-$$-sweep"
TMP=$(mktemp -d)
FAILS=0
CLEANUP=()
PIDS=() # processes whose private SysV segments are ours to remove
cleanup() {
	for u in "${CLEANUP[@]}"; do "$SHMKIT" rm "$u" >/dev/null 2>&1; done
	# a sysv:private segment whose id the test never learnt: by creator pid
	for p in "${PIDS[@]}"; do
		awk -v p="$p" 'NR > 1 && $1 == 0 && $5 == p { print $2 }' /proc/sysvipc/shm |
			while read -r id; do "$SHMKIT" rm "sysv:id=$id" >/dev/null 2>&1; done
	done
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
# As expect, with the command's pid in PIDS first (it may make sysv:private segments).
expect_pid() {
	local want=$1; shift
	bash -c 'exec "$@"' sh "$@" >"$TMP/out" 2>"$TMP/err" &
	local pid=$!
	PIDS+=("$pid")
	wait "$pid"
	local got=$?
	[ "$got" = "$want" ] || fail "exit $got (want $want): $* :: $(head -c 300 "$TMP/err")"
}
err_has() { grep -Eq -- "$1" "$TMP/err" || fail "stderr '$(cat "$TMP/err")' !~ '$1'"; }

# ---- the create commands of objects say which SysV segment they made ----
# (queue/map/heap/topic create on sysv:private printed nothing, exit 0: a
# persistent object gc never removes, which nobody could name; an ftok path
# did not say its key either, as create does)
for kind in queue map heap topic; do
	case $kind in
	queue) args=(queue create sysv:private --capacity 4 --max-msg 8) ;;
	map) args=(map sysv:private create 64K) ;;
	heap) args=(heap sysv:private create 64K) ;;
	topic) args=(topic create sysv:private --slots 4 --slot-size 64) ;;
	esac
	expect_pid 0 "$SHMKIT" "${args[@]}"
	made=$(cat "$TMP/out")
	case "$made" in
	sysv:id=[0-9]*)
		CLEANUP+=("$made")
		expect 0 "$SHMKIT" stat "$made"
		grep -Eq "^sysv id: +${made#sysv:id=}$" "$TMP/out" || fail "$kind: stat $made: $(cat "$TMP/out")"
		expect 0 "$SHMKIT" rm "$made" ;;
	*) fail "$kind create sysv:private printed '$made' (want sysv:id=N)" ;;
	esac
done
: >"$TMP/ftok"
FT="sysv:$TMP/ftok?proj=0x5e"; CLEANUP+=("$FT")
expect 0 "$SHMKIT" queue create "$FT" --capacity 4 --max-msg 8
KEY=$("$SHMKIT" stat "$FT" 2>/dev/null | awk '/^sysv key:/ { print $3 }')
[ -n "$KEY" ] && [ "$(cat "$TMP/out")" = "sysv:$KEY" ] ||
	fail "queue create $FT printed '$(cat "$TMP/out")' (key $KEY)"
expect 0 "$SHMKIT" rm "$FT"

echo "test_cli_sweep: $FAILS failure(s)"
[ "$FAILS" = 0 ]
