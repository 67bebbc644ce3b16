#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The shmkit CLI, command by command: output, exit codes (0 ok, 1 failure,
# 2 usage), the one-line error format, --json that parses. Every segment it
# makes has a run-unique name and is removed on exit, also on failure.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
TAG="shmkit-test-$$-cli"
sleep_pid=
evil_pid=
cleanup() {
	[ -z "$sleep_pid" ] || kill "$sleep_pid" 2>/dev/null
	[ -z "$evil_pid" ] || kill "$evil_pid" 2>/dev/null
}
# `make valgrind`: run the tool itself under memcheck; any error is exit 99.
if [ -n "${SHMKIT_UNDER_VALGRIND:-}" ] && command -v valgrind >/dev/null; then
	printf '#!/bin/sh\nexec valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 "%s" "$@"\n' \
		"$SHMKIT" >"$TMP/shmkit"
	chmod +x "$TMP/shmkit"
	SHMKIT="$TMP/shmkit"
fi
# The error line: exactly one line "shmkit: <what> <uri>: <reason>".
err_is() {
	local re=$1
	[ "$(wc -l <"$TMP/err")" = 1 ] || fail "stderr is not one line: $(cat "$TMP/err")"
	grep -Eq "^shmkit: $re" "$TMP/err" || fail "stderr '$(cat "$TMP/err")' !~ '$re'"
}
# A usage error: first line "shmkit: <cmd>: <problem>", then the usage line.
usage_is() {
	head -1 "$TMP/err" | grep -Eq "^shmkit: $1" || fail "stderr '$(cat "$TMP/err")' !~ '$1'"
}
out_has() { grep -Fq -- "$1" "$TMP/out" || fail "stdout lacks '$1': $(head -c 500 "$TMP/out")"; }
json_ok() { python3 -m json.tool "$TMP/out" >/dev/null || fail "not JSON: $(head -c 300 "$TMP/out")"; }
# has CMD: the command exists in this build (others land theirs later)
has() { "$SHMKIT" help "$1" >/dev/null 2>&1; }

# ---- help, version, usage ----
expect 0 "$SHMKIT" --version;           grep -Eq '^shmkit [0-9]+\.[0-9]+\.[0-9]+$' "$TMP/out" || fail "--version: $(cat "$TMP/out")"
expect 0 "$SHMKIT" --help;              out_has "Commands:"
expect 0 "$SHMKIT" help;                out_has "Commands:"
expect 2 "$SHMKIT"
expect 2 "$SHMKIT" no-such-command;     usage_is "unknown command"
expect 2 "$SHMKIT" help no-such-command
for c in $("$SHMKIT" --help | awk '/^Commands:/{on=1; next} on && /^  [a-z]/{print $1}'); do
	expect 0 "$SHMKIT" help "$c";   out_has "usage: shmkit $c"
	[ "$c" = bench ] || { expect 0 "$SHMKIT" "$c" --help; out_has "usage: shmkit $c"; }
done
# bench's own options: a bad one is a usage error before any run ("-1" was
# taken as SIZE_MAX); builds without the benchmarks (sanitizers) have none
if "$SHMKIT" bench --list >/dev/null 2>&1; then
	for bad in "--size -1" "--size 0" "--size 8x" "--cpus" "--cpus 0,x" "no-such-suite"; do
		expect 2 "$SHMKIT" bench $bad floor
		grep -q "usage: shmkit-bench" "$TMP/err" || fail "bench $bad: no usage: $(cat "$TMP/err")"
		[ ! -s "$TMP/out" ] || fail "bench $bad ran: $(head -c 200 "$TMP/out")"
	done
	# output it could not write is a failure, as for every command (exit 0 before)
	for a in --list --help; do
		"$SHMKIT" bench $a >/dev/full 2>"$TMP/err"; rc=$?
		[ "$rc" = 1 ] || fail "bench $a >/dev/full: exit $rc"
		grep -q "write error on standard output: No space left on device" "$TMP/err" ||
			fail "bench $a >/dev/full: $(cat "$TMP/err")"
	done
fi

# ---- doctor ----
expect 0 "$SHMKIT" doctor
for w in /dev/shm "SysV limits" "cgroup memory" RemoveIPC; do out_has "$w"; done
grep -Eq -- '-> (ok|info|warn|fail): ' "$TMP/out" || fail "doctor: no verdict lines"
expect 0 "$SHMKIT" doctor --json;      json_ok
# RemoveIPC: systemd's order (main file, then drop-ins by name; /etc hides /usr/lib), [Login] only
R="$TMP/root"
mkdir -p "$R/etc/systemd/logind.conf.d" "$R/usr/lib/systemd/logind.conf.d"
expect 0 env SHMKIT_DOCTOR_ROOT="$R" "$SHMKIT" doctor;  out_has "RemoveIPC=yes (systemd default)"
printf '[Login]\n#RemoveIPC=yes\nRemoveIPC = no \n' >"$R/etc/systemd/logind.conf"
expect 0 env SHMKIT_DOCTOR_ROOT="$R" "$SHMKIT" doctor;  out_has "RemoveIPC=no ($R/etc/systemd/logind.conf)"
printf '[Login]\nRemoveIPC=yes\n' >"$R/usr/lib/systemd/logind.conf.d/10-a.conf"
expect 0 env SHMKIT_DOCTOR_ROOT="$R" "$SHMKIT" doctor;  out_has "RemoveIPC=yes ($R/usr/lib/systemd/logind.conf.d/10-a.conf)"
printf '[Login]\nRemoveIPC=off\n' >"$R/etc/systemd/logind.conf.d/10-a.conf"
printf '[Other]\nRemoveIPC=yes\n' >"$R/usr/lib/systemd/logind.conf.d/20-b.conf"
expect 0 env SHMKIT_DOCTOR_ROOT="$R" "$SHMKIT" doctor;  out_has "RemoveIPC=no ($R/etc/systemd/logind.conf.d/10-a.conf)"
expect 2 "$SHMKIT" doctor --bogus;     usage_is "doctor: bad option --bogus"
expect 2 "$SHMKIT" doctor extra;       usage_is "doctor: unexpected argument"

# ---- create, write, read, stat, rm over posix: ----
P="posix:/$TAG-p"
CLEANUP+=("$P")
expect 0 "$SHMKIT" create "$P" 4K --mode 0640
[ "$(stat -c %a "/dev/shm/$TAG-p" 2>/dev/null)" = 640 ] || fail "create --mode 0640 not applied"
expect 1 "$SHMKIT" create "$P" 4K;        err_is "create $P: File exists"
expect 2 "$SHMKIT" create "posix:/$TAG-x" 0;      usage_is "create: bad SIZE"
expect 2 "$SHMKIT" create "posix:/$TAG-x" 12Q;    usage_is "create: bad SIZE"
expect 2 "$SHMKIT" create "posix:/$TAG-x";        usage_is "create: expects"
expect 2 "$SHMKIT" create "posix:/$TAG-x" 4K --mode 999;  usage_is "create: bad value for --mode"
expect 1 "$SHMKIT" create "memfd:$TAG" 4K;        err_is "create memfd:$TAG: "
[ ! -e "/dev/shm/$TAG-x" ] || fail "a failed create left /dev/shm/$TAG-x"

expect 0 "$SHMKIT" write "$P" "hello, world"
expect 0 "$SHMKIT" read "$P";             [ "$(cat "$TMP/out")" = "hello, world" ] || fail "read: '$(cat "$TMP/out")'"
expect 0 "$SHMKIT" write "$P" "bye"
expect 0 "$SHMKIT" read "$P";             [ "$(cat "$TMP/out")" = "bye" ] || fail "read after shorter write: '$(cat "$TMP/out")'"
expect 0 "$SHMKIT" write --offset 100 "$P" "abc"
expect 0 "$SHMKIT" read "$P" --offset 100 --length 3
[ "$(od -An -c "$TMP/out" | tr -d ' ')" = abc ] || fail "read --length gave '$(od -An -c "$TMP/out")'"
printf 'from\nstdin\n' | "$SHMKIT" write "$P" - || fail "write - failed"
expect 0 "$SHMKIT" read "$P";             [ "$(cat "$TMP/out")" = "$(printf 'from\nstdin')" ] || fail "write -: '$(cat "$TMP/out")'"
echo piped | "$SHMKIT" write "$P" --offset 1K || fail "write from stdin without '-' failed"
expect 0 "$SHMKIT" read --hex "$P" --length 16;   out_has "66 72 6f 6d 0a 73 74 64"; out_has "|from.std"
expect 1 "$SHMKIT" write "$P" --offset 4090 "0123456789";  err_is "write $P: 10 bytes at offset 4090 do not fit"
expect 1 "$SHMKIT" read "$P" --offset 5000;       err_is "read $P: "
expect 1 "$SHMKIT" read "$P" --offset 4000 --length 200;  err_is "read $P: "
expect 2 "$SHMKIT" read "$P" --length x;          usage_is "read: bad value for --length"
expect 2 "$SHMKIT" read "$P" --mode 600;          usage_is "read: bad option --mode"
expect 2 "$SHMKIT" read;                          usage_is "read: expects one URI"
expect 1 "$SHMKIT" read "posix:/$TAG-missing";    err_is "read posix:/$TAG-missing: No such file or directory"
expect 1 "$SHMKIT" write "posix:/$TAG-missing" x; err_is "write posix:/$TAG-missing: No such file or directory"

expect 0 "$SHMKIT" stat "$P"
out_has "uri:                $P"; out_has "backend:            posix"; out_has "size:               4096"
out_has "mode:               0640"; out_has "lifetime:           kernel"
expect 0 "$SHMKIT" stat --json "$P";      json_ok
python3 - "$TMP/out" "$P" <<'PY' || fail "stat --json fields"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["uri"] == sys.argv[2] and d["backend"] == "posix" and d["size"] == 4096, d
assert d["mode"] == "0640" and d["lifetime"] == "kernel" and d["managed"] is False, d
for k in ("real_size", "uid", "user", "gid", "creator_pid", "last_pid", "attach_count",
          "marked_for_removal", "sysv_key", "sysv_id", "mtime", "n_mappers", "mappers"):
    assert k in d, k
PY
expect 1 "$SHMKIT" stat "posix:/a/b";     err_is "stat posix:/a/b: Invalid argument"
# control bytes in a hostile URI are escaped: the error stays one line, the terminal untouched
expect 1 "$SHMKIT" stat "$(printf 'posix:/a\001b\nc')"; err_is 'stat posix:/a\\x01b\\x0ac: No such file or directory'
expect 1 "$SHMKIT" stat "bogus:x";        err_is "stat bogus:x: "
expect 1 "$SHMKIT" stat "";               err_is "stat: "
expect 1 "$SHMKIT" stat "posix:/$TAG-missing"; err_is "stat posix:/$TAG-missing: No such file or directory"
expect 2 "$SHMKIT" stat;                  usage_is "stat: expects one URI"

# ---- file: ----
F="file:$TMP/seg"
expect 0 "$SHMKIT" create "$F" 8K
[ "$(stat -c %s "$TMP/seg")" = 8192 ] || fail "file: size"
expect 0 "$SHMKIT" write "$F" "on disk"
expect 0 "$SHMKIT" read "$F";             [ "$(cat "$TMP/out")" = "on disk" ] || fail "file: read"
expect 0 "$SHMKIT" stat "$F";             out_has "lifetime:           filesystem"

# ---- sysv: (a key unique to this run) ----
KEYHEX=$(printf '0x%08x' $(( (0x5c000000 | ($$ << 4)) & 0x7fffffff )))
K="sysv:$KEYHEX"
CLEANUP+=("$K")
expect 0 "$SHMKIT" create "$K" 4K
expect 1 "$SHMKIT" create "$K" 4K;        err_is "create $K: File exists"
expect 0 "$SHMKIT" write "$K" "hello, sysv"
expect 0 "$SHMKIT" read "$K";             [ "$(cat "$TMP/out")" = "hello, sysv" ] || fail "sysv read"
expect 0 "$SHMKIT" stat "$K"
out_has "sysv key:           $KEYHEX"; out_has "sysv id:"; out_has "marked for removal: no"
out_has "backend:            sysv"
expect 0 "$SHMKIT" stat --json "$K";      json_ok
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["backend"]=="sysv" and d["sysv_key"]==sys.argv[2] and isinstance(d["sysv_id"], int) and d["marked_for_removal"] is False, d' "$TMP/out" "$KEYHEX" || fail "sysv stat json"
ipcs -m | grep -i "$KEYHEX" >/dev/null || fail "ipcs does not show $K"
expect 0 "$SHMKIT" rm "$K"
expect 1 "$SHMKIT" stat "$K";             err_is "stat $K: No such file or directory"
expect 1 "$SHMKIT" rm "$K";               err_is "rm $K: No such file or directory"
expect 1 "$SHMKIT" stat "sysv:0xZZ";      err_is "stat sysv:0xZZ: Invalid argument"
# sysv:private: create prints the name it got
expect 0 "$SHMKIT" create sysv:private 4K
PRIV=$(cat "$TMP/out")
case "$PRIV" in sysv:id=[0-9]*) CLEANUP+=("$PRIV"); expect 0 "$SHMKIT" rm "$PRIV" ;;
	*) fail "create sysv:private printed '$PRIV'" ;; esac

# ---- ls ----
# of this test's names, not of the machine: a segment another test
# truncates meanwhile stops a whole-machine ls by SIGBUS (a documented limit
# of looks: 1 ls in 60 failed beside test_hostile_truncate)
expect 0 "$SHMKIT" ls "$P"
grep -q "^URI " "$TMP/out" || fail "ls: no header"
grep -F -- "$P " "$TMP/out" | grep -q " posix " || fail "ls does not list $P"
grep -F -- "$P " "$TMP/out" | grep -q " 0640 " || fail "ls: mode of $P"
# output that could not be written is a failure, said once on stderr
"$SHMKIT" ls "$P" >&- 2>"$TMP/err"; [ $? = 1 ] || fail "ls >&- should exit 1"
grep -q "^shmkit: ls: write error on standard output: Bad file descriptor$" "$TMP/err" ||
	fail "ls >&-: $(cat "$TMP/err")"
"$SHMKIT" ls --json "$P" >/dev/full 2>"$TMP/err"; [ $? = 1 ] || fail "ls >/dev/full should exit 1"
[ "$(cat "$TMP/err")" = "shmkit: ls: write error on standard output: No space left on device" ] ||
	fail "ls --json >/dev/full: $(cat "$TMP/err")"
expect 0 "$SHMKIT" ls --json "$P";     json_ok
python3 - "$TMP/out" "$P" <<'PY' || fail "ls --json fields"
import json, sys
d = json.load(open(sys.argv[1]))
seg = [s for s in d["segments"] if s["uri"] == sys.argv[2]]
assert len(seg) == 1 and seg[0]["backend"] == "posix" and seg[0]["size"] == 4096, seg
assert seg[0]["mode"] == "0640" and seg[0]["lifetime"] == "kernel", seg
PY
# a process mapping a memfd shows up, with its pid and name
exec 7< <(exec python3 -c '
import os, mmap, sys, time
fd = os.memfd_create(sys.argv[1])
os.ftruncate(fd, 8192)
m = mmap.mmap(fd, 8192, mmap.MAP_SHARED)
print(os.getpid(), flush=True)
time.sleep(30)' "shmkit-test-$$-cli-memfd" 2>/dev/null)
read -r -t 10 sleep_pid <&7
if [ -n "$sleep_pid" ]; then
	expect 0 "$SHMKIT" ls "memfd:shmkit-test-$$-cli-memfd"
	grep -F "memfd:shmkit-test-$$-cli-memfd" "$TMP/out" | grep -q "$sleep_pid/python3" ||
		fail "ls does not show the memfd mapped by $sleep_pid: $(grep memfd "$TMP/out")"
	expect 0 "$SHMKIT" ls --json "memfd:shmkit-test-$$-cli-memfd";  json_ok
	python3 - "$TMP/out" "$sleep_pid" "memfd:shmkit-test-$$-cli-memfd" <<'PY' || fail "ls --json memfd mapper"
import json, sys
d = json.load(open(sys.argv[1]))
seg = [s for s in d["segments"] if s["uri"].startswith(sys.argv[3])]
assert seg and seg[0]["backend"] == "memfd" and seg[0]["lifetime"] == "process", seg
assert any(m["pid"] == int(sys.argv[2]) and m["comm"] == "python3" for m in seg[0]["mappers"]), seg
PY
	kill "$sleep_pid" 2>/dev/null
	# a process that names itself with control bytes cannot drive the terminal through ls
	exec 8< <(exec python3 -c '
import ctypes, os, mmap, sys, time
ctypes.CDLL(None).prctl(15, b"ev\x1b[2Jil", 0, 0, 0)  # PR_SET_NAME
fd = os.memfd_create(sys.argv[1])
os.ftruncate(fd, 4096)
m = mmap.mmap(fd, 4096, mmap.MAP_SHARED)
print(os.getpid(), flush=True)
time.sleep(30)' "shmkit-test-$$-cli-evil" 2>/dev/null)
	read -r -t 10 evil_pid <&8
	if [ -n "$evil_pid" ]; then
		expect 0 "$SHMKIT" ls "memfd:shmkit-test-$$-cli-evil"
		grep -F "memfd:shmkit-test-$$-cli-evil" "$TMP/out" | grep -qF "$evil_pid/ev\x1b[2Jil" ||
			fail "ls does not show the escaped name: $(grep -a cli-evil "$TMP/out" | od -c | head -3)"
		! grep -q $'\x1b' "$TMP/out" || fail "ls printed a raw escape byte"
		kill "$evil_pid" 2>/dev/null
	fi
	exec 8<&-
else
	fail "could not start a python3 memfd holder"
fi
exec 7<&-
expect 2 "$SHMKIT" ls --extra;    usage_is "ls: bad option --extra"

# ---- rm ----
expect 1 "$SHMKIT" rm "posix:/$TAG-missing";  err_is "rm posix:/$TAG-missing: No such file or directory"
expect 1 "$SHMKIT" rm "posix:/$TAG-missing" "$P"   # one missing: still removes the other, exits 1
[ "$(wc -l <"$TMP/err")" = 1 ] || fail "rm: one line per failure"
[ ! -e "/dev/shm/$TAG-p" ] || fail "rm left $P"
expect 0 "$SHMKIT" rm "$F"
[ ! -e "$TMP/seg" ] || fail "rm left $F"
expect 2 "$SHMKIT" rm;                    usage_is "rm: expects at least one URI"

finish test_cli
