# SPDX-License-Identifier: MIT
"""A careless or hostile user of the binding: odd arguments, handles closed under a waiting
thread or coroutine, several coroutines on one handle. Each case must end in a clear Python
exception or the right result -- never a crash, a hang, a wrong object or a silently wrapped
number."""
import asyncio
import os
import threading
import time
import unittest

from pyhelp import PREFIX, Case, check_no_leftovers, has_fd, shmkit


def tearDownModule():
    check_no_leftovers()


class ArgumentTest(Case):
    def test_nul_byte_in_uri_is_refused(self):
        # ctypes passes bytes as char *: the C library saw only the part before the NUL,
        # so "posix:/a\0b" created "posix:/a" and remove("posix:/a\0c") removed it.
        u = self.uri()
        for bad in (u + "\0tail", (u + "\0tail").encode()):
            with self.assertRaises(ValueError):
                shmkit.Segment(bad, 4096, create=True)
        self.assertFalse(os.path.exists("/dev/shm/" + u.split("/", 1)[1]))
        shmkit.Segment(u, 4096, create=True).close()
        for call in (shmkit.remove, shmkit.stat, shmkit.Queue.open, shmkit.Map.open,
                     shmkit.Subscriber.open, shmkit.Publisher.open):
            with self.assertRaises(ValueError):
                call(u + "\0other")
        with self.assertRaises(ValueError):
            shmkit.Queue.create(u + "x\0y", 4, 16)
        self.assertTrue(os.path.exists("/dev/shm/" + u.split("/", 1)[1]))  # not removed

    def test_sizes_past_size_t_are_refused_not_wrapped(self):
        # A size_t argument took an int modulo 2**64: Segment(u, 2**64 + 4096) made a
        # 4096-byte segment, Queue.create(u, 2**64 + 8, 2**64 + 16) a queue of 8 x 16.
        u = self.uri()
        with self.assertRaises(OverflowError):
            shmkit.Segment(u, 2**64 + 4096, create=True)
        with self.assertRaises(ValueError):
            shmkit.Segment(u, -1, create=True)
        with self.assertRaises(OverflowError):
            shmkit.Queue.create(u, 2**64 + 8, 16)
        with self.assertRaises(OverflowError):
            shmkit.Queue.create(u, 8, 2**64 + 16)
        with self.assertRaises(ValueError):
            shmkit.Queue.create(u, -8, 16)
        with self.assertRaises(OverflowError):
            shmkit.Publisher.create(u, 2**64 + 64, 8)
        with self.assertRaises(OverflowError):
            shmkit.Publisher.create(u, 64, 8, max_subs=2**32 + 1)
        with self.assertRaises(OverflowError):
            shmkit.Map.create(u, 2**64 + 65536)
        with self.assertRaises(TypeError):
            shmkit.Segment(u, 4096.0, create=True)
        self.assertFalse(os.path.exists("/dev/shm/" + u.split("/", 1)[1]))

    def test_reserve_past_size_t_leaves_no_reservation(self):
        # reserve(2**64 + 5) reserved 5 bytes in the library, then failed making the
        # 2**64 + 5 byte view: the slot stayed reserved and every later reserve was EBUSY.
        with shmkit.Queue.create(self.uri("q"), 4, 32) as q:
            for bad, exc in ((2**64 + 5, OverflowError), (-1, ValueError), (1.5, TypeError),
                             ("5", TypeError), (None, TypeError)):
                with self.assertRaises(exc):
                    q.reserve(bad)
            v = q.reserve(5)
            v[:] = b"hello"
            del v
            q.commit()
            self.assertEqual(q.recv(0), b"hello")
        with shmkit.Publisher.create(self.uri("t"), 64, 8) as p:
            for bad, exc in ((2**64 + 5, OverflowError), (-1, ValueError), (1.5, TypeError)):
                with self.assertRaises(exc):
                    p.loan(bad)
            v = p.loan(4)
            del v
            p.publish()

    def test_huge_timeouts_wait_like_none(self):
        # 1e300 s overflowed to inf nanoseconds and 10**400 could not become a float:
        # OverflowError instead of a wait.
        with shmkit.Queue.create(self.uri("q"), 4, 32) as q:
            for t in (1e300, 10**400, 2**70, float("inf")):
                q.send(b"x", timeout=t)
                self.assertEqual(q.recv(timeout=t), b"x")
            stop = threading.Timer(0.2, q.send, (b"late",))
            stop.start()
            try:
                self.assertEqual(q.recv(timeout=1e300), b"late")   # it waits, not raises
            finally:
                stop.join()


if __name__ == "__main__":
    unittest.main()
