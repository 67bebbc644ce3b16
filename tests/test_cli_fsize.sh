#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A create past the file size limit (ulimit -f): the kernel's SIGXFSZ used to
# kill the command mid-create (exit 153), leaving an empty file that blocked
# the name. The CLI ignores SIGXFSZ, so sizing fails with EFBIG: every create
# command, on posix: and file:, exits 1, says "file size limit (ulimit -f)",
# and leaves nothing behind; the name is free for a create within the limit.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
P="posix:/shmkit-test-$$-fsize"
F="file:$TMP/shmkit-test-$$-fsize"
CLEANUP+=("$P" "$F")

path_of() { case "$1" in posix:/*) echo "/dev/shm/${1#posix:/}" ;; file:*) echo "${1#file:}" ;; esac; }

for u in "$P" "$F"; do
	for cmd in "create $u 1M" "queue create $u --capacity 1024 --max-msg 1024" \
		"topic create $u --slots 64 --slot-size 4096" "map $u create 1M" "heap $u create 1M"; do
		# shellcheck disable=SC2086
		(ulimit -f 100 && exec "$SHMKIT" $cmd) >"$TMP/out" 2>"$TMP/err"
		rc=$?
		[ "$rc" = 1 ] || fail "'$cmd' under ulimit -f 100 exited $rc (want 1): $(cat "$TMP/err")"
		err_has "file size limit \(ulimit -f\)"
		[ -e "$(path_of "$u")" ] && { fail "'$cmd' left $(path_of "$u") behind"; rm -f "$(path_of "$u")"; }
	done
	# the name is free, and a create within the limit works
	(ulimit -f 100 && exec "$SHMKIT" create "$u" 64K) 2>"$TMP/err" || fail "create $u 64K within the limit: $(cat "$TMP/err")"
	"$SHMKIT" rm "$u" || fail "rm $u"
done

finish test_cli_fsize
