# SPDX-License-Identifier: MIT
"""What the binding's errors say (h34c): a too-small recv_into buffer gives the sizes, a
TimeoutError says what timed out after how long, a map value that can never fit says so,
and a pathlib.Path names a file: segment."""
import errno
import os
import pathlib
import tempfile
import unittest

from pyhelp import PREFIX, Case, check_no_leftovers, remove_quietly, shmkit


def tearDownModule():
    check_no_leftovers()


class WordingTest(Case):
    def test_recv_into_small(self):
        with shmkit.Queue.create(self.uri("wsmall"), 4, 64) as q:
            q.send(b"x" * 40)
            with self.assertRaises(OSError) as e:
                q.recv_into(bytearray(8))
            self.assertEqual(e.exception.errno, errno.EMSGSIZE)
            self.assertIn("8-byte buffer", str(e.exception))
            self.assertIn("max_msg = 64", str(e.exception))
            self.assertEqual(q.recv(), b"x" * 40)             # it stayed

    def test_timeouts(self):
        u = self.uri("wtime")
        with shmkit.Queue.create(u, 2, 8) as q:
            for call, what in [(lambda: q.recv(timeout=0.05), "recv"),
                               (lambda: q.recv_into(bytearray(8), timeout=0.05), "recv"),
                               (lambda: q.peek(timeout=0.05), "peek")]:
                with self.assertRaises(TimeoutError) as e:
                    call()
                self.assertEqual(e.exception.errno, errno.ETIMEDOUT)
                self.assertIn(f"{what}: timed out after 0.05 s", str(e.exception))
                self.assertNotIn("Connection", str(e.exception))
            q.send(b"1")
            q.send(b"2")
            with self.assertRaisesRegex(TimeoutError, "send: timed out after 0.05 s"):
                q.send(b"3", timeout=0.05)
        t = self.uri("wtopic")
        with shmkit.Publisher.create(t, 16, 2, reliable=True) as p, \
                shmkit.Subscriber.open(t) as s:
            with self.assertRaisesRegex(TimeoutError, "receive: timed out after 0.05 s"):
                s.recv(timeout=0.05)
            p.send(b"1")
            p.send(b"2")
            with self.assertRaisesRegex(TimeoutError, "publish: timed out after 0.05 s"):
                p.send(b"3", timeout=0.05)

    def test_map_never_fits(self):
        with shmkit.Map.create(self.uri("wmap"), 65536) as m:
            with self.assertRaises(OSError) as e:
                m[b"k"] = b"v" * 100000
            self.assertEqual(e.exception.errno, errno.ENOSPC)
            self.assertIn("100001 bytes can never fit", str(e.exception))
            with self.assertRaises(OSError) as e:
                for i in range(10000):
                    m[b"%d" % i] = b"v" * 100
            self.assertIn("the map is full", str(e.exception))

    def test_path_is_file_uri(self):
        path = pathlib.Path(tempfile.gettempdir()) / f"{PREFIX}wpath"
        self.addCleanup(remove_quietly, f"file:{path}")
        with shmkit.Segment(path, 4096, create=True) as s:
            self.assertEqual(s.uri, f"file:{path}")
            s.buf[:2] = b"ok"
        self.assertTrue(path.exists())
        self.assertEqual(shmkit.stat(path)["uri"], f"file:{path}")
        shmkit.remove(path)
        qpath = pathlib.Path(tempfile.gettempdir()) / f"{PREFIX}wpathq"
        self.addCleanup(remove_quietly, f"file:{qpath}")
        with shmkit.Queue.create(qpath, 2, 8) as q:
            self.assertEqual(q.uri, f"file:{qpath}")
        rel = os.path.relpath(qpath)
        with shmkit.Queue.open(pathlib.Path(rel)) as q:      # relative: made absolute
            self.assertEqual(q.uri, f"file:{qpath}")


if __name__ == "__main__":
    unittest.main()
