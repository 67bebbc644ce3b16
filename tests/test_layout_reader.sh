#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# docs/LAYOUT.md as a contract: tests/layout_reader.py, written from that file
# alone (Python standard library: mmap, struct, os), decodes the objects the
# CLI makes (header, SPSC and MPMC queues, topic, heap, map), compares with
# what the CLI says, produces into and consumes from SPSC queues beside the C
# side, and scribbles a topic slot the C subscriber must call corrupt. Any
# drift between the code and the document fails it. Skips (77) without python3.
set -uo pipefail
SHMKIT=${SHMKIT:-build/shmkit}
export SHMKIT
HERE=$(cd "$(dirname "$0")" && pwd)
PY=
for p in /usr/bin/python3 "${PYTHON:-}" python3; do
	[ -n "$p" ] && "$p" -c "import mmap, struct" 2>/dev/null && { PY=$p; break; }
done
[ -n "$PY" ] || { echo "SKIP: no python3"; exit 77; }
exec "$PY" "$HERE/layout_reader.py"
