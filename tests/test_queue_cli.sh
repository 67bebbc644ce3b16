#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shmkit queue create/stat, send and recv: the shell pipeline delivers every
# line in order, --null and --raw, --count and --timeout (exit 1 when fewer
# messages than asked came in time), queue counters in `shmkit stat`, send
# stopped by SIGINT or SIGTERM saying how many messages went.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
Q="posix:/shmkit-test-$$-queue-cli"
Q2="posix:/shmkit-test-$$-queue-cli2"
Q3="posix:/shmkit-test-$$-queue-cli3"
CLEANUP=("$Q" "$Q2" "$Q2-kill" "$Q3")

expect 2 "$SHMKIT" queue create "$Q" --capacity 16
expect 0 "$SHMKIT" queue create "$Q" --capacity 1000 --max-msg 128
expect 1 "$SHMKIT" queue create "$Q" --capacity 1000 --max-msg 128   # exists
grep -q "^shmkit: queue create $Q: " "$TMP/err" || fail "error line: $(cat "$TMP/err")"

# the pipeline from the issue: every line, in order
seq 1 100000 | "$SHMKIT" send "$Q" - &
sender=$!
"$SHMKIT" recv "$Q" --count 100000 --timeout 60 >"$TMP/lines" || fail "recv of 100000 lines"
wait $sender || fail "send - exited $?"
seq 1 100000 | cmp -s - "$TMP/lines" || fail "the 100000 lines differ"

# one message per argument; counters in both stat commands
expect 0 "$SHMKIT" send "$Q" "hello world" second ""
expect 0 "$SHMKIT" queue stat "$Q"
grep -Eq "^depth: +3$" "$TMP/out" || fail "queue stat depth: $(cat "$TMP/out")"
grep -Eq "^sent: +100003$" "$TMP/out" || fail "queue stat sent: $(cat "$TMP/out")"
expect 0 "$SHMKIT" stat "$Q"
grep -Eq "^depth: +3$" "$TMP/out" || fail "stat shows no queue depth: $(cat "$TMP/out")"
expect 0 "$SHMKIT" stat "$Q" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["queue"]["depth"]==3, d' \
	"$TMP/out" || fail "stat --json queue depth"
expect 0 "$SHMKIT" queue stat "$Q" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["queue"]["received"]==100000, d' \
	"$TMP/out" || fail "queue stat --json"
expect 0 "$SHMKIT" recv "$Q" --count 3
printf 'hello world\nsecond\n\n' | cmp -s - "$TMP/out" || fail "argument messages: $(cat "$TMP/out")"

# a timeout before --count messages exits 1, after printing what came
expect 0 "$SHMKIT" send "$Q" only-one
start=$(date +%s%N)
expect 1 "$SHMKIT" recv "$Q" --count 2 --timeout 0.3
end=$(date +%s%N)
[ "$(cat "$TMP/out")" = "only-one" ] || fail "partial output: $(cat "$TMP/out")"
grep -q "^shmkit: recv $Q: timed out after 1 of 2 messages" "$TMP/err" || fail "$(cat "$TMP/err")"
[ $(((end - start) / 1000000)) -ge 300 ] || fail "recv returned before its timeout"
expect 1 "$SHMKIT" recv "$Q" --timeout 0
err_has "timed out after 0 of 1 message$"
expect 0 "$SHMKIT" recv "$Q" --count 0 --timeout 0.1   # until the timeout: not an error

# --null: NUL-separated in and out, newlines inside messages survive
printf 'a\nb\0c\0' | "$SHMKIT" send "$Q" - --null || fail "send --null"
expect 0 "$SHMKIT" recv "$Q" --count 2 --null
printf 'a\nb\0c\0' | cmp -s - "$TMP/out" || fail "--null round trip"

# --raw: all of stdin is one message, written back byte for byte
head -c 100 /dev/urandom >"$TMP/bin"
"$SHMKIT" send "$Q" - --raw <"$TMP/bin" || fail "send --raw"
expect 0 "$SHMKIT" recv "$Q" --raw
cmp -s "$TMP/bin" "$TMP/out" || fail "--raw round trip"
head -c 200 /dev/urandom | "$SHMKIT" send "$Q" - --raw 2>"$TMP/err"
[ $? = 1 ] || fail "a message over max-msg must fail"
grep -q "a message of 200 bytes is over the queue's max-msg of 128 bytes" "$TMP/err" ||
	fail "over max-msg: $(cat "$TMP/err")"
# a line (or --raw input) far over max-msg is refused once that is clear,
# not read to its end first: 300M of one line took 85 s (each read searched
# the line from its start again) and as much memory
for how in - --raw; do
	(echo first; head -c 300M /dev/zero) | timeout 20 "$SHMKIT" send "$Q" $how 2>"$TMP/err"
	rc=$?
	[ "$rc" = 1 ] || fail "send $how of a 300M message: exit $rc (want 1 at once)"
	grep -Eq "a message of at least [0-9]+ bytes is over the queue's max-msg of 128 bytes" "$TMP/err" ||
		fail "send $how of a 300M message: $(cat "$TMP/err")"
done
expect 0 "$SHMKIT" recv "$Q" # the line before it went
out_is first

# full queue: send with a timeout exits 1, saying how many went
expect 0 "$SHMKIT" queue create "$Q2" --capacity 2 --max-msg 8 --multi
expect 0 "$SHMKIT" send "$Q2" a
expect 1 "$SHMKIT" send "$Q2" b c --timeout 0.1
err_has "timed out with the queue full: 1 message sent, this one"
expect 0 "$SHMKIT" queue stat "$Q2"
grep -q "multi-producer" "$TMP/out" || fail "multi queue: $(cat "$TMP/out")"
expect 0 "$SHMKIT" recv "$Q2" --count 2
[ "$(cat "$TMP/out")" = "$(printf 'a\nb')" ] || fail "mpmc recv: $(cat "$TMP/out")"

# send stopped by SIGINT or SIGTERM while the queue is full says how many
# messages went, exactly what the queue got, and dies of the signal as recv
# does (it died without a word: what had gone was unknown). Started with
# SIGINT at its default action: bash starts a background job with it ignored.
WITH_SIGINT=(python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])')
q3() { "$SHMKIT" queue stat "$Q3" --json | python3 -c 'import json, sys
q = json.load(sys.stdin)["queue"]; print(q["sent"], q["depth"], q["send_waiters"])'; }
sleeps_full() { # SENT: until the queue holds 4 and its sender, SENT sent, sleeps
	for _ in $(seq 200); do [ "$(q3)" = "$1 4 1" ] && return; sleep 0.05; done
	fail "the sender never slept on the full queue: sent depth waiters = $(q3)"
}
stopped_send() { # SIGNAL STATUS WANT: the sender's exit status and line
	kill -"$1" "$sender"
	wait "$sender"
	local rc=$?
	[ "$rc" = "$2" ] || fail "send after SIG$1 exited $rc, want $2: $(cat "$TMP/err")"
	grep -qx "shmkit: send $Q3: interrupted by SIG$1: $3 sent, and no more" "$TMP/err" ||
		fail "send after SIG$1: '$(cat "$TMP/err")', want $3 sent"
}
expect 0 "$SHMKIT" queue create "$Q3" --capacity 4 --max-msg 16
seq 1 10 >"$TMP/ten"
"${WITH_SIGINT[@]}" "$SHMKIT" send "$Q3" - <"$TMP/ten" 2>"$TMP/err" &
sender=$!
sleeps_full 4
expect 0 "$SHMKIT" recv "$Q3" --count 2 # room for two more: the sender goes on, then sleeps again
sleeps_full 6
stopped_send INT 130 "6 messages"
[ "$(q3)" = "6 4 0" ] || fail "after SIGINT, sent depth waiters = $(q3), want 6 4 0"
expect 0 "$SHMKIT" recv "$Q3" --count 0 --timeout 0
[ "$(cat "$TMP/out")" = "$(seq 3 6)" ] || fail "after SIGINT the queue holds: $(cat "$TMP/out")"
"$SHMKIT" send "$Q3" a b c d e f 2>"$TMP/err" & # one message per argument; SIGTERM
sender=$!
sleeps_full 10
stopped_send TERM 143 "4 messages"
expect 0 "$SHMKIT" recv "$Q3" --count 0 --timeout 0
[ "$(cat "$TMP/out")" = "$(printf '%s\n' a b c d)" ] || fail "after SIGTERM the queue holds: $(cat "$TMP/out")"
# waiting for standard input, one line sent: "1 message"
mkfifo "$TMP/fifo"
"${WITH_SIGINT[@]}" "$SHMKIT" send "$Q3" <"$TMP/fifo" 2>"$TMP/err" &
sender=$!
exec 8>"$TMP/fifo"
echo one >&8
for _ in $(seq 200); do [ "$(q3)" = "11 1 0" ] && break; sleep 0.05; done
stopped_send INT 130 "1 message"
exec 8>&-
expect 0 "$SHMKIT" recv "$Q3" --count 0 --timeout 0
[ "$(cat "$TMP/out")" = one ] || fail "after SIGINT on stdin the queue holds: $(cat "$TMP/out")"

# send moves what stdin already gave in batches, but never holds a line back
# waiting for more: the first line is received while the writer still sleeps
# (a sender that waited for a full batch or for end of input would time out)
expect 0 "$SHMKIT" recv "$Q" --count 0 --timeout 0
(echo first; sleep 8; echo second) | "$SHMKIT" send "$Q" &
slow=$!
expect 0 "$SHMKIT" recv "$Q" --timeout 6
[ "$(cat "$TMP/out")" = "first" ] || fail "a line held back by send: $(cat "$TMP/out")"
wait $slow || fail "slow send failed"
expect 0 "$SHMKIT" recv "$Q" --timeout 5
[ "$(cat "$TMP/out")" = "second" ] || fail "second line: $(cat "$TMP/out")"
# a batch that meets a line over max_msg: those before it go, the error counts them
head -c 200 /dev/zero | tr '\0' x >"$TMP/long"
{ printf 'a\nb\n'; cat "$TMP/long"; printf '\nc\n'; } | "$SHMKIT" send "$Q" 2>"$TMP/err"
[ $? = 1 ] || fail "send of an oversized line should exit 1"
grep -q "2 messages were sent before that" "$TMP/err" || fail "sent count: $(cat "$TMP/err")"
expect 0 "$SHMKIT" recv "$Q" --count 0 --timeout 0.2
[ "$(cat "$TMP/out")" = "$(printf 'a\nb')" ] || fail "before the long line: $(cat "$TMP/out")"

# recv killed -9 while its stdout is blocked (a full pipe) has consumed only
# what it wrote: its output + what a second recv gets = every line, once, in
# order; a message cut mid-write is printed again, so the first output's
# unfinished last line is dropped. On an MPMC queue the one message the killed
# recv held is handed back (counted as abandoned, shmkit queue stat) when the
# next recv registers, and that recv prints it first.
killed_recv() { # QUEUE N [FORMAT]: 0 if no line was lost or repeated
	local q=$1 n=$2 f=${3:-%g} pid=
	rm -f "$TMP/go" "$TMP/pid"
	seq -f "$f" 1 "$n" | "$SHMKIT" send "$q" - &
	local sender=$!
	{ "$SHMKIT" recv "$q" --count 0 & echo $! >"$TMP/pid"; wait; } |
		{ while [ ! -e "$TMP/go" ]; do sleep 0.05; done; cat >"$TMP/first"; } &
	local reader=$!
	# until recv blocks writing to the full pipe: in the write (a message
	# over 4096 bytes) or in its wait for room before a batch that fits one
	# all-or-nothing write (the only poll recv makes)
	blocked() { [[ "$(cat /proc/"$1"/wchan 2>/dev/null)" = @(*pipe_write|poll_schedule_timeout*) ]]; }
	for _ in $(seq 200); do
		pid=$(cat "$TMP/pid" 2>/dev/null)
		[ -n "$pid" ] && blocked "$pid" && break
		sleep 0.05
	done
	blocked "$pid" || fail "recv never blocked on stdout"
	kill -9 "$pid"
	touch "$TMP/go"
	wait $reader
	: >"$TMP/second"
	while kill -0 $sender 2>/dev/null; do # the rest, while the sender still sends
		"$SHMKIT" recv "$q" --count 0 --timeout 1 >>"$TMP/second"
	done
	wait $sender || fail "send to $q exited $?"
	"$SHMKIT" recv "$q" --count 0 --timeout 0 >>"$TMP/second"
	[ -z "$(tail -c 1 "$TMP/first")" ] || sed -i '$ d' "$TMP/first" # unfinished line
	cat "$TMP/first" "$TMP/second" >"$TMP/all"
	echo "killed recv on $q: $(wc -l <"$TMP/first") printed, $(wc -l <"$TMP/second") left" >&2
}
expect 0 "$SHMKIT" queue create "$Q2-kill" --capacity 1024 --max-msg 64
killed_recv "$Q2-kill" 200000
seq 1 200000 | cmp -s - "$TMP/all" || fail "SPSC: lines lost or repeated by a killed recv"
"$SHMKIT" rm "$Q2-kill" >/dev/null
# lines of 101 bytes: a batch of them is more than a pipe takes at once
# (PIPE_BUF), so the write that blocked had put whole lines in the pipe that
# were not consumed: the next recv printed them again (76 of 4000 repeated)
expect 0 "$SHMKIT" queue create "$Q2-kill" --capacity 4096 --max-msg 128
killed_recv "$Q2-kill" 20000 %0100.0f
seq -f %0100.0f 1 20000 | cmp -s - "$TMP/all" || fail "SPSC, long lines: lines lost or repeated by a killed recv"
"$SHMKIT" rm "$Q2-kill" >/dev/null
expect 0 "$SHMKIT" queue create "$Q2-kill" --capacity 1024 --max-msg 64 --multi
killed_recv "$Q2-kill" 100000
abandoned=$("$SHMKIT" queue stat "$Q2-kill" --json |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["queue"]["abandoned"])')
seq 1 100000 | cmp -s - "$TMP/all" ||
	fail "MPMC: lines lost or repeated by a killed recv ($(sort -un "$TMP/all" | wc -l) of 100000 distinct, $(wc -l <"$TMP/all") in all)"
[ "$abandoned" = 1 ] || fail "MPMC: $abandoned counted abandoned, want the 1 the killed recv held"
"$SHMKIT" rm "$Q2-kill" >/dev/null

# recv whose stdout fails (closed: its number must not become the segment's
# descriptor and get the messages written into the queue; a full disk) exits
# 1 and consumes nothing: the next recv gets every message
expect 0 "$SHMKIT" queue create "$Q2-kill" --capacity 4 --max-msg 8
expect 0 "$SHMKIT" send "$Q2-kill" a b
"$SHMKIT" recv "$Q2-kill" --count 2 >&- 2>"$TMP/err"; [ $? = 1 ] || fail "recv >&- should exit 1"
grep -q "still in the queue" "$TMP/err" || fail "recv >&-: $(cat "$TMP/err")"
"$SHMKIT" recv "$Q2-kill" --count 2 >/dev/full 2>/dev/null; [ $? = 1 ] || fail "recv >/dev/full should exit 1"
expect 0 "$SHMKIT" recv "$Q2-kill" --count 2 --timeout 5
[ "$(cat "$TMP/out")" = "$(printf 'a\nb')" ] || fail "after failed recvs: $(cat "$TMP/out") $(cat "$TMP/err")"
"$SHMKIT" rm "$Q2-kill" >/dev/null
# The same on an MPMC queue, where a peek claims the message: the one recv
# could not write is given back, not left claimed (queue stat showed it
# taken, and the next recv got it back only as "abandoned", as from a
# crashed consumer)
qstat() { "$SHMKIT" queue stat "$Q2-kill" --json | python3 -c 'import json,sys
q = json.load(sys.stdin)["queue"]; print(q["depth"], q["received"], q["abandoned"])'; }
expect 0 "$SHMKIT" queue create "$Q2-kill" --capacity 4 --max-msg 16 --multi
expect 0 "$SHMKIT" send "$Q2-kill" a b c
"$SHMKIT" recv "$Q2-kill" --count 3 >/dev/full 2>"$TMP/err"; [ $? = 1 ] || fail "MPMC recv >/dev/full should exit 1"
grep -q "still in the queue" "$TMP/err" || fail "MPMC recv >/dev/full: $(cat "$TMP/err")"
[ "$(qstat)" = "3 0 0" ] || fail "MPMC after recv >/dev/full: depth received abandoned = $(qstat), want 3 0 0"
"$SHMKIT" recv "$Q2-kill" --count 3 >&- 2>/dev/null; [ $? = 1 ] || fail "MPMC recv >&- should exit 1"
[ "$(qstat)" = "3 0 0" ] || fail "MPMC after recv >&-: depth received abandoned = $(qstat), want 3 0 0"
expect 0 "$SHMKIT" recv "$Q2-kill" --count 3 --timeout 5
[ "$(cat "$TMP/out")" = "$(printf 'a\nb\nc')" ] || fail "MPMC after failed recvs: $(cat "$TMP/out") $(cat "$TMP/err")"
[ "$(qstat)" = "0 3 0" ] || fail "MPMC after the recv: depth received abandoned = $(qstat), want 0 3 0"
"$SHMKIT" rm "$Q2-kill" >/dev/null
expect 0 "$SHMKIT" queue create "$Q2-kill" --capacity 64 --max-msg 128 --multi
seq -f %0100.0f 1 30 | "$SHMKIT" send "$Q2-kill" -
(trap '' XFSZ; ulimit -f 1; exec "$SHMKIT" recv "$Q2-kill" --count 30 >"$TMP/part" 2>"$TMP/err")
[ $? = 1 ] || fail "MPMC recv over the file size limit should exit 1"
whole=$(grep -c . "$TMP/part"); [ -z "$(tail -c 1 "$TMP/part")" ] || whole=$((whole - 1))
[ "$(qstat)" = "$((30 - whole)) $whole 0" ] ||
	fail "MPMC recv over the limit, $whole lines whole: depth received abandoned = $(qstat)"
expect 0 "$SHMKIT" recv "$Q2-kill" --count 0 --timeout 0.2
seq -f %0100.0f $((whole + 1)) 30 | cmp -s - "$TMP/out" ||
	fail "MPMC: after $whole whole lines, the next recv got $(wc -l <"$TMP/out") lines, from '$(head -c 100 "$TMP/out")'"
"$SHMKIT" rm "$Q2-kill" >/dev/null
# stdout that takes part of a batch, then fails (a file size limit standing
# for a full disk): the lines written whole are consumed, the one cut and
# those after it stay (they were all left, and printed again by the next recv)
expect 0 "$SHMKIT" queue create "$Q2-kill" --capacity 64 --max-msg 128
seq -f %0100.0f 1 30 | "$SHMKIT" send "$Q2-kill" -
(trap '' XFSZ; ulimit -f 1; exec "$SHMKIT" recv "$Q2-kill" --count 30 >"$TMP/part" 2>"$TMP/err")
[ $? = 1 ] || fail "recv over the file size limit should exit 1"
grep -q "still in the queue" "$TMP/err" || fail "recv over the limit: $(cat "$TMP/err")"
expect 0 "$SHMKIT" recv "$Q2-kill" --count 0 --timeout 0.2
whole=$(grep -c . "$TMP/part"); [ -z "$(tail -c 1 "$TMP/part")" ] || whole=$((whole - 1))
[ "$whole" -gt 0 ] || fail "recv over the limit wrote no whole line"
seq -f %0100.0f $((whole + 1)) 30 | cmp -s - "$TMP/out" ||
	fail "after $whole whole lines, the next recv got $(wc -l <"$TMP/out") lines, from '$(head -c 100 "$TMP/out")'"
"$SHMKIT" rm "$Q2-kill" >/dev/null

# not a queue: the error says what it is (a topic; and `heap check` of a
# queue says "not a heap", not what its second try, a map, found)
expect 1 "$SHMKIT" recv "posix:/shmkit-test-$$-no-such-queue" --timeout 0
expect 0 "$SHMKIT" topic create "$Q2-kill"
expect 1 "$SHMKIT" send "$Q2-kill" x
grep -q "is a topic.*not a queue" "$TMP/err" || fail "send to a topic: $(cat "$TMP/err")"
expect 1 "$SHMKIT" heap "$Q" check
grep -q "is a queue.*not a heap" "$TMP/err" || fail "heap check of a queue: $(cat "$TMP/err")"
"$SHMKIT" rm "$Q2-kill" >/dev/null
expect 2 "$SHMKIT" recv "$Q" --null --raw

finish test_queue_cli
