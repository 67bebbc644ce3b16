#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A new user's checks from the shell (QA pass): looking changes nothing and
# never hangs, and a failing write holds nothing it did not need.
#  - `write URI -` from an endless stdin reads at most one byte more than fits,
#    refuses, and leaves the segment as it was;
#  - `ls --json` and `stat [--json]` of a System V queue that a live process has
#    attached leave its last-user pid and times alone (no shmat to look);
#  - `read` of a memfd leaves its access time alone, and `queue stat`,
#    `map get` and `stat` read a memfd's queue and map by the name ls lists;
#  - `stat`, `heap stats` and `map get` of a heap / map whose lock a stopped
#    process holds finish (they only look: no lock taken).
# Every name is this test's own; everything is removed on exit.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
TAG="shmkit-test-$$-look"
W="posix:/$TAG-w"
H="posix:/$TAG-h"
M="posix:/$TAG-m"
KEY=$(printf '0x%x' $((0x5c000000 + ($$ & 0xffffff))))
Q="sysv:$KEY"
CLEANUP=("$W" "$H" "$M" "$Q")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
}

# ---- write from an endless stdin ----
"$SHMKIT" create "$W" 4K || fail "create $W"
"$SHMKIT" write "$W" "keep me" || fail "write $W"
sum0=$(sha256sum <"/dev/shm/$TAG-w")
truncate -s 256M "$TMP/big"
exec 5<"$TMP/big"
timeout 60 "$SHMKIT" write "$W" - <&5 2>"$TMP/err"
rc=$?
pos=$(awk '/^pos:/ {print $2}' /proc/$$/fdinfo/5)
exec 5<&-
[ "$rc" = 1 ] || fail "write of 256M into 4K exited $rc, not 1"
grep -q "do not fit" "$TMP/err" || fail "write's error does not say it does not fit: $(cat "$TMP/err")"
[ "$pos" -le $((1 << 20)) ] || fail "write read $pos bytes of stdin to refuse 4K + 1"
[ "$(sha256sum <"/dev/shm/$TAG-w")" = "$sum0" ] || fail "a refused write changed $W"

# ---- System V: looking does not attach ----
sysv_line() { awk -v k=$((KEY)) '$1 == k {print "lpid=" $6, "atime=" $12, "dtime=" $13}' /proc/sysvipc/shm; }
if "$SHMKIT" queue create "$Q" --capacity 4 --max-msg 16 --owned; then
	"$SHMKIT" recv "$Q" --count 0 --timeout 60 >/dev/null &
	pids+=($!)
	for _ in $(seq 1 200); do
		awk -v k=$((KEY)) '$1 == k && $7 == 1 {f = 1} END {exit !f}' /proc/sysvipc/shm && break
		sleep 0.05
	done
	sleep 1.1 # a shmat now would move the times by a second
	before=$(sysv_line)
	for cmd in "ls --json" "ls" "stat $Q" "stat $Q --json" "top --once" "gc --dry-run --prefix $Q"; do
		# shellcheck disable=SC2086
		timeout 30 "$SHMKIT" $cmd >"$TMP/out" 2>&1 || fail "shmkit $cmd: $(head -3 "$TMP/out")"
		after=$(sysv_line)
		[ "$after" = "$before" ] || fail "shmkit $cmd attached to $Q: '$before' -> '$after'"
	done
	"$SHMKIT" stat "$Q" | grep -q "attached processes: ${pids[0]} alive" ||
		fail "stat $Q does not show its attached receiver: $("$SHMKIT" stat "$Q")"
else
	fail "queue create $Q"
fi

# ---- a memfd's access time: read reopens it with O_NOATIME ----
# (the kernel's internal tmpfs has no relatime: any read would set it)
python3 -c '
import os, sys, time
fd = os.memfd_create(sys.argv[1], 0)
os.write(fd, b"memfd bytes" + bytes(4085))
print(fd, flush=True)
time.sleep(60)' "$TAG-mfd" >"$TMP/mfd" &
pids+=($!)
for _ in $(seq 1 200); do [ -s "$TMP/mfd" ] && break; sleep 0.05; done
mfd="/proc/${pids[-1]}/fd/$(head -1 "$TMP/mfd")"
sleep 0.05 # a read now would move the access time by a tick
atime0=$(stat -L -c %x "$mfd")
out=$("$SHMKIT" read "memfd:$TAG-mfd" --length 11 2>&1)
[ "$out" = "memfd bytes" ] || fail "read memfd:$TAG-mfd: $out"
[ "$(stat -L -c %x "$mfd")" = "$atime0" ] ||
	fail "read memfd:$TAG-mfd moved its access time: $atime0 -> $(stat -L -c %x "$mfd")"

# ---- a queue and a map in memfds: looked at by the name ls lists ----
# (the library's memfd:NAME makes a new memfd: the looks reopen the listed
# one through its holder, as stat and read do)
py_lib_env
env "${PY_ENV[@]}" python3 -c '
import sys, time, shmkit
q = shmkit.Queue.create("memfd:" + sys.argv[1] + "-mq", capacity=4, max_msg=16)
q.send(b"one")
m = shmkit.Map.create("memfd:" + sys.argv[1] + "-mm", 65536)
m[b"colour"] = b"green"
print("ready", flush=True)
time.sleep(60)' "$TAG" >"$TMP/mheld" &
pids+=($!)
for _ in $(seq 1 200); do
	[ -s "$TMP/mheld" ] || kill -0 "${pids[-1]}" 2>/dev/null || break
	[ -s "$TMP/mheld" ] && break
	sleep 0.05
done
if [ -s "$TMP/mheld" ]; then
	grep -q "^depth: *1$" <("$SHMKIT" queue stat "memfd:$TAG-mq" 2>&1) ||
		fail "queue stat memfd:$TAG-mq: $("$SHMKIT" queue stat "memfd:$TAG-mq" 2>&1)"
	grep -q "^depth: *1$" <("$SHMKIT" stat "memfd:$TAG-mq" 2>&1) ||
		fail "stat memfd:$TAG-mq shows no depth: $("$SHMKIT" stat "memfd:$TAG-mq" 2>&1 | tail -3)"
	out=$("$SHMKIT" map "memfd:$TAG-mm" get colour 2>&1)
	[ "$out" = green ] || fail "map memfd:$TAG-mm get colour: $out"
	grep -q "^keys: *1$" <("$SHMKIT" stat "memfd:$TAG-mm" 2>&1) ||
		fail "stat memfd:$TAG-mm shows no keys: $("$SHMKIT" stat "memfd:$TAG-mm" 2>&1 | tail -3)"
	grep -q '"keys": 1' <("$SHMKIT" stat "memfd:$TAG-mm" --json 2>&1) ||
		fail "stat --json memfd:$TAG-mm shows no keys"
else
	echo "SKIP (memfd objects): the Python binding could not make them (an i386 build?)"
fi

# ---- a heap and a map whose lock a stopped process holds ----
# The holder maps the segment and writes its own tid into the heap's lock
# word (managed header 4096 + heap lock at 64 + word at 8: docs/LAYOUT.md),
# then stops itself: a live holder that will not let go.
"$SHMKIT" heap "$H" create 64K --owned || fail "heap create"
"$SHMKIT" map "$M" create 64K --owned || fail "map create"
"$SHMKIT" map "$M" put colour green || fail "map put"
for f in "$TAG-h" "$TAG-m"; do
	python3 -c '
import mmap, os, signal, struct, sys
f = open(sys.argv[1], "r+b")
m = mmap.mmap(f.fileno(), 0)
m[4168:4172] = struct.pack("<I", os.getpid())
print("held", flush=True)
os.kill(os.getpid(), signal.SIGSTOP)
' "/dev/shm/$f" >"$TMP/held-$f" &
	pids+=($!)
done
for _ in $(seq 1 200); do
	[ -s "$TMP/held-$TAG-h" ] && [ -s "$TMP/held-$TAG-m" ] && break
	sleep 0.05
done
for cmd in "stat $H" "stat $H --json" "stat $M" "stat $M --json" "map $M get colour"; do
	# shellcheck disable=SC2086
	timeout 30 "$SHMKIT" $cmd >"$TMP/out" 2>&1
	rc=$?
	[ "$rc" = 0 ] || fail "shmkit $cmd exited $rc (124: hung on the stopped holder's lock)"
done
grep -q green <(timeout 30 "$SHMKIT" map "$M" get colour 2>&1) || fail "map get colour"
# heap stats only looks: it takes no lock, so a stopped holder does not stop it
timeout 30 "$SHMKIT" heap "$H" stats >"$TMP/out" 2>&1
rc=$?
[ "$rc" = 0 ] && grep -q "^arena" "$TMP/out" ||
	fail "heap stats with a stopped holder: exit $rc, $(head -2 "$TMP/out")"

# ---- read while another process truncates the segment ----
# read copies with pread: a shrunk file stops it with a reason (a mapping
# died of SIGBUS, exit 135)
S="posix:/$TAG-shrink"
CLEANUP+=("$S")
head -c 8M /dev/urandom >"/dev/shm/$TAG-shrink"
{ "$SHMKIT" read "$S" --hex 2>"$TMP/shrink.err"; echo $? >"$TMP/shrink.rc"; } | { sleep 1; cat >/dev/null; } &
reader=$!
sleep 0.3
truncate -s 0 "/dev/shm/$TAG-shrink"
wait "$reader"
[ "$(cat "$TMP/shrink.rc")" = 1 ] && grep -q "shrank while it was read" "$TMP/shrink.err" ||
	fail "read of a segment truncated under it: exit $(cat "$TMP/shrink.rc"), $(cat "$TMP/shrink.err")"

# ---- an empty file reads as 0 bytes (it said "its creator has not sized it yet") ----
E="posix:/$TAG-empty"
CLEANUP+=("$E")
: >"/dev/shm/$TAG-empty"
out=$("$SHMKIT" read "$E" --hex 2>&1) && [ -z "$out" ] || fail "read --hex of an empty segment: $out"
"$SHMKIT" read "$E" --length 1 >/dev/null 2>&1 && fail "read --length 1 of an empty segment succeeded"

if [ "$FAILS" -ne 0 ]; then
	echo "$FAILS failure(s)"
	exit 1
fi
echo "ok"
