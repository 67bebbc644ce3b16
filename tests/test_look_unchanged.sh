#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# "A command that only looks changes nothing" (issue 10, DESIGN §8), byte
# for byte: for every object kind (raw, queue, topic, heap, map) on posix:
# and file:, every looking command (ls, stat, top --once, gc --dry-run,
# read, queue stat, heap stats, map get/ls/count, with and without --json)
# leaves the object's file byte-identical and its mtime unchanged; on System
# V, looks read through a process that has the segment attached and change
# neither its last-user pid nor its times, `read` refuses to attach while the
# last user may live (unless --attach) and says on stderr when it attaches. Opening an
# object to look used to take and give back an attach slot (header bytes
# 133, 136-137 changed); now every look reads a read-only mapping.
# Every name is this test's own; everything is removed on exit.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
TAG="shmkit-test-$$-unch"
holder=
cleanup() { [ -z "$holder" ] || kill "$holder" 2>/dev/null; }

# The file behind a URI.
path_of() {
	case "$1" in
	posix:/*) echo "/dev/shm/${1#posix:/}" ;;
	file:*) echo "${1#file:}" ;;
	esac
}

# Makes one object of each kind under a URI prefix ($1 = posix:/NAME or file:/DIR/NAME).
make_objects() {
	local p=$1
	CLEANUP+=("$p-raw" "$p-q" "$p-t" "$p-h" "$p-m")
	"$SHMKIT" create "$p-raw" 8K && "$SHMKIT" write "$p-raw" "raw bytes" ||
		fail "make $p-raw"
	"$SHMKIT" queue create "$p-q" --capacity 8 --max-msg 64 &&
		"$SHMKIT" send "$p-q" one two three || fail "make $p-q"
	"$SHMKIT" topic create "$p-t" --slots 4 --slot-size 64 &&
		"$SHMKIT" pub "$p-t" a b || fail "make $p-t"
	"$SHMKIT" heap "$p-h" create 64K || fail "make $p-h"
	"$SHMKIT" map "$p-m" create 64K && "$SHMKIT" map "$p-m" put k1 v1 &&
		"$SHMKIT" map "$p-m" put k2 v2 || fail "make $p-m"
}

# Runs a looking command and checks every object's bytes and mtime.
check_look() {
	local u f
	# shellcheck disable=SC2068
	"$SHMKIT" $@ >"$TMP/out" 2>"$TMP/err"
	local rc=$?
	[ "$rc" -le 1 ] || fail "'shmkit $*' exited $rc: $(head -c 300 "$TMP/err")"
	for u in "${CLEANUP[@]}"; do
		f=$(path_of "$u")
		if ! cmp -s "$f" "$TMP/snap/${u//\//_}"; then
			fail "'shmkit $*' changed $u: $(cmp -l "$f" "$TMP/snap/${u//\//_}" | head -3 | tr '\n' ' ')"
			cp "$f" "$TMP/snap/${u//\//_}" # report each change once
		fi
		if [ "$(stat -c %y "$f")" != "$(cat "$TMP/snap/${u//\//_}.mtime")" ]; then
			fail "'shmkit $*' changed the mtime of $u"
			stat -c %y "$f" >"$TMP/snap/${u//\//_}.mtime"
		fi
	done
}

mkdir -p "$TMP/snap" "$TMP/files"
make_objects "posix:/$TAG"
make_objects "file:$TMP/files/$TAG"
[ "$FAILS" = 0 ] || exit 1
sleep 0.05 # an mtime change would be visible
for u in "${CLEANUP[@]}"; do
	f=$(path_of "$u")
	cp "$f" "$TMP/snap/${u//\//_}"
	stat -c %y "$f" >"$TMP/snap/${u//\//_}.mtime"
done

for p in "posix:/$TAG" "file:$TMP/files/$TAG"; do
	check_look ls --json
	check_look ls
	check_look top --once
	check_look top --once --json
	check_look gc --dry-run --prefix "$p"
	for k in raw q t h m; do
		check_look stat "$p-$k"
		check_look stat "$p-$k" --json
		check_look read "$p-$k" --length 64
		check_look read "$p-$k" --hex --length 64
	done
	check_look queue stat "$p-q"
	check_look queue stat "$p-q" --json
	check_look topic stat "$p-t"
	check_look topic stat "$p-t" --json
	check_look heap "$p-h" stats
	check_look heap "$p-h" stats --json
	check_look heap "$p-m" stats
	check_look map "$p-m" get k1
	check_look map "$p-m" get nokey
	check_look map "$p-m" ls
	check_look map "$p-m" ls --json
	check_look map "$p-m" count
done

# What was looked at is still all there, and the looks answered.
"$SHMKIT" queue stat "posix:/$TAG-q" | grep -q "depth: *3" || fail "queue stat does not say depth 3"
[ "$("$SHMKIT" map "posix:/$TAG-m" get k2)" = v2 ] || fail "map get k2"
[ "$("$SHMKIT" map "file:$TMP/files/$TAG-m" count)" = 2 ] || fail "map count"
"$SHMKIT" heap "posix:/$TAG-m" stats | grep -q "^used" || fail "heap stats of a map"
[ "$("$SHMKIT" recv "posix:/$TAG-q" --count 3 | tr '\n' ' ')" = "one two three " ] ||
	fail "the queue lost its messages"

# ---- System V: looks go through a process that has it attached ----
# (never shmat: it rewrites the last-user pid and times gc --foreign reads)
KEY=$(printf '0x%x' $((0x5d000000 + ($$ & 0xffffff))))
Q="sysv:$KEY"
R="sysv:$(printf '0x%x' $((KEY + 1)))"
CLEANUP+=("$Q" "$R")
row() { awk -v k=$(($1)) '$1 == k {print "lpid=" $6, "nattch=" $7, "atime=" $12, "dtime=" $13}' /proc/sysvipc/shm; }
shmid_of() { awk -v k=$(($1)) '$1 == k {print $2}' /proc/sysvipc/shm; }
if "$SHMKIT" queue create "$Q" --capacity 4 --max-msg 16 --owned && "$SHMKIT" send "$Q" hello; then
	# a holder that only maps it: python attaches and waits
	python3 -c '
import ctypes, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
p = libc.shmat(int(sys.argv[1]), None, 0o10000)
print("ready" if p not in (None, ctypes.c_void_p(-1).value) else "failed", flush=True)
time.sleep(60)
' "$(shmid_of "$KEY")" >"$TMP/holder" &
	holder=$!
	for _ in $(seq 1 200); do [ -s "$TMP/holder" ] && break; sleep 0.05; done
	sleep 1.1 # an attach now would move the times by a second
	before=$(row "$KEY")
	# ls of Q, not of the machine: a segment another test truncates meanwhile
	# stops a whole-machine ls by SIGBUS (a documented limit of looks)
	for cmd in "read $Q --hex --length 64" "queue stat $Q" "stat $Q" "stat $Q --json" "ls $Q" "gc --dry-run --prefix $Q"; do
		# shellcheck disable=SC2086
		"$SHMKIT" $cmd >"$TMP/out" 2>"$TMP/err" || fail "shmkit $cmd (a holder attached): $(cat "$TMP/err")"
		[ "$(row "$KEY")" = "$before" ] || fail "shmkit $cmd attached $Q: '$before' -> '$(row "$KEY")'"
		[ -s "$TMP/err" ] && fail "shmkit $cmd said on stderr: $(cat "$TMP/err")"
	done
	"$SHMKIT" queue stat "$Q" | grep -q "depth: *1" || fail "queue stat $Q through its holder"
	"$SHMKIT" stat "$Q" | grep -q "depth: *1" || fail "stat $Q shows no counters through its holder"
	# the holder detaches and stays alive: nobody attached, a live last user
	kill "$holder"; wait "$holder" 2>/dev/null
	python3 -c '
import ctypes, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
p = libc.shmat(int(sys.argv[1]), None, 0o10000)
libc.shmdt(ctypes.c_void_p(p))
print("ready", flush=True)
time.sleep(60)
' "$(shmid_of "$KEY")" >"$TMP/holder2" &
	holder=$!
	for _ in $(seq 1 200); do [ -s "$TMP/holder2" ] && break; sleep 0.05; done
	sleep 1.1
	before=$(row "$KEY")
	for cmd in "read $Q" "queue stat $Q" "stat $Q"; do
		# shellcheck disable=SC2086
		"$SHMKIT" $cmd >"$TMP/out" 2>"$TMP/err"
		[ "$(row "$KEY")" = "$before" ] || fail "shmkit $cmd attached $Q (live last user): '$before' -> '$(row "$KEY")'"
	done
	"$SHMKIT" read "$Q" 2>"$TMP/err" && fail "read $Q with a live last user exited 0"
	grep -q -- "--attach" "$TMP/err" || fail "read $Q does not hint --attach: $(cat "$TMP/err")"
	"$SHMKIT" queue stat "$Q" 2>"$TMP/err" && fail "queue stat $Q with nobody attached exited 0"
	grep -q "not read" "$TMP/err" || fail "queue stat $Q does not say it was not read: $(cat "$TMP/err")"
	"$SHMKIT" read "$Q" --attach --length 4 >/dev/null 2>"$TMP/err" || fail "read --attach $Q"
	grep -q "attached it" "$TMP/err" || fail "read --attach does not say it attached: $(cat "$TMP/err")"
	kill "$holder"; wait "$holder" 2>/dev/null
	holder=
else
	fail "sysv queue $Q"
fi
# a System V topic: sub and pub --wait-subs look at it through themselves
T="sysv:$(printf '0x%x' $((KEY + 2)))"
CLEANUP+=("$T")
if "$SHMKIT" topic create "$T" --slots 4 --slot-size 64 --owned; then
	"$SHMKIT" sub "$T" --count 2 --timeout 30 >"$TMP/sub.out" 2>&1 &
	sub=$!
	"$SHMKIT" pub "$T" --wait-subs 1 --timeout 30 one two || fail "pub --wait-subs on $T"
	wait "$sub" || fail "sub on $T: $(cat "$TMP/sub.out")"
	[ "$(tr '\n' ' ' <"$TMP/sub.out")" = "one two " ] || fail "sub on $T got: $(cat "$TMP/sub.out")"
else
	fail "sysv topic $T"
fi
# a raw segment whose last user (shmkit write) is gone: read attaches, says so
if "$SHMKIT" create "$R" 4K && "$SHMKIT" write "$R" "hello, sysv"; then
	[ "$("$SHMKIT" read "$R" 2>"$TMP/err")" = "hello, sysv" ] || fail "read $R"
	grep -q "attached it" "$TMP/err" || fail "read $R does not say it attached: $(cat "$TMP/err")"
else
	fail "sysv raw $R"
fi

[ "$FAILS" = 0 ] || { echo "$FAILS failures" >&2; exit 1; }
echo "ok: every looking command left every object byte-identical"
