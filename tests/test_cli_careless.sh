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

finish test_cli_careless
