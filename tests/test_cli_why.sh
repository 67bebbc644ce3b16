#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Error messages say what is wrong, not something near it:
#  - a memfd that exists but is not sealed (another program's) is "not a
#    shmkit queue: another program's memfd", not "not a shmkit queue, or a
#    corrupt one (descriptor is not sealed ...)": nothing is corrupt; so is a
#    segment smaller than a shmkit header;
#  - a command that writes, given memfd:NAME (which opens nothing: the
#    library's memfd: makes a new one), says how to reach it (fd:N), not
#    "memfd: needs a size";
#  - fd:N open read-only, given to a command that writes, says so, not only
#    "Permission denied";
#  - a create command on a name that exists says what the library found
#    there (another kind, no shmkit header, why a half-built object was not
#    taken over), or the kind of the object there; and a ?addr= already
#    mapped is not taken for the name existing ("left as it was, and it is
#    no segment");
#  - a look or a map or heap action on a name with nothing there says "no
#    such map (make one: ...)", as send and pub said, not "No such file or
#    directory"; an ftok path that does not exist is named;
#  - "queue URI stats" named the URI an unknown subcommand;
#  - a mistyped command is answered with the one it most likely meant.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
ID=$$
Q="posix:/shmkit-test-$ID-why-q" TINY="posix:/shmkit-test-$ID-why-tiny"
P="posix:/shmkit-test-$ID-why-plain" A="posix:/shmkit-test-$ID-why-addr"
K="sysv:0x$(printf '%08x' $(( (0x5c000000 + ID) & 0x7fffffff )))"
CLEANUP+=("$Q" "$TINY" "$P" "$A" "$K")
MFD="shmkit-test-$ID-why-mfd"
cleanup() { [ -n "${HOLDER:-}" ] && kill "$HOLDER" 2>/dev/null; wait 2>/dev/null; }

# ---- another program's memfd: not sealed, so not shmkit's ----
python3 -c '
import os, sys, time
fd = os.memfd_create(sys.argv[1], 0)
os.write(fd, bytes(65536))
print(fd, flush=True)
time.sleep(60)' "$MFD" >"$TMP/mfd" &
HOLDER=$!
for _ in $(seq 1 200); do [ -s "$TMP/mfd" ] && break; sleep 0.05; done
NOT_OURS="another program's memfd \(not sealed against shrinking, as every memfd shmkit makes is\)$"
expect 1 "$SHMKIT" queue stat "memfd:$MFD"
err_has "^shmkit: queue stat memfd:$MFD: not a shmkit queue: $NOT_OURS"
expect 1 "$SHMKIT" queue stat "memfd:$MFD" --json
err_has "^shmkit: queue stat memfd:$MFD: not a shmkit queue: $NOT_OURS"
expect 1 "$SHMKIT" topic stat "memfd:$MFD"
err_has "^shmkit: topic stat memfd:$MFD: not a shmkit topic: $NOT_OURS"
expect 1 "$SHMKIT" heap "memfd:$MFD" stats
err_has "^shmkit: heap stats memfd:$MFD: not a shmkit heap: $NOT_OURS"
for action in "get k" ls count; do
	# shellcheck disable=SC2086
	expect 1 "$SHMKIT" map "memfd:$MFD" $action
	err_has "^shmkit: open map memfd:$MFD: not a shmkit map: $NOT_OURS"
done
grep -q corrupt "$TMP/err" && fail "map count: $(cat "$TMP/err")"

# ---- memfd:NAME to a command that writes: how to reach it instead ----
NO_NAME="no command opens a memfd by its name, which only makes a new one; the looks \(stat, read, queue stat, topic stat, heap stats, map get, ls and count\) find it as ls lists it; here pass its descriptor as fd:N \(from the shell: fd:7 7<>/proc/PID/fd/N, PID one that shmkit stat lists as attached\)$"
expect 1 "$SHMKIT" recv "memfd:$MFD" --timeout 0
err_has "^shmkit: recv memfd:$MFD: $NO_NAME"
expect 1 "$SHMKIT" map "memfd:$MFD" check
err_has "^shmkit: open map memfd:$MFD: $NO_NAME"
grep -q "needs a size" "$TMP/err" && fail "map check: $(cat "$TMP/err")"
kill "$HOLDER"; wait "$HOLDER" 2>/dev/null; HOLDER=

# ---- too small for a header: never a shmkit object, not "corrupt" ----
printf abc >"/dev/shm/${TINY#posix:/}"
expect 1 "$SHMKIT" queue stat "$TINY"
err_has "^shmkit: queue stat $TINY: not a shmkit queue: segment is 3 bytes, smaller than a shmkit header"
expect 1 "$SHMKIT" send "$TINY" x
err_has "^shmkit: send $TINY: not a shmkit queue: segment is smaller than a shmkit header$"
expect 1 "$SHMKIT" map "$TINY" put k v
err_has "^shmkit: open map $TINY: not a shmkit map: segment is smaller than a shmkit header$"

# ---- fd:N open read-only, to a command that writes ----
expect 0 "$SHMKIT" queue create "$Q" --capacity 4 --max-msg 16
expect 0 "$SHMKIT" send "$Q" one
Q_FILE="/dev/shm/${Q#posix:/}"
expect 1 "$SHMKIT" recv fd:7 --timeout 0 7<"$Q_FILE"
err_has "^shmkit: recv fd:7: Permission denied: the descriptor is open read-only, and this command writes \(from the shell, open it read-write: 7<>FILE\)$"
expect 0 "$SHMKIT" recv fd:7 --timeout 0 7<>"$Q_FILE"
out_is one

# ---- create on a name that exists: what is there ----
SEE="left as it was \(see it: shmkit stat $Q; remove it: shmkit rm $Q\)$"
expect 1 "$SHMKIT" queue create "$Q" --capacity 8 --max-msg 16
err_has "^shmkit: queue create $Q: File exists \(already a queue\); $SEE"
expect 1 "$SHMKIT" create "$Q" 4K
err_has "^shmkit: create $Q: File exists \(already a queue\); $SEE"
expect 1 "$SHMKIT" topic create "$Q"
err_has "^shmkit: topic create $Q: File exists \(is a queue \(kind 2\), not a topic\); $SEE"
expect 1 "$SHMKIT" map "$Q" create 64K
err_has "^shmkit: map create $Q: File exists \(is a queue \(kind 2\), not a map\); $SEE"
expect 1 "$SHMKIT" heap "$Q" create 64K
err_has "^shmkit: heap create $Q: File exists \(is a queue \(kind 2\), not a heap\); $SEE"
expect 0 "$SHMKIT" create "$P" 4K
expect 1 "$SHMKIT" queue create "$P" --capacity 8 --max-msg 16
err_has "^shmkit: queue create $P: File exists \(no shmkit header: .*\); left as it was \(see it: shmkit stat $P; remove it: shmkit rm $P\)$"
expect 1 "$SHMKIT" create "$P" 4K
err_has "^shmkit: create $P: File exists; left as it was"
# a SysV segment of another size is no half-built object to take over
expect 0 "$SHMKIT" create "$K" 8K
expect 1 "$SHMKIT" map "$K" create 64K
err_has "^shmkit: map create $K: File exists \(its 8192 bytes are not this object's 65536: no half-built one to take over\); left as it was"

# ---- ?addr= where something is mapped: not the name ----
# (no address randomization: the dynamic loader is where it was the run before)
if base=$(LD_SHOW_AUXV=1 setarch -R "$SHMKIT" --help 2>/dev/null | awk '/^AT_BASE:/ { a = $2 } END { print a }') &&
	[ -n "$base" ]; then
	expect 1 setarch -R "$SHMKIT" create "$A?addr=$base" 4K
	err_has "^shmkit: create $A\?addr=$base: File exists \(address $base: something is already mapped in the 4096 bytes from there\)$"
	[ -e "/dev/shm/${A#posix:/}" ] && fail "create at a mapped address left $A"
else
	echo "SKIP (?addr= mapped): setarch -R or LD_SHOW_AUXV gave no loader address"
fi

# ---- nothing there: which kind, and how to make one ----
N="posix:/shmkit-test-$ID-why-none"
expect 1 "$SHMKIT" queue stat "$N"
err_has "^shmkit: queue stat $N: no such queue \(make one: shmkit queue create $N --capacity N --max-msg BYTES\)$"
expect 1 "$SHMKIT" topic stat "$N"
err_has "^shmkit: topic stat $N: no such topic \(make one: shmkit topic create $N\)$"
expect 1 "$SHMKIT" heap "$N" stats
err_has "^shmkit: heap stats $N: no such heap \(make one: shmkit heap $N create SIZE\)$"
for action in "get k" "put k v" count check; do
	# shellcheck disable=SC2086
	expect 1 "$SHMKIT" map "$N" $action
	err_has "^shmkit: open map $N: no such map \(make one: shmkit map $N create SIZE\)$"
done
expect 1 "$SHMKIT" pub "$N" x
err_has "^shmkit: pub $N: no such topic \(make one: shmkit topic create $N\)$"
expect 1 "$SHMKIT" recv "$N" --timeout 0
err_has "^shmkit: recv $N: no such queue \(make one: shmkit queue create $N --capacity N --max-msg BYTES\)$"
# an ftok path that does not exist: that is what is missing
expect 1 "$SHMKIT" queue create "sysv:$TMP/no-such-file" --capacity 4 --max-msg 4
err_has "^shmkit: queue create sysv:$TMP/no-such-file: ftok $TMP/no-such-file: No such file or directory \(a sysv:/PATH key is made from an existing file\)$"
expect 1 "$SHMKIT" queue stat "sysv:$TMP/no-such-file"
err_has "^shmkit: queue stat sysv:$TMP/no-such-file: ftok $TMP/no-such-file: No such file or directory"

# ---- the words of queue and topic that are no action ----
expect 2 "$SHMKIT" queue "$Q" stats
err_has "^shmkit: queue: neither '$Q' nor 'stats' is an action \(actions: create, stat\)$"
expect 2 "$SHMKIT" topic stats "$Q"
err_has "^shmkit: topic: neither 'stats' nor '$Q' is an action \(actions: create, stat\)$"
expect 2 "$SHMKIT" queue "$Q"
err_has "^shmkit: queue: '$Q' is no action \(actions: create, stat\)$"

# ---- a mistyped command: the one it most likely meant ----
for typo in recieve:recv list:ls stats:stat publish:pub topics:topic creat:create; do
	expect 2 "$SHMKIT" "${typo%%:*}"
	err_has "^shmkit: unknown command '${typo%%:*}' \(did you mean ${typo#*:}\? try: shmkit --help\)$"
done
for word in cat xyz delete; do
	expect 2 "$SHMKIT" "$word"
	err_has "^shmkit: unknown command '$word' \(try: shmkit --help\)$"
done
expect 2 "$SHMKIT" help recieve
err_has "^shmkit: help: unknown command 'recieve' \(did you mean recv\? try: shmkit --help\)$"

finish test_cli_why
