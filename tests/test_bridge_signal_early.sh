#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A bridge started in the background by a script (bash starts it with SIGINT
# ignored) that gets SIGINT while it opens — once ZeroMQ's threads exist,
# before it carries anything — ends, as one that gets it a moment later
# does. It installed its handler only once running: that SIGINT was
# ignored, lost, and the bridge ran on for good (a script's `kill -INT;
# wait` hung). Each round SIGINTs one bridge the moment its second thread
# appears. Skips (77) when shmkit was built without ZeroMQ.
set -uo pipefail
SHMKIT=${SHMKIT:-build/shmkit}
ID=$$
Q="posix:/shmkit-test-$ID-brsig"
TMP=$(mktemp -d)
export XDG_STATE_HOME="$TMP/state"
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
cleanup() {
	for p in $(jobs -p); do kill -9 "$p" 2>/dev/null; done
	"$SHMKIT" rm "$Q" >/dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if [[ $("$SHMKIT" bridge keygen 2>&1 >/dev/null) == *"without ZeroMQ"* ]]; then
	echo "SKIP: shmkit built without ZeroMQ"
	exit 77
fi
"$SHMKIT" queue create "$Q" --capacity 16 --max-msg 64 >/dev/null || fail "create $Q"

ROUNDS=20 lost=0
for i in $(seq $ROUNDS); do
	if ((i % 2)); then
		"$SHMKIT" bridge in "ipc://$TMP/s" "$Q" --bind 2>"$TMP/e" & P=$!
	else
		"$SHMKIT" bridge out "$Q" "ipc://$TMP/s" 2>"$TMP/e" & P=$!
	fi
	# its second thread: ZeroMQ's context is being made. Bounded by time,
	# not by a count of tries: on a loaded machine 20000 tries ran out
	# before the bridge got there (1 round in 20 of a run, 1 run in 3), and
	# the SIGINT went to a bridge still ignoring it, in exec or the loader
	end=$((SECONDS + 30)) t=()
	while [ "${#t[@]}" -lt 2 ] && [ $SECONDS -lt $end ] && kill -0 "$P" 2>/dev/null; do
		t=(/proc/$P/task/*)
	done
	[ "${#t[@]}" -ge 2 ] || fail "round $i: the bridge made no second thread in 30 s: $(cat "$TMP/e")"
	kill -INT "$P" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$P" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$P" 2>/dev/null; then
		lost=$((lost + 1))
		kill -TERM "$P" # it did start: SIGTERM stops it
	fi
	wait "$P" 2>/dev/null
done
[ "$lost" = 0 ] || fail "$lost of $ROUNDS bridges ran on 10 s after a SIGINT sent while they opened"

[ "$FAILS" = 0 ] && echo "ok: bridge signal early"
exit $((FAILS > 0))
