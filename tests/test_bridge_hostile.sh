#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Hostile ZeroMQ peers against shmkit bridge (queues and topics, both
# directions) and unusable record files: tests/bridge_hostile.py. Needs a
# Python with pyzmq (Debian python3-zmq; the system python3 is tried first,
# as a pyenv shim may lack it) and shmkit built with ZeroMQ: skips (77)
# without either. No root: ipc:// endpoints in a temporary directory.
set -uo pipefail
SHMKIT=${SHMKIT:-build/shmkit}
export SHMKIT
HERE=$(cd "$(dirname "$0")" && pwd)
PY=
for p in /usr/bin/python3 "${PYTHON:-}" python3; do
	[ -n "$p" ] && "$p" -c "import zmq" 2>/dev/null && { PY=$p; break; }
done
[ -n "$PY" ] || { echo "SKIP: no python3 with zmq (Debian: python3-zmq)"; exit 77; }
# (not a pipe: keygen fails there, and pipefail would hide grep's match)
if [[ $("$SHMKIT" bridge keygen 2>&1 >/dev/null) == *"without ZeroMQ"* ]]; then
	echo "SKIP: shmkit built without ZeroMQ"
	exit 77
fi
exec "$PY" "$HERE/bridge_hostile.py" "$@"
