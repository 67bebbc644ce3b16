#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The event-loop examples run and do what their comments promise:
# epoll_consumer takes messages sent by `shmkit send` from another process
# beside a ticking timerfd in one epoll loop; uv_subscriber (built when libuv
# is installed) prints a topic's messages in a libuv loop and exits when the
# publisher closes the topic. Names unique to this run; cleans up on failure.
set -uo pipefail
SHMKIT=${SHMKIT:-build/shmkit}
EX=${SHMKIT_EXAMPLES_DIR:-build/examples}
TMP=$(mktemp -d)
Q="posix:/shmkit-test-$$-evq"
T="posix:/shmkit-test-$$-evt"
FAILS=0
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	"$SHMKIT" rm "$Q" "$T" >/dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }

# wait_for FILE TEXT: up to 20 s for TEXT to appear in FILE
wait_for() {
	for _ in $(seq 200); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# epoll_consumer: three messages from another process, ticks every 20 ms
"$SHMKIT" queue create "$Q" --capacity 16 --max-msg 64 >/dev/null || fail "queue create"
"$EX/epoll_consumer" "$Q" 3 20 >"$TMP/epoll.out" 2>&1 &
PIDS+=($!)
wait_for "$TMP/epoll.out" "waiting for 3" || fail "epoll_consumer did not start: $(cat "$TMP/epoll.out")"
sleep 0.1
"$SHMKIT" send "$Q" one two three || fail "shmkit send"
wait "${PIDS[0]}" || fail "epoll_consumer exited $?: $(cat "$TMP/epoll.out")"
[ "$(grep -c '^got: ' "$TMP/epoll.out")" = 3 ] || fail "epoll_consumer: $(cat "$TMP/epoll.out")"
grep -q '^got: one$' "$TMP/epoll.out" && grep -q '^got: three$' "$TMP/epoll.out" ||
	fail "epoll_consumer messages: $(cat "$TMP/epoll.out")"
grep -q '^tick [0-9]' "$TMP/epoll.out" || fail "epoll_consumer never ticked: $(cat "$TMP/epoll.out")"
grep -q '^received 3 messages' "$TMP/epoll.out" || fail "epoll_consumer end: $(cat "$TMP/epoll.out")"

# uv_subscriber: a topic's descriptor in a libuv loop, -EPIPE ends it
if [ -x "$EX/uv_subscriber" ]; then
	"$SHMKIT" topic create "$T" >/dev/null || fail "topic create"
	"$EX/uv_subscriber" "$T" >"$TMP/uv.out" 2>&1 &
	PIDS+=($!)
	wait_for "$TMP/uv.out" "^ready" || fail "uv_subscriber did not start: $(cat "$TMP/uv.out")"
	"$SHMKIT" pub "$T" alpha beta gamma || fail "shmkit pub"
	wait "${PIDS[1]}" || fail "uv_subscriber exited $?: $(cat "$TMP/uv.out")"
	[ "$(grep -c '^got: ' "$TMP/uv.out")" = 3 ] || fail "uv_subscriber: $(cat "$TMP/uv.out")"
	grep -q '^publisher closed after 3 messages$' "$TMP/uv.out" ||
		fail "uv_subscriber end: $(cat "$TMP/uv.out")"
else
	echo "uv_subscriber not built (libuv not found): its part skipped"
fi

echo "test_event_loop_examples: $FAILS failure(s)"
[ "$FAILS" = 0 ]
