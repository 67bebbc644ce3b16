#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# examples/topic_publisher.c and topic_subscriber.c do what their comments
# promise: every subscriber started before the publisher prints every tick,
# then sees the publisher go; the topic is gone afterwards.
set -uo pipefail
SHMKIT=${SHMKIT:-build/shmkit}
EX=${SHMKIT_EXAMPLES_DIR:-build/examples}
T="posix:/shmkit-test-$$-ticks"
TMP=$(mktemp -d)
FAILS=0
cleanup() {
	"$SHMKIT" rm "$T" >/dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }

"$EX/topic_subscriber" "$T" >"$TMP/a" 2>&1 &
A=$!
"$EX/topic_subscriber" "$T" >"$TMP/b" 2>&1 &
B=$!
out=$("$EX/topic_publisher" "$T" 4 2 2>&1) || fail "publisher: $out"
[ "$out" = "published 4 messages" ] || fail "publisher printed '$out'"
wait $A || fail "subscriber A exit"
wait $B || fail "subscriber B exit"
for f in "$TMP/a" "$TMP/b"; do
	got=$(sed 's/^\[[0-9]*\] //' "$f")
	want=$(printf 'tick 1 of 4\ntick 2 of 4\ntick 3 of 4\ntick 4 of 4\nthe publisher is gone: 4 received, 0 dropped')
	[ "$got" = "$want" ] || fail "subscriber printed: $(cat "$f")"
done
"$SHMKIT" stat "$T" >/dev/null 2>&1 && fail "the publisher did not remove the topic"
echo "test_topic_examples: $FAILS failure(s)"
[ "$FAILS" = 0 ]
