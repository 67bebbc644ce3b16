# SPDX-License-Identifier: MIT
# Sourced by the shell tests that speak ZeroMQ from Python.
# pyzmq_find: sets PYZMQ to a python3 that imports zmq (Debian python3-zmq),
# or to "" when there is none. The system python3 comes first: a pyenv
# shim first in PATH may lack pyzmq, and a test then silently skipped.
pyzmq_find() {
	PYZMQ=
	local p
	for p in /usr/bin/python3 "${PYTHON:-}" python3; do
		[ -n "$p" ] && "$p" -c "import zmq" 2>/dev/null && { PYZMQ=$p; return 0; }
	done
	return 1
}

# pyzmq_or_skip: pyzmq_find, and exit 77 (skipped) without pyzmq or with a
# shmkit ($SHMKIT) built without ZeroMQ. keygen's output goes to a
# variable, not a pipe: keygen fails there, and pipefail hid grep's match.
pyzmq_or_skip() {
	pyzmq_find || { echo "SKIP: no python3 with zmq (Debian: python3-zmq)"; exit 77; }
	if [[ $("$SHMKIT" bridge keygen 2>&1 >/dev/null) == *"without ZeroMQ"* ]]; then
		echo "SKIP: shmkit built without ZeroMQ"
		exit 77
	fi
}
