#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shmkit map and heap against a process stopped while it holds the lock
# (tests/lock_holder: SIGSTOP, as Ctrl-Z or a debugger leave a writer):
#  - put, del and check with --timeout S exit 1 after S with one line naming
#    the holder's pid and that it is stopped; nothing changed;
#  - without --timeout they wait (scripts keep working), say so once on
#    stderr after 1 s, and finish when the holder is continued;
#  - --timeout on an action that takes no lock is a usage error (exit 2).
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"

HOLDER=${SHMKIT_LOCK_HOLDER:-${SHMKIT_BINARY_DIR:-build}/tests/lock_holder}
[ -x "$HOLDER" ] || { echo "skip: no lock_holder at $HOLDER"; exit 77; }
M=posix:/shmkit-test-$$-lockcli-map
H=posix:/shmkit-test-$$-lockcli-heap
CLEANUP=("$M" "$H")
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
}
T="timeout 30" # a command that hangs fails the test instead of its time limit

# hold map|heap URI: a holder stopped with URI's lock; its pid in HP.
hold() {
	"$HOLDER" "$1" "$2" >/dev/null &
	HP=$!
	PIDS+=("$HP")
	local i state
	for i in $(seq 1000); do
		state=$(sed 's/.*) \(.\).*/\1/' "/proc/$HP/stat" 2>/dev/null)
		[ "$state" = T ] && return 0
		sleep 0.01
	done
	fail "lock_holder $1 $2 never stopped holding the lock"
}
# Continues the holder: it lets go and exits 0.
release() {
	kill -CONT "$HP"
	wait "$HP" || fail "lock_holder exited $?"
}
one_line() { [ "$(wc -l <"$TMP/err")" = 1 ] || fail "stderr is not one line: $(cat "$TMP/err")"; }

expect 0 "$SHMKIT" map "$M" create 64K
expect 0 "$SHMKIT" map "$M" put k old

# ---- --timeout gives up, naming the stopped holder ----
hold map "$M"
expect 1 $T "$SHMKIT" map "$M" put k new --timeout 0.3
err_has "^shmkit: map put $M: the lock is held by pid $HP \(stopped\); gave up waiting \(--timeout 0.3 s\), nothing changed$"
one_line
expect 1 $T "$SHMKIT" map "$M" put other v --timeout 0.3
err_has "held by pid $HP \(stopped\)"
expect 1 $T "$SHMKIT" map "$M" del k --timeout 0.3
err_has "^shmkit: map del $M: the lock is held by pid $HP \(stopped\)"
expect 1 $T "$SHMKIT" map "$M" check --timeout 0
err_has "^shmkit: map check $M: the lock is held by pid $HP \(stopped\)"
expect 1 $T "$SHMKIT" heap "$M" check --timeout 0.2 # a map is a heap too
err_has "held by pid $HP \(stopped\)"
# nothing changed, and looking never waits for the lock
expect 0 $T "$SHMKIT" map "$M" get k
out_is old
expect 1 $T "$SHMKIT" map "$M" get other
expect 0 $T "$SHMKIT" map "$M" count
out_is 1

# ---- options an action does not take ----
for act in "get k" "ls" "count" "flush" "create 64K"; do
	# shellcheck disable=SC2086 # the action's words
	expect 2 "$SHMKIT" map "$M" $act --timeout 1
	err_has "--timeout is not an option of ${act%% *} \(only of put, del and check\)"
done
expect 2 "$SHMKIT" heap "$H" stats --timeout 1
err_has "--timeout is not an option of stats \(only of check\)"
expect 2 "$SHMKIT" map "$M" put k v --timeout soon
err_has "timeout"

# ---- the default waits, says so once, and finishes when the holder goes on ----
$T "$SHMKIT" map "$M" put k new >"$TMP/wait.out" 2>"$TMP/wait.err" &
PUT=$!
PIDS+=("$PUT")
for i in $(seq 500); do
	[ -s "$TMP/wait.err" ] && break
	sleep 0.01
done
sleep 0.5 # more time: still one line, still waiting
kill -0 "$PUT" 2>/dev/null || fail "put without --timeout did not wait for the stopped holder"
grep -Eq "^shmkit: map put $M: waiting for the lock, held by pid $HP \(stopped\); --timeout S gives up$" \
	"$TMP/wait.err" || fail "no waiting line: '$(cat "$TMP/wait.err")'"
[ "$(wc -l <"$TMP/wait.err")" = 1 ] || fail "the waiting line is not one line: $(cat "$TMP/wait.err")"
release
wait "$PUT" || fail "put that waited exited $?"
expect 0 "$SHMKIT" map "$M" get k
out_is new

# ---- a heap, and --timeout longer than the wait: it succeeds, unbothered ----
expect 0 "$SHMKIT" heap "$H" create 64K
hold heap "$H"
expect 1 $T "$SHMKIT" heap "$H" check --timeout 0.3
err_has "^shmkit: heap check $H: the lock is held by pid $HP \(stopped\); gave up waiting"
(sleep 0.3 && kill -CONT "$HP") &
expect 0 $T "$SHMKIT" heap "$H" check --timeout 20
out_is ok
[ -s "$TMP/err" ] && fail "a wait under 1 s printed: $(cat "$TMP/err")"
wait "$HP" || fail "lock_holder exited $?"
expect 0 "$SHMKIT" map "$M" check --timeout 1
out_is ok

finish test_lock_timeout_cli
