#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# URI options a command does not use are refused (usage error, exit 2,
# nothing done), never ignored: `shmkit rm 'sysv:KEY?huge'` removed the
# segment of base pages, stat/read/the stat commands took ?huge, ?populate
# and ?addr= (which a look does not use) and answered as if they were not
# there, and a SysV prefix with an option (ls, gc --prefix, top) silently
# matched nothing. The options a command does use still work: ?proj= of an
# ftok path everywhere, ?private in looks, ?populate in write.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"

KEY=$(printf '0x%08x' $((0x5e000000 | ($$ & 0xffffff))))
S=sysv:$KEY P=posix:/shmkit-test-$$-opt Q=posix:/shmkit-test-$$-optq
M=posix:/shmkit-test-$$-optm T=posix:/shmkit-test-$$-optt
CLEANUP+=("$S" "$P" "$Q" "$M" "$T")
expect 0 "$SHMKIT" create "$S" 4K
expect 0 "$SHMKIT" create "$P" 4K
expect 0 "$SHMKIT" queue create "$Q" --capacity 4 --max-msg 64
expect 0 "$SHMKIT" map create "$M" 64K
expect 0 "$SHMKIT" topic create "$T"

still_there() { "$SHMKIT" stat "$1" >/dev/null 2>&1 || fail "$1 was removed"; }

# rm: only ?proj= (an ftok path's key); checked for every URI before any goes
for o in huge populate addr=0x7f0000000000 private; do
	expect 2 "$SHMKIT" rm "$S?$o"
	err_has "\\?${o%%=*} in .* does not apply here"
	still_there "$S"
done
expect 2 "$SHMKIT" rm "$S" "$P?huge"
still_there "$S"
still_there "$P"

# looks: ?proj= and ?private, not ?huge, ?populate, ?addr=
for o in huge populate addr=0x7f0000000000; do
	expect 2 "$SHMKIT" stat "$S?$o"
	err_has "a look reads the segment as it is"
	expect 2 "$SHMKIT" read "$P?$o"
	expect 2 "$SHMKIT" queue stat "$Q?$o"
	expect 2 "$SHMKIT" topic stat "$T?$o"
	expect 2 "$SHMKIT" heap "$M?$o" stats
	expect 2 "$SHMKIT" map "$M?$o" get k
	expect 2 "$SHMKIT" map "$M?$o" ls
	expect 2 "$SHMKIT" map "$M?$o" count
done
F=$TMP/plain
printf 'x' >"$F"
expect 0 "$SHMKIT" stat "file:$F?private"
out_has "file:$F?private"
expect 0 "$SHMKIT" read "file:$F?private"

# prefixes: a SysV key or id with an option matches nothing
for cmd in "ls" "top --once --interval 0.05" "gc --dry-run --prefix"; do
	# shellcheck disable=SC2086 # words on purpose
	expect 2 "$SHMKIT" $cmd "$S?huge"
	err_has "would match nothing|does not apply"
done

# ftok paths: ?proj= is the key, in every command; other options refused
touch "$TMP/ftok"
FT="sysv:$TMP/ftok?proj=0x5d"
expect 0 "$SHMKIT" create "$FT" 4K
FK=$(cat "$TMP/out")
CLEANUP+=("$FK")
expect 0 "$SHMKIT" stat "$FT"
expect 0 "$SHMKIT" ls -n -o URI "$FT"
out_is "$FK"
expect 2 "$SHMKIT" ls "$FT&huge"
expect 2 "$SHMKIT" rm "$FT&huge"
still_there "$FK"
expect 0 "$SHMKIT" rm "$FT"

# commands that open the object to use it honour the options
expect 0 "$SHMKIT" write "$P?populate" hello
expect 0 "$SHMKIT" read "$P"
out_is hello
finish test_cli_uri_options
