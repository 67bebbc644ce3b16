#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# After the suite: shared memory that a finished test left behind. Test
# segments carry the creating test's pid in their name (tests/testlib.c:
# shmkit-test-<pid>-...; SysV keys 0x5b......); one whose process is gone and
# that still exists is a leak. Segments of tests still running are not judged,
# so this is safe beside other runs on the same machine.
set -u
leaks=()
for f in /dev/shm/shmkit-test-* /tmp/shmkit-test-*; do
	[ -e "$f" ] || continue
	pid=$(basename "$f" | sed -n 's/^shmkit-test-\([0-9]*\)-.*/\1/p')
	[ -n "$pid" ] && [ ! -d "/proc/$pid" ] && leaks+=("$f")
done
# SysV: key 0x5b<pid & 0xffff><n>, nobody attached, creator gone.
# The key holds the test's pid & 0xffff: a test still running (whose segment
# a child created, so cpid is gone) is not judged either.
live16=" $(for d in /proc/[0-9]*; do printf '%x ' $(( ${d#/proc/} & 0xffff )); done)"
while read -r key id perms bytes nattch cpid; do
	owner16=$(printf '%x' $(( (key >> 8) & 0xffff )))
	[[ "$live16" == *" $owner16 "* ]] && continue
	[ "$nattch" = 0 ] && [ ! -d "/proc/$cpid" ] && leaks+=("sysv key $key id $id")
done < <(awk 'NR > 1 && sprintf("%x", $1) ~ /^5b/ {print sprintf("0x%08x", $1), $2, $3, $4, $7, $5}' \
	/proc/sysvipc/shm 2>/dev/null)
if [ ${#leaks[@]} -gt 0 ]; then
	echo "shmkit: tests left shared memory behind (their process is gone):" >&2
	printf '  %s\n' "${leaks[@]}" >&2
	exit 1
fi
echo "leak check: no test segment left behind"
