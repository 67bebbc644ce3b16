# SPDX-License-Identifier: MIT
"""Summary of bench/compare.sh's runs: per row, old and new medians over the
rounds, new/old, paired wins and a verdict.

usage: python3 bench/compare.py RUNDIR ROUNDS TOL
RUNDIR holds old-<r>.json and new-<r>.json (shmkit-bench --json), r = 1..ROUNDS.
A row is named by suite, name and size, and by its place among rows with
the same three (the wake suite prints each row once per barrier mode).
"""
import json
import statistics
import sys


def metric(row):
    """(value, lower_is_better, unit) of a row, or None if it has no number:
    a goal row's ratio, else a latency row's median (such rows also carry
    its inverse as msg/s), else a throughput, else a plain ratio."""
    goal = row.get("name", "").startswith("goal:")
    if goal and row.get("ratio") is not None:
        return row["ratio"], bool(row.get("goal_max")), "x"
    if row.get("median_ns") is not None:
        return row["median_ns"], True, "ns"
    if row.get("msgs_per_s") is not None:
        return row["msgs_per_s"], False, "msg/s"
    if row.get("ratio") is not None:
        return row["ratio"], bool(row.get("goal_max")), "x"
    return None


def load(path):
    """{key: (value, lower_is_better, unit, note)} of one run; {} if unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            rows = json.load(f).get("rows", [])
    except (OSError, ValueError):
        return {}, []
    out, order, seen = {}, [], {}
    for row in rows:
        m = metric(row)
        if m is None:
            continue
        base = (row.get("suite", ""), row.get("name", ""), row.get("size", 0))
        n = seen.get(base, 0)
        seen[base] = n + 1
        key = base + (n,)
        out[key] = m + (row.get("note") or "",)
        order.append(key)
    return out, order


# Rows that time no shmkit code: their old/new differences are the noise.
CONTROL_WORDS = ("minimal", "floor", "pipe", "socket", "tcp", "mqueue", "eventfd", "memcpy",
                 "boost", "iceoryx", "malloc", "pthread", "futex ping-pong", "cache-line")


def is_control(name):
    return not name.startswith("goal:") and any(w in name for w in CONTROL_WORDS)


def fmt(v, unit):
    if unit == "x":
        return f"{v:.3f}x"
    if unit == "ns":
        return f"{v:.1f}"
    return f"{v:.3g}"


def main():
    rundir, rounds, tol = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    runs = {w: [load(f"{rundir}/{w}-{r}.json") for r in range(1, rounds + 1)]
            for w in ("old", "new")}
    order = []
    for w in ("new", "old"):
        for _, o in runs[w]:
            order += [k for k in o if k not in order]
    print(f"{'suite':8} {'row':44} {'size':>7} {'unit':>5} {'old median':>11} {'new median':>11}"
          f" {'new/old':>8} {'wins':>5}  verdict   (old range | new range; note)")
    worse = 0
    controls = []
    for key in order:
        vals = {w: [r[0][key][0] for r in runs[w] if key in r[0]] for w in runs}
        some = next(r[0][key] for w in ("new", "old") for r in runs[w] if key in r[0])
        _, lower, unit, note = some
        suite, name, size, _ = key
        if not vals["old"] or not vals["new"]:
            which = "new" if vals["new"] else "old"
            print(f"{suite:8} {name[:44]:44} {size:>7} {unit:>5}  only in the {which} build")
            continue
        mo, mn = statistics.median(vals["old"]), statistics.median(vals["new"])
        ratio = mn / mo if mo else float("inf")
        # paired: round r's new against round r's old (run back to back)
        pairs = [(o[0][key][0], n[0][key][0]) for o, n in zip(runs["old"], runs["new"])
                 if key in o[0] and key in n[0]]
        wins = sum(1 for o, n in pairs if (n < o if lower else n > o))
        better = ratio < 1 if lower else ratio > 1
        if is_control(name):
            controls.append(abs(ratio - 1))
            verdict = "(control)"
        elif abs(ratio - 1) <= tol:
            verdict = "same"
        elif better:
            verdict = "better"
        else:
            verdict = "WORSE"
            worse += 1
        spread = (f"{fmt(min(vals['old']), unit)}-{fmt(max(vals['old']), unit)} | "
                  f"{fmt(min(vals['new']), unit)}-{fmt(max(vals['new']), unit)}")
        print(f"{suite:8} {name[:44]:44} {size:>7} {unit:>5} {fmt(mo, unit):>11} {fmt(mn, unit):>11}"
              f" {ratio:>7.3f}x {wins:>2}/{len(pairs):<2}  {verdict:8}  ({spread}; {note[:40]})")
    print(f"{worse} shmkit row(s) WORSE than old by more than {tol:.0%} (median of {rounds} rounds each; "
          f"'wins' counts rounds where new beat the old run next to it)")
    if controls:
        controls.sort()
        print(f"noise gauge: {len(controls)} rows that run no shmkit code (floors, kernel IPC, "
              f"peers) moved by {controls[len(controls) // 2]:.1%} (median), "
              f"{controls[-1]:.1%} (max) between the builds: a shmkit row's change smaller "
              f"than that is not evidence")


if __name__ == "__main__":
    main()
