#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A new user's mistakes at the shell (issue 10): each is refused, or answered,
# with a line that says what is wrong and what to do, and nothing the user did
# not name is lost. Every segment has a run-unique name and is removed on exit.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
TAG="shmkit-test-$$-user"

# ---- one parser: each usage line lists exactly the options the command takes ----
# (the parser names them when it rejects one)
for c in ls stat create rm write read doctor gc map heap "topic create" "topic stat" pub sub \
	"queue create" "queue stat" send recv; do
	# shellcheck disable=SC2086
	usage=$("$SHMKIT" help ${c%% *} | head -1 | grep -o -- '--[a-z][a-z-]*' | sort -u | tr '\n' ' ')
	# shellcheck disable=SC2086
	took=$("$SHMKIT" $c --no-such-option 2>&1 | head -1 | grep -o -- '--[a-z][a-z-]*' |
		grep -v no-such-option | sort -u | tr '\n' ' ')
	case "$c" in
	"queue create") usage=$(tr ' ' '\n' <<<"$usage" | grep -xE -- '--(capacity|max-msg|multi|mode|persist|owned)' | tr '\n' ' ') ;;
	"queue stat" | "topic stat") usage="--json " ;;
	"topic create") usage=$(tr ' ' '\n' <<<"$usage" | grep -x -- '--[a-z-]*' | grep -vx -- '--json' | tr '\n' ' ') ;;
	esac
	[ "$usage" = "$took" ] || fail "$c: usage lists [$usage], the parser takes [$took]"
done

# ---- defect 4: raw writes and creates never destroy a shmkit object ----
Q="posix:/$TAG-q"; CLEANUP+=("$Q")
expect 0 "$SHMKIT" queue create "$Q" --capacity 8 --max-msg 64
expect 0 "$SHMKIT" send "$Q" one two
expect 1 "$SHMKIT" write "$Q" oops
err_has "^shmkit: write $Q: is a shmkit queue: .*--force"
expect 1 "$SHMKIT" write --offset 4096 "$Q" oops
expect 1 "$SHMKIT" create "$Q" 4K
err_has "File exists \(already a queue\); left as it was"
for c in "queue create $Q --capacity 2 --max-msg 8" "topic create $Q" "map $Q create 64K" \
	"heap $Q create 64K"; do
	# shellcheck disable=SC2086
	expect 1 "$SHMKIT" $c
	err_has "File exists \((already a queue|is a queue \(kind 2\), not a (topic|map|heap))\); left as it was"
done
# the queue still holds both messages, in order
expect 0 "$SHMKIT" recv "$Q" --count 2 --timeout 5
out_is $'one\ntwo'
# --force writes raw bytes when asked
expect 0 "$SHMKIT" write --force "$Q" oops
expect 1 "$SHMKIT" recv "$Q" --timeout 0
# a plain segment takes raw writes without --force
S="posix:/$TAG-s"; CLEANUP+=("$S")
expect 0 "$SHMKIT" create "$S" 4K
expect 0 "$SHMKIT" write "$S" hello
expect 0 "$SHMKIT" read "$S"
out_is hello

# ---- defect 8: the smaller ones ----
# a negative size is a bad size, not an option
expect 2 "$SHMKIT" create "posix:/$TAG-neg" -5
err_has "^shmkit: create: bad SIZE '-5'"
# a size past every limit names the limits
expect 1 "$SHMKIT" create "posix:/$TAG-big" 1T
err_has "limits here: /dev/shm: .*size .*free"
err_has "cgroup memory"
expect 1 "$SHMKIT" create "sysv:0x5c$(printf %04x $(($$ & 0xffff)))01" 1T
err_has "limits here: SysV limits: shmmax"
# an ftok path: create prints the key it made; a second create names it
expect 0 "$SHMKIT" create "sysv:$TMP?proj=0x66" 4K
KEYURI=$(cat "$TMP/out"); CLEANUP+=("$KEYURI")
[[ "$KEYURI" =~ ^sysv:0x[0-9a-f]{8}$ ]] || fail "create sysv:PATH printed '$KEYURI'"
[ "$KEYURI" != "sysv:0xffffffff" ] || fail "create sysv:PATH printed key -1"
expect 0 "$SHMKIT" stat --json "sysv:$TMP?proj=0x66"
grep -q "\"sysv_key\": \"${KEYURI#sysv:}\"" "$TMP/out" || fail "printed key is not the stat key"
expect 1 "$SHMKIT" create "sysv:$TMP?proj=0x66" 4K
err_has "see it: shmkit stat $KEYURI;"
expect 0 "$SHMKIT" create sysv:private 4K
PRIV=$(cat "$TMP/out"); CLEANUP+=("$PRIV")
[[ "$PRIV" =~ ^sysv:id=[0-9]+$ ]] || fail "create sysv:private printed '$PRIV'"
# topic and queue geometry: say what is wrong
T="posix:/$TAG-t"; CLEANUP+=("$T")
expect 2 "$SHMKIT" topic create "$T" --slots 0;      err_has "slots must be 1 to"
expect 2 "$SHMKIT" topic create "$T" --slot-size 0;  err_has "slot-size must be 1 byte"
expect 2 "$SHMKIT" topic create "$T" --max-subs 9999; err_has "max-subs must be at most"
expect 2 "$SHMKIT" queue create "$T" --capacity 0 --max-msg 8; err_has "at least 1"
# --timeout -1 waits without limit (documented); -2 is refused
E="posix:/$TAG-empty"; CLEANUP+=("$E")
expect 0 "$SHMKIT" queue create "$E" --capacity 2 --max-msg 8
expect 2 "$SHMKIT" recv "$E" --timeout -2;           err_has "bad value for --timeout"
"$SHMKIT" recv "$E" --timeout -1 >/dev/null 2>&1 & rp=$!
sleep 0.3
kill -0 $rp 2>/dev/null || fail "recv --timeout -1 did not wait"
kill $rp 2>/dev/null; wait $rp 2>/dev/null
# send --timeout says how many were sent
F="posix:/$TAG-full"; CLEANUP+=("$F")
expect 0 "$SHMKIT" queue create "$F" --capacity 2 --max-msg 8
seq 1 5 | expect 1 "$SHMKIT" send "$F" - --timeout 0.2
err_has "^shmkit: send $F: timed out with the queue full: 2 messages sent"
# sub/recv/pub on nothing: say how to make one
for c in recv sub send pub; do
	args=(); [ $c = send ] || [ $c = pub ] && args=(x)
	expect 1 "$SHMKIT" $c "posix:/$TAG-none" "${args[@]}" --timeout 0
	err_has "no such (queue|topic) \(make one: shmkit (queue|topic) create"
done
# POSIX keeps no creator pid: unknown, not 0
expect 0 "$SHMKIT" stat "$S";         out_has "creator pid:        unknown"
expect 0 "$SHMKIT" stat --json "$S";  out_has '"creator_pid": null'

# ---- what ls lists for a memfd, stat and read accept ----
MF="$TAG-mf"
memfd_holder() { # a process holding (and mapping) memfd NAME with "hello" in it
	python3 -c 'import mmap, os, sys, time
fd = os.memfd_create(sys.argv[1]); os.ftruncate(fd, 4096)
m = mmap.mmap(fd, 4096); m[:5] = b"hello"; print("ready", flush=True); time.sleep(60)' "$1"
}
memfd_holder "$MF" >"$TMP/mf1" & mf1=$!
for _ in $(seq 200); do grep -q ready "$TMP/mf1" 2>/dev/null && break; sleep 0.05; done
expect 0 "$SHMKIT" ls -n -o URI "memfd:$MF";  out_is "memfd:$MF"
expect 0 "$SHMKIT" stat "memfd:$MF";          out_has "backend:            memfd"
expect 0 "$SHMKIT" stat --json "memfd:$MF";   out_has "\"uri\": \"memfd:$MF\""
expect 0 "$SHMKIT" read "memfd:$MF";          out_is hello
expect 0 "$SHMKIT" read --hex --length 5 "memfd:$MF"; out_has "|hello|"
expect 1 "$SHMKIT" stat "memfd:$MF-none";     err_has "no process maps or holds a memfd of that name"
memfd_holder "$MF" >"$TMP/mf2" & mf2=$!
for _ in $(seq 200); do grep -q ready "$TMP/mf2" 2>/dev/null && break; sleep 0.05; done
expect 1 "$SHMKIT" read "memfd:$MF";          err_has "2 memfds have that name"
kill $mf1 $mf2 2>/dev/null; wait $mf1 $mf2 2>/dev/null

# ---- ls as util-linux users expect it ----
SP="posix:/$TAG-a b"; CLEANUP+=("$SP")
expect 0 "$SHMKIT" create "$SP" 4K
LQ="posix:/$TAG-lq"; CLEANUP+=("$LQ")
expect 0 "$SHMKIT" queue create "$LQ" --capacity 2 --max-msg 8
# a URI prefix filters; a URI with spaces stays one column (\x20)
expect 0 "$SHMKIT" ls --noheadings -o URI,SIZE,KIND "posix:/$TAG-"
awk 'NF != 3 { bad = 1 } END { exit bad }' "$TMP/out" || fail "ls columns broken: $(cat "$TMP/out")"
grep -qF "posix:/$TAG-a\\x20b " "$TMP/out" || fail "ls: spaces in a URI not escaped: $(cat "$TMP/out")"
! grep -v "^posix:/$TAG-" "$TMP/out" | grep -q . || fail "ls prefix let others through"
[ "$(wc -l <"$TMP/out")" -ge 5 ] || fail "ls prefix lost segments: $(cat "$TMP/out")"
# headings, --bytes, --raw
expect 0 "$SHMKIT" ls -o uri,size "posix:/$TAG-s";   out_has "URI"
expect 0 "$SHMKIT" ls -nrb -o URI,SIZE "posix:/$TAG-s"
out_is "posix:/$TAG-s 4096"
# --kind and --user
expect 0 "$SHMKIT" ls -n -o URI --kind queue "posix:/$TAG-"
grep -qx "$LQ" "$TMP/out" || fail "ls --kind queue misses $LQ"
! grep -qx "$S" "$TMP/out" || fail "ls --kind queue lists the plain segment $S"
expect 0 "$SHMKIT" ls -n -o URI --kind none "posix:/$TAG-s"; out_is "$S"
expect 0 "$SHMKIT" ls -n -o URI --user "$(id -un)" "posix:/$TAG-s"; out_is "$S"
expect 0 "$SHMKIT" ls -n -o URI --user "$(( $(id -u) + 4242 ))" "posix:/$TAG-s"; out_is ""
expect 2 "$SHMKIT" ls --user no-such-user-here;  err_has "no user"
expect 2 "$SHMKIT" ls -o URI,NOPE;               err_has "unknown column 'NOPE' \(columns: URI,"
expect 2 "$SHMKIT" ls --json -o URI;             err_has "--json takes no column options"
# a long list: refused for naming URI twice (no 64 distinct columns exist)
expect 2 "$SHMKIT" ls -o "$(printf 'URI,%.0s' $(seq 70))"; err_has "^shmkit: ls: -o names column URI twice$"
expect 2 "$SHMKIT" ls -o ,;                      err_has "needs at least one column"
# SysV columns: id, key, creator and last pid, times, dest (marked for removal)
SK="sysv:0x5c$(printf %04x $(($$ & 0xffff)))02"; CLEANUP+=("$SK")
expect 0 "$SHMKIT" queue create "$SK" --capacity 2 --max-msg 8
expect 0 "$SHMKIT" stat --json "$SK"
ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sysv_id"])' "$TMP/out")
"$SHMKIT" recv "$SK" --timeout 20 >/dev/null 2>&1 & holder=$!
for _ in $(seq 100); do
	"$SHMKIT" ls -n -o NATTCH "$SK" >"$TMP/n" 2>/dev/null; [ "$(tr -d ' ' <"$TMP/n")" = 1 ] && break
	sleep 0.05
done
expect 0 "$SHMKIT" ls -n -o URI,ID,KEY,CPID,LPID,ATIME,DTIME,CTIME,DEST,NATTCH "$SK"
read -r u id key cpid lpid atime dtime ctime dest nattch <"$TMP/out"
[ "$u $id $key" = "$SK $ID ${SK#sysv:}" ] || fail "ls sysv id/key: $(cat "$TMP/out")"
[[ "$cpid" =~ ^[0-9]+$ && "$lpid" =~ ^[0-9]+$ ]] || fail "ls cpid/lpid: $(cat "$TMP/out")"
[[ "$atime" =~ ^20[0-9-]+T[0-9:]+$ && "$ctime" =~ ^20 ]] || fail "ls times: $(cat "$TMP/out")"
[ "$dest $nattch" = "- 1" ] || fail "ls dest/nattch before rm: $(cat "$TMP/out")"
expect 0 "$SHMKIT" rm "$SK"
expect 0 "$SHMKIT" ls -n -o ID,DEST sysv:
grep -Eq "^ *$ID dest$" "$TMP/out" || fail "ls: the removed, still attached segment is not 'dest': $(cat "$TMP/out")"
kill $holder 2>/dev/null; wait $holder 2>/dev/null
# --json keeps its field names
expect 0 "$SHMKIT" ls --json "posix:/$TAG-s"
python3 - "$TMP/out" "$S" <<'PY' || fail "ls --json fields"
import json, sys
d = json.load(open(sys.argv[1]))
assert [s["uri"] for s in d["segments"]] == [sys.argv[2]], d
for k in ("uri backend lifetime size real_size mode uid user gid group creator_pid last_pid "
          "attach_count marked_for_removal sysv_key sysv_id atime dtime ctime mtime n_mappers "
          "mappers managed").split():
    assert k in d["segments"][0], k
PY

finish test_cli_user
