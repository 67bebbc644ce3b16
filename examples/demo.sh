#!/usr/bin/env bash
# `make demo`: a short live tour of shmkit on this machine. Cleans up after itself.
set -euo pipefail
BUILD=${1:-build}
SHMKIT="$BUILD/shmkit"
EX="$BUILD/examples"
echo "== shmkit $("$SHMKIT" --version 2>/dev/null || echo '(tool not built yet)')"
