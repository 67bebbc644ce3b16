#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# gc and names the library cannot name (shmkit_gc(3)): an orphaned owned
# heap copied (as another program could) to a name with a control character,
# and to a name holding a '?', is skipped with the reason by the dry run and
# by the real run alike; nothing is promised that the real run cannot do.
# The '?' copy's name minus its "?huge" is a foreign file: removing
# "posix:/NAME?huge" through the library would unlink that one instead.
# Every name is this test's own; everything is removed on exit.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
TAG="shmkit-test-$$-gcname"
SRC="posix:/$TAG-src"
CTL="$TAG-ctl"$'\x01'"q"
QM="$TAG-victim?huge"
VICTIM="$TAG-victim"
cleanup() { rm -f "/dev/shm/$TAG-"*; }

"$SHMKIT" heap "$SRC" create 64K --owned >/dev/null || fail "create $SRC"
cp "/dev/shm/$TAG-src" "/dev/shm/$CTL" || fail "copy to a control-character name"
cp "/dev/shm/$TAG-src" "/dev/shm/$QM" || fail "copy to a name with '?'"
truncate -s 64K "/dev/shm/$VICTIM" || fail "make the foreign $VICTIM"
rm -f "/dev/shm/$TAG-src"

for run in --dry-run ""; do
	expect 0 "$SHMKIT" gc $run --prefix "posix:/$TAG-"
	grep -E "^skipped +posix:/$TAG-ctl\\\\x01q .*cannot name it \\(posix name has a control" \
		"$TMP/out" >/dev/null || fail "gc $run: control-character name: $(cat "$TMP/out")"
	grep -E "^skipped +posix:/$TAG-victim\\?huge .*cannot name it .*'\\?'" "$TMP/out" \
		>/dev/null || fail "gc $run: '?' name: $(cat "$TMP/out")"
	grep -Eq "^(would remove|removed) " "$TMP/out" && fail "gc $run promised a removal: $(cat "$TMP/out")"
	grep -Eq "^kept +posix:/$TAG-victim .*no shmkit header" "$TMP/out" ||
		fail "gc $run: foreign $VICTIM: $(cat "$TMP/out")"
done
[ -f "/dev/shm/$CTL" ] || fail "the control-character name is gone"
[ -f "/dev/shm/$QM" ] || fail "the '?' name is gone"
[ -f "/dev/shm/$VICTIM" ] || fail "gc removed the foreign $VICTIM for posix:/$QM"

finish test_gc_unnameable
