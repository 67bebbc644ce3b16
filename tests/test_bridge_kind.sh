#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bridge and the kind of its local object. A System V queue nobody has
# attached (what queue create and send leave) is carried like any queue: the
# bridge is a user of it, as send is, and reads its header through its own
# attach (it took it for corrupt: shmkit_stat only looks, and does not read
# such a header). A map or a plain segment is refused saying what it is, not
# that it is corrupt. Skips (77) when shmkit was built without ZeroMQ.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
ID=$$
QS="sysv:0x$(printf '%08x' $(( (0x5d000000 + ID) & 0x7fffffff )))"
QD="posix:/shmkit-test-$ID-brkind-d" M="posix:/shmkit-test-$ID-brkind-m"
P="posix:/shmkit-test-$ID-brkind-p"
CLEANUP+=("$QS" "$QD" "$M" "$P")
export XDG_STATE_HOME="$TMP/state"
EP="ipc://$TMP/sock"
cleanup() { for p in $(jobs -p); do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; }

if ! "$SHMKIT" bridge keygen >/dev/null 2>"$TMP/err"; then
	grep -q "without ZeroMQ" "$TMP/err" && { echo "SKIP: shmkit built without ZeroMQ"; exit 77; }
fi

expect 0 "$SHMKIT" queue create "$QS" --capacity 8 --max-msg 16
expect 0 "$SHMKIT" queue create "$QD" --capacity 8 --max-msg 16
expect 0 "$SHMKIT" send "$QS" one two three
expect 0 "$SHMKIT" stat "$QS"
out_has "managed:            not read (nobody has it attached"

# the receiving side binds; the sending side connects once it listens
"$SHMKIT" bridge in "$EP" "$QD" --bind 2>"$TMP/in.log" & IN=$!
for _ in $(seq 300); do grep -q "listening on" "$TMP/in.log" && break; sleep 0.1; done
grep -q "listening on" "$TMP/in.log" || fail "bridge in never listened: $(cat "$TMP/in.log")"
"$SHMKIT" bridge out "$QS" "$EP" --connect 2>"$TMP/out.log" & OUT=$!
expect 0 "$SHMKIT" recv "$QD" --count 3 --timeout 30
out_is "$(printf 'one\ntwo\nthree')"
kill "$OUT" "$IN"; wait "$OUT" "$IN" 2>/dev/null
grep -q "not a valid shmkit object" "$TMP/out.log" && fail "bridge out $QS: $(cat "$TMP/out.log")"

# refused kinds, each said
expect 0 "$SHMKIT" map "$M" create 64K
expect 1 "$SHMKIT" bridge out "$M" "$EP" --timeout 0.2
err_has "^shmkit: bridge out $M: is a map, not a queue or a topic \(a bridge carries only those\)$"
expect 1 "$SHMKIT" bridge in "$EP" "$M" --timeout 0.2
err_has "^shmkit: bridge in $M: is a map, not a queue or a topic"
expect 0 "$SHMKIT" create "$P" 4K
expect 1 "$SHMKIT" bridge out "$P" "$EP" --timeout 0.2
err_has "^shmkit: bridge out $P: has no shmkit header \(a plain segment\), not a queue or a topic"

finish test_bridge_kind
