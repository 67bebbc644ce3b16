#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Python-to-Python IPC: one-way latency and 64-byte throughput between two processes over
a shmkit queue, multiprocessing.Queue, multiprocessing.Pipe and socket.socketpair.

    PYTHONPATH=python python3 python/bench.py [--quick] [--json]

Latency: ping-pong of 64-byte messages, one-way = round trip / 2 (median and p99 of the
round trips). Throughput: one process sends N 64-byte messages as fast as it can, the other
receives them all; messages per second from the first send to the last receive. The two
processes are pinned to CPUs 0 and 1 when there are two. Goals (issue 12): shmkit >= 10x
multiprocessing.Queue throughput, <= 0.2x its latency.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shmkit  # noqa: E402

MSG = b"x" * 64


def pin(cpu: int) -> None:
    try:
        if os.cpu_count() and os.cpu_count() >= 2:
            os.sched_setaffinity(0, {cpu})
    except OSError:
        pass


# ---- transports: each gives (a, b) endpoints; a endpoint has send(bytes) and recv() ----

class ShmkitEnd:
    """One side of a pair of shmkit queues (opened in the process that uses it)."""

    def __init__(self, tx: str, rx: str):
        self.names = (tx, rx)
        self.tx = self.rx = None

    def start(self):
        self.tx, self.rx = shmkit.Queue.open(self.names[0]), shmkit.Queue.open(self.names[1])
        self.send, self.recv = self.tx.send, self.rx.recv

    def stop(self):
        self.tx.close(), self.rx.close()


class ShmkitPair:
    name = "shmkit.Queue"

    def __enter__(self):
        base = f"posix:/shmkit-bench-py-{os.getpid()}"
        self.uris = (f"{base}-ab", f"{base}-ba")
        for u in self.uris:
            shmkit.Queue.create(u, capacity=1024, max_msg=64).close()
        return ShmkitEnd(*self.uris), ShmkitEnd(*reversed(self.uris))

    def __exit__(self, *exc):
        for u in self.uris:
            shmkit.remove(u)


class PlainEnd:
    def __init__(self, send, recv):
        self.send, self.recv = send, recv

    def start(self):
        pass

    def stop(self):
        pass


class MpQueuePair:
    name = "multiprocessing.Queue"

    def __enter__(self):
        ab, ba = mp.Queue(1024), mp.Queue(1024)
        return PlainEnd(ab.put, ba.get), PlainEnd(ba.put, ab.get)

    def __exit__(self, *exc):
        pass


class MpPipePair:
    name = "multiprocessing.Pipe"

    def __enter__(self):
        a, b = mp.Pipe()
        return PlainEnd(a.send_bytes, a.recv_bytes), PlainEnd(b.send_bytes, b.recv_bytes)

    def __exit__(self, *exc):
        pass


class SocketPair:
    name = "socket.socketpair"

    def __enter__(self):
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.socks = (a, b)
        return (PlainEnd(a.send, lambda: a.recv(64)), PlainEnd(b.send, lambda: b.recv(64)))

    def __exit__(self, *exc):
        for s in self.socks:
            s.close()


# ---- the two measurements ----

def _echo(end, n, cpu):
    pin(cpu)
    end.start()
    for _ in range(n):
        end.send(end.recv())
    end.stop()


def latency(pair_cls, rounds: int) -> tuple[float, float]:
    """Median and p99 one-way latency in microseconds."""
    with pair_cls() as (a, b):
        warm = rounds // 10
        p = mp.Process(target=_echo, args=(b, rounds + warm, 1))
        p.start()
        pin(0)
        a.start()
        rtts = []
        clock = time.perf_counter_ns
        for i in range(rounds + warm):
            t = clock()
            a.send(MSG)
            a.recv()
            if i >= warm:
                rtts.append(clock() - t)
        a.stop()
        p.join()
    rtts.sort()
    return statistics.median(rtts) / 2000, rtts[int(len(rtts) * 0.99)] / 2000


def _sink(end, n, cpu, done):
    pin(cpu)
    end.start()
    recv = end.recv
    for _ in range(n):
        recv()
    done.put(time.perf_counter_ns())   # perf_counter is system-wide (CLOCK_MONOTONIC)
    end.stop()


def throughput(pair_cls, n: int) -> float:
    """64-byte messages per second, first send to last receive."""
    with pair_cls() as (a, b):
        done = mp.Queue()
        p = mp.Process(target=_sink, args=(b, n, 1, done))
        p.start()
        pin(0)
        a.start()
        a.send(MSG)                  # the receiver is up before the clock starts
        send = a.send
        time.sleep(0.2)
        t = time.perf_counter_ns()
        for _ in range(n - 1):
            send(MSG)
        end = done.get()
        a.stop()
        p.join()
    return (n - 1) / ((end - t) / 1e9)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="few iterations (a smoke test)")
    ap.add_argument("--json", action="store_true", help="one JSON document")
    args = ap.parse_args()
    mp.set_start_method("fork")
    rounds, n = (500, 5000) if args.quick else (20000, 500000)
    rows = []
    for cls in (ShmkitPair, MpQueuePair, MpPipePair, SocketPair):
        med, p99 = latency(cls, rounds)
        tput = throughput(cls, n if cls is ShmkitPair else n // 4)
        rows.append({"transport": cls.name, "latency_us": round(med, 2),
                     "latency_p99_us": round(p99, 2), "msgs_per_s": round(tput)})
    shm, mpq = rows[0], rows[1]
    goals = {"throughput_vs_mp_queue": round(shm["msgs_per_s"] / mpq["msgs_per_s"], 2),
             "latency_vs_mp_queue": round(shm["latency_us"] / mpq["latency_us"], 3)}
    goals["throughput_goal_met"] = goals["throughput_vs_mp_queue"] >= 10
    goals["latency_goal_met"] = goals["latency_vs_mp_queue"] <= 0.2
    if args.json:
        print(json.dumps({"python": sys.version.split()[0], "library": shmkit.library_path,
                          "rows": rows, "goals": goals}, indent=1))
        return 0
    print(f"Python {sys.version.split()[0]}, two processes, 64-byte messages "
          f"({'quick' if args.quick else 'full'} run)")
    print(f"{'transport':24} {'one-way median':>15} {'p99':>10} {'throughput':>16}")
    for r in rows:
        print(f"{r['transport']:24} {r['latency_us']:>12.1f} us {r['latency_p99_us']:>7.1f} us "
              f"{r['msgs_per_s']:>10,} msg/s")
    print(f"shmkit vs multiprocessing.Queue: throughput {goals['throughput_vs_mp_queue']}x "
          f"(goal >= 10x: {'MET' if goals['throughput_goal_met'] else 'NOT MET'}), latency "
          f"{goals['latency_vs_mp_queue']}x (goal <= 0.2x: "
          f"{'MET' if goals['latency_goal_met'] else 'NOT MET'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
