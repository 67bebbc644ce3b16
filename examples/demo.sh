#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make demo`: a short live tour of shmkit on this machine. Every name it uses
# is unique to this run, and everything it creates is removed at the end --
# also when a step fails or you press Ctrl-C.
#
# Adding a step: append a `section` with `run` lines at the end of this file;
# register whatever you create with `cleanup_add URI`.
set -uo pipefail
BUILD=${1:-build}
SHMKIT="$BUILD/shmkit"
EX="$BUILD/examples"
ID="shmkit-demo-$$"
KEY=$(printf '0x%08x' $(( (0x5e000000 | ($$ << 4)) & 0x7fffffff )))
FAILED=0
CLEANUP=()

[ -x "$SHMKIT" ] || { echo "demo: $SHMKIT is not built (run: make build)" >&2; exit 1; }
[ -t 1 ] && B=$'\e[1m' N=$'\e[0m' || B= N=

cleanup_add() { CLEANUP+=("$1"); }
finish() {
	local u
	for u in "${CLEANUP[@]}"; do "$SHMKIT" rm "$u" >/dev/null 2>&1; done
	echo
	if [ "$FAILED" = 0 ]; then
		echo "${B}== done: everything this tour made has been removed.${N}"
	else
		echo "${B}== $FAILED step(s) failed (see above); everything made has been removed.${N}"
		exit 1
	fi
}
trap finish EXIT
trap 'exit 130' INT TERM

section() { echo; echo "${B}== $*${N}"; }
say() { echo "   $*"; }
# run CMD ARGS...: show the command as you would type it, then run it.
run() {
	local shown=("$@")
	shown[0]=${shown[0]/#$SHMKIT/shmkit}
	shown[0]=${shown[0]/#$EX\//.\/}
	echo "${B}\$ ${shown[*]}${N}"
	"$@"
	local rc=$?
	[ $rc = 0 ] || { echo "   (exit status $rc)"; FAILED=$((FAILED + 1)); }
	return $rc
}

section "shmkit $("$SHMKIT" --version | cut -d' ' -f2): shared memory for Linux, one tool and one C library"
say "Segments are named by URIs: posix:/name, sysv:0x1234, file:/path, memfd:name, anon:"

section "Is this machine ready for shared memory?"
run "$SHMKIT" doctor

section "A POSIX segment: a file in /dev/shm that outlives its creator"
P="posix:/$ID"
cleanup_add "$P"
run "$SHMKIT" create "$P" 64K
run "$SHMKIT" write "$P" "hello from the shell"
run "$SHMKIT" read "$P"
run "$SHMKIT" read --hex --length 32 "$P"

section "A System V segment: key $KEY, the interface ipcs(1) shows"
cleanup_add "sysv:$KEY"
run "$SHMKIT" create "sysv:$KEY" 4K --mode 0640 && run "$SHMKIT" stat "sysv:$KEY"

section "Everything on this machine, and who maps it"
echo "${B}\$ shmkit ls${N}     (showing only this tour's segments)"
if "$SHMKIT" ls >"${TMPDIR:-/tmp}/$ID.ls"; then
	grep -E "^URI|$ID|$KEY" "${TMPDIR:-/tmp}/$ID.ls"
else
	FAILED=$((FAILED + 1))
fi
rm -f "${TMPDIR:-/tmp}/$ID.ls"
say "(shmkit ls --json gives the same as one JSON document)"

section "The examples (examples/*.c): the classic writer/reader pairs"
run "$EX/sysv_writer" "$KEY" && run "$EX/sysv_reader" --keep "$KEY"
cleanup_add "posix:/$ID-hello"
run "$EX/posix_writer" "/$ID-hello" && run "$EX/posix_reader" --keep "/$ID-hello"

section "A counter that survives restarts (file:), and one shared with a forked child (anon:)"
CF=$(mktemp -u "/tmp/$ID-counter.XXXXXX")
cleanup_add "file:$CF"
run "$EX/file_counter" "file:$CF"
run "$EX/file_counter" "file:$CF"
run "$EX/fork_counter"

section "A memfd handed to another process over a Unix socket"
run "$EX/memfd_pass"

section "A message queue between two processes, next to a pipe"
QU="posix:/$ID-queue"
cleanup_add "$QU"
run "$EX/producer_consumer" "$QU" 1000000
say "From the shell: a queue in a pipeline, one message per line"
cleanup_add "posix:/$ID-lines"
run "$SHMKIT" queue create "posix:/$ID-lines" --capacity 1024 --max-msg 256
echo "${B}\$ seq 1 100000 | shmkit send posix:/$ID-lines - & shmkit recv posix:/$ID-lines --count 100000 | tail -1${N}"
seq 1 100000 | "$SHMKIT" send "posix:/$ID-lines" - &
"$SHMKIT" recv "posix:/$ID-lines" --count 100000 --timeout 60 | tail -1 || FAILED=$((FAILED + 1))
wait
run "$SHMKIT" queue stat "posix:/$ID-lines"

section "A broadcast topic: one publisher, two subscribers, every message to each"
T="posix:/$ID-ticks"
cleanup_add "$T"
"$EX/topic_subscriber" "$T" > "/tmp/$ID-sub1" 2>&1 &
S1=$!
"$EX/topic_subscriber" "$T" > "/tmp/$ID-sub2" 2>&1 &
S2=$!
run "$EX/topic_publisher" "$T" 3 2
wait "$S1" || FAILED=$((FAILED + 1))
wait "$S2" || FAILED=$((FAILED + 1))
say "two subscribers started before it (./topic_subscriber $T &) printed:"
sed 's/^/   /' "/tmp/$ID-sub1" "/tmp/$ID-sub2"
rm -f "/tmp/$ID-sub1" "/tmp/$ID-sub2"
say "from the shell: shmkit topic create URI; shmkit sub URI --count N &; shmkit pub URI MSG..."

section "A persistent key-value store (a map in a file) and a list shared through a heap"
KV=$(mktemp -u "/tmp/$ID-kv.XXXXXX")
cleanup_add "file:$KV"
run "$SHMKIT" map "file:$KV" create 1M
run "$SHMKIT" map "file:$KV" put colour green
echo "${B}\$ SHMKIT_KV=file:$KV $EX/kv_store set shape round${N}"
SHMKIT_KV="file:$KV" "$EX/kv_store" set shape round || FAILED=$((FAILED + 1))
run "$SHMKIT" map "file:$KV" ls
run "$SHMKIT" heap "file:$KV" stats
L="posix:/$ID-list"
cleanup_add "$L"
run "$EX/shared_list" "$L" push hello
run "$EX/shared_list" "$L" push world
run "$EX/shared_list" "$L" print
run "$SHMKIT" heap "$L" check

section "Cleaning up"
run "$SHMKIT" rm "$P" "sysv:$KEY" "posix:/$ID-hello" "file:$CF" "posix:/$ID-lines"
