#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shmkit bridge against an independent queue peer written from docs/BRIDGE.md
# alone (tests/peer_proto.py): real `bridge out` -> peer receiver and peer
# sender -> real `bridge in`, over tcp:// through a TCP proxy and over ipc://,
# with kill -9 of the bridge, of the peer and of the proxy (a connection
# broken mid-stream) at random moments: exactly once, in order
# (tests/bridge_peer.py; PEER_SEED=N repeats a run). Skips (77) without a
# python3 with pyzmq or a shmkit built without ZeroMQ.
set -uo pipefail
SHMKIT=${SHMKIT:-build/shmkit}
export SHMKIT
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/pyzmq_lib.sh"
pyzmq_or_skip
PY=$PYZMQ
# A sanitized libshmkit.so (the ASan build's) loads into python only after
# its runtime, as tests/python does; python's own allocations are not ours.
ASAN_RT=$(ldd "$(dirname "$SHMKIT")/libshmkit.so" 2>/dev/null | awk '/libasan/ {print $3}')
if [ -n "$ASAN_RT" ]; then
	export LD_PRELOAD=$ASAN_RT PYTHONMALLOC=malloc
	export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0
	# there 30 000 messages under kills take longer than the test may: the
	# scenarios that each prove one rule, not the chaos runs
	[ $# -gt 0 ] || set -- spelling shared-state second-sender too-long in-batch-bytes
fi
# the longer scenarios (stalls, partitions, role swaps): bridge_peer.py with no argument
export PEER_DURATION=${PEER_DURATION:-8}
# fail, and clean up, before CTest's 300 s timeout kills the run outright
# (quiet: 55 s; a busy machine took over 105)
export PEER_DEADLINE=${PEER_DEADLINE:-280}
[ $# -gt 0 ] || set -- spelling shared-state second-sender too-long in-batch-bytes out-tcp in-tcp out-ipc in-ipc
exec "$PY" "$HERE/bridge_peer.py" "$@"
