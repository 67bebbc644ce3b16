#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# "Nothing is lost by a user's hands" (cli-sweep): defects found trying the
# tool as a new user would; each case failed before its fix. Every segment
# and file has a run-unique name and is removed on exit, also on failure.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
TAG="shmkit-test-$$-sweep"
PIDS=() # processes whose private SysV segments are ours to remove
CLEAN_SHM=() # non-segments this test plants in /dev/shm
# a sysv:private segment whose id the test never learnt: removed by creator pid
cleanup() {
	[ ${#CLEAN_SHM[@]} = 0 ] || rm -f "${CLEAN_SHM[@]}"
	for p in "${PIDS[@]}"; do
		awk -v p="$p" 'NR > 1 && $1 == 0 && $5 == p { print $2 }' /proc/sysvipc/shm |
			while read -r id; do "$SHMKIT" rm "sysv:id=$id" >/dev/null 2>&1; done
	done
}
# As expect, with the command's pid in PIDS first (it may make sysv:private segments).
expect_pid() {
	local want=$1; shift
	bash -c 'exec "$@"' sh "$@" >"$TMP/out" 2>"$TMP/err" &
	local pid=$!
	PIDS+=("$pid")
	wait "$pid"
	local got=$?
	[ "$got" = "$want" ] || fail "exit $got (want $want): $* :: $(head -c 300 "$TMP/err")"
}

# ---- the create commands of objects say which SysV segment they made ----
# (queue/map/heap/topic create on sysv:private printed nothing, exit 0: a
# persistent object gc never removes, which nobody could name; an ftok path
# did not say its key either, as create does)
for kind in queue map heap topic; do
	case $kind in
	queue) args=(queue create sysv:private --capacity 4 --max-msg 8) ;;
	map) args=(map sysv:private create 64K) ;;
	heap) args=(heap sysv:private create 64K) ;;
	topic) args=(topic create sysv:private --slots 4 --slot-size 64) ;;
	esac
	expect_pid 0 "$SHMKIT" "${args[@]}"
	made=$(cat "$TMP/out")
	case "$made" in
	sysv:id=[0-9]*)
		CLEANUP+=("$made")
		expect 0 "$SHMKIT" stat "$made"
		grep -Eq "^sysv id: +${made#sysv:id=}$" "$TMP/out" || fail "$kind: stat $made: $(cat "$TMP/out")"
		expect 0 "$SHMKIT" rm "$made" ;;
	*) fail "$kind create sysv:private printed '$made' (want sysv:id=N)" ;;
	esac
done
# ... and when that name cannot be written (stdout full or closed), nobody
# could ever name the segment: the command fails and leaves none behind
# (it exited 1 and left a persistent private segment)
for kind in create queue; do
	case $kind in
	create) args=(create sysv:private 4K) ;;
	queue) args=(queue create sysv:private --capacity 4 --max-msg 8) ;;
	esac
	bash -c 'exec "$@" >/dev/full' sh "$SHMKIT" "${args[@]}" 2>"$TMP/err" & p=$!
	PIDS+=("$p"); wait "$p"; rc=$?
	[ "$rc" = 1 ] || fail "$kind sysv:private >/dev/full: exit $rc"
	err_has "could not be written, so it was removed"
	left=$(awk -v p="$p" 'NR > 1 && $1 == 0 && $5 == p' /proc/sysvipc/shm)
	[ -z "$left" ] || fail "$kind sysv:private >/dev/full left a segment nobody can name: $left"
done
: >"$TMP/ftok"
FT="sysv:$TMP/ftok?proj=0x5e"; CLEANUP+=("$FT")
expect 0 "$SHMKIT" queue create "$FT" --capacity 4 --max-msg 8
KEY=$("$SHMKIT" stat "$FT" 2>/dev/null | awk '/^sysv key:/ { print $3 }')
[ -n "$KEY" ] && [ "$(cat "$TMP/out")" = "sysv:$KEY" ] ||
	fail "queue create $FT printed '$(cat "$TMP/out")' (key $KEY)"
expect 0 "$SHMKIT" rm "$FT"
# an ftok path still names what it made when stdout is full: kept, and said
# (it said only "write error on standard output", as if nothing was made)
"$SHMKIT" create "$FT" 4K >/dev/full 2>"$TMP/err"; rc=$?
[ "$rc" = 1 ] || fail "create $FT >/dev/full: exit $rc"
err_has "made as sysv:0x[0-9a-f]{8}, and kept \(the path names it\)"
expect 0 "$SHMKIT" rm "$FT"

# ---- a URI prefix with a scheme that does not exist is a usage error ----
# (ls posx:/app, top posx:, gc --prefix posx:/app listed or removed nothing
# and exited 0: a typo read as "nothing there", "nothing to clean")
PP="posix:/$TAG-pp"; CLEANUP+=("$PP")
expect 0 "$SHMKIT" create "$PP" 4K
for typo in "posx:/$TAG-pp" "POSIX:/$TAG-pp" "sysvv:0x1" "files:/tmp"; do
	expect 2 "$SHMKIT" ls "$typo";  err_has "^shmkit: ls: unknown URI scheme in prefix"
	expect 2 "$SHMKIT" top --once --interval 0.05 "$typo"; err_has "^shmkit: top: unknown URI scheme in prefix"
	expect 2 "$SHMKIT" gc --dry-run --prefix "$typo"; err_has "^shmkit: gc: unknown URI scheme in prefix"
done
# a path where a POSIX name goes (ls /dev/shm/app-): it matched nothing, exit 0
for typo in "/dev/shm/$TAG-pp" "posix:/dev/shm/" "/a/"; do
	expect 2 "$SHMKIT" ls "$typo";  err_has "^shmkit: ls: prefix '.*' would match nothing: a POSIX name has no '/'"
	expect 2 "$SHMKIT" top --once --interval 0.05 "$typo"; err_has "^shmkit: top: prefix"
	expect 2 "$SHMKIT" gc --dry-run --prefix "$typo"; err_has "^shmkit: gc: prefix"
done
# a System V prefix that starts no key or id (ls sysv:private listed nothing,
# exit 0, beside private segments listed as sysv:id=N)
for typo in sysv:private sysv:xyz sysv:0xzz "sysv:id=x"; do
	expect 2 "$SHMKIT" ls "$typo";  err_has "^shmkit: ls: prefix '$typo' would match nothing: System V segments are listed as sysv:0xKEY or sysv:id=N"
	expect 2 "$SHMKIT" top --once --interval 0.05 "$typo"; err_has "^shmkit: top: prefix"
	expect 2 "$SHMKIT" gc --dry-run --prefix "$typo"; err_has "^shmkit: gc: prefix"
done
for ok in sysv: sysv:0x sysv:0X7f sysv:i sysv:id= sysv:id=1 sysv:12; do
	expect 0 "$SHMKIT" ls -n "$ok"
done
# what may match still does: a scheme, a part of one, a bare /name, nothing
for ok in posix: posix pos "posix:/$TAG-pp" "/$TAG-pp" ""; do
	expect 0 "$SHMKIT" ls -n -o URI "$ok"
	grep -qxF "$PP" "$TMP/out" || fail "ls '$ok' misses $PP: $(cat "$TMP/out")"
done
expect 0 "$SHMKIT" gc --dry-run --prefix "posix:/$TAG-pp"

# ---- --mode 0 is refused, not made 0600 ----
# (the library reads mode 0 as "the default": create --mode 0 made a 0600
# segment, exit 0, the owner able to read and write what was to be closed)
M0="posix:/$TAG-m0"; CLEANUP+=("$M0")
expect 2 "$SHMKIT" create "$M0" 4K --mode 0;  err_has "bad value for --mode: '0'"
expect 2 "$SHMKIT" queue create "$M0" --capacity 2 --max-msg 8 --mode 000
expect 2 "$SHMKIT" map "$M0" create 64K --mode 0
expect 1 "$SHMKIT" stat "$M0" # nothing made
expect 0 "$SHMKIT" create "$M0" 4K --mode 0400
expect 0 "$SHMKIT" stat "$M0"; grep -Eq "^mode: +0400$" "$TMP/out" || fail "--mode 0400: $(cat "$TMP/out")"

# ---- a pub that fails part-way says how far it got, as send does ----
# (lines read from stdin after the failure are not published: the user must
# know which were; pub said only why)
PT="posix:/$TAG-pt"; CLEANUP+=("$PT")
expect 0 "$SHMKIT" topic create "$PT" --slots 4 --slot-size 8
printf 'a\nb\nlonglonglong\nc\n' >"$TMP/lines"
expect 1 "$SHMKIT" pub "$PT" - <"$TMP/lines"
err_has "over the topic's slot size of 8 bytes \(2 messages were published before that\)"
[ "$(wc -l <"$TMP/err")" = 1 ] || fail "pub: not one line: $(cat "$TMP/err")"

# ---- gc --prefix sysv:id=N names one id, not every id N's digits start ----
# (gc prints sysv:id=753703; fed back, that prefix also matched 7537030 and
# any longer id, and `gc --foreign --prefix sysv:id=7537` removed segment
# 753703, another program's, which nobody had named)
GK="sysv:0x5f$(printf %04x $(($$ & 0xffff)))01"; CLEANUP+=("$GK")
expect 0 "$SHMKIT" create "$GK" 4K
GID=$("$SHMKIT" stat "$GK" 2>/dev/null | awk '/^sysv id:/ { print $3 }')
if [ "${#GID}" -ge 2 ]; then
	expect 0 "$SHMKIT" ls -n -o URI "sysv:id=${GID%?}"
	[ -z "$(cat "$TMP/out")" ] || fail "ls sysv:id=${GID%?} lists id $GID: $(cat "$TMP/out")"
	expect 0 "$SHMKIT" ls -n -o URI "sysv:id=$GID"
	[ -n "$(cat "$TMP/out")" ] || fail "ls sysv:id=$GID misses it"
	expect 0 "$SHMKIT" gc --foreign --prefix "sysv:id=${GID%?}"
	expect 0 "$SHMKIT" stat "$GK" # not removed: the user named another id
	expect 0 "$SHMKIT" gc --foreign --prefix "sysv:id=$GID" # the id itself: removed
	grep -Eq "^removed +sysv:id=$GID " "$TMP/out" || fail "gc --prefix sysv:id=$GID: $(cat "$TMP/out")"
fi
# a private segment, whose listed URI is its sysv:id=N
expect_pid 0 "$SHMKIT" create sysv:private 4K
PID_URI=$(cat "$TMP/out"); CLEANUP+=("$PID_URI")
if [ "${#PID_URI}" -ge 10 ]; then
	expect 0 "$SHMKIT" ls -n -o URI "${PID_URI%?}"
	[ -z "$(cat "$TMP/out")" ] || fail "ls ${PID_URI%?} lists $PID_URI: $(cat "$TMP/out")"
	expect 0 "$SHMKIT" gc --foreign --prefix "${PID_URI%?}"
	expect 0 "$SHMKIT" stat "$PID_URI"
fi

# ---- ls and top take an ftok path as a prefix, as gc --prefix does ----
# (ls sysv:/path?proj=N listed nothing, exit 0, while the segment was there)
: >"$TMP/ftok2"
F2="sysv:$TMP/ftok2?proj=0x5d"; CLEANUP+=("$F2")
expect 0 "$SHMKIT" create "$F2" 4K
F2URI=$(cat "$TMP/out")
expect 0 "$SHMKIT" ls -n -o URI "$F2"
[ "$(cat "$TMP/out")" = "$F2URI" ] || fail "ls $F2: '$(cat "$TMP/out")' (want $F2URI)"
expect 0 "$SHMKIT" rm "$F2"
expect 0 "$SHMKIT" ls -n -o URI "$F2" # gone: nothing, and no error
[ -z "$(cat "$TMP/out")" ] || fail "ls $F2 after rm: $(cat "$TMP/out")"

# ---- map and heap refuse an option their action does not take ----
# (map get --json printed text, put --mode 0644 changed no mode, heap check
# --json printed text: all exit 0, as if done; queue and topic refused them)
KM="posix:/$TAG-km"; CLEANUP+=("$KM")
expect 0 "$SHMKIT" map "$KM" create 64K
expect 0 "$SHMKIT" map "$KM" put k v
for bad in "get k --json" "ls --raw" "count --json" "put x y --mode 0644" "del k --owned" \
	"check --persist" "get k --mode 0600"; do
	# shellcheck disable=SC2086
	expect 2 "$SHMKIT" map "$KM" $bad; err_has "^shmkit: map: --[a-z]+ is not an option of"
done
for bad in "stats --mode 0644" "check --json" "check --owned"; do
	# shellcheck disable=SC2086
	expect 2 "$SHMKIT" heap "$KM" $bad; err_has "^shmkit: heap: --[a-z]+ is not an option of"
done
expect 0 "$SHMKIT" map "$KM" get k # nothing changed
[ "$(cat "$TMP/out")" = v ] || fail "map get k after refusals: $(cat "$TMP/out")"
expect 0 "$SHMKIT" map "$KM" get k --raw
expect 0 "$SHMKIT" map "$KM" ls --json
expect 0 "$SHMKIT" heap "$KM" stats --json

# ---- send --raw / --null with messages as arguments is a usage error ----
# (they split standard input: with arguments they were ignored, exit 0)
SQ="posix:/$TAG-sq"; CLEANUP+=("$SQ")
expect 0 "$SHMKIT" queue create "$SQ" --capacity 4 --max-msg 16
expect 2 "$SHMKIT" send "$SQ" "a b" --raw;  err_has "^shmkit: send: --raw reads standard input"
expect 2 "$SHMKIT" send "$SQ" a b --null;   err_has "^shmkit: send: --null reads standard input"
expect 0 "$SHMKIT" queue stat "$SQ"; grep -Eq "^depth: +0$" "$TMP/out" || fail "send refused but sent"
printf 'x\0y' | "$SHMKIT" send "$SQ" - --null --timeout 5 || fail "send - --null"
printf 'x\ny' | "$SHMKIT" send "$SQ" --raw --timeout 5 || fail "send --raw (stdin, no -)"
expect 0 "$SHMKIT" queue stat "$SQ"; grep -Eq "^depth: +3$" "$TMP/out" || fail "send from stdin: $(cat "$TMP/out")"

# ---- rm of a POSIX name that is not a segment removes nothing ----
# (stat and read refused a FIFO or a symbolic link in /dev/shm as "not a
# regular file", but rm deleted it, exit 0; rm of a file: URI refuses these)
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	NF="$TAG-nf"; NL="$TAG-nl"
	CLEAN_SHM=("/dev/shm/$NF" "/dev/shm/$NL")
	mkfifo "/dev/shm/$NF" && ln -s "$TMP/ftok" "/dev/shm/$NL" || fail "mkfifo/ln in /dev/shm"
	expect 1 "$SHMKIT" rm "posix:/$NF"; err_has "is not a regular file.*not removing it"
	expect 1 "$SHMKIT" rm "posix:/$NL"; err_has "is not a regular file.*not removing it"
	[ -p "/dev/shm/$NF" ] && [ -L "/dev/shm/$NL" ] || fail "rm removed a FIFO or a symlink in /dev/shm"
	rm -f "/dev/shm/$NF" "/dev/shm/$NL"
fi

# ---- ls: a header that was not read is '?', not '-' (no shmkit header) ----
# (ls --kind none listed a SysV queue nobody had attached, and another
# user's 0600 queue, as segments without a shmkit header; --json said null)
UQ="sysv:0x5f$(printf %04x $(($$ & 0xffff)))02"; CLEANUP+=("$UQ")
expect 0 "$SHMKIT" queue create "$UQ" --capacity 2 --max-msg 8
expect 0 "$SHMKIT" ls -n -o URI --kind none "$UQ"
[ -z "$(cat "$TMP/out")" ] || fail "ls --kind none lists an unread SysV queue: $(cat "$TMP/out")"
expect 0 "$SHMKIT" ls -n -o KIND "$UQ"; [ "$(cat "$TMP/out")" = "?" ] || fail "KIND of an unread header: '$(cat "$TMP/out")'"
expect 0 "$SHMKIT" ls -n -o URI --kind unknown "$UQ"
[ -n "$(cat "$TMP/out")" ] || fail "ls --kind unknown misses an unread SysV queue"
UR="posix:/$TAG-ur"; CLEANUP+=("$UR")
expect 0 "$SHMKIT" create "$UR" 4K # no header, readable: still '-' and none
expect 0 "$SHMKIT" ls -n -o URI --kind none "$UR"; [ "$(cat "$TMP/out")" = "$UR" ] || fail "--kind none misses $UR"
UP="posix:/$TAG-up"; CLEANUP+=("$UP")
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	expect 0 "$SHMKIT" queue create "$UP" --capacity 2 --max-msg 8
	AS_NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
	expect 0 "${AS_NOBODY[@]}" "$SHMKIT" ls -n -o URI --kind none "$UP"
	[ -z "$(cat "$TMP/out")" ] || fail "nobody: ls --kind none lists root's 0600 queue"
	expect 0 "${AS_NOBODY[@]}" "$SHMKIT" ls -n -o KIND "$UP"; [ "$(cat "$TMP/out")" = "?" ] || fail "nobody: KIND '$(cat "$TMP/out")'"
fi

# ---- stat of a corrupt header says what is wrong with it ----
# (stat said only "not a valid shmkit object of this kind, or its header or
# an index in it is corrupt", where `queue stat` named the field)
UC="posix:/$TAG-uc"; CLEANUP+=("$UC")
expect 0 "$SHMKIT" queue create "$UC" --capacity 2 --max-msg 8
printf '\377\377\377\377' | dd of="/dev/shm/$TAG-uc" bs=1 seek=8 conv=notrunc 2>/dev/null
expect 0 "$SHMKIT" stat "$UC"
grep -q '^header: .*corrupt or foreign: made on another platform (fingerprint 0xffffffff' "$TMP/out" ||
	fail "stat of a wrong fingerprint: $(grep '^header' "$TMP/out")"
expect 0 "$SHMKIT" stat --json "$UC"
grep -q '"header_status": *"corrupt or foreign: made on another platform' "$TMP/out" ||
	fail "stat --json of a wrong fingerprint: $(cat "$TMP/out")"
# (and a kind word no build knows read "header: ok")
expect 0 "$SHMKIT" rm "$UC"
expect 0 "$SHMKIT" queue create "$UC" --capacity 2 --max-msg 8
printf '\377\377\377\177' | dd of="/dev/shm/$TAG-uc" bs=1 seek=16 conv=notrunc 2>/dev/null
expect 0 "$SHMKIT" stat "$UC"
grep -q "^header: *ok, but of a kind this build does not know" "$TMP/out" ||
	fail "stat of an unknown kind: $(grep '^header' "$TMP/out")"

finish test_cli_sweep
