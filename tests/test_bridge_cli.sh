#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shmkit bridge without root, over ipc:// endpoints on this host: a queue
# carried in order, over CURVE too (when this ZeroMQ has it); a kill -9 of
# the receiving bridge mid-stream; refusals (MPMC queue, no such object, bad
# endpoint, bad key file, --bind with --connect, keygen with out's and in's
# options). Skips (77) when shmkit was built without ZeroMQ.
set -uo pipefail
SHMKIT=${SHMKIT:-build/shmkit}
ID=$$
QA="posix:/shmkit-test-$ID-brcli-a" QB="posix:/shmkit-test-$ID-brcli-b"
QM="posix:/shmkit-test-$ID-brcli-m" QC="posix:/shmkit-test-$ID-brcli-c"
QL="posix:/shmkit-test-$ID-brcli-l" QL2="posix:/shmkit-test-$ID-brcli-l2"
TA="posix:/shmkit-test-$ID-brcli-ta" TB="posix:/shmkit-test-$ID-brcli-tb"
TMP=$(mktemp -d)
export XDG_STATE_HOME="$TMP/state"
EP="ipc://$TMP/sock"
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
cleanup() {
	for p in $(jobs -p); do kill -9 "$p" 2>/dev/null; done
	for u in "$QA" "$QB" "$QM" "$QC" "$QL" "$QL2" "$TA" "$TB"; do "$SHMKIT" rm "$u" >/dev/null 2>&1; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
expect() {
	local want=$1; shift
	"$@" >"$TMP/o" 2>"$TMP/e"
	local got=$?
	[ "$got" = "$want" ] || fail "exit $got (want $want): $* :: $(head -c 300 "$TMP/e")"
}

if ! "$SHMKIT" bridge keygen >"$TMP/keys" 2>"$TMP/e"; then
	grep -q "without ZeroMQ" "$TMP/e" && { echo "SKIP: shmkit built without ZeroMQ"; exit 77; }
	grep -q "not supported" "$TMP/e" || fail "keygen: $(cat "$TMP/e")"
fi
# keygen takes none of out's and in's options: it ignored --state (and
# --curve-keys), so the keys seemed to go to a file that was never written
for opt in "--state $TMP/kstate" "--curve-keys $TMP/kkeys" --bind "--window 8"; do
	expect 2 "$SHMKIT" bridge keygen $opt
	grep -q "^shmkit: bridge: ${opt%% *} is not an option of keygen (only of out and in)$" "$TMP/e" ||
		fail "keygen $opt: $(cat "$TMP/e")"
	[ -s "$TMP/o" ] && fail "keygen $opt printed keys"
done

"$SHMKIT" queue create "$QA" --capacity 64 --max-msg 64 >/dev/null
"$SHMKIT" queue create "$QB" --capacity 64 --max-msg 64 >/dev/null
"$SHMKIT" queue create "$QM" --capacity 64 --max-msg 64 --multi >/dev/null

"$SHMKIT" queue create "$QC" --capacity 64 --max-msg 64 >/dev/null
"$SHMKIT" queue create "$QL" --capacity 64 --max-msg 16384 >/dev/null
"$SHMKIT" queue create "$QL2" --capacity 64 --max-msg 16384 >/dev/null

# refusals: exit 1 or 2 with one line, nothing carried
expect 2 "$SHMKIT" bridge
expect 2 "$SHMKIT" bridge sideways "$QA" "$EP"
expect 2 "$SHMKIT" bridge out "$QA" "$EP" --bind --connect
expect 1 "$SHMKIT" bridge out "posix:/shmkit-test-$ID-none" "$EP" --timeout 0.1
expect 1 "$SHMKIT" bridge out "$QM" "$EP" --timeout 0.1
grep -q "^shmkit: bridge out $QM: is a multi-producer, multi-consumer queue (queue create --multi): a bridge carries only single-producer, single-consumer ones" "$TMP/e" ||
	fail "MPMC refusal does not say why: $(cat "$TMP/e")"
expect 1 "$SHMKIT" bridge out "$QA" "nonsense://x" --timeout 0.1
grep -q "^shmkit: bridge out $QA: bad endpoint nonsense://x: a transport ZeroMQ does not have" "$TMP/e" ||
	fail "unknown transport: $(cat "$TMP/e")"
# endpoints ZeroMQ refuses with a bare EINVAL, or takes and retries for ever
for ep in 'tcp://*:bad' 'tcp://127.0.0.1:99999' 'tcp://127.0.0.1:*' 'tcp://127.0.0.1' 'tcp://'; do
	expect 1 timeout 5 "$SHMKIT" bridge out "$QA" "$ep" --timeout 0.1
	grep -qF "shmkit: bridge out $QA: bad endpoint $ep: " "$TMP/e" || fail "endpoint $ep: $(cat "$TMP/e")"
done
expect 1 "$SHMKIT" bridge out "$QA" "tcp://192.0.2.1:5555" --bind --timeout 0.1
grep -qF "shmkit: bridge out $QA: cannot bind tcp://192.0.2.1:5555: Cannot assign requested address (its host is no address of this machine's): bind one of its own" "$TMP/e" ||
	fail "bind to a foreign address: $(cat "$TMP/e")"
# a transport this socket cannot use said 'unknown error' (ZeroMQ's own
# errno), a host that does not resolve 'No such device'
expect 1 timeout 5 "$SHMKIT" bridge out "$QA" "udp://127.0.0.1:5555" --bind --timeout 0.1
grep -qF "shmkit: bridge out $QA: cannot use udp://127.0.0.1:5555: Protocol not supported (the queue and topic sockets of a bridge do not run over it): use tcp:// or ipc://" "$TMP/e" ||
	fail "udp endpoint: $(cat "$TMP/e")"
expect 1 timeout 5 "$SHMKIT" bridge out "$QA" "tcp://no-such-host.invalid:5555" --bind --timeout 0.1
grep -qF "its host is no address of this machine" "$TMP/e" ||
	fail "unresolvable bind host: $(cat "$TMP/e")"
echo "short" >"$TMP/badkeys"
expect 1 "$SHMKIT" bridge out "$QA" "$EP" --curve-keys "$TMP/badkeys" --timeout 0.1
# binding ipc://PATH over a file that is not a socket (a typo: the --state
# record, a document) is refused and the file kept: ZeroMQ unlinks whatever is
# at PATH before it binds (the file was silently replaced by a socket, exit 0);
# so is a socket another live bridge listens on (its path was taken over)
echo precious >"$TMP/doc"
expect 1 "$SHMKIT" bridge out "$QA" "ipc://$TMP/doc" --bind --timeout 0.1
grep -qF "cannot bind ipc://$TMP/doc: $TMP/doc exists and is not a socket" "$TMP/e" ||
	fail "bind over a file: $(cat "$TMP/e")"
[ -f "$TMP/doc" ] && [ "$(cat "$TMP/doc")" = precious ] || fail "bind over a file destroyed it"
"$SHMKIT" bridge out "$QA" "ipc://$TMP/live" --bind --timeout 5 2>/dev/null & LIVE=$!
for _ in $(seq 50); do [ -S "$TMP/live" ] && break; sleep 0.1; done
expect 1 "$SHMKIT" bridge out "$QC" "ipc://$TMP/live" --bind --timeout 0.1
grep -qF "cannot bind ipc://$TMP/live: another process listens on $TMP/live" "$TMP/e" ||
	fail "bind over a live socket: $(cat "$TMP/e")"
kill "$LIVE"; wait "$LIVE" 2>/dev/null
# no --state and no place for the default record (HOME unset, or under a
# file; nobody's HOME is /nonexistent): said as such, not "Cannot allocate memory"
expect 1 env -u XDG_STATE_HOME -u HOME "$SHMKIT" bridge in "$EP" "$QB" --timeout 0.1
grep -qF "no --state FILE, and neither XDG_STATE_HOME nor HOME is an absolute path" "$TMP/e" ||
	fail "bridge in without HOME: $(cat "$TMP/e")"
expect 1 env -u XDG_STATE_HOME HOME="$TMP/doc" "$SHMKIT" bridge in "$EP" "$QB" --timeout 0.1
grep -qF "cannot make $TMP/doc/.local: Not a directory (give --state FILE)" "$TMP/e" ||
	fail "bridge in, HOME under a file: $(cat "$TMP/e")"
# a socket left by a bridge that is gone is taken over, as before
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$TMP/stale"
expect 0 "$SHMKIT" bridge out "$QA" "ipc://$TMP/stale" --bind --timeout 0.1

# The sending bridge consumes a message from its queue when the ACK comes
# back, after the receiver committed it: QA at depth 0 means all acknowledged.
wait_drained() { # bound in tenths of a second
	for _ in $(seq "$1"); do
		"$SHMKIT" queue stat "$QA" 2>/dev/null | grep -q "^depth: *0$" && return 0
		sleep 0.1
	done
	return 1
}
carry() { # N EXTRA-OPTS-OUT EXTRA-OPTS-IN: N lines from QA to QB
	local n=$1 oo=$2 io=$3
	"$SHMKIT" bridge out "$QA" "$EP" --bind $oo 2>>"$TMP/out.log" & OUT=$!
	"$SHMKIT" bridge in "$EP" "$QB" $io 2>>"$TMP/in.log" & IN=$!
	seq 1 "$n" | "$SHMKIT" send "$QA" - &
	"$SHMKIT" recv "$QB" --count "$n" --timeout 30 >"$TMP/got" || fail "recv $n ($oo)"
	seq 1 "$n" | cmp -s - "$TMP/got" || fail "lines differ ($oo)"
	# the report counts acknowledged messages: let the last ACKs arrive
	wait_drained 50 || fail "sending queue kept acked messages ($oo)"
	kill "$OUT" "$IN"; wait "$OUT" "$IN" 2>/dev/null
}
carry 5000 "" ""
grep -q "bridge out $QA: 5000 messages" "$TMP/out.log" || fail "report: $(cat "$TMP/out.log")"
# a window of one: each DATA asks for its ACK (docs/BRIDGE.md); and once the
# stream stops the receiver acknowledges the rest within ACK_DELAY (1 ms):
# the sending queue empties well before the sender's 2 s resync would do it
carry 300 "--window 1" ""
"$SHMKIT" bridge out "$QA" "$EP" --bind 2>>"$TMP/out.log" & OUT=$!
"$SHMKIT" bridge in "$EP" "$QB" 2>>"$TMP/in.log" & IN=$!
seq 1 300 | "$SHMKIT" send "$QA" - &
"$SHMKIT" recv "$QB" --count 300 --timeout 30 >"$TMP/got" || fail "recv 300 (drain)"
wait_drained 15 || fail "sending queue kept acked messages: $("$SHMKIT" queue stat "$QA")"
kill "$OUT" "$IN"; wait "$OUT" "$IN" 2>/dev/null

if [ "$(wc -l <"$TMP/keys")" = 2 ]; then # CURVE: a server key pair, and a client one
	"$SHMKIT" bridge keygen >"$TMP/ckeys"
	carry 1000 "--curve-keys $TMP/keys" "--curve-keys $TMP/ckeys --curve-server-key $(head -1 "$TMP/keys")"
	# a client that knows the wrong server key gets nothing
	"$SHMKIT" bridge out "$QA" "$EP" --bind --curve-keys "$TMP/keys" 2>/dev/null & OUT=$!
	"$SHMKIT" bridge in "$EP" "$QB" --curve-keys "$TMP/ckeys" \
		--curve-server-key "$(head -1 "$TMP/ckeys")" 2>/dev/null & IN=$!
	"$SHMKIT" send "$QA" secret
	"$SHMKIT" recv "$QB" --timeout 1 >/dev/null 2>&1 && fail "a wrong server key still carried a message"
	kill "$OUT" "$IN"; wait "$OUT" "$IN" 2>/dev/null
	"$SHMKIT" recv "$QA" --timeout 1 >/dev/null || fail "the undelivered message left the sending queue"
fi

# kill -9 of the receiving bridge mid-stream, then a restart: exactly once
"$SHMKIT" bridge out "$QA" "$EP" --bind 2>>"$TMP/out.log" & OUT=$!
"$SHMKIT" bridge in "$EP" "$QB" 2>>"$TMP/in.log" & IN=$!
for c in $(seq 0 19); do seq $((c * 500 + 1)) $((c * 500 + 500)); sleep 0.02; done |
	"$SHMKIT" send "$QA" - &
"$SHMKIT" recv "$QB" --count 10000 --timeout 60 >"$TMP/got" & RECV=$!
for k in 1 2 3 4; do
	sleep 0.1
	kill -9 "$IN"; wait "$IN" 2>/dev/null
	"$SHMKIT" bridge in "$EP" "$QB" 2>>"$TMP/in.log" & IN=$!
done
wait "$RECV" || fail "recv after kill -9"
seq 1 10000 | cmp -s - "$TMP/got" || fail "after kill -9: $(sort "$TMP/got" | uniq -d | wc -l) duplicated, $(wc -l <"$TMP/got") lines"
# the last ACKs first: what QA still held would go again to the next
# section's receiver, whose new record cannot know it was committed here
wait_drained 50 || fail "sending queue kept acked messages after kill -9: $("$SHMKIT" queue stat "$QA")"
kill "$OUT" "$IN"; wait "$OUT" "$IN" 2>/dev/null

# mixed sizes: small ones batched, 8 KiB and more sent alone from the slot in place
awk 'BEGIN { for (i = 1; i <= 400; i++) { n = (i * 977) % 12000; s = sprintf("%d:", i);
	while (length(s) < n) s = s "abcdefghij"; print substr(s, 1, n > length(i) + 1 ? n : length(i) + 1) } }' >"$TMP/mixed"
"$SHMKIT" bridge out "$QL" "$EP" --bind 2>>"$TMP/out.log" & OUT=$!
"$SHMKIT" bridge in "$EP" "$QL2" --state "$TMP/l.rec" 2>>"$TMP/in.log" & IN=$!
"$SHMKIT" send "$QL" - <"$TMP/mixed" &
"$SHMKIT" recv "$QL2" --count 400 --timeout 30 >"$TMP/got" || fail "recv mixed sizes"
cmp -s "$TMP/mixed" "$TMP/got" || fail "mixed sizes differ: $(wc -l <"$TMP/got") lines"
kill "$OUT" "$IN"; wait "$OUT" "$IN" 2>/dev/null

# one sender per receiving bridge: a second sender is refused, clearly, and
# keeps its messages; the first one's all arrive
EP2="ipc://$TMP/sock2"
for q in "$QA" "$QB"; do
	"$SHMKIT" queue stat "$q" | grep -q "^depth: *0$" || fail "$q is not empty before the refusal test"
done
"$SHMKIT" bridge in "$EP2" "$QB" --bind --state "$TMP/two.rec" 2>"$TMP/in2.log" & IN=$!
"$SHMKIT" bridge out "$QA" "$EP2" 2>"$TMP/out2.log" & OUT=$!
seq 1 300 | "$SHMKIT" send "$QA" - >/dev/null &
"$SHMKIT" recv "$QB" --count 300 --timeout 30 >"$TMP/got" || fail "recv from the first sender"
seq 1 5 | "$SHMKIT" send "$QC" - >/dev/null
timeout 20 "$SHMKIT" bridge out "$QC" "$EP2" >/dev/null 2>"$TMP/e"
[ $? = 1 ] || fail "a second sender was not refused: $(cat "$TMP/e")"
grep -q "one sender per receiving bridge" "$TMP/e" || fail "refusal does not say why: $(cat "$TMP/e")"
[ "$("$SHMKIT" queue stat "$QC" --json | "${PYTHON:-python3}" -c 'import json,sys; print(json.load(sys.stdin)["queue"]["depth"])' 2>/dev/null)" = 5 ] ||
	fail "the refused sender's queue lost messages: $("$SHMKIT" queue stat "$QC" 2>&1 | head -3)"
seq 301 400 | "$SHMKIT" send "$QA" - >/dev/null &
"$SHMKIT" recv "$QB" --count 100 --timeout 30 >>"$TMP/got" || fail "the first sender stopped after the refusal"
if ! seq 1 400 | cmp -s - "$TMP/got"; then
	fail "first sender across a refusal: $(wc -l <"$TMP/got") lines; diff from seq 1 400:
$(seq 1 400 | diff - "$TMP/got" | head -20)
bridge in: $(tail -5 "$TMP/in2.log")
bridge out: $(tail -5 "$TMP/out2.log")"
fi
kill "$OUT" "$IN"; wait "$OUT" "$IN" 2>/dev/null
[ -e "$TMP/sock2" ] && fail "the bound bridge left its socket file $TMP/sock2"
grep -q " 1 sender refused" "$TMP/in2.log" || fail "the receiver did not count the refusal: $(cat "$TMP/in2.log")"

# a lossy topic whose link is full: the bridge loses messages the way a slow
# subscriber does, and every one is counted: carried + dropped = published,
# the drops shown by the bridge's report and by shmkit top
"$SHMKIT" topic create "$TA" --slots 16 --slot-size 64 >/dev/null
"$SHMKIT" topic create "$TB" --slots 16 --slot-size 64 --reliable >/dev/null
# Each waits for what the next step needs, not a guessed sleep: under load
# (the ASan build's bridge took over 0.5 s to start) the sending bridge
# joined TA after the 20000 were published, and counted none of them
joined() { # URI: a subscriber has joined it, within 30 s
	for _ in $(seq 300); do
		"$SHMKIT" topic stat "$1" --json 2>/dev/null | tr -d ' \n' | grep -F '"subscribers":[{' >/dev/null && return 0
		sleep 0.1
	done
	return 1
}
"$SHMKIT" sub "$TB" --count 100000 --timeout 60 >/dev/null & SLOW=$!
joined "$TB" || fail "the subscriber of $TB never joined"
kill -STOP "$SLOW" # holds TB's publisher, the receiving bridge
EP3="ipc://$TMP/sock3"
"$SHMKIT" bridge in "$EP3" "$TB" --bind 2>"$TMP/tin.log" & IN=$!
"$SHMKIT" bridge out "$TA" "$EP3" 2>"$TMP/tout.log" & OUT=$!
joined "$TA" || fail "the sending bridge never joined $TA: $(cat "$TMP/tout.log")"
seq 1 20000 | "$SHMKIT" pub "$TA" - >/dev/null || fail "pub"
# The bridge counts a drop when it reads past the gap, which it does only
# once the receiving side has connected and subscribed: top is asked again
# until then (up to 30 s), not once right after the publishing
top_drops() {
	"$SHMKIT" top --once --json --interval 0.1 "$TA" >"$TMP/top.json" # not the machine's: see test_cli.sh's ls
	"${PYTHON:-python3}" - "$TMP/top.json" "$TA" <<'PY'
import json, sys
t = [o for o in json.load(open(sys.argv[1]))["objects"] if o["uri"] == sys.argv[2]][0]
sys.exit(0 if t["drops"] and t["drops"] > 0 else 1)
PY
}
for _ in $(seq 60); do top_drops && break; sleep 0.5; done
top_drops || fail "top does not show the bridge's drops: $(grep -A12 "$TA" "$TMP/top.json" | head -14)"
kill -CONT "$SLOW"; sleep 1
kill "$OUT" "$IN" "$SLOW"; wait "$OUT" "$IN" "$SLOW" 2>/dev/null
carried=$(sed -n 's/.*: \([0-9]*\) messages\{0,1\}, [0-9]* bytes\{0,1\}, \([0-9]*\) dropped.*/\1 \2/p' "$TMP/tout.log")
set -- $carried
[ -n "$carried" ] && [ "${2:-0}" -gt 0 ] && [ $(($1 + $2)) = 20000 ] ||
	fail "topic bridge accounting: carried + dropped should be 20000: $(cat "$TMP/tout.log")"

# a hostile sender (pyzmq, speaking docs/BRIDGE.md by hand): malformed
# BATCH bodies are ignored whole, a gap is NACKed, duplicates are skipped,
# and only well-formed messages in sequence reach the queue, in order
. "$(dirname "${BASH_SOURCE[0]}")/pyzmq_lib.sh"
if pyzmq_find; then
	EP4="ipc://$TMP/sock4"
	"$SHMKIT" bridge in "$EP4" "$QC" --bind --state "$TMP/hostile.rec" 2>"$TMP/hin.log" & IN=$!
	"$SHMKIT" recv "$QC" --count 99 --timeout 0.2 >/dev/null 2>&1 # empty it
	"$PYZMQ" - "$EP4" >"$TMP/hostile.out" 2>&1 <<'PY' || fail "hostile sender: $(cat "$TMP/hostile.out")"
import struct, sys, zmq
s = zmq.Context().socket(zmq.DEALER)
s.setsockopt(zmq.RCVTIMEO, 10000)
s.connect(sys.argv[1])
def hdr(t, seq): return b"SKB\x01" + t + b"\0\0\0" + struct.pack("<Q", seq)
def rec(*ms): return b"".join(struct.pack("<I", len(m)) + m for m in ms)
def reply():
    f = s.recv_multipart()
    return f[0][4:5], struct.unpack("<Q", f[0][8:16])[0], f[1:]
s.send_multipart([hdr(b"H", 0), b"\x07" * 16 + struct.pack("<II", 64, 0)])
t, seq, body = reply()
assert t == b"W" and seq == 0 and body and body[0][0] & 1, (t, seq, body)
s.send_multipart([hdr(b"B", 0), struct.pack("<I", 999) + b"short"])    # length past the end
s.send_multipart([hdr(b"B", 0), b""])                                   # no record
s.send_multipart([hdr(b"B", 0), rec(b"m0", b"m1") + b"\x01\x00"])      # trailing bytes
s.send_multipart([b"SKB\x01B"])                                        # short header
s.send_multipart([hdr(b"B", 0), rec(b"m0", b"m1", b"m2")])              # good: 0..2
s.send_multipart([hdr(b"B", 1), rec(b"m1", b"m2", b"m3")])              # 1, 2 duplicates; 3 new
s.send_multipart([hdr(b"B", 9), rec(b"m9")])                            # a gap: NACK(4)
seen = set()
while ("N", 4) not in seen:
    t, seq, _ = reply()
    seen.add((t.decode(), seq))
s.send_multipart([hdr(b"D", 4), b"m4"])
while ("A", 5) not in seen:
    t, seq, _ = reply()
    seen.add((t.decode(), seq))
PY
	"$SHMKIT" recv "$QC" --count 5 --timeout 5 >"$TMP/got" || fail "hostile sender: recv"
	printf 'm0\nm1\nm2\nm3\nm4\n' | cmp -s - "$TMP/got" || fail "hostile sender: got $(tr '\n' ' ' <"$TMP/got")"
	"$SHMKIT" recv "$QC" --timeout 0.3 >/dev/null 2>&1 && fail "hostile sender: a message more than sent"
	kill -0 "$IN" 2>/dev/null || fail "bridge in died on malformed input: $(cat "$TMP/hin.log")"
	kill "$IN"; wait "$IN" 2>/dev/null
	grep -q "2 duplicates ignored" "$TMP/hin.log" || fail "hostile sender: duplicates: $(cat "$TMP/hin.log")"
fi

# Under a descriptor limit ZeroMQ cannot live with, a clear refusal (it
# aborted, exit 134); a bound ipc socket gets the queue's mode, not what
# the umask allows (umask 000 made it 0777: anyone could feed the queue).
# The limit is set by a /bin/sh of its own: under `make valgrind` this script's
# bash runs under memcheck, whose setrlimit(RLIMIT_NOFILE) refuses any change
# ("ulimit: open files: cannot modify limit"), and the tool ran unlimited.
sh -c 'ulimit -n 8 && exec "$@"' sh "$SHMKIT" bridge in "ipc://$TMP/nofd" "$QA" --bind --timeout 1 >"$TMP/o" 2>"$TMP/e"
echo $? >"$TMP/rc"
[ "$(cat "$TMP/rc")" = 1 ] && grep -q "too few file descriptors" "$TMP/e" ||
	fail "bridge under ulimit -n 8: exit $(cat "$TMP/rc"): $(head -c 300 "$TMP/e")"
(umask 000; exec "$SHMKIT" bridge in "ipc://$TMP/umask" "$QA" --bind --timeout 2 >/dev/null 2>&1) &
UM=$!
for _ in $(seq 1 50); do [ -S "$TMP/umask" ] && break; sleep 0.05; done
sleep 0.1
mode=$(stat -c %a "$TMP/umask" 2>/dev/null)
[ "$mode" = 600 ] || fail "ipc socket bound under umask 000 has mode $mode, want the queue's 600"
kill "$UM" 2>/dev/null; wait "$UM" 2>/dev/null

[ $FAILS = 0 ] && echo "test_bridge_cli: ok"
[ $FAILS = 0 ]
