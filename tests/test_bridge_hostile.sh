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
. "$HERE/pyzmq_lib.sh"
pyzmq_or_skip
PY=$PYZMQ
exec "$PY" "$HERE/bridge_hostile.py" "$@"
