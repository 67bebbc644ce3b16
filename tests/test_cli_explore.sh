#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Defects a demanding user found at the shell (explore-cli): each case failed
# before its fix. Every segment has a run-unique name and is removed on exit.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
TAG="shmkit-test-$$-explore"

# ---- ls: two different names never print the same ----
# A blank is written \x20, so a backslash must be escaped too: else
# 'a b' and 'a\x20b' (a real backslash) are one line twice. A URI operand
# decodes \xHH, so the real backslash is given as ls prints it, \x5c.
BL="posix:/$TAG-b c"; BS="posix:/$TAG-b\\x5cx20c"; CLEANUP+=("$BL" "$BS")
expect 0 "$SHMKIT" create "$BL" 4K
expect 0 "$SHMKIT" create "$BS" 4K
expect 0 "$SHMKIT" ls -n -o URI "posix:/$TAG-b"
[ "$(sort -u "$TMP/out" | wc -l)" = 2 ] || fail "ls: two names print the same: $(cat "$TMP/out")"
grep -qxF "posix:/$TAG-b\\x5cx20c" "$TMP/out" || fail "ls: backslash not written \\x5c: $(cat "$TMP/out")"
[ -f "/dev/shm/$TAG-b\\x20c" ] || fail "create posix:/NAME\\x5cx20c did not make NAME\\x20c"

# ---- URI prefixes take the /name shorthand every URI operand takes ----
# (ls /app-, top /app-, gc --prefix /app- matched nothing and said nothing)
PQ="posix:/$TAG-pq"; CLEANUP+=("$PQ")
expect 0 "$SHMKIT" queue create "/$TAG-pq" --capacity 2 --max-msg 8 --owned
expect 0 "$SHMKIT" ls -n -o URI "/$TAG-p"
[ "$(cat "$TMP/out")" = "$PQ" ] || fail "ls /prefix: '$(cat "$TMP/out")' != '$PQ'"
expect 0 "$SHMKIT" top --once --interval 0.05 "/$TAG-p"
grep -qF "$PQ" "$TMP/out" || fail "top /prefix misses $PQ: $(cat "$TMP/out")"
expect 0 "$SHMKIT" gc --dry-run --prefix "/$TAG-p"
grep -qF "would remove $PQ" "$TMP/out" || grep -qE "^would remove +$PQ " "$TMP/out" ||
	fail "gc --prefix /prefix misses $PQ: $(cat "$TMP/out")"
# a bare word still matches the scheme: every POSIX segment of the machine,
# so once more when one that another test truncated meanwhile stopped ls by
# SIGBUS (a documented limit of looks: 1 ls in 600 beside test_hostile_truncate)
ls_posix() { "$SHMKIT" ls -n -o URI "posix" >"$TMP/out" 2>"$TMP/err"; }
ls_posix || { grep -q "stopped by SIGBUS" "$TMP/err" && ls_posix; } || fail "ls posix: $(cat "$TMP/err")"
grep -qF "$PQ" "$TMP/out" || fail "ls posix no longer lists $PQ"

# ---- a create whose size or geometry is refused says which bound ----
# (each was a bare "Invalid argument"); no create could take it: a usage
# error, exit 2, as --capacity 0 or --slots 0 (it was exit 1)
OB="posix:/$TAG-ob"; CLEANUP+=("$OB")
expect 2 "$SHMKIT" map "$OB" create 20K;  err_has "^shmkit: map create: size 20480 is too small for a map \(24K is enough\)$"
err_has "^usage: shmkit map URI create SIZE "
expect 2 "$SHMKIT" map "$OB" create 10K;  err_has "too small for a map"
# past the header's floor, too small only once laid out (it made the segment first)
expect 2 "$SHMKIT" map "$OB" create 22K;  err_has "^shmkit: map create: size 22528 is too small for a map"
expect 1 "$SHMKIT" stat "$OB" # a refused create leaves nothing
expect 0 "$SHMKIT" map "$OB" create 24K   # what the message promises
expect 0 "$SHMKIT" map "$OB" put k v
expect 0 "$SHMKIT" rm "$OB"
expect 2 "$SHMKIT" heap "$OB" create 8K;  err_has "^shmkit: heap create: size 8192 is too small for a heap \(at least [0-9]+ bytes\)$"
min=$(sed -n 's/.*at least \([0-9]*\) bytes.*/\1/p' "$TMP/err")
expect 0 "$SHMKIT" heap "$OB" create "$min"
expect 0 "$SHMKIT" rm "$OB"
expect 2 "$SHMKIT" queue create "$OB" --capacity 99999999999 --max-msg 8
err_has "^shmkit: queue: (capacity 99999999999 is not 1 to [0-9]+ messages|--capacity 99999999999 or)"
expect 2 "$SHMKIT" queue create "$OB" --capacity 2000000000 --max-msg 8
err_has "^shmkit: queue: capacity 2000000000 is not 1 to 1073741824 messages$"
err_has "^usage: shmkit queue create URI "
expect 2 "$SHMKIT" queue create "$OB" --capacity 8 --max-msg 2G
err_has "^shmkit: queue: max_msg 2147483648 is not 1 to [0-9]+ bytes$"
# each in range, the ring they make together over 1 TiB ("Cannot allocate memory", exit 1)
expect 2 "$SHMKIT" queue create "$OB" --capacity 1073741824 --max-msg 2048
err_has "^shmkit: queue: capacity 1073741824 and max_msg 2048 make a ring of 1073741824 slots of 2048 bytes: more than the 1 TiB a queue takes$"
# as --slots 0 is: the same exit for the same kind of number
expect 2 "$SHMKIT" topic create "$OB" --slots 0
expect 2 "$SHMKIT" queue create "$OB" --capacity 0 --max-msg 8
expect 1 "$SHMKIT" stat "$OB" # a refused create leaves nothing
expect 1 "$SHMKIT" stat "$OB"

# ---- file:...?private is copy-on-write: changing through it lost the change ----
# (send, map put, map create, write all exited 0 and nothing reached the file)
PF="$TMP/pq"; PM="$TMP/pm"; PW="$TMP/pw"
expect 0 "$SHMKIT" queue create "file:$PF" --capacity 4 --max-msg 16
expect 1 "$SHMKIT" send "file:$PF?private" hello;     err_has "copy-on-write"
expect 1 "$SHMKIT" recv "file:$PF?private" --timeout 0; err_has "copy-on-write"
expect 0 "$SHMKIT" queue stat "file:$PF?private"       # looking is fine
grep -Eq "^sent: +0$" "$TMP/out" || fail "queue stat ?private: $(cat "$TMP/out")"
expect 0 "$SHMKIT" map "file:$PM" create 64K
expect 0 "$SHMKIT" map "file:$PM" put k v
expect 1 "$SHMKIT" map "file:$PM?private" put k2 v2;  err_has "copy-on-write"
expect 0 "$SHMKIT" map "file:$PM?private" get k        # looking is fine
expect 1 "$SHMKIT" map "file:$PM-new?private" create 64K; err_has "copy-on-write"
[ ! -e "$PM-new" ] || fail "map create ?private left $PM-new behind"
expect 0 "$SHMKIT" create "file:$PW" 4K
expect 1 "$SHMKIT" write "file:$PW?private" hello;   err_has "copy-on-write"
expect 1 "$SHMKIT" write "file:$PW?populate&private" hello; err_has "copy-on-write"
expect 0 "$SHMKIT" write "file:$PW?populate" hello
expect 0 "$SHMKIT" read "file:$PW?private"
[ "$(cat "$TMP/out")" = hello ] || fail "read ?private: '$(cat "$TMP/out")'"

# ---- standard input that cannot be read is an error, named as such ----
# (send --raw sent an empty message and pub published nothing, both exit 0;
# write and map put said "Input/output error")
SQ="posix:/$TAG-sq"; ST="posix:/$TAG-st"; SM="posix:/$TAG-sm"; SR="posix:/$TAG-sr"
CLEANUP+=("$SQ" "$ST" "$SM" "$SR")
expect 0 "$SHMKIT" queue create "$SQ" --capacity 4 --max-msg 16
expect 0 "$SHMKIT" topic create "$ST"
expect 0 "$SHMKIT" map "$SM" create 64K
expect 0 "$SHMKIT" create "$SR" 4K
expect 1 "$SHMKIT" send --raw "$SQ" <"$TMP";   err_has "send $SQ: reading standard input: Is a directory"
expect 1 "$SHMKIT" send "$SQ" - <&-;           err_has "reading standard input: Bad file descriptor"
expect 0 "$SHMKIT" queue stat "$SQ"
grep -Eq "^depth: +0$" "$TMP/out" || fail "send from unreadable stdin queued something: $(cat "$TMP/out")"
expect 1 "$SHMKIT" pub "$ST" - <"$TMP";        err_has "pub $ST: reading standard input: Is a directory"
expect 1 "$SHMKIT" pub "$ST" - <&-;            err_has "reading standard input"
expect 1 "$SHMKIT" map "$SM" put k - <"$TMP";  err_has "put $SM: reading standard input: Is a directory"
expect 0 "$SHMKIT" map "$SM" count
[ "$(cat "$TMP/out")" = 0 ] || fail "map put from unreadable stdin stored a key"
expect 1 "$SHMKIT" write "$SR" - <&-;          err_has "write $SR: reading standard input: Bad file descriptor"
# an offset past the end: said as such (was 'more than 18446744073709551615 bytes')
expect 1 "$SHMKIT" write "$SR" - --offset 5000 </dev/null; err_has "offset 5000 is past the end of the 4096 bytes"
! grep -q 18446744073709551615 "$TMP/err" || fail "write: $(cat "$TMP/err")"

# ---- a typo is not an empty answer ----
expect 2 "$SHMKIT" ls --kind queus;      err_has "unknown kind 'queus' \(queue, topic"
expect 0 "$SHMKIT" ls --kind none "posix:/$TAG-sr"
# rm of a SysV id nobody has: said as missing (was a bare "Invalid argument")
expect 1 "$SHMKIT" rm sysv:id=2147483646; err_has "No such file or directory \(no sysv segment with id 2147483646\)"

# ---- queue URI create / stat, the order topic, map and heap take ----
QO="posix:/$TAG-qo"; CLEANUP+=("$QO")
expect 0 "$SHMKIT" queue "$QO" create --capacity 2 --max-msg 8
expect 0 "$SHMKIT" queue "$QO" stat
grep -Eq "^capacity: +2 messages$" "$TMP/out" || fail "queue URI stat: $(cat "$TMP/out")"

# ---- a full map says the map is full (was "No space left on device") ----
MF="posix:/$TAG-mf"; CLEANUP+=("$MF")
expect 0 "$SHMKIT" map "$MF" create 32K
expect 0 "$SHMKIT" map "$MF" put k1 v1
head -c 40000 /dev/zero | tr '\0' a >"$TMP/big"
expect 1 "$SHMKIT" map "$MF" put k1 - <"$TMP/big"
err_has "put $MF: the map is full: no room for a 40002-byte key and value \(nothing changed"
expect 0 "$SHMKIT" map "$MF" get k1
[ "$(cat "$TMP/out")" = v1 ] || fail "a full map lost k1's value: '$(cat "$TMP/out")'"

# ---- write refuses a SysV shmkit object nobody has attached ----
# (stat cannot read its header without attaching, so write overwrote the
# queue's header and its undelivered message, exit 0)
SVQ="sysv:0x5e$(printf %04x $(($$ & 0xffff)))07"; CLEANUP+=("$SVQ")
expect 0 "$SHMKIT" queue create "$SVQ" --capacity 4 --max-msg 8
expect 0 "$SHMKIT" send "$SVQ" keep
expect 1 "$SHMKIT" write "$SVQ" hello;   err_has "is a shmkit queue: raw bytes would destroy it"
expect 0 "$SHMKIT" recv "$SVQ" --timeout 0
[ "$(cat "$TMP/out")" = keep ] || fail "write destroyed the SysV queue: '$(cat "$TMP/out")'"
# gone before TQ below, whose key is a prefix of its spelling (ls TQ listed both)
expect 0 "$SHMKIT" rm "$SVQ"

# ---- a failed send or recv says so in one line (each printed two) ----
OL="posix:/$TAG-ol"; CLEANUP+=("$OL")
expect 0 "$SHMKIT" queue create "$OL" --capacity 4 --max-msg 4
expect 1 "$SHMKIT" send "$OL" a toolong b
err_has "over the queue's max-msg of 4 bytes \(1 message was sent before that\)"
[ "$(wc -l <"$TMP/err")" = 1 ] || fail "send: not one line: $(cat "$TMP/err")"
"$SHMKIT" recv "$OL" --timeout 5 >/dev/full 2>"$TMP/err"; rc=$?
[ "$rc" = 1 ] || fail "recv >/dev/full: exit $rc"
err_has "recv $OL: write error on standard output: No space left on device \(the messages not written are still in the queue\)"
[ "$(wc -l <"$TMP/err")" = 1 ] || fail "recv: not one line: $(cat "$TMP/err")"
expect 0 "$SHMKIT" recv "$OL" --timeout 5
[ "$(cat "$TMP/out")" = a ] || fail "recv >/dev/full lost the message: '$(cat "$TMP/out")'"

# ---- a POSIX name without its slash is a prefix too, as create and rm take it ----
# (ls posix:NAME and ls NAME matched nothing, though create NAME made posix:/NAME)
NP="$TAG-np"; CLEANUP+=("posix:/$NP")
expect 0 "$SHMKIT" create "$NP" 4K
for p in "$NP" "posix:$NP" "/$NP" "posix:/$NP"; do
	expect 0 "$SHMKIT" ls -o URI --noheadings "$p"
	out_is "posix:/$NP"
	expect 0 "$SHMKIT" gc --dry-run --prefix "$p"
	out_has "posix:/$NP"
done

# ---- create over something rm would refuse: no "remove it" hint ----
mkdir "$TMP/dir"
expect 1 "$SHMKIT" create "file:$TMP/dir" 4K
err_has "File exists; left as it was, and it is no segment \(.*not a regular file\)"
[ -d "$TMP/dir" ] || fail "create over a directory removed it"

# ---- output that cannot be written: the reason is the write's, and top stops ----
# (read and map get said "Input/output error", top --once too, and top
# without --once wrote into /dev/full for ever)
RD="posix:/$TAG-rd" MD="posix:/$TAG-md"; CLEANUP+=("$RD" "$MD")
expect 0 "$SHMKIT" create "$RD" 4K
expect 0 "$SHMKIT" write "$RD" hello
expect 0 "$SHMKIT" map "$MD" create 64K
expect 0 "$SHMKIT" map "$MD" put k v
for args in "read $RD" "read --hex $RD" "map $MD get k" "top --once --interval 0.05" \
	"top --interval 0.05" "top --json --interval 0.05"; do
	# shellcheck disable=SC2086
	timeout 10 "$SHMKIT" $args >/dev/full 2>"$TMP/err"; rc=$?
	[ "$rc" = 1 ] || fail "$args >/dev/full: exit $rc"
	err_has "write error on standard output: No space left on device"
done

# ---- top takes a SysV key however it is spelt, as ls does ----
# (top sysv:0x5eNNNN listed nothing: only the padded sysv:0x005eNNNN matched)
TK=$(printf %04x $(($$ & 0xffff))); TQ="sysv:0x5e${TK}"; CLEANUP+=("$TQ")
expect 0 "$SHMKIT" queue create "$TQ" --capacity 2 --max-msg 8
# top reads SysV through it: wait until it has attached (a loaded machine
# may start it late), and keep it there until the last top is done
# (killed below: its timeout only bounds a test that dies before that)
"$SHMKIT" recv "$TQ" --timeout 600 >/dev/null 2>"$TMP/holder.err" & holder=$!
attached=0
for _ in $(seq 300); do
	[ "$("$SHMKIT" ls -n -o NATTCH "$TQ" 2>/dev/null)" -ge 1 ] 2>/dev/null && { attached=1; break; }
	sleep 0.1
done
[ $attached = 1 ] || fail "the holder never attached $TQ: $(kill -0 $holder 2>/dev/null && echo running ||
	echo exited); it said: $(cat "$TMP/holder.err"); ls: $("$SHMKIT" ls "$TQ" 2>&1)"
for spelt in "$TQ" "sysv:0x5E${TK}" "sysv:0x005e${TK}"; do
	expect 0 "$SHMKIT" top --once --interval 0.05 "$spelt"
	grep -qi "sysv:0x005e${TK}" "$TMP/out" || fail "top $spelt: $(cat "$TMP/out"); holder $(kill -0 $holder 2>/dev/null && echo running || echo exited): $(cat "$TMP/holder.err"); ls: $("$SHMKIT" ls "$TQ" 2>&1)"
done
kill $holder 2>/dev/null; wait $holder 2>/dev/null

# ---- objects on memfd: or anon: die with the command: refused, as create is ----
# (queue/topic/map/heap create on them exited 0 and left nothing)
for args in "queue create memfd:$TAG-q --capacity 4 --max-msg 4" "topic create anon:" \
	"map memfd:$TAG-m create 64K" "heap anon: create 64K" "create memfd:$TAG-r 4K"; do
	# shellcheck disable=SC2086
	expect 1 "$SHMKIT" $args
	err_has "live only as long as the process that made them"
done

finish test_cli_explore
