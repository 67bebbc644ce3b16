#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A topic's `bridge out` with no remote subscriber reads nothing: ZeroMQ's
# PUB discarded whatever it was given then, so the bridge read a reliable
# topic at full speed into nothing ("1000 messages, 0 dropped", the
# publisher never waited) and a lossy one's loss was counted by nobody.
# Now (an XPUB that tracks subscriptions) a reliable topic's publisher waits
# until a subscriber comes and that subscriber gets every message; a lossy
# topic's bridge counts what its ring overwrote meanwhile. Skips (77) when
# shmkit was built without ZeroMQ.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
ID=$$
TR="posix:/shmkit-test-$ID-brnosub-r" TL="posix:/shmkit-test-$ID-brnosub-l"
TF="posix:/shmkit-test-$ID-brnosub-f"
CLEANUP+=("$TR" "$TL" "$TF")
EP="ipc://$TMP/sock"
cleanup() { for p in $(jobs -p); do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; }

if ! "$SHMKIT" bridge keygen >/dev/null 2>"$TMP/err"; then
	grep -q "without ZeroMQ" "$TMP/err" && { echo "SKIP: shmkit built without ZeroMQ"; exit 77; }
fi

# waits up to 30 s for TOPIC to have a subscriber: a fixed 0.3 s let a
# loaded machine's bridge publish before the subscriber joined, and the
# subscriber, given 3 s, gave up first (1 run in 5 of a loaded clang build)
wait_subscribed() {
	for _ in $(seq 1 600); do
		"$SHMKIT" topic stat "$1" 2>/dev/null | grep -Eq "^subscribers: +1" && return 0
		sleep 0.05
	done
	fail "no subscriber joined $1"
}

# waits up to 20 s for FILE to have N lines
wait_lines() {
	for _ in $(seq 1 400); do
		[ "$(wc -l <"$1")" -ge "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

# ---- reliable: the publisher waits for the first remote subscriber ----
expect 0 "$SHMKIT" topic create "$TR" --slots 16 --slot-size 64 --reliable
expect 0 "$SHMKIT" topic create "$TF" --slots 256 --slot-size 64
"$SHMKIT" bridge out "$TR" "$EP" --bind 2>"$TMP/out.log" & OUT=$!
for _ in $(seq 1 200); do [ -S "$TMP/sock" ] && break; sleep 0.05; done
seq 1 100 | "$SHMKIT" pub "$TR" - --timeout 30 >/dev/null 2>"$TMP/pub.err" & PUB=$!
sleep 1
kill -0 "$PUB" 2>/dev/null || fail "a reliable topic's publisher ran on with no remote subscriber (the bridge read into nothing)"
# the far side: a local subscriber of TF, then the receiving bridge
"$SHMKIT" sub "$TF" --count 100 --timeout 30 >"$TMP/got" 2>"$TMP/sub.err" & SUB=$!
wait_subscribed "$TF"
"$SHMKIT" bridge in "$EP" "$TF" 2>"$TMP/in.log" & IN=$!
wait_lines "$TMP/got" 100 || fail "the subscriber got $(wc -l <"$TMP/got") of 100"
[ "$(seq 1 100)" = "$(cat "$TMP/got")" ] || fail "not 1..100 in order: $(head -3 "$TMP/got" | tr '\n' ' ')..."
wait "$PUB" || fail "pub: $(cat "$TMP/pub.err")"
kill -TERM "$IN" "$OUT"; wait "$IN" "$OUT" 2>/dev/null
wait "$SUB" 2>/dev/null

# ---- lossy: what the ring overwrote while nobody listened is counted ----
# (once the bridge reads again, as for any slow subscriber of a lossy topic)
expect 0 "$SHMKIT" topic create "$TL" --slots 16 --slot-size 64
"$SHMKIT" bridge out "$TL" "$EP" --bind 2>"$TMP/outl.log" & OUT=$!
for _ in $(seq 1 200); do [ -S "$TMP/sock" ] && break; sleep 0.05; done
expect 0 "$SHMKIT" pub "$TL" $(seq 1 100)
: >"$TMP/gotl"
"$SHMKIT" sub "$TF" --timeout 30 >"$TMP/gotl" 2>"$TMP/subl.err" & SUB=$!
wait_subscribed "$TF"
"$SHMKIT" bridge in "$EP" "$TF" 2>"$TMP/inl.log" & IN=$!
for _ in $(seq 1 400); do [ "$(tail -1 "$TMP/gotl")" = 100 ] && break; sleep 0.05; done
[ "$(tail -1 "$TMP/gotl")" = 100 ] || fail "the far subscriber's last message is not 100: $(tail -1 "$TMP/gotl")"
kill -TERM "$IN" "$OUT" "$SUB"; wait "$IN" "$OUT" 2>/dev/null
wait "$SUB" 2>/dev/null
dropped=$(sed -n 's/.* \([0-9][0-9]*\) dropped.*/\1/p' "$TMP/outl.log" | tail -1)
got=$(wc -l <"$TMP/gotl")
[ -n "$dropped" ] && [ $((dropped + got)) = 100 ] ||
	fail "got $got and $dropped counted dropped of 100: $(tail -1 "$TMP/outl.log")"

finish test_bridge_topic_nosub
