#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shmkit top: --once --json fields against known traffic on a queue, a topic
# and a map made here; a SysV queue shows no counters (null / "-") and, with
# nobody attached, is counted as not read; looking changes nothing (stat before == after); the
# interactive view under tmux shows the objects, q quits, SIGTERM quits, and
# the terminal is restored either way (icanon and echo back on).
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
SHMKIT=$(readlink -f "$SHMKIT")
ID=$$
Q="posix:/shmkit-test-$ID-top-q" T="posix:/shmkit-test-$ID-top-t" M="posix:/shmkit-test-$ID-top-m"
QM="posix:/shmkit-test-$ID-mpmc-top"
CLEANUP=("$Q" "$T" "$M" "$QM")
TMUX_SOCK="shmkit-test-$ID"
cleanup() {
	for p in $(jobs -p); do kill -9 "$p" 2>/dev/null; done
	tmux -L "$TMUX_SOCK" kill-server 2>/dev/null
}
PY=$(command -v python3) || { echo "SKIP: no python3 to read JSON"; exit 77; }

# Known traffic must fall between the two samples of `top --once`: "sleep
# 0.5" guessed when the first was taken, and a busy machine (the ASan
# build's tool starts in 0.2-0.7 s there) took it after the traffic
# (msgs_in 0, want 7: the ASan suite in 1 of 2 runs under load), or the
# traffic outlasted the interval. stop_between_samples PID waits until top
# sleeps between its samples (its wchan is the kernel's nanosleep: the
# prefix given keeps it off anyone's half-made object, where a look may
# pause) and stops it there; the test's kill -CONT after the traffic lets it
# take the second sample (its deadline kept running: elapsed_ms is longer).
stop_between_samples() {
	for _ in $(seq 1 400); do
		if grep -q nanosleep "/proc/$1/wchan" 2>/dev/null; then
			kill -STOP "$1"
			return 0
		fi
		kill -0 "$1" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
# topic_has URI TEXT: its stat --json (spaces gone) shows TEXT, within 20 s
topic_has() {
	for _ in $(seq 1 200); do
		"$SHMKIT" topic stat "$1" --json 2>/dev/null | tr -d ' \n' | grep -F -- "$2" >/dev/null && return 0
		sleep 0.1
	done
	return 1
}

"$SHMKIT" queue create "$Q" --capacity 50 --max-msg 32 >/dev/null || fail "create $Q"
"$SHMKIT" topic create "$T" --slots 16 --slot-size 64 >/dev/null || fail "create $T"
"$SHMKIT" map "$M" create 1M >/dev/null || fail "create $M"
"$SHMKIT" map "$M" put k1 v1 >/dev/null && "$SHMKIT" map "$M" put k2 v2 >/dev/null || fail "put"
"$SHMKIT" sub "$T" --count 100 --timeout 30 >/dev/null &
SUB=$!
topic_has "$T" '"subscribers":[{' || fail "the subscriber of $T never joined"

# known traffic between top's two samples: 7 messages (1+2+...+7 = 28 bytes)
# into Q, 2 of them (1 + 2 bytes) out again, 3 (4 + 5 + 6 = 15 bytes)
# published on T and read by its one subscriber
"$SHMKIT" top --once --json --interval 2 "posix:/shmkit-test-$ID-top-" >"$TMP/top.json" &
TOP=$!
stop_between_samples "$TOP" || fail "top never slept between its samples"
"$SHMKIT" send "$Q" a bb ccc dddd eeeee ffffff ggggggg || fail "send"
"$SHMKIT" recv "$Q" --count 2 >/dev/null || fail "recv"
"$SHMKIT" pub "$T" xxxx yyyyy zzzzzz || fail "pub"
topic_has "$T" '"position":3,' || fail "the subscriber of $T did not read the 3 messages"
kill -CONT "$TOP"
wait "$TOP" || fail "top --once --json exited $?"
"$PY" - "$TMP/top.json" "$Q" "$T" "$M" <<'PYEOF' || fail "JSON fields: $(head -c 2000 "$TMP/top.json")"
import json, sys
doc = json.load(open(sys.argv[1]))
objs = {o["uri"]: o for o in doc["objects"]}
q, t, m = objs[sys.argv[2]], objs[sys.argv[3]], objs[sys.argv[4]]
def eq(o, k, v):
    if o[k] != v:
        sys.exit("%s %s = %r, want %r" % (o["uri"], k, o[k], v))
eq(q, "kind", "queue"); eq(q, "depth", 5); eq(q, "capacity", 64); eq(q, "msgs_in", 7)
eq(q, "msgs_out", 2); eq(q, "total_in", 7); eq(q, "drops", 0); eq(q, "counters", True)
eq(q, "bytes_in", 28); eq(q, "bytes_out", 3)
# rates divide by the measured span (elapsed_ms): 2 s, more on a loaded machine
secs = doc["elapsed_ms"] / 1000.0
if not 1.9 <= secs <= 30: sys.exit("elapsed_ms %r, want >= the 2 s interval" % doc["elapsed_ms"])
def rate(o, k, n):
    if abs(o[k] - n / secs) > 0.51: sys.exit("%s %s %r, want %d in %.3f s = %.2f/s" % (o["uri"], k, o[k], n, secs, n / secs))
rate(q, "msgs_in_per_s", 7); rate(q, "bytes_in_per_s", 28); rate(q, "bytes_out_per_s", 3)
eq(t, "kind", "topic"); eq(t, "msgs_in", 3); eq(t, "subscribers", 1); eq(t, "capacity", 16)
eq(t, "msgs_out", 3); eq(t, "drops", 0); eq(t, "bytes_in", 15); eq(t, "bytes_out", 15)
rate(t, "bytes_in_per_s", 15)
eq(m, "kind", "map"); eq(m, "keys", 2); eq(m, "bytes_in_per_s", None); eq(m, "bytes_in", None)
eq(m, "msgs_in", None); eq(m, "msgs_in_per_s", None)  # a map counts no messages: not a 0
if doc["interval_ms"] != 2000: sys.exit("interval_ms")
uris = [o["uri"] for o in doc["objects"]]
# by rate: the counts of the one span, as the per-second figures are rounded
# (over 6 s, 9 and 6 messages were 1 + 0 and 1 + 1 a second)
rates = [(o["msgs_in"] or 0) + (o["msgs_out"] or 0) for o in doc["objects"]]
if rates != sorted(rates, reverse=True): sys.exit("not sorted by rate: %r" % rates)
PYEOF
"$SHMKIT" stat "$Q" --json >"$TMP/stat.before"
"$SHMKIT" top --once --json --interval 0.1 "$Q" >/dev/null || fail "top --once --json" # Q's, not the machine's
"$SHMKIT" stat "$Q" --json >"$TMP/stat.after"
cmp -s "$TMP/stat.before" "$TMP/stat.after" || fail "top changed what stat shows: $(diff "$TMP/stat.before" "$TMP/stat.after")"
expect_usage() { "$SHMKIT" top "$@" >/dev/null 2>&1; [ $? = 2 ] || fail "top $* should be a usage error"; }
expect_usage --bogus
# URI prefixes choose what is shown (the machine may hold anyone's objects)
"$SHMKIT" top --once --json --interval 0.1 "posix:/shmkit-test-$ID-top-" >"$TMP/mine.json" || fail "top PREFIX"
"$PY" - "$TMP/mine.json" "$Q" "$T" "$M" <<'PYEOF' || fail "top PREFIX: $(head -c 2000 "$TMP/mine.json")"
import json, sys
uris = sorted(o["uri"] for o in json.load(open(sys.argv[1]))["objects"])
if uris != sorted(sys.argv[2:5]): sys.exit("top PREFIX showed %r" % uris)
PYEOF
"$SHMKIT" top --once --json --interval 0.1 "posix:/shmkit-test-$ID-none" "$M" >"$TMP/m.json" || fail "top PREFIXES"
grep -q "top-q" "$TMP/m.json" && fail "top PREFIX showed an object it does not start"
grep -q "top-m" "$TMP/m.json" || fail "top PREFIX did not show $M"
expect_usage --interval 0
expect_usage --interval nonsense
expect_usage --interval forever
# a bad interval's hint offers only values top takes (it offered "forever")
"$SHMKIT" top --interval abc 2>"$TMP/hint"
hint=$(sed -n "s/.*bad value for --interval: 'abc' (expected \(.*\))$/\1/p" "$TMP/hint")
[ -n "$hint" ] || fail "top --interval abc: $(cat "$TMP/hint")"
tried=0
for v in $(echo "$hint" | tr -s ', ' '\n\n' | grep -E '^([0-9.]+[a-z]*|forever|inf)$'); do
	"$SHMKIT" top --once --json --interval "$v" "posix:/shmkit-test-$ID-none" >/dev/null 2>&1 ||
		fail "top refuses --interval $v, which its hint offers ($hint)"
	tried=$((tried + 1))
done
[ "$tried" -gt 0 ] || fail "no value found in the hint '$hint'"

# a name in UTF-8 takes its columns, not its bytes: the columns after the
# URI line up (é pushed them one left, in the text screen and in the view)
QE="posix:/shmkit-test-$ID-top-é"; CLEANUP+=("$QE")
"$SHMKIT" queue create "$QE" --capacity 50 --max-msg 32 >/dev/null || fail "create $QE"
aligned() { # FILE: the SIZE column ends where its heading does on every line of ours
	"$PY" - "$1" "posix:/shmkit-test-$ID-top-" <<'PYEOF'
import sys, unicodedata
w = lambda s: sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
head = [l for l in lines if l.startswith("KIND ")][0]
want = w(head[:head.index("SIZE") + 4])
rows = [l for l in lines if sys.argv[2] in l]
ends = [w(l[:l.index(l.split()[2], len(l.split()[0]) + len(l.split()[1]) + 1) + len(l.split()[2])]) for l in rows]
sys.exit(0 if len(rows) >= 2 and any("é" in l for l in rows) and set(ends) == {want} else "%r: %r" % (want, ends))
PYEOF
}
"$SHMKIT" top --once --interval 0.05 "posix:/shmkit-test-$ID-top-" >"$TMP/utf8.txt" || fail "top --once"
aligned "$TMP/utf8.txt" || fail "top --once: columns not aligned by width: $(cat "$TMP/utf8.txt")"

# the plain running view reads q from standard input (a pipe, then its end)
# and quits; a stdin at its end is not an end; one screen reads nothing.
# The q goes once a screen is out: a q that comes before the first screen
# rightly quits without one (a slow start under load read x and q together)
screen_out() { for _ in $(seq 1 100); do grep -q '^KIND ' "$TMP/piped.txt" 2>/dev/null && return; sleep 0.1; done; }
start=$(date +%s%N)
{ sleep 0.5; echo x; screen_out; echo q; } | timeout 20 "$SHMKIT" top --interval 0.2 "posix:/shmkit-test-$ID-top-" >"$TMP/piped.txt" ||
	fail "echo q | top exited $?"
took=$((($(date +%s%N) - start) / 1000000))
[ "$took" -lt 5000 ] || fail "echo q | top took $took ms"
grep -q '^KIND ' "$TMP/piped.txt" || fail "echo q | top printed no screen: $(cat "$TMP/piped.txt")"
timeout 1 "$SHMKIT" top --json --interval 0.1 "posix:/shmkit-test-$ID-top-" </dev/null >/dev/null
[ $? = 124 ] || fail "top </dev/null ended before its timeout"
rest=$(printf 'q\nrest\n' | { "$SHMKIT" top --once --interval 0.05 >/dev/null; cat; })
[ "$rest" = "$(printf 'q\nrest')" ] || fail "top --once read its standard input: left '$rest'"

# the interactive view under tmux
if ! command -v tmux >/dev/null; then
	echo "note: no tmux: the interactive half is skipped"
else
	run_view() { # NAME: start top in a tmux session; its exit status and stty land in $TMP/NAME
		tmux -L "$TMUX_SOCK" new-session -d -s "$1" -x 200 -y 40 \
			"stty -a >$TMP/$1.stty0; $SHMKIT top --interval 0.3 posix:/shmkit-test-$ID-top-; echo \$? >$TMP/$1.rc; stty -a >$TMP/$1.stty; sleep 30"
	}
	shown() { tmux -L "$TMUX_SOCK" capture-pane -p -t "$1" 2>/dev/null | grep -q -- "$2"; }
	wait_for() { for _ in $(seq 1 100); do eval "$1" && return 0; sleep 0.1; done; return 1; }
	for how in q term; do
		run_view "$how"
		wait_for "shown $how '$Q'" || fail "$how: the view never showed $Q: $(tmux -L "$TMUX_SOCK" capture-pane -p -t "$how" | head -5)"
		shown "$how" "KIND" || fail "$how: no header"
		shown "$how" "BIN/s  BOUT/s" || fail "$how: no bytes/s columns"
		wait_for "shown $how '$QE'" || fail "$how: the view never showed $QE"
		tmux -L "$TMUX_SOCK" capture-pane -p -t "$how" >"$TMP/$how.screen"
		aligned "$TMP/$how.screen" || fail "$how: view not aligned by width: $(cat "$TMP/$how.screen")"
		if [ "$how" = q ]; then
			tmux -L "$TMUX_SOCK" send-keys -t "$how" q
		else
			# this view's top, the child of its pane's shell: by name
			# (pkill -f), the SIGTERM also ended the view of a test_top
			# run beside this one (the same tool), which then failed
			kill -TERM $(pgrep -P "$(tmux -L "$TMUX_SOCK" display -p -t "$how" '#{pane_pid}')")
		fi
		wait_for "[ -s $TMP/$how.stty ]" || fail "$how: top did not exit"
		[ "$(cat "$TMP/$how.rc" 2>/dev/null)" = 0 ] || fail "$how: exit status $(cat "$TMP/$how.rc" 2>/dev/null)"
		for flag in icanon echo; do
			grep -qw -- "-$flag" "$TMP/$how.stty" && fail "$how: terminal left with -$flag"
		done
		cmp -s <(tr ' ' '\n' <"$TMP/$how.stty0" | grep -v rows) <(tr ' ' '\n' <"$TMP/$how.stty" | grep -v rows) ||
			fail "$how: terminal settings differ after top"
		shown "$how" "SLEEP ALIVE" && fail "$how: the view is still on the screen after exit"
	done
fi
kill "$SUB" 2>/dev/null
# an MPMC queue's handles count bytes in their peer entries: top adds them
"$SHMKIT" queue create "$QM" --capacity 16 --max-msg 32 --multi >/dev/null || fail "create $QM"
"$SHMKIT" top --once --json --interval 2 "$QM" >"$TMP/mpmc.json" &
TOP=$!
stop_between_samples "$TOP" || fail "top $QM never slept between its samples"
"$SHMKIT" send "$QM" abc de || fail "send $QM"
"$SHMKIT" recv "$QM" --count 1 >/dev/null || fail "recv $QM"
kill -CONT "$TOP"
wait "$TOP" || fail "top --once --json $QM exited $?"
grep -q '"bytes_in": 5,' "$TMP/mpmc.json" && grep -q '"bytes_out": 3,' "$TMP/mpmc.json" ||
	fail "MPMC bytes: $(grep bytes_ "$TMP/mpmc.json")"
# as a user who may not read them, the objects are not shown, and top says
# so instead of an empty view that looks like "no objects"
if [ "$(id -u)" = 0 ] && command -v runuser >/dev/null && id nobody >/dev/null 2>&1 &&
	runuser -u nobody -- test -x "$SHMKIT"; then
	runuser -u nobody -- "$SHMKIT" top --once --interval 0.1 "$QM" >"$TMP/other.txt" ||
		fail "top as nobody exited $?"
	grep -q "^(1 segment this user may not read: not shown" "$TMP/other.txt" ||
		fail "top as nobody does not say what it cannot show: $(cat "$TMP/other.txt")"
	runuser -u nobody -- "$SHMKIT" top --once --json --interval 0.1 "$QM" >"$TMP/other.json" ||
		fail "top --json as nobody exited $?"
	grep -q '"unreadable": 1' "$TMP/other.json" || fail "JSON unreadable: $(cat "$TMP/other.json")"
else
	echo "SKIP (other-user part): needs root, runuser, nobody, and $SHMKIT executable by it"
fi
# a descriptor armed and then closed leaves no sleeper behind (top read the
# eventcount's FD bit, which stays set once its listener is gone: a queue a
# bridge had served showed 'sleepers 1' for good)
QF="posix:/shmkit-test-$ID-top-fd"; CLEANUP+=("$QF")
"$SHMKIT" queue create "$QF" --capacity 4 --max-msg 8 >/dev/null || fail "create $QF"
py_lib_env
if env "${PY_ENV[@]}" "$PY" - "$QF" <<'PYEOF'
import sys, shmkit
q = shmkit.Queue.open(sys.argv[1])
q.fileno()                      # a descriptor, armed by a receive that finds nothing
try:
    q.recv(timeout=0)
except BlockingIOError:
    pass
q.close()
PYEOF
then
	"$SHMKIT" top --once --json --interval 0.05 "$QF" | "$PY" -c 'import json, sys
o = json.load(sys.stdin)["objects"][0]
assert o["sleepers"] == 0, o' || fail "a closed descriptor still counts as a sleeper"
else
	echo "SKIP (descriptor part): the Python binding could not arm one"
fi

# a subscriber killed -9 is not counted as one: it shows as dead until a
# publisher reaps its entry
TD="posix:/shmkit-test-$ID-top-dead"; CLEANUP+=("$TD")
"$SHMKIT" topic create "$TD" --slots 4 --slot-size 16 >/dev/null || fail "create $TD"
"$SHMKIT" sub "$TD" --timeout 30 >/dev/null &
DEADSUB=$!
for _ in $(seq 1 100); do
	"$SHMKIT" topic stat "$TD" | grep -q "^subscribers: *1" && break
	sleep 0.05
done
"$SHMKIT" top --once --json --interval 0.05 "$TD" | "$PY" -c 'import json, sys
o = json.load(sys.stdin)["objects"][0]
assert (o["subscribers"], o["dead_subscribers"]) == (1, 0), o' || fail "a live subscriber is not counted"
kill -9 "$DEADSUB"; wait "$DEADSUB" 2>/dev/null
"$SHMKIT" top --once --json --interval 0.05 "$TD" | "$PY" -c 'import json, sys
o = json.load(sys.stdin)["objects"][0]
assert (o["subscribers"], o["dead_subscribers"]) == (0, 1), o' || fail "a killed subscriber still counts as one"

# System V: top never attaches, so it reads no counters there. With a
# process attached (a receiver waiting) the kind is read through it and the
# row's message counters are null / "-", never a measured-looking 0; with
# nobody attached it is not shown, and said (ls lists it with KIND ?).
SV="sysv:$(printf '0x%x' $((0x5e000000 + ($$ & 0xffffff))))"; CLEANUP+=("$SV")
"$SHMKIT" queue create "$SV" --capacity 4 --max-msg 16 >/dev/null || fail "create $SV"
expect 0 "$SHMKIT" top --once --json --interval 0.05 "$SV"
"$PY" - "$TMP/out" <<'PYEOF' || fail "top of an unattached SysV queue: $(cat "$TMP/out")"
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["objects"] == [] and doc["unreadable"] == 1 and doc["unattached_sysv"] == 1, doc
PYEOF
expect 0 "$SHMKIT" top --once --interval 0.05 "$SV"
out_has "(1 System V segment not read: no process whose memory this user may read has it attached"
"$SHMKIT" recv "$SV" --timeout 30 >/dev/null &
SVRECV=$!
for _ in $(seq 1 100); do
	"$SHMKIT" ls -n -o KIND "$SV" | grep -q queue && break
	sleep 0.05
done
expect 0 "$SHMKIT" top --once --json --interval 0.05 "$SV"
"$PY" - "$TMP/out" "$SV" <<'PYEOF' || fail "top of an attached SysV queue: $(cat "$TMP/out")"
import json, sys
doc = json.load(open(sys.argv[1]))
[o] = doc["objects"]
assert o["uri"] == sys.argv[2] and o["kind"] == "queue" and o["counters"] is False, o
for k in ("msgs_in", "msgs_out", "msgs_in_per_s", "msgs_out_per_s", "bytes_in", "total_in"):
    assert o[k] is None, (k, o)
assert doc["unreadable"] == 0 and doc["unattached_sysv"] == 0, doc
PYEOF
expect 0 "$SHMKIT" top --once --interval 0.05 "$SV"
out_has "shmkit top: 1 object, rates over"
grep -E "^queue +$SV " "$TMP/out" | awk '$5 != "-" || $6 != "-" { bad = 1 } END { exit bad }' ||
	fail "top text shows message rates for a SysV queue: $(cat "$TMP/out")"
grep -Eq "^queue +$SV " "$TMP/out" || fail "top text lacks $SV: $(cat "$TMP/out")"
kill "$SVRECV" 2>/dev/null; wait "$SVRECV" 2>/dev/null

# A queue another program resized (truncate(1) grows its file): its header no
# longer matches it, so it has no counters to show; it is not shown, but
# counted and said, not dropped without a word while ls still lists it.
QR="posix:/shmkit-test-$ID-top-resized"; CLEANUP+=("$QR")
"$SHMKIT" queue create "$QR" --capacity 4 --max-msg 16 >/dev/null || fail "create $QR"
truncate -s +4096 "/dev/shm/${QR#posix:/}" || fail "truncate $QR"
expect 0 "$SHMKIT" top --once --json --interval 0.05 "$QR"
"$PY" - "$TMP/out" <<'PYEOF' || fail "top of a resized queue: $(cat "$TMP/out")"
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["objects"] == [] and doc["invalid"] == 1 and doc["unreadable"] == 0, doc
PYEOF
expect 0 "$SHMKIT" top --once --interval 0.05 "$QR"
out_has "(1 shmkit object not shown: its header was refused"
# Cut to its header page and grown back to its size: the header matches, the
# body is zeros. No counters read (null, "-"), never a queue of capacity 0.
QZ="posix:/shmkit-test-$ID-top-zeroed"; CLEANUP+=("$QZ")
"$SHMKIT" queue create "$QZ" --capacity 4 --max-msg 16 >/dev/null || fail "create $QZ"
qz_size=$(stat -c %s "/dev/shm/${QZ#posix:/}")
truncate -s 4096 "/dev/shm/${QZ#posix:/}" && truncate -s "$qz_size" "/dev/shm/${QZ#posix:/}" ||
	fail "truncate $QZ"
expect 0 "$SHMKIT" top --once --json --interval 0.05 "$QZ"
"$PY" - "$TMP/out" <<'PYEOF' || fail "top of a zeroed queue: $(cat "$TMP/out")"
import json, sys
[o] = json.load(open(sys.argv[1]))["objects"]
assert o["counters"] is False and o["capacity"] is None and o["depth"] is None, o
PYEOF

finish test_top
