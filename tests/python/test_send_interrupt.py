# SPDX-License-Identifier: MIT
"""A sender interrupted by Ctrl-C (or any exception a Python signal handler raises) can tell
whether its message went: the handler runs as soon as the C call returns, so send() could
raise KeyboardInterrupt after the message was in the queue, and a caller that sent it again
duplicated it (h34c sigint_storm.py). interrupted_send_done() says which. Here another
process sends SIGINT at random moments while this one sends sequenced messages, resending
only what interrupted_send_done() says did not go: the receiver must get each exactly once,
in order."""
import os
import signal
import struct
import subprocess
import time
import unittest

from pyhelp import WAIT, Case, check_no_leftovers, shmkit

N = 6000
MIN_INTERRUPTS = 20
END = 0xFFFFFFFF

RECEIVER = """
import struct, sys, shmkit
u, kind = sys.argv[1], sys.argv[2]
q = shmkit.Queue.open(u) if kind == "queue" else shmkit.Subscriber.open(u)
print("ready", flush=True)
got = []
while True:
    v = struct.unpack("<I", q.recv(30))[0]
    if v == 0xFFFFFFFF:
        break
    got.append(v)
print(" ".join(map(str, got)))
"""

KILLER = """
import os, random, signal, sys, time
pid = int(sys.argv[1])
print("ready", flush=True)
while True:
    os.kill(pid, signal.SIGINT)
    time.sleep(random.random() * 0.0003)
"""


def tearDownModule():
    check_no_leftovers()


class InterruptedSendTest(Case):
    def storm(self, kind):
        u = self.uri("sendint")
        if kind == "queue":
            q = shmkit.Queue.create(u, 4, 16)
        else:
            q = shmkit.Publisher.create(u, 16, 4, reliable=True)
        self.addCleanup(q.close)
        rx = self.child(RECEIVER, u, kind)
        self.assertEqual(rx.stdout.readline(), b"ready\n")
        armed = [False]

        def handler(sig, frame):
            if armed[0]:
                raise KeyboardInterrupt

        old = signal.signal(signal.SIGINT, handler)
        self.addCleanup(signal.signal, signal.SIGINT, old)
        killer = self.child(KILLER, str(os.getpid()))
        self.assertEqual(killer.stdout.readline(), b"ready\n")
        i = interrupts = went = 0
        deadline = time.monotonic() + WAIT
        # at least N messages, and on until enough interrupts came (a loaded
        # machine lets the killer run less often)
        while (i < N or interrupts <= MIN_INTERRUPTS) and time.monotonic() < deadline:
            try:
                armed[0] = True
                while i < N or interrupts <= MIN_INTERRUPTS:
                    q.send(struct.pack("<I", i), timeout=None if i % 2 else 5.0)
                    i += 1
                    if i % 1000 == 0 and time.monotonic() >= deadline:
                        break
                armed[0] = False
            except KeyboardInterrupt:
                armed[0] = False
                interrupts += 1
                if q.interrupted_send_done():      # it went: do not send it again
                    went += 1
                    i += 1
        armed[0] = False
        killer.kill()
        killer.wait()
        self.assertFalse(q.interrupted_send_done())     # answers once
        q.send(struct.pack("<I", END), timeout=WAIT)
        seqs = list(map(int, self.wait_child(rx).split()))
        dups = len(seqs) - len(set(seqs))
        self.assertEqual((dups, sorted(set(range(i)) - set(seqs))[:10]), (0, []),
                         f"{dups} duplicated across {interrupts} interrupts ({went} after "
                         "the message went)")
        self.assertEqual(seqs, list(range(i)))
        self.assertGreater(interrupts, MIN_INTERRUPTS, "too few interrupts to prove anything")

    def test_queue(self):
        self.storm("queue")

    def test_topic(self):
        self.storm("topic")

    def test_plain(self):
        with shmkit.Queue.create(self.uri("sendint1"), 4, 16) as q:
            q.send(b"a")
            self.assertFalse(q.interrupted_send_done())    # returned: nothing to say
            with self.assertRaises(OSError):
                q.send(b"x" * 17)
            self.assertFalse(q.interrupted_send_done())
            for _ in range(3):
                q.send(bytearray(b"b"))
            with self.assertRaises(BlockingIOError):
                q.send(b"c", timeout=0)
            self.assertFalse(q.interrupted_send_done())


if __name__ == "__main__":
    unittest.main()
