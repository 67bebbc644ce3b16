#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Figures from one shmkit-bench --json run: one figure per question.
#
# usage: bench/plot.sh BENCH.json OUTDIR [SVGDIR]
#   OUTDIR/queue-latency.{svg,png}  queue one-way latency vs size: shmkit copy, zero-copy,
#                                   blocking, MPMC against the floors and kernel IPC
#   OUTDIR/topic-fanout.{svg,png}   topic one-way latency vs size, 1 and 4 subscribers,
#                                   against iceoryx and the cache-line floor
#   OUTDIR/throughput.{svg,png}     queue throughput (MB/s) vs size against the floors
#   OUTDIR/heap-map.{svg,png}       heap and map as bars against malloc, the random-load
#                                   floor and Boost
# SVGDIR (e.g. docs/img, for the README): the same SVGs copied there.
# shmkit's series are drawn thick, peers thin, a floor as a shaded limit (the
# region nobody can reach); each figure lists its goal ratios from the same
# run. Needs gnuplot and python3 (`make bench-plot` installs gnuplot).
set -euo pipefail
json=${1:?usage: plot.sh BENCH.json OUTDIR [SVGDIR]}
out=${2:?usage: plot.sh BENCH.json OUTDIR [SVGDIR]}
svgdir=${3:-}
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot is not installed" >&2; exit 1; }
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 "$(dirname "$0")/plot.py" "$json" "$work"
for gp in "$work"/*.gp; do
	[ -e "$gp" ] || continue
	fig=$(basename "$gp" .gp)
	for t in svg png; do
		if [ $t = svg ]; then term="svg size 1100,680 dynamic font 'Helvetica,13'"
		else term="pngcairo size 1100,680 font 'Helvetica,11'"; fi
		{ echo "set terminal $term"; echo "set output '$out/$fig.$t'"; cat "$gp"; } | gnuplot
	done
	[ -n "$svgdir" ] && mkdir -p "$svgdir" && cp "$out/$fig.svg" "$svgdir/$fig.svg"
	echo "plot.sh: wrote $out/$fig.svg and $out/$fig.png${svgdir:+ (and $svgdir/$fig.svg)}"
done
