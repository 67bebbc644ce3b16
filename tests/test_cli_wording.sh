#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What a careful reader of the CLI's output would catch: counts of one say so
# in the singular (a one-slot queue has "1 message" of capacity, not "1
# messages"; a one-byte segment, topic slot or max-msg likewise, and a bridge
# that carried one message reports "1 message, 1 byte"), and a period
# option takes a period: bridge --stats forever (or 0) is a usage error, as
# top --interval forever is, not a silent "never report".
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
ID=$$
Q="posix:/shmkit-test-$ID-word-q" T="posix:/shmkit-test-$ID-word-t"
K="sysv:0x$(printf '%08x' $(( (0x5e000000 + ID) & 0x7fffffff )))"
CLEANUP+=("$Q" "$T" "$K")

# ---- create's ownership words: for objects only, and said so ----
for opt in --owned --persist; do
	expect 2 "$SHMKIT" create "$Q-plain" 4096 "$opt"
	err_has "$opt is for shmkit objects \(queue, topic, map and heap create\); a plain segment made here is never removed by gc"
done
[ ! -e "/dev/shm/${Q#posix:/}-plain" ] || fail "create $opt made the segment"

# ---- singular counts ----
expect 0 "$SHMKIT" queue create "$Q" --capacity 1 --max-msg 1
expect 0 "$SHMKIT" queue stat "$Q"
grep -Eq "^capacity: +1 message$" "$TMP/out" || fail "queue stat capacity: $(cat "$TMP/out")"
grep -Eq "^max message: +1 byte$" "$TMP/out" || fail "queue stat max message: $(cat "$TMP/out")"
expect 0 "$SHMKIT" stat "$Q"
grep -Eq "^capacity: +1 message$" "$TMP/out" || fail "stat capacity: $(cat "$TMP/out")"
expect 1 "$SHMKIT" send "$Q" abc
err_has "over the queue's max-msg of 1 byte \(0 messages were sent before that\)$"

expect 0 "$SHMKIT" topic create "$T" --slots 1 --slot-size 1 --max-subs 1
expect 0 "$SHMKIT" pub "$T" x
expect 0 "$SHMKIT" topic stat "$T"
grep -Eq "^topic: +1 slot x 1 byte, lossy, up to 1 subscriber$" "$TMP/out" ||
	fail "topic stat geometry: $(cat "$TMP/out")"
grep -Eq "^published: +1 \(1 byte\)$" "$TMP/out" || fail "topic stat published: $(cat "$TMP/out")"
expect 1 "$SHMKIT" pub "$T" xy
err_has "slot size of 1 byte \(0 messages were published before that\)$"

# a one-byte System V segment (written with --attach: nobody else uses it)
expect 0 "$SHMKIT" create "$K" 1
expect 1 "$SHMKIT" write "$K" --attach --offset 1 x
err_has "1 byte at offset 1 does not fit in 1 byte \(nothing written\)$"
expect 1 "$SHMKIT" write "$K" --attach xy
err_has "2 bytes at offset 0 do not fit in 1 byte \(nothing written\)$"
expect 1 "$SHMKIT" read "$K" --attach --offset 2
err_has "range past the end of the segment \(1 byte\)$"

# doctor's System V line counts segments and free ids: never "1 segments"
expect 0 "$SHMKIT" doctor
grep -Eq "(^| )1 segments|\(1 more ids|\(1 pages\)" "$TMP/out" && fail "doctor: $(cat "$TMP/out")"

# ---- ls aligns its columns by what a terminal shows, not by bytes ----
WA="posix:/shmkit-test-$ID-word-w-é" WB="posix:/shmkit-test-$ID-word-w-日本" WC="posix:/shmkit-test-$ID-word-w-ab"
CLEANUP+=("$WA" "$WB" "$WC")
for u in "$WA" "$WB" "$WC"; do expect 0 "$SHMKIT" create "$u" 4K; done
expect 0 "$SHMKIT" ls -o URI,SIZE,KIND "posix:/shmkit-test-$ID-word-w-"
# the KIND column starts at the same terminal column on every line
python3 - "$TMP/out" <<'EOF' || fail "ls columns not aligned: $(cat "$TMP/out")"
import sys, unicodedata
def width(s):
    return sum(2 if unicodedata.east_asian_width(c) in 'WF' else 1 for c in s)
lines = open(sys.argv[1], encoding='utf-8').read().splitlines()
starts = {width(l[:l.rindex(' ') + 1]) for l in lines}
sys.exit(0 if len(lines) == 4 and len(starts) == 1 else 1)
EOF

# ---- an object of another kind is said to be one, not "corrupt" ----
# (pub, sub, topic stat, map and heap said "not a valid shmkit object of
# this kind, or its header or an index in it is corrupt", as recv did not)
expect 1 "$SHMKIT" pub "$Q" x
err_has "^shmkit: pub $Q: is a queue \(kind 2\), not a topic$"
expect 1 "$SHMKIT" topic stat "$Q"
err_has "^shmkit: topic stat $Q: is a queue \(kind 2\), not a topic$"
expect 1 "$SHMKIT" map "$T" get k
err_has "^shmkit: open map $T: is a topic \(kind 3\), not a map$"
expect 1 "$SHMKIT" heap "$Q" stats
err_has "^shmkit: heap stats $Q: is a queue, not a heap$"
expect 1 "$SHMKIT" sub "$WC" --timeout 0
err_has "^shmkit: sub $WC: not a shmkit topic \(yet\?\): no shmkit header"
expect 1 "$SHMKIT" recv "$WC" --timeout 0
err_has "^shmkit: recv $WC: not a shmkit queue \(yet\?\): no shmkit header"
# gc keeps it and does not call it foreign for sure: a creator stopped
# after sizing it (before its header) leaves the same zero bytes; so does
# one stopped before sizing it (0 bytes)
expect 0 "$SHMKIT" gc --prefix "$WC" --dry-run
out_has "no shmkit header (yet?): all zero where the header starts, no creator recorded: another program's POSIX segment, or a creator that has not written its header yet"
WE="posix:/shmkit-test-$ID-word-empty"
CLEANUP+=("$WE")
: >"/dev/shm/shmkit-test-$ID-word-empty"
expect 0 "$SHMKIT" gc --prefix "$WE" --dry-run
out_has "no shmkit header (yet?): empty, no creator recorded"

# ---- durations are decimal: 1e3 and 0x10 are usage errors ----
for v in 1e3 0x10 1E3s 0x1p4 1,5; do
	expect 2 timeout 5 "$SHMKIT" recv "$Q" --timeout "$v"
	err_has "^shmkit: recv: bad value for --timeout: '$v' \(expected seconds like 2 or 0.5, or with a unit ns, us, ms, s, m or h like 250ms; or forever\)$"
	expect 2 timeout 5 "$SHMKIT" top --once --interval "$v"
	err_has "^shmkit: top: bad value for --interval: '$v'"
done
expect 1 "$SHMKIT" recv "$Q" --timeout .05  # a fraction still is one (the queue is empty: 1)
err_has "^shmkit: recv $Q: timed out"

# ---- ls -o names each column once ----
# (-o uri,uri printed the column twice: a table one column wider than asked)
for cols in uri,uri URI,SIZE,Uri +KIND +id,ID; do
	expect 2 "$SHMKIT" ls -o "$cols" "posix:/shmkit-test-$ID-word-w-"
	err_has "^shmkit: ls: -o names column [A-Z]+ twice"
	err_has "^usage: shmkit ls "
	[ -s "$TMP/out" ] && fail "ls -o $cols printed: $(cat "$TMP/out")"
done
err_has "^shmkit: ls: -o names column ID twice$"
expect 2 "$SHMKIT" ls -o +KIND
err_has "^shmkit: ls: -o names column KIND twice \(\+LIST adds to the default columns, URI,BACKEND,SIZE,MODE,OWNER,LIFETIME,KIND,ATTACHED\)$"
expect 0 "$SHMKIT" ls -o +ID "posix:/shmkit-test-$ID-word-w-"

# ---- bridge --stats is a period, as top --interval ----
if "$SHMKIT" bridge keygen >/dev/null 2>"$TMP/err" || ! grep -q "without ZeroMQ" "$TMP/err"; then
	export XDG_STATE_HOME="$TMP/state"
	EP="ipc://$TMP/sock"
	for bad in forever inf -1 0 5ms; do
		expect 2 "$SHMKIT" bridge out "$Q" "$EP" --stats "$bad" --timeout 0.3
		err_has "^shmkit: bridge: (bad value for --stats|--stats is at least 0.01 s)"
		[ -s "$TMP/out" ] && fail "--stats $bad printed: $(cat "$TMP/out")"
	done
	expect 2 "$SHMKIT" top --once --interval forever
	# a report every 0.2 s over 0.7 s: three periodic ones and the last
	expect 0 "$SHMKIT" bridge out "$Q" "$EP" --stats 0.2 --timeout 0.7
	n=$(grep -c "^shmkit: bridge out $Q: 0 messages, 0 bytes" "$TMP/err")
	[ "$n" -ge 2 ] && [ "$n" -le 4 ] || fail "--stats 0.2 for 0.7 s: $n reports: $(cat "$TMP/err")"
	# its report counts one in the singular: "1 message, 1 byte", not "1 messages"
	# (a receiving bridge subscribes: with no remote subscriber, out reads nothing)
	TI="$T-in"; CLEANUP+=("$TI")
	expect 0 "$SHMKIT" topic create "$TI" --slots 4 --slot-size 64
	"$SHMKIT" bridge in "ipc://$TMP/tsock" "$TI" --bind --timeout 4 2>"$TMP/bi.err" &
	BI=$!
	"$SHMKIT" bridge out "$T" "ipc://$TMP/tsock" --timeout 3 2>"$TMP/bt.err" &
	BT=$!
	for _ in $(seq 1 100); do
		"$SHMKIT" topic stat "$T" | grep -Eq "^subscribers: +1" && break
		sleep 0.05
	done
	sleep 0.5 # the receiving bridge's subscription reaches out
	"$SHMKIT" pub "$T" y || fail "pub to the bridged topic"
	wait "$BT" || fail "bridge out $T exited $?: $(cat "$TMP/bt.err")"
	wait "$BI" || fail "bridge in $TI exited $?: $(cat "$TMP/bi.err")"
	grep -q "^shmkit: bridge out $T: 1 message, 1 byte, 0 dropped, 0 resent, 0 duplicates ignored, 0 handshakes, 0 gaps, 0 senders refused, 0 rejected" "$TMP/bt.err" ||
		fail "bridge report of one message: $(cat "$TMP/bt.err")"
else
	echo "bridge part skipped: shmkit built without ZeroMQ"
fi

# ---- a full subscriber table says so, not only "No space left on device" ----
"$SHMKIT" sub "$T" --timeout 5 >/dev/null 2>&1 &
SUB=$!
for _ in $(seq 1 100); do
	"$SHMKIT" topic stat "$T" | grep -Eq "^subscribers: +1" && break
	sleep 0.05
done
expect 1 "$SHMKIT" sub "$T" --timeout 0
err_has "every subscriber entry of this topic \(max_subs 1, --max-subs at create\) is held by a live subscriber"
kill "$SUB" 2>/dev/null
wait "$SUB" 2>/dev/null

finish test_cli_wording
