#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Looking at a segment larger than the address space a process may use
# (ulimit -v): ls, stat and top read only the header page of each segment,
# so one big segment neither fails the listing nor hides what it is.
#  - a 64M file of zeroes and a 64M shmkit heap, with ulimit -v 20000:
#    `ls` exits 0, lists both (KIND - and heap), and a prefix matching
#    neither still exits 0;
#  - `stat` of the heap says it is a heap; `top --once` exits 0 and shows it;
#  - `read` of the 64M file reads it with pread, as it reads every file
#    (it failed: "too large to map ... RLIMIT_AS", h36c).
# Every name is this test's own; everything is removed on exit.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
TAG="shmkit-test-$$-alim"
Z="posix:/$TAG-zero"
H="posix:/$TAG-heap"
CLEANUP=("$Z" "$H")
LIMIT=20000 # KiB: room for the tool, not for a 64M mapping

# A sanitizer build reserves terabytes of shadow: it cannot run limited.
if ! (ulimit -v $LIMIT && "$SHMKIT" --version) >/dev/null 2>&1; then
	echo "test_look_addr_limit: skipped ($SHMKIT does not run under ulimit -v $LIMIT)"
	exit 77
fi
truncate -s 64M "/dev/shm/$TAG-zero" || fail "make $Z"
"$SHMKIT" heap "$H" create 64M >/dev/null || fail "create $H"
# the limit is real: the whole heap cannot be mapped under it
(ulimit -v $LIMIT && "$SHMKIT" heap "$H" stats) >/dev/null 2>&1 &&
	fail "heap stats mapped 64M under ulimit -v $LIMIT: the test proves nothing"

limited() { (ulimit -v $LIMIT && exec "$@"); }

expect 0 limited "$SHMKIT" ls -n -o URI,KIND "posix:/$TAG"
out_has "$Z"
out_has "$H"
grep -Eq "^$H +heap\$" "$TMP/out" || fail "ls: $H is not shown as a heap: $(cat "$TMP/out")"
grep -Eq "^$Z +-\$" "$TMP/out" || fail "ls: $Z is not shown as unmanaged: $(cat "$TMP/out")"
expect 0 limited "$SHMKIT" ls "posix:/$TAG-none"

expect 0 limited "$SHMKIT" stat "$H"
grep -Eq "^kind: +heap" "$TMP/out" || fail "stat $H: $(cat "$TMP/out")"

expect 0 limited "$SHMKIT" top --once --interval 0.1 "posix:/$TAG"
out_has "$H"

printf 'END' | dd of="/dev/shm/$TAG-zero" bs=1 seek=$((64 * 1024 * 1024 - 3)) conv=notrunc 2>/dev/null
expect 0 limited "$SHMKIT" read "$Z" --offset $((64 * 1024 * 1024 - 3))
out_is END
expect 0 limited "$SHMKIT" read "$Z" --hex --length 4
out_has "00000000  00 00 00 00"
expect 1 limited "$SHMKIT" read "$Z" --offset $((64 * 1024 * 1024 + 1))
err_has "past the end"

finish test_look_addr_limit
