#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs each libFuzzer harness for a while: `make fuzz` (FUZZ_S seconds each,
# FUZZ_PAR at once). Starts from the committed corpus (tests/fuzz/corpus/NAME,
# read only) plus what earlier runs found (BUILD/corpus/NAME); crashes, hangs
# and waits over 1 s land in BUILD/artifacts/. Ends with one line per
# harness: executions, and whether it found anything. Exit 1 if any did.
set -uo pipefail
build=$1 secs=$2
shift 2
par=${FUZZ_PAR:-2}
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$build/artifacts" "$build/logs"

run_one() {
	local h=$1 work="$build/corpus/$1"
	mkdir -p "$work"
	"$build/tests/fuzz/fuzz_$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$build/artifacts/$h-" \
		"$work" "$src/corpus/$h" >"$build/logs/$h.log" 2>&1
	echo $? >"$build/logs/$h.rc"
}

running=0
for h in "$@"; do
	run_one "$h" &
	running=$((running + 1))
	if [ "$running" -ge "$par" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait

bad=0
for h in "$@"; do
	execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$build/logs/$h.log")
	rc=$(cat "$build/logs/$h.rc")
	found=$(ls "$build/artifacts/$h-"* 2>/dev/null | wc -l)
	if [ "$rc" = 0 ]; then
		echo "fuzz $h: ${execs:-?} executions in ${secs} s, nothing found"
	else
		bad=1
		echo "fuzz $h: ${execs:-?} executions, FOUND something (exit $rc; $found artifact(s) in $build/artifacts; log $build/logs/$h.log)"
		grep -m3 -E "ERROR|fuzz: |SUMMARY" "$build/logs/$h.log" | sed 's/^/    /'
	fi
done
exit $bad
