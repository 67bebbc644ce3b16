# SPDX-License-Identifier: MIT
"""A consumer interrupted by Ctrl-C (or any exception a Python signal handler raises) must
not lose a message: a Python signal handler runs as soon as a C call returns, so one that
raises just after the library took a message out of the queue used to throw the message
away (queue depth 0, received count 1, never returned). Here another process sends SIGINT
at random moments while this one receives sequenced messages; every message must come back
exactly once, in order, across thousands of KeyboardInterrupts, and close() must close after
them."""
import os
import signal
import struct
import subprocess
import time
import unittest

from pyhelp import WAIT, Case, check_no_leftovers, shmkit

N = 20000

PRODUCER = """
import struct, sys, shmkit
q = shmkit.Queue.open(sys.argv[1])
for i in range(int(sys.argv[2])):
    q.send(struct.pack("<I", i))
q.close()
"""

PUBLISHER = """
import struct, sys, shmkit
p = shmkit.Publisher.create(sys.argv[1], 16, 64, reliable=True)
print("ready", flush=True)
sys.stdin.readline()                 # the subscriber has joined
for i in range(int(sys.argv[2])):
    p.send(struct.pack("<I", i))
print("sent", flush=True)
sys.stdin.readline()
p.close()
"""

# SIGINT to the test process at random moments, until killed.
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


IDLE = 5      # seconds without a message: the rest was lost (the test then fails fast)


def _recv(q):
    return q.recv(IDLE)


def _recv_poll(q):
    give_up = time.monotonic() + IDLE
    while time.monotonic() < give_up:
        try:
            return q.recv(0)
        except BlockingIOError:
            pass
    raise TimeoutError


def _try_recv(q):            # the step recv_async() takes each time the descriptor wakes it
    give_up = time.monotonic() + IDLE
    while time.monotonic() < give_up:
        m = q._try_recv()
        if m is not None:
            return m
    raise TimeoutError


def _recv_into(q):
    b = bytearray(16)
    return b, q.recv_into(b, IDLE)     # sliced later: a call here could be interrupted


class InterruptedReceiveTest(Case):
    def drain(self, take, topic=False):
        u = self.uri("sigint")
        if topic:
            producer = self.child(PUBLISHER, u, str(N), stdin=subprocess.PIPE)
            self.assertEqual(producer.stdout.readline(), b"ready\n")
            q = shmkit.Subscriber.open(u)
        else:
            q = shmkit.Queue.create(u, 64, 16)
        self.addCleanup(q.close)
        armed = [False]

        def handler(sig, frame):
            if armed[0]:
                raise KeyboardInterrupt

        old = signal.signal(signal.SIGINT, handler)
        self.addCleanup(signal.signal, signal.SIGINT, old)
        killer = self.child(KILLER, str(os.getpid()))
        self.assertEqual(killer.stdout.readline(), b"ready\n")
        if topic:
            producer.stdin.write(b"go\n")
            producer.stdin.flush()
        else:
            producer = self.child(PRODUCER, u, str(N))
        got, interrupts = [], 0
        deadline = time.monotonic() + WAIT
        while len(got) < N and time.monotonic() < deadline:
            # KeyboardInterrupt only inside the try: armed is set and cleared where no
            # signal handler can run (no call, no backward jump in between)
            try:
                armed[0] = True
                while len(got) < N:
                    got.append(take(q))
                armed[0] = False
            except KeyboardInterrupt:
                armed[0] = False
                interrupts += 1
            except (TimeoutError, BrokenPipeError):    # nothing more will come
                armed[0] = False
                break
        armed[0] = False
        killer.kill()
        killer.wait()
        if topic:
            producer.stdin.write(b"end\n")
            producer.stdin.flush()
        self.wait_child(producer)
        seqs = [struct.unpack("<I", m if isinstance(m, bytes) else m[0][:m[1]])[0]
                 for m in got]
        missing = sorted(set(range(N)) - set(seqs))
        st = {"depth": 0, "received": "?"} if topic else q.stats()
        self.assertEqual((len(missing), missing[:10]), (0, []),
                         f"{len(missing)} of {N} messages lost across {interrupts} interrupts "
                         f"(queue: depth {st['depth']}, received {st['received']})")
        self.assertEqual(seqs, list(range(N)))
        self.assertEqual(st["depth"], 0)
        self.assertGreater(interrupts, 20, "too few interrupts to prove anything")
        # and close() still closes: an interrupt inside a call's bookkeeping used to leave
        # the thread listed as a caller, and close() then waited for it forever (it never
        # freed the handle; valgrind saw one handle lost per queue test)
        q.close()
        self.assertIsNone(q._h, f"close() after {interrupts} interrupts left the handle open "
                                f"({len(q._users)} stale callers listed)")

    def test_recv(self):
        self.drain(_recv)

    def test_recv_timeout_0(self):
        self.drain(_recv_poll)

    def test_recv_into(self):
        self.drain(_recv_into)

    def test_async_step(self):
        self.drain(_try_recv)

    def test_reliable_subscriber(self):
        self.drain(_recv, topic=True)

    def test_reliable_subscriber_async_step(self):
        self.drain(_try_recv, topic=True)


if __name__ == "__main__":
    unittest.main()
