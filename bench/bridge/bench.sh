#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/bridge/bench.sh BUILD_DIR [N] [SIZE] [RUNS]: the bridge against ZeroMQ
# alone, across two network namespaces joined by a veth pair (root). Each run
# has a throughput part (N messages, unpaced) and a latency part (2000
# messages, one per 200 us), with the same sizes, pacing and ZeroMQ
# high-water marks (ZeroMQ's defaults) on both sides of each comparison:
#   zmq-pushpull   PUSH -> PULL, process to process
#   bridge-queue   queue -> bridge out -> bridge in -> queue (exactly once)
#   zmq-pubsub     PUB (XPUB_NODROP: a full link waits) -> SUB
#   bridge-topic   reliable topic -> bridge out (PUB) -> bridge in (SUB) -> topic
#                  (a reliable topic waits for the link as PUB with NODROP does)
#   shm-hop        (latency only) one local queue, sender to receiver: the
#                  bridge adds two such hops to ZeroMQ's path
#   topic-lossy    (rate only) a lossy topic, unpaced: what the bridge
#                  delivered, and its drops (overwritten in the local ring)
# and the four goal ratios bridge/ZeroMQ (rate: ZeroMQ's / the bridge's;
# latency p50: the bridge's / ZeroMQ's; the goal: <= 1.2x), one "goal" line
# each per run with "met" or "NOT met", and a summary over the runs. Run on a quiet
# machine: `sudo bash bench/bridge/bench.sh build 200000 64 3`.
set -uo pipefail
B=$(readlink -f "${1:-build}")
N=${2:-200000}
SIZE=${3:-64}
RUNS=${4:-1}
PEER=$B/bench/bridge-bench-peer
S=$B/shmkit
[ "$(id -u)" = 0 ] || { echo "bench/bridge/bench.sh: needs root (ip netns)"; exit 77; }
[ -x "$PEER" ] || { echo "bench/bridge/bench.sh: $PEER not built (ZeroMQ missing?)"; exit 77; }
ID=$$
NA="shmkit-bb$ID-a" NB="shmkit-bb$ID-b"
QA="posix:/shmkit-bb-$ID-qa" QB="posix:/shmkit-bb-$ID-qb"
TA="posix:/shmkit-bb-$ID-ta" TB="posix:/shmkit-bb-$ID-tb"
TMP=$(mktemp -d)
. "$(dirname "$0")/netns.sh"
cleanup() {
	for p in $(jobs -p); do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	netns_down
	for u in "$QA" "$QB" "$TA" "$TB"; do "$S" rm "$u" >/dev/null 2>&1; done
	rm -rf "$TMP"
}
trap cleanup EXIT
netns_up "bbva$ID" "bbvb$ID" 78 || exit 1
A() { ip netns exec "$NA" "$@"; }   # foreground only: a background one would get the subshell's pid
export XDG_STATE_HOME=$TMP

run_zmq() { # ROW RECV-MODE SEND-MODE PORT N GAP
	ip netns exec "$NB" "$PEER" "$2" "bind:tcp://10.78.0.2:$4" "$5" "$SIZE" >"$TMP/r" &
	local r=$!; sleep 0.3
	A "$PEER" "$3" "tcp://10.78.0.2:$4" "$5" "$SIZE" "$6"
	wait $r; echo "$1 $(cat "$TMP/r")"
}
run_queue() { # ROW PORT N GAP
	"$S" queue create "$QA" --capacity 4096 --max-msg "$SIZE" >/dev/null
	"$S" queue create "$QB" --capacity 4096 --max-msg "$SIZE" >/dev/null
	ip netns exec "$NA" "$S" bridge out "$QA" "tcp://10.78.0.1:$2" --bind --window 1024 2>/dev/null & local o=$!
	ip netns exec "$NB" "$S" bridge in "tcp://10.78.0.1:$2" "$QB" --state "$TMP/rec$2" 2>/dev/null & local i=$!
	sleep 0.5 # the bridges' handshake, outside the measurement
	ip netns exec "$NB" "$PEER" qrecv "$QB" "$3" >"$TMP/r" & local r=$!
	A "$PEER" qsend "$QA" "$3" "$SIZE" "$4"
	wait $r; echo "$1 $(cat "$TMP/r")"
	kill $o $i; wait $o $i 2>/dev/null
	"$S" rm "$QA" "$QB" >/dev/null
}
run_topic() { # ROW PORT N GAP [--reliable]
	"$S" topic create "$TA" --slots 4096 --slot-size "$SIZE" ${5:-} >/dev/null
	"$S" topic create "$TB" --slots 4096 --slot-size "$SIZE" ${5:-} >/dev/null
	ip netns exec "$NA" "$S" bridge out "$TA" "tcp://10.78.0.1:$2" --bind 2>"$TMP/tout" & local o=$!
	ip netns exec "$NB" "$S" bridge in "tcp://10.78.0.1:$2" "$TB" 2>/dev/null & local i=$!
	sleep 0.5
	ip netns exec "$NB" "$PEER" tsub "$TB" "$3" >"$TMP/r" & local r=$!
	A "$PEER" tpub "$TA" "$3" "$SIZE" "$4"
	wait $r
	kill $o $i; wait $o $i 2>/dev/null
	echo "$1 $(cat "$TMP/r")$([ -n "${5:-}" ] || sed -n 's/.* bytes, \([0-9]* dropped\).*/ (bridge out: \1 in the local ring)/p' "$TMP/tout")"
	"$S" rm "$TA" "$TB" >/dev/null
}
run_hop() { # ROW N GAP: one local queue, no bridge
	"$S" queue create "$QA" --capacity 4096 --max-msg "$SIZE" >/dev/null
	"$PEER" qrecv "$QA" "$2" >"$TMP/r" & local r=$!
	"$PEER" qsend "$QA" "$2" "$SIZE" "$3"
	wait $r; echo "$1 $(cat "$TMP/r")"
	"$S" rm "$QA" >/dev/null
}
port=6100
one_run() {
	rm -f "$TMP/rate" "$TMP/latency"
	for kind in rate latency; do
		if [ $kind = rate ]; then n=$N gap=0; else n=2000 gap=200; fi
		echo "# $kind: $n messages of $SIZE bytes$([ $gap = 0 ] || echo ", one per $gap us")"
		run_zmq "zmq-pushpull" zpull zpush $((port++)) $n $gap | tee -a "$TMP/$kind"
		run_queue "bridge-queue" $((port++)) $n $gap | tee -a "$TMP/$kind"
		run_zmq "zmq-pubsub" zsub zpub $((port++)) $n $gap | tee -a "$TMP/$kind"
		run_topic "bridge-topic" $((port++)) $n $gap --reliable | tee -a "$TMP/$kind"
		if [ $kind = rate ]; then
			run_topic "topic-lossy" $((port++)) $n 0
		else
			run_hop "shm-hop" $n $gap
		fi
	done
	# the four goal ratios, bridge over ZeroMQ (rate: ZeroMQ's / the bridge's;
	# latency: the bridge's p50 / ZeroMQ's), one line each, then kept for the summary
	awk -v run="$1" -v goal=1.2 '
	FILENAME ~ /rate$/    { for (i = 1; i < NF; i++) if ($i == "rate") { sub("/s", "", $(i+1)); rate[$1] = $(i+1) } }
	FILENAME ~ /latency$/ { for (i = 1; i < NF; i++) if ($i == "lat_p50_us") lat[$1] = $(i+1) }
	function line(name, zrow, brow, z, b, r) {
		if (z <= 0 || b <= 0) {
			printf "run %d goal %-11s n/a (a row failed)\n", run, name
			return
		}
		r = name ~ /rate/ ? z / b : b / z
		printf "run %d goal %-11s %.2fx %s (%s %s, %s %s; goal <= %.1fx)\n", run, name, r,
		       r <= goal ? "met" : "NOT met", zrow, z, brow, b, goal
	}
	END {
		line("queue rate", "zmq-pushpull", "bridge-queue", rate["zmq-pushpull"], rate["bridge-queue"])
		line("queue p50", "zmq-pushpull", "bridge-queue", lat["zmq-pushpull"], lat["bridge-queue"])
		line("topic rate", "zmq-pubsub", "bridge-topic", rate["zmq-pubsub"], rate["bridge-topic"])
		line("topic p50", "zmq-pubsub", "bridge-topic", lat["zmq-pubsub"], lat["bridge-topic"])
	}' "$TMP/rate" "$TMP/latency" | tee -a "$TMP/ratios"
}
for run in $(seq 1 "$RUNS"); do
	echo "## run $run of $RUNS ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
	one_run "$run"
done
echo "## all runs: each goal's ratio per run (rates: msgs/s; p50: one-way latency in us)"
awk '{ name = $4 " " $5; if (!(name in seen)) { seen[name] = ++k; order[k] = name }
       v[name] = v[name] " " ($6 == "n/a" ? "n/a" : $6); n[name]++; if ($7 == "met") met[name]++ }
     END { for (i = 1; i <= k; i++) printf "goal %-11s %s: met in %d of %d runs\n", order[i], v[order[i]], met[order[i]], n[order[i]] }' "$TMP/ratios"
