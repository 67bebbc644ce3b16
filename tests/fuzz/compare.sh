#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# libFuzzer against AFL++ on the same harnesses: `make fuzz-compare`.
# Each harness runs FUZZ_S seconds under each engine, one process at a time at
# nice 19, both starting from the committed corpus only (fresh work dirs in
# OUT). Then every corpus (committed, libFuzzer's, AFL++'s) is measured
# by both instrumentations, so the engines are compared on one scale:
#   lf cov/ft  libFuzzer's covered edges / features (-runs=0 over the corpus)
#   afl edges  AFL++'s map tuples (afl-showmap -C over the corpus)
# plus executions and findings per engine. Exit 1 if either found something.
set -uo pipefail
lf_build=$1 afl_build=$2 cmplog=$3 secs=$4
shift 4
src=$(cd "$(dirname "$0")" && pwd)
out=${FUZZ_COMPARE_OUT:-$lf_build/compare}
rm -rf "$out"
mkdir -p "$out"
export AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1

lf_measure() { # harness dirs... -> "cov ft"
	local h=$1
	shift
	nice -n 19 "$lf_build/tests/fuzz/fuzz_$h" -runs=0 "$@" 2>&1 |
		awk '/INITED/ {for (i = 1; i < NF; i++) {if ($i == "cov:") c = $(i + 1); if ($i == "ft:") f = $(i + 1)}}
		     END {printf "%s/%s", c, f}'
}
afl_measure() { # harness dir -> tuples
	local h=$1 d=$2
	AFL_QUIET=1 nice -n 19 afl-showmap -C -i "$d" -o /dev/null -t 10000 -m none \
		-- "$afl_build/tests/fuzz/fuzz_$h" 2>&1 | sed -n 's/.*Captured \([0-9]*\) tuples.*/\1/p' | tail -1
}
found_in() { find "$@" -type f ! -name README.txt 2>/dev/null | wc -l; }

printf '%-8s %-8s %12s %10s %14s %10s %s\n' harness engine executions new-inputs "lf cov/ft" "afl edges" findings
bad=0
for h in "$@"; do
	base="$src/corpus/$h"
	# libFuzzer: new inputs go to the first directory
	mkdir -p "$out/lf-$h" "$out/lf-$h.art"
	nice -n 19 "$lf_build/tests/fuzz/fuzz_$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$out/lf-$h.art/" "$out/lf-$h" "$base" \
		>"$out/lf-$h.log" 2>&1
	lf_execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$out/lf-$h.log")
	lf_found=$(found_in "$out/lf-$h.art")
	# AFL++ (its queue holds the seeds too)
	cl=()
	[ -x "$cmplog/tests/fuzz/fuzz_$h" ] && cl=(-c "$cmplog/tests/fuzz/fuzz_$h")
	nice -n 19 afl-fuzz -i "$base" -o "$out/afl-$h" -V "$secs" -t 10000 -m none "${cl[@]}" \
		-- "$afl_build/tests/fuzz/fuzz_$h" >"$out/afl-$h.log" 2>&1
	st="$out/afl-$h/default/fuzzer_stats"
	afl_execs=$(awk '$1 == "execs_done" {print $3}' "$st")
	afl_found=$(found_in "$out/afl-$h/default/crashes" "$out/afl-$h/default/hangs")
	afl_q="$out/afl-all-$h" # the queue's inputs, without its .state/
	mkdir -p "$afl_q"
	find "$out/afl-$h/default/queue" -maxdepth 1 -type f -exec cp {} "$afl_q"/ \;
	# the union of each engine's corpus with the committed one, on both scales
	mkdir -p "$out/lf-all-$h"
	cp "$base"/* "$out/lf-$h"/* "$out/lf-all-$h"/ 2>/dev/null
	printf '%-8s %-8s %12s %10s %14s %10s %s\n' "$h" committed - "$(ls "$base" | wc -l)" \
		"$(lf_measure "$h" "$base")" "$(afl_measure "$h" "$base")" -
	printf '%-8s %-8s %12s %10s %14s %10s %s\n' "$h" libFuzzer "$lf_execs" "$(ls "$out/lf-$h" | wc -l)" \
		"$(lf_measure "$h" "$out/lf-all-$h")" "$(afl_measure "$h" "$out/lf-all-$h")" "$lf_found"
	printf '%-8s %-8s %12s %10s %14s %10s %s\n' "$h" AFL++ "$afl_execs" \
		"$(find "$afl_q" -maxdepth 1 -type f ! -name '*orig:*' | wc -l)" \
		"$(lf_measure "$h" "$afl_q")" "$(afl_measure "$h" "$afl_q")" "$afl_found"
	[ "$lf_found" = 0 ] && [ "$afl_found" = 0 ] || bad=1
done
exit $bad
