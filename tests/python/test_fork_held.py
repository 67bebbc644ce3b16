# SPDX-License-Identifier: MIT
"""fork() after a receive was interrupted: the message the handle holds is the parent's; the
child's copy of the handle does not give it out a second time (h34c fork_held_dup.py)."""
import os
import unittest

from pyhelp import Case, check_no_leftovers, shmkit
from shmkit import _lib


def tearDownModule():
    check_no_leftovers()


class ForkHeldTest(Case):
    def in_child(self, h) -> bytes:
        """What recv(0) on h gives in a child forked now (b"none": BlockingIOError)."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:            # pragma: no cover - the child
            try:
                try:
                    out = h.recv(0)
                except BlockingIOError:
                    out = b"none"
                os.write(w, out)
            finally:
                os._exit(0)
        os.close(w)
        os.waitpid(pid, 0)
        with os.fdopen(r, "rb") as f:
            return f.read()

    def test_queue(self):
        with shmkit.Queue.create(self.uri("forkq"), 8, 16) as q:
            q.send(b"only-one")
            # what an interrupted recv() leaves: the C call took it into the handle
            _lib.fast_queue_recv_many(q._hc, q._iovc, _lib.size_arg(1), _lib.NOWAIT)
            self.assertEqual(q.stats()["depth"], 0)
            self.assertEqual(self.in_child(q), b"none")      # was b"only-one": twice
            self.assertEqual(q.recv(0), b"only-one")         # the parent still has it
            with self.assertRaises(BlockingIOError):
                q.recv(0)

    def test_queue_recv_into(self):
        with shmkit.Queue.create(self.uri("forkqi"), 8, 16) as q:
            q.send(b"only-one")
            q._iov[1], q._iov2[1] = q._INTO, 16  # an interrupted recv_into()
            q._into_fast(q._hc, q._iov2c, _lib.size_arg(1), _lib.NOWAIT)
            self.assertEqual(self.in_child(q), b"none")
            self.assertEqual(q.recv(0), b"only-one")

    def test_subscriber(self):
        u = self.uri("forks")
        with shmkit.Publisher.create(u, 16, 4, reliable=True) as p, \
                shmkit.Subscriber.open(u) as s:
            p.send(b"only-one")
            s._frecv(s._hc, s._bufc, s._capc, _lib.NOWAIT)    # held, as interrupted
            self.assertEqual(self.in_child(s), b"none")
            self.assertEqual(s.recv(0), b"only-one")


if __name__ == "__main__":
    unittest.main()
