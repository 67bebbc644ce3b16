#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A careless user at the shell (h30): defects found trying the tool as a new
# user would, each case failed before its fix. Every segment has a
# run-unique name and is removed on exit, also on failure.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
TAG="shmkit-test-$$-careless"

# ---- gc --prefix "$APP" with APP unset is no gc of the whole machine ----
# (nor --prefix "sysv:id=$ID" one of every SysV segment)
# (an empty prefix matched every segment: with --force, every orphan holding
# data, of every program; rm '' is refused the same way). Dry runs: on the
# old code this would otherwise be a real gc of everything.
expect 2 "$SHMKIT" gc --dry-run --force --prefix ''
err_has "--prefix '' would match every segment"
[ ! -s "$TMP/out" ] || fail "gc --prefix '' printed: $(head -c 300 "$TMP/out")"
expect 2 "$SHMKIT" gc --dry-run --force --foreign --prefix 'sysv:id='
err_has "--prefix 'sysv:id=' would match every System V segment"
# nor --prefix "/$APP", "posix:/$APP", "posix:$APP" (every POSIX segment),
# "sysv:$KEY" or "sysv:0x$KEY" (every System V one), however it is spelt
for p in / posix:/ posix: posix p '\x2f' sysv: sysv sysv:0x sysv:0X sysv:id s; do
	expect 2 "$SHMKIT" gc --dry-run --force --foreign --json --prefix "$p"
	err_has "would match every (POSIX segment|System V segment|System V key) \(leave --prefix out"
	[ ! -s "$TMP/out" ] || fail "gc --prefix '$p' printed: $(head -c 300 "$TMP/out")"
done
# a prefix of one name is still a prefix: nothing of anyone else's
expect 0 "$SHMKIT" gc --dry-run --prefix "/$TAG-none"
out_has "0 would be removed, 0 kept, 0 skipped"

finish test_cli_careless
