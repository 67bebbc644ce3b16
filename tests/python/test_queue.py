# SPDX-License-Identifier: MIT
"""Queues from Python: copying and zero-copy paths with their guards, timeouts, Ctrl-C,
and 100 000 messages in order between C and Python (blocking and asyncio) both ways."""
import asyncio
import os
import selectors
import signal
import struct
import subprocess
import time
import unittest

from pyhelp import Case, check_no_leftovers, has_fd, shmkit, wait_line

N = 100_000


def tearDownModule():
    check_no_leftovers()


class QueueTest(Case):
    def test_copy_in_order_and_sizes(self):
        u = self.uri("q")
        with shmkit.Queue.create(u, capacity=8, max_msg=64) as q:
            self.assertEqual((q.capacity, q.max_msg), (8, 64))
            for m in (b"a", bytearray(b"bb"), memoryview(b"ccc"), b"", b"x" * 64):
                q.send(m)
            self.assertEqual([q.recv() for _ in range(5)], [b"a", b"bb", b"ccc", b"", b"x" * 64])
            with self.assertRaises(OSError) as e:
                q.send(b"y" * 65)
            self.assertEqual(e.exception.errno, 90)          # EMSGSIZE
            q.send(b"0123456789")
            small = bytearray(4)
            with self.assertRaises(OSError):
                q.recv_into(small)                         # too small: the message stays
            big = bytearray(64)
            self.assertEqual(q.recv_into(big), 10)
            self.assertEqual(bytes(big[:10]), b"0123456789")
            st = q.stats()
            self.assertEqual((st["sent"], st["received"], st["depth"]), (6, 6, 0))

    def test_timeouts(self):
        with shmkit.Queue.create(self.uri("q"), 2, 16) as q:
            with self.assertRaises(BlockingIOError):
                q.recv(timeout=0)
            t = time.monotonic()
            with self.assertRaises(TimeoutError):
                q.recv(timeout=0.3)
            self.assertGreaterEqual(time.monotonic() - t, 0.3)   # never earlier than asked
            q.send(b"1"), q.send(b"2")
            with self.assertRaises(BlockingIOError):
                q.send(b"3", timeout=0)
            with self.assertRaises(TimeoutError):
                q.send(b"3", timeout=0.05)
            for bad in (-1, float("nan"), "1"):
                with self.assertRaises((ValueError, TypeError)):
                    q.send(b"3", timeout=bad)
            # refused on calls that need no wait too (they were accepted there), and
            # the message a refused recv would have taken stays
            self.assertEqual(q.recv(), b"1")
            for bad in (-5, float("nan"), "abc", []):
                with self.assertRaises((ValueError, TypeError)):
                    q.recv(timeout=bad)
                with self.assertRaises((ValueError, TypeError)):
                    q.send(b"3", timeout=bad)
            self.assertEqual(q.recv(timeout=0), b"2")

    def test_large_max_msg_costs_no_memory_until_used(self):
        """A handle's receive buffer of max_msg bytes was allocated and zeroed at open:
        256 MiB resident per handle of a queue whose max_msg is 256 MiB, sender or not."""
        def rss_mib():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") >> 20
        with shmkit.Queue.create(self.uri("big"), 2, 64 << 20) as q:
            before = rss_mib()
            with shmkit.Queue.open(q.uri) as h:
                self.assertLess(rss_mib() - before, 16)
                q.send(b"small")
                self.assertEqual(h.recv(), b"small")

    def test_reserve_commit_guard(self):
        with shmkit.Queue.create(self.uri("q"), 4, 32) as q:
            v = q.reserve(16)
            v[:5] = b"hello"
            part = v[:5]
            with self.assertRaises(BufferError):       # part could write into a sent slot
                q.commit(5)
            del part
            q.commit(5)
            with self.assertRaises(ValueError):
                v[0] = 1                                # released by commit
            with self.assertRaises(ValueError):
                q.commit()                              # nothing reserved
            self.assertEqual(q.recv(), b"hello")

    def test_peek_consume_guard(self):
        with shmkit.Queue.create(self.uri("q"), 4, 32) as q:
            q.send(b"zero-copy")
            m = q.peek()
            self.assertTrue(m.readonly)
            self.assertEqual(bytes(m), b"zero-copy")
            self.assertEqual(bytes(q.peek()), b"zero-copy")     # the same message again
            keep = m[4:]
            with self.assertRaises(BufferError):
                q.consume()
            del keep
            q.consume()
            with self.assertRaises(ValueError):
                bytes(m)
            with self.assertRaises(BlockingIOError):
                q.peek(timeout=0)

    def test_fileno_with_selectors(self):
        if not has_fd():
            self.skipTest("this libshmkit has no shmkit_queue_fd yet")
        with shmkit.Queue.create(self.uri("q"), 4, 32) as q:
            sel = selectors.DefaultSelector()
            sel.register(q.fileno(), selectors.EVENT_READ)
            if sel.select(0):             # a spurious readiness is allowed: a receive clears it
                with self.assertRaises(BlockingIOError):
                    q.recv(0)
            self.assertEqual(sel.select(0), [])
            q.send(b"wake")
            self.assertEqual(len(sel.select(5)), 1)
            self.assertEqual(q.recv(0), b"wake")
            sel.close()

    def test_cli_to_python_and_back(self):
        u = self.uri("q")
        with shmkit.Queue.create(u, 16, 64) as q:
            self.tool("send", u, "one", "two", "three")
            self.assertEqual([q.recv(timeout=10) for _ in range(3)], [b"one", b"two", b"three"])
        with shmkit.Queue.open(u) as q:
            for m in (b"alpha", b"beta"):
                q.send(m)
            out = self.tool("recv", u, "--count", "2", "--timeout", "10").stdout
            self.assertEqual(out, b"alpha\nbeta\n")

    def test_c_producer_python_consumer_100k(self):
        u = self.uri("q")
        with shmkit.Queue.create(u, 256, 64) as q:
            p = self.peer("produce", u, str(N))
            for i in range(N):
                m = q.recv(timeout=30)
                if m != struct.pack("<Q", i):
                    self.fail(f"message {i}: {m!r}")
            self.assertEqual(p.wait(30), 0, p.stderr.read())

    def test_python_producer_c_consumer_100k(self):
        u = self.uri("q")
        with shmkit.Queue.create(u, 256, 64) as q:
            p = self.peer("consume", u, str(N))
            pack = struct.Struct("<Q").pack
            for i in range(N):
                q.send(pack(i), timeout=30)
            self.assertEqual(p.wait(30), 0, p.stderr.read())

    def test_c_producer_python_asyncio_consumer_100k(self):
        if not has_fd():
            self.skipTest("this libshmkit has no shmkit_queue_fd yet")
        u = self.uri("q")

        async def consume(q):
            other = asyncio.create_task(asyncio.sleep(3600))   # the loop stays usable
            for i in range(N):
                m = await q.recv_async()
                if m != struct.pack("<Q", i):
                    self.fail(f"message {i}: {m!r}")
            self.assertFalse(other.done())
            other.cancel()

        with shmkit.Queue.create(u, 256, 64) as q:
            p = self.peer("produce", u, str(N))
            asyncio.run(asyncio.wait_for(consume(q), 120))
            self.assertEqual(p.wait(30), 0, p.stderr.read())

    def test_c_to_python_asyncio_relay_to_c_100k(self):
        if not has_fd():
            self.skipTest("this libshmkit has no shmkit_queue_fd yet")
        # C produces, Python relays from a coroutine, C consumes and checks the order.
        there, back = self.uri("q"), self.uri("q")

        async def relay(a, b):
            for _ in range(N):
                b.send(await a.recv_async(), timeout=30)

        with shmkit.Queue.create(there, 256, 64) as a, shmkit.Queue.create(back, 256, 64) as b:
            prod = self.peer("produce", there, str(N))
            cons = self.peer("consume", back, str(N))
            asyncio.run(asyncio.wait_for(relay(a, b), 120))
            self.assertEqual(prod.wait(30), 0, prod.stderr.read())
            self.assertEqual(cons.wait(30), 0, cons.stderr.read())

    def test_ctrl_c_interrupts_a_blocked_recv(self):
        u = self.uri("q")
        with shmkit.Queue.create(u, 4, 32):
            p = self.child("import sys, shmkit\nq = shmkit.Queue.open(sys.argv[1])\n"
                           "print('waiting', flush=True)\n"
                           "try:\n    q.recv()\nexcept KeyboardInterrupt:\n"
                           "    print('interrupted', flush=True)\n    sys.exit(3)\n", u)
            wait_line(p, "waiting")
            time.sleep(0.3)                 # let it sleep inside the library
            t = time.monotonic()
            p.send_signal(signal.SIGINT)
            wait_line(p, "interrupted", timeout=10)
            took = time.monotonic() - t
            self.assertEqual(p.wait(10), 3)
            self.assertLess(took, 5.0)      # promptly: one 50 ms slice, plus a loaded machine

    def test_closed_handle(self):
        q = shmkit.Queue.create(self.uri("q"), 4, 32)
        q.close()
        q.close()
        with self.assertRaises(ValueError):
            q.send(b"x")


if __name__ == "__main__":
    unittest.main()
