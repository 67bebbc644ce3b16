#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A process of another pid namespace (a container sharing /dev/shm) is
# named in messages by a number that means something here. Its role, its
# publisher claim and its creator are recorded with its own namespace's pid:
# a consumer started under `unshare --pid` was "pid 1 is already its
# consumer" from the host, and pid 1 here is init. Now "pid H (1 in its own
# pid namespace)", H our number for it; gc, whose attach slots keep no
# namespace, says the pid is another namespace's. Needs root (skips, 77).
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
if [ "$(id -u)" != 0 ] || ! unshare --pid --fork --mount-proc true 2>/dev/null; then
	echo "SKIP: needs root and unshare --pid"
	exit 77
fi
ID=$$
Q="posix:/shmkit-test-$ID-pidns-q" T="posix:/shmkit-test-$ID-pidns-t"
CLEANUP+=("$Q" "$T")
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	PIDS=()
	exec 3>&-
}

# The host pid of the process running `shmkit ARGS` as pid 1 of its namespace.
inner_pid() {
	local p
	for p in $(pgrep -f -- "$1"); do
		grep -Eq "^NSpid:[[:space:]]+$p[[:space:]]+1$" "/proc/$p/status" 2>/dev/null && { echo "$p"; return; }
	done
}

expect 0 "$SHMKIT" queue create "$Q" --capacity 8 --max-msg 16 --owned
unshare --pid --fork --kill-child --mount-proc "$SHMKIT" recv "$Q" --count 1 --timeout 20 >/dev/null &
PIDS+=($!)
expect 0 "$SHMKIT" topic create "$T" --slots 4 --slot-size 16
mkfifo "$TMP/in" # the publisher's input, held open (fd 3) until the end
unshare --pid --fork --kill-child --mount-proc "$SHMKIT" pub "$T" --timeout 20 <"$TMP/in" &
PIDS+=($!)
exec 3>"$TMP/in"
for _ in $(seq 1 100); do
	[ -n "$(inner_pid "recv $Q")" ] && [ -n "$(inner_pid "pub $T")" ] && break
	sleep 0.05
done
RP=$(inner_pid "recv $Q") PP=$(inner_pid "pub $T")
[ -n "$RP" ] && [ -n "$PP" ] || fail "the namespaced recv and pub did not start"

# a second consumer and publisher from here (once theirs have claimed):
# each holder by our number for it
refused_by() {
	for _ in $(seq 1 100); do
		"$@" >"$TMP/out" 2>"$TMP/err" </dev/null
		grep -q "is already its" "$TMP/err" && return
		sleep 0.05
	done
}
refused_by "$SHMKIT" recv "$Q" --timeout 0
err_has "pid $RP \(1 in its own pid namespace\) is already its consumer"
refused_by "$SHMKIT" pub "$T" x
err_has "pid $PP \(1 in its own pid namespace\) is already its publisher"
expect 0 "$SHMKIT" gc --dry-run --prefix "$Q"
out_has "attached pid 1 (of another pid namespace: its lock is held) is alive"

expect 0 "$SHMKIT" send "$Q" done
cleanup
finish test_cli_pidns
