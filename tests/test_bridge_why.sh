#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bridge's errors say what failed and what to do, in one line under
# "shmkit: bridge out|in URI:", as the other commands say theirs:
#  - an endpoint ZeroMQ refuses with a bare EINVAL (a path after a TCP
#    port, a blank in it) is a bad endpoint, not the queue's "Invalid
#    argument";
#  - a TCP port in use names the port and how to find who holds it;
#  - --curve-server-key that is no key is a usage error, not "Invalid
#    argument";
#  - no such local object says how to make one; an MPMC queue is said as
#    such (not "queues ...; CURVE: this ZeroMQ has none");
#  - a bridge of the other kind at the other end (a queue's bridge
#    connecting to a topic's): the connecting side said nothing at all, and
#    carried nothing for ever; both sides now say the handshake failed,
#    naming that cause;
#  - a receiving queue too small, a refusing receiver: what to do.
# Skips (77) when shmkit was built without ZeroMQ.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
ID=$$
Q="posix:/shmkit-test-$ID-brwhy-q" QS="posix:/shmkit-test-$ID-brwhy-s"
QM="posix:/shmkit-test-$ID-brwhy-m" T="posix:/shmkit-test-$ID-brwhy-t"
Q2="posix:/shmkit-test-$ID-brwhy-q2" R="posix:/shmkit-test-$ID-brwhy-r"
NONE="posix:/shmkit-test-$ID-brwhy-none"
CLEANUP+=("$Q" "$QS" "$QM" "$T" "$Q2" "$R")
export XDG_STATE_HOME="$TMP/state"
cleanup() { for p in $(jobs -p); do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; }
wait_line() { # FILE PATTERN TENTHS
	for _ in $(seq "$3"); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
	return 1
}

if ! "$SHMKIT" bridge keygen >"$TMP/keys" 2>"$TMP/err"; then
	grep -q "without ZeroMQ" "$TMP/err" && { echo "SKIP: shmkit built without ZeroMQ"; exit 77; }
fi
expect 0 "$SHMKIT" queue create "$Q" --capacity 8 --max-msg 64
expect 0 "$SHMKIT" queue create "$QS" --capacity 8 --max-msg 4
expect 0 "$SHMKIT" queue create "$QM" --capacity 8 --max-msg 64 --multi
expect 0 "$SHMKIT" topic create "$T"

# ---- endpoints that do not parse ----
expect 1 "$SHMKIT" bridge out "$Q" "tcp://127.0.0.1:5555/" --timeout 0.1
err_has "^shmkit: bridge out $Q: bad endpoint tcp://127.0.0.1:5555/: nothing may follow the port \(a /path is for ws:// and wss:// only\)$"
expect 1 "$SHMKIT" bridge out "$Q" " tcp://127.0.0.1:5555" --timeout 0.1
err_has "^shmkit: bridge out $Q: bad endpoint .x20tcp://127.0.0.1:5555: it starts with a blank \(a quoting slip\?\)$"
expect 1 "$SHMKIT" bridge in "tcp://127.0.0.1 :5555" "$Q" --timeout 0.1
err_has "^shmkit: bridge in $Q: bad endpoint tcp://127.0.0.1.x20:5555: a blank in HOST:PORT \(a quoting slip\?\)$"
expect 1 "$SHMKIT" bridge out "$Q" "127.0.0.1:5555" --timeout 0.1
err_has "^shmkit: bridge out $Q: bad endpoint 127.0.0.1:5555: no transport"

# ---- a TCP port in use ----
"$SHMKIT" bridge out "$T" 'tcp://127.0.0.1:*' --bind --timeout 20 2>"$TMP/held.log" &
HELD=$!
wait_line "$TMP/held.log" "listening on tcp:" 300 || fail "no port said: $(cat "$TMP/held.log")"
PORT=$(sed -n 's/.*listening on tcp:[^ ]*:\([0-9]*\).*/\1/p' "$TMP/held.log" | head -1)
expect 1 "$SHMKIT" bridge in "tcp://127.0.0.1:$PORT" "$Q" --bind --timeout 0.1
err_has "^shmkit: bridge in $Q: cannot bind tcp://127.0.0.1:$PORT: Address already in use \(another process listens on that port; ss -ltnp 'sport = :$PORT' names it\): stop it, or bind another port$"
kill "$HELD"; wait "$HELD" 2>/dev/null

# ---- keys, the local object ----
expect 2 "$SHMKIT" bridge out "$Q" "ipc://$TMP/k" --curve-keys "$TMP/keys" --curve-server-key notakey --timeout 0.1
err_has "^shmkit: bridge: --curve-server-key is no public key: want the 40 characters of the first line of the server's shmkit bridge keygen$"
echo garbage >"$TMP/bad.keys"
expect 1 "$SHMKIT" bridge out "$Q" "ipc://$TMP/k" --curve-keys "$TMP/bad.keys" --timeout 0.1
err_has "^shmkit: bridge out $Q: --curve-keys $TMP/bad.keys: not a key pair \(want the two lines of shmkit bridge keygen\)$"
expect 1 "$SHMKIT" bridge out "$NONE" "ipc://$TMP/n" --timeout 0.1
err_has "^shmkit: bridge out $NONE: no such queue or topic \(make one: shmkit queue create $NONE --capacity N --max-msg BYTES, or shmkit topic create $NONE\)$"
expect 1 "$SHMKIT" bridge in "ipc://$TMP/n" "$QM" --timeout 0.1
err_has "^shmkit: bridge in $QM: is a multi-producer, multi-consumer queue \(queue create --multi\): a bridge carries only single-producer, single-consumer ones"

# ---- a bridge of the other kind at the other end: both sides say so ----
OTHER_KIND="a ZeroMQ handshake with a peer at ipc://$TMP/kind failed: the connection closed during it \(.*or a bridge of the other kind: a queue's bridge and a topic's do not speak to each other\)$"
"$SHMKIT" bridge in "ipc://$TMP/kind" "$T" --bind --timeout 30 2>"$TMP/tin.log" &
TIN=$!
wait_line "$TMP/tin.log" "listening on" 300 || fail "topic in never listened: $(cat "$TMP/tin.log")"
"$SHMKIT" bridge out "$Q" "ipc://$TMP/kind" --timeout 30 2>"$TMP/qout.log" &
QOUT=$!
wait_line "$TMP/qout.log" "handshake with" 200
wait_line "$TMP/tin.log" "handshake with" 100
kill "$QOUT" "$TIN"; wait "$QOUT" "$TIN" 2>/dev/null
grep -Eq "^shmkit: bridge out $Q: $OTHER_KIND" "$TMP/qout.log" ||
	fail "queue out to a topic in: $(cat "$TMP/qout.log")"
[ "$(grep -c "handshake with" "$TMP/qout.log")" = 1 ] || fail "said more than once: $(cat "$TMP/qout.log")"
grep -Eq "^shmkit: bridge in $T: $OTHER_KIND" "$TMP/tin.log" ||
	fail "topic in, a queue out connecting: $(cat "$TMP/tin.log")"

# ---- the other end refuses ----
# a receiving queue too small for a message: which one, and what to do
"$SHMKIT" bridge in "ipc://$TMP/small" "$QS" --bind --timeout 30 2>"$TMP/sin.log" &
SIN=$!
wait_line "$TMP/sin.log" "listening on" 300 || fail "small in never listened: $(cat "$TMP/sin.log")"
expect 0 "$SHMKIT" send "$Q" "longer than four"
expect 1 timeout 30 "$SHMKIT" bridge out "$Q" "ipc://$TMP/small" --timeout 20
err_has "^shmkit: bridge out $Q: message 0 is 16 bytes; the receiving queue takes at most 4: stopping, nothing consumed$"
err_has "^shmkit: bridge out $Q: stopped: a message is longer than the receiving queue takes \(its --max-msg\); nothing was consumed here: make that queue again with a --max-msg that holds it$"
kill "$SIN"; wait "$SIN" 2>/dev/null
# a receiver that carries another sender's queue
expect 0 "$SHMKIT" queue create "$Q2" --capacity 8 --max-msg 64
expect 0 "$SHMKIT" queue create "$R" --capacity 8 --max-msg 64
"$SHMKIT" bridge in "ipc://$TMP/one" "$R" --bind --timeout 40 2>"$TMP/rin.log" &
RIN=$!
wait_line "$TMP/rin.log" "listening on" 300 || fail "receiver never listened: $(cat "$TMP/rin.log")"
"$SHMKIT" bridge out "$Q" "ipc://$TMP/one" --timeout 40 2>"$TMP/q1.log" &
Q1=$!
expect 0 "$SHMKIT" recv "$R" --timeout 20 # the first sender's stream is the receiver's
expect 0 "$SHMKIT" send "$Q2" x
expect 1 timeout 30 "$SHMKIT" bridge out "$Q2" "ipc://$TMP/one" --timeout 20
err_has "^shmkit: bridge out $Q2: refused by the receiving bridge at ipc://$TMP/one: it carries another sender's queue \(one sender per receiving bridge\); nothing was consumed here: give this queue a receiving bridge of its own$"
kill "$Q1" "$RIN"; wait "$Q1" "$RIN" 2>/dev/null

finish test_bridge_why
