#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shmkit bridge across two network namespaces joined by a veth pair:
#  1. a queue carried exactly once, in order, while the sending bridge and
#     the receiving bridge are each killed with SIGKILL at random moments and
#     restarted, and the link is taken down and up mid-stream;
#  2. a topic read by a plain pyzmq SUB socket (a foreign client), bytes
#     unchanged, and carried into a local topic on the other side.
# Needs root and `ip netns` (skips with 77 otherwise). Namespaces, segments
# and the bridges' record files are all test-unique and removed on exit.
set -uo pipefail
SHMKIT=${SHMKIT:-build/shmkit}
SHMKIT=$(readlink -f "$SHMKIT")
ID=$$
NA="shmkit-t$ID-a" NB="shmkit-t$ID-b"
VA="skva$ID" VB="skvb$ID"
VA=${VA:0:15} VB=${VB:0:15}
QA="posix:/shmkit-test-$ID-bridge-qa" QB="posix:/shmkit-test-$ID-bridge-qb"
TA="posix:/shmkit-test-$ID-bridge-ta" TB="posix:/shmkit-test-$ID-bridge-tb"
TMP=$(mktemp -d)
FAILS=0
PIDS=()
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	for p in $(jobs -p); do kill -9 "$p" 2>/dev/null; done
	ip netns del "$NA" 2>/dev/null
	ip netns del "$NB" 2>/dev/null
	for u in "$QA" "$QB" "$TA" "$TB"; do "$SHMKIT" rm "$u" >/dev/null 2>&1; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

"$SHMKIT" bridge keygen >/dev/null 2>"$TMP/err" || { grep -q "without ZeroMQ" "$TMP/err" && skip "shmkit built without ZeroMQ"; }
[ "$(id -u)" = 0 ] || skip "needs root for ip netns"
command -v ip >/dev/null || skip "no ip (iproute2)"
ip netns add "$NA" 2>/dev/null || skip "ip netns add fails here"
ip netns add "$NB" || skip "ip netns add fails here"
ip link add "$VA" netns "$NA" type veth peer name "$VB" netns "$NB" || skip "no veth"
ip netns exec "$NA" true 2>/dev/null || skip "ip netns exec fails here (/ is no mount point?)"
ip -n "$NA" addr add 10.77.0.1/24 dev "$VA"
ip -n "$NB" addr add 10.77.0.2/24 dev "$VB"
ip -n "$NA" link set "$VA" up
ip -n "$NB" link set "$VB" up
ip -n "$NA" link set lo up
ip -n "$NB" link set lo up
export XDG_STATE_HOME="$TMP/state"

# ---- 1. a queue, exactly once, across kill -9 of either bridge and a link down ----
N=${SHMKIT_BRIDGE_N:-20000}
"$SHMKIT" queue create "$QA" --capacity 256 --max-msg 64 >/dev/null || fail "create $QA"
"$SHMKIT" queue create "$QB" --capacity 256 --max-msg 64 >/dev/null || fail "create $QB"
start_out() {
	ip netns exec "$NA" "$SHMKIT" bridge out "$QA" tcp://10.77.0.1:5555 --bind \
		2>>"$TMP/out.log" &
	OUT=$!
}
start_in() {
	ip netns exec "$NB" "$SHMKIT" bridge in tcp://10.77.0.1:5555 "$QB" \
		--state "$TMP/in.rec" 2>>"$TMP/in.log" &
	IN=$!
}
start_out
start_in
# paced, so the stream lasts a few seconds and the kills land mid-stream
for c in $(seq 0 $((N / 200 - 1))); do
	seq -f "m%06.0f" $((c * 200 + 1)) $((c * 200 + 200))
	sleep 0.03
done | "$SHMKIT" send "$QA" - &
SENDER=$!
"$SHMKIT" recv "$QB" --count "$N" --timeout 90 >"$TMP/got" &
RECEIVER=$!
PIDS+=("$SENDER" "$RECEIVER")

kills_out=0 kills_in=0 downs=0
RANDOM=$ID
while kill -0 "$RECEIVER" 2>/dev/null; do
	sleep "0.$((RANDOM % 4))$((RANDOM % 10))"
	kill -0 "$RECEIVER" 2>/dev/null || break
	kill -0 "$OUT" 2>/dev/null || { fail "bridge out died: $(tail -1 "$TMP/out.log")"; break; }
	kill -0 "$IN" 2>/dev/null || { fail "bridge in died: $(tail -1 "$TMP/in.log")"; break; }
	case $((RANDOM % 5)) in
	0 | 1)
		kill -9 "$OUT"; wait "$OUT" 2>/dev/null; kills_out=$((kills_out + 1))
		start_out ;;
	2 | 3)
		kill -9 "$IN"; wait "$IN" 2>/dev/null; kills_in=$((kills_in + 1))
		start_in ;;
	4)
		if [ $downs -lt 3 ]; then
			ip -n "$NA" link set "$VA" down; sleep 1
			ip -n "$NA" link set "$VA" up; downs=$((downs + 1))
		fi ;;
	esac
	[ $((kills_out + kills_in)) -ge 40 ] && break
done
[ $FAILS = 0 ] || kill -9 "$RECEIVER" 2>/dev/null
wait "$RECEIVER" || fail "recv of $N messages exited $? (kills: out $kills_out, in $kills_in; link down $downs)"
sleep 1; kill -9 "$SENDER" 2>/dev/null && fail "send still blocked after recv finished"
wait "$SENDER" 2>/dev/null
echo "queue: $N messages; bridge out killed $kills_out times, bridge in $kills_in times, link down $downs times"
seq -f "m%06.0f" 1 "$N" >"$TMP/want"
if ! cmp -s "$TMP/want" "$TMP/got"; then
	dups=$(sort "$TMP/got" | uniq -d | wc -l)
	gaps=$(comm -23 "$TMP/want" <(sort -u "$TMP/got") | wc -l)
	fail "queue across the bridge: $(wc -l <"$TMP/got") lines, $dups duplicated, $gaps missing, order $(sort -c "$TMP/got" 2>&1 | head -1)"
fi
"$SHMKIT" recv "$QB" --timeout 0.5 --count 1 >/dev/null 2>&1 && fail "a message more than sent arrived"
kill "$OUT" "$IN" 2>/dev/null; wait "$OUT" "$IN" 2>/dev/null

# ---- 2. a topic: a pyzmq subscriber, and a bridge into a local topic ----
"$SHMKIT" topic create "$TA" --slots 64 --slot-size 256 >/dev/null || fail "create $TA"
"$SHMKIT" topic create "$TB" --slots 64 --slot-size 256 >/dev/null || fail "create $TB"
ip netns exec "$NA" "$SHMKIT" bridge out "$TA" tcp://10.77.0.1:5556 --bind 2>"$TMP/tout.log" &
TOUT=$!
ip netns exec "$NB" "$SHMKIT" bridge in tcp://10.77.0.1:5556 "$TB" 2>"$TMP/tin.log" &
TIN=$!
PIDS+=("$TOUT" "$TIN")
"$SHMKIT" sub "$TB" --count 20 --timeout 30 >"$TMP/sub" &
LOCALSUB=$!
PYTHON=
for p in /usr/bin/python3 python3; do
	"$p" -c "import zmq" 2>/dev/null && { PYTHON=$p; break; }
done
if [ -n "$PYTHON" ]; then
	ip netns exec "$NB" "$PYTHON" - >"$TMP/py" 2>"$TMP/py.err" <<'PY' &
import zmq, sys
ctx = zmq.Context()
s = ctx.socket(zmq.SUB)
s.setsockopt(zmq.SUBSCRIBE, b"")
s.setsockopt(zmq.RCVTIMEO, 30000)
s.connect("tcp://10.77.0.1:5556")
for _ in range(20):
    m = s.recv_multipart()
    sys.stdout.write(repr(m) + "\n")
PY
	PY=$!
else
	echo "note: python3-zmq missing: the foreign-client half is skipped"
	PY=
fi
# a slow joiner sees only what is published after it joined: publish until both have 20
i=0
while { kill -0 "$LOCALSUB" 2>/dev/null || { [ -n "$PY" ] && kill -0 "$PY" 2>/dev/null; }; } && [ $i -lt 3000 ]; do
	i=$((i + 1))
	"$SHMKIT" pub "$TA" "tick $i é" >/dev/null 2>&1
	sleep 0.01
done
wait "$LOCALSUB" || fail "local subscriber behind the topic bridge: exit $?"
[ "$(wc -l <"$TMP/sub")" = 20 ] || fail "local subscriber got $(wc -l <"$TMP/sub") lines"
grep -qv '^tick [0-9]* é$' "$TMP/sub" && fail "local subscriber: bytes changed: $(head -3 "$TMP/sub")"
if [ -n "$PY" ]; then
	wait "$PY" || fail "pyzmq subscriber: $(cat "$TMP/py.err")"
	[ "$(wc -l <"$TMP/py")" = 20 ] || fail "pyzmq got $(wc -l <"$TMP/py") messages"
	# one frame per message, the exact bytes: [b'tick N \xc3\xa9']
	grep -qv "^\[b'tick [0-9]* \\\\xc3\\\\xa9'\]$" "$TMP/py" && fail "pyzmq frames: $(head -3 "$TMP/py")"
fi
kill "$TOUT" "$TIN"; wait "$TOUT" "$TIN" 2>/dev/null
grep -q "bridge out $TA: [0-9]* messages" "$TMP/tout.log" || fail "no report from the topic bridge: $(cat "$TMP/tout.log")"

[ $FAILS = 0 ] && echo "test_bridge_netns: ok" || echo "test_bridge_netns: $FAILS failures"
[ $FAILS = 0 ]
