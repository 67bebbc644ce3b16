#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/bridge/threads.sh BUILD_DIR PATH [N] [GAP_US]: what each thread of one
# path costs per message, across two network namespaces over a veth pair
# (root), as docs/BRIDGE.md "What is structural" shows it. PATH is queue or
# topic (the bridge: its `out` and `in` processes are measured) or zq / zt
# (ZeroMQ alone, PUSH/PULL or PUB/SUB: its sender and receiver). N messages
# of 64 bytes (default 2000), one per GAP_US (default 200; 0 unpaced). Prints
# the receiver's line (rate, latency) and, per thread, CPU time (task-clock),
# context switches and system calls per message (perf stat, attached to
# each process while the messages flow). Hold the bench lock.
set -uo pipefail
B=$(readlink -f "${1:-build}")
MODE=${2:-queue}
N=${3:-2000}
GAP=${4:-200}
PEER=$B/bench/bridge-bench-peer
S=$B/shmkit
[ "$(id -u)" = 0 ] || { echo "bench/bridge/threads.sh: needs root (ip netns)"; exit 77; }
[ -x "$PEER" ] || { echo "bench/bridge/threads.sh: $PEER not built (ZeroMQ missing?)"; exit 77; }
command -v perf >/dev/null || { echo "bench/bridge/threads.sh: needs perf"; exit 77; }
ID=$$
NA="shmkit-bt$ID-a" NB="shmkit-bt$ID-b"
UA="posix:/shmkit-bt-$ID-a" UB="posix:/shmkit-bt-$ID-b"
TMP=$(mktemp -d)
. "$(dirname "$0")/netns.sh"
cleanup() {
	for p in $(jobs -p); do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	netns_down
	"$S" rm "$UA" >/dev/null 2>&1; "$S" rm "$UB" >/dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT
netns_up "btva$ID" "btvb$ID" 77 || exit 1
export XDG_STATE_HOME=$TMP

watch() { # NAME PID: count its threads until stop NAME
	perf stat --per-thread -x, -e task-clock,context-switches,raw_syscalls:sys_enter \
		-p "$2" -o "$TMP/$1.perf" 2>/dev/null &
	echo $! >"$TMP/$1.watch"
}
stop() { kill -INT "$(cat "$TMP/$1.watch")" 2>/dev/null; } # perf ends with its process

case $MODE in
queue|topic)
	if [ "$MODE" = queue ]; then
		"$S" queue create "$UA" --capacity 4096 --max-msg 64 >/dev/null
		"$S" queue create "$UB" --capacity 4096 --max-msg 64 >/dev/null
		snd=qsend rcv=qrecv
	else
		"$S" topic create "$UA" --slots 4096 --slot-size 64 --reliable >/dev/null
		"$S" topic create "$UB" --slots 4096 --slot-size 64 --reliable >/dev/null
		snd=tpub rcv=tsub
	fi
	ip netns exec "$NA" "$S" bridge out "$UA" tcp://10.77.0.1:6950 --bind 2>/dev/null & o=$!
	ip netns exec "$NB" "$S" bridge in tcp://10.77.0.1:6950 "$UB" --state "$TMP/rec" 2>/dev/null & i=$!
	sleep 0.5 # the handshake, outside the measurement
	watch out $o; watch in $i; sleep 0.3
	ip netns exec "$NB" "$PEER" $rcv "$UB" "$N" >"$TMP/r" & r=$!
	ip netns exec "$NA" "$PEER" $snd "$UA" "$N" 64 "$GAP"
	wait $r; stop out; stop in
	;;
zq|zt)
	if [ "$MODE" = zq ]; then snd=zpush rcv=zpull; else snd=zpub rcv=zsub; fi
	ip netns exec "$NB" "$PEER" $rcv bind:tcp://10.77.0.2:6951 "$N" >"$TMP/r" & r=$!
	sleep 0.3; watch receiver $r
	ip netns exec "$NA" "$PEER" $snd tcp://10.77.0.2:6951 "$N" 64 "$GAP" & s=$!
	sleep 0.05; watch sender $s # (zpub waits 1 s for subscribers first)
	wait $s $r; stop sender; stop receiver
	;;
*) echo "bench/bridge/threads.sh: PATH is queue, topic, zq or zt"; exit 2 ;;
esac
sleep 0.5
echo "$MODE: $(cat "$TMP/r")"
# perf -x, lines: THREAD-TID,VALUE,UNIT,EVENT,...
for f in "$TMP"/*.perf; do
	awk -F, -v n="$N" -v who="$(basename "$f" .perf)" '
	$1 ~ /-[0-9]+$/ && $1 !~ /Reaper/ {
		t = $1; sub(/-[0-9]+$/, "", t)
		if ($4 ~ /task-clock/) cpu[t] = $2
		else if ($4 ~ /context-switches/) cs[t] = $2
		else if ($4 ~ /sys_enter/) sc[t] = $2
	}
	END { for (t in cpu) printf "  %-8s %-12s cpu_us/msg %.2f switches/msg %.2f syscalls/msg %.2f\n",
			  who, t, cpu[t] * 1000 / n, cs[t] / n, sc[t] / n }' "$f"
done
