#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# An ftok URI that names no segment: rm, stat, read and write used to say
# "no sysv segment with key 0xffffffff", the key before ftok resolved it.
# They name the key ftok gave (and how it was made). Nothing is created.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
command -v python3 >/dev/null || { echo "needs python3 (skipped)"; exit 77; }
D="$TMP/shmkit-test-$$-ftok"
mkdir "$D"
U="sysv:$D?proj=7"
KEY=$(python3 -c 'import ctypes, sys
print("0x%08x" % (ctypes.CDLL(None).ftok(sys.argv[1].encode(), 7) & 0xffffffff))' "$D")
grep -q "^ *$((KEY)) " /proc/sysvipc/shm && { echo "key $KEY is in use here (skipped)"; exit 77; }

for cmd in "rm $U" "stat $U" "read $U" "write $U x"; do
	# shellcheck disable=SC2086
	expect 1 "$SHMKIT" $cmd
	err_has "no sysv segment with key $KEY = ftok\\($D, 7\\)"
	grep -q 0xffffffff "$TMP/err" && fail "$cmd names the unresolved key: $(cat "$TMP/err")"
done

finish test_cli_ftok_key
