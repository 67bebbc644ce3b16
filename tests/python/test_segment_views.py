# SPDX-License-Identifier: MIT
"""Views of a Segment that is collected while they are still in use keep its mapping, as an
mmap's exported buffers keep the mmap (h34c buf_of_temporary.py: ``Segment(uri).buf`` was
an already-released memoryview); and a ``with Segment(...)`` block whose exception holds
views does not replace that exception with close()'s BufferError."""
import ctypes
import gc
import unittest

from pyhelp import Case, check_no_leftovers, shmkit


def tearDownModule():
    check_no_leftovers()


def mapped(uri: str) -> int:
    name = uri.split("/")[-1]
    with open("/proc/self/maps") as f:
        return sum(1 for line in f if line.rstrip().endswith("/" + name))


class TemporarySegmentTest(Case):
    def test_buf_of_temporary(self):
        u = self.uri("tmpbuf")
        with shmkit.Segment(u, 4096, create=True) as s:
            s.buf[:5] = b"hello"
            self.assertEqual(mapped(u), 1)
            buf = shmkit.Segment(u).buf            # the Segment is collected at once
            self.assertEqual(bytes(buf[:5]), b"hello")
            buf[5:6] = b"!"                         # still the shared bytes
            self.assertEqual(bytes(s.buf[:6]), b"hello!")
            self.assertEqual(mapped(u), 2)
            del buf                                 # the last view: unmapped now
            self.assertEqual(mapped(u), 1)
            self.assertEqual(bytes(shmkit.Segment(u).buf[:5]), b"hello")   # one expression
            part = shmkit.Segment(u).buf[1:3]       # a slice keeps it too
            c = ctypes.c_char.from_buffer(shmkit.Segment(u).buf)   # and a ctypes object
            gc.collect()
            self.assertEqual((bytes(part), c.value), (b"el", b"h"))
            del part, c
            self.assertEqual(mapped(u), 1)
            t = shmkit.Segment(u)                   # no view kept: unmapped when dropped
            self.assertEqual(mapped(u), 2)
            del t
            self.assertEqual(mapped(u), 1)

    def test_numpy_of_temporary(self):
        try:
            import numpy
        except ImportError:
            self.skipTest("no numpy")
        u = self.uri("tmpnp")
        with shmkit.Segment(u, 4096, create=True) as s:
            s.buf[:3] = b"abc"
            a = numpy.frombuffer(shmkit.Segment(u).buf, dtype=numpy.uint8)
            self.assertEqual(a[:3].tolist(), [97, 98, 99])
            del a
            self.assertEqual(mapped(u), 1)


class WithBlockTest(Case):
    def test_exception_not_masked(self):
        u = self.uri("withexc")

        def parse(buf):
            header = buf[:16]                  # a slice, alive in the traceback's frame
            raise ValueError(f"bad header {len(header)}")

        with self.assertRaisesRegex(ValueError, "bad header 16") as cm:   # was BufferError
            with shmkit.Segment(u, 4096, create=True) as seg:
                parse(seg.buf)
        self.assertFalse(seg.closed)           # refused to close under the views
        del cm
        gc.collect()
        seg.close()                            # the traceback is gone: closes
        self.assertTrue(seg.closed)
        # no exception: close() still refuses loudly while a view is in use
        with self.assertRaises(BufferError):
            with shmkit.Segment(u) as seg2:
                part = seg2.buf[:4]
        del part
        seg2.close()
        self.assertTrue(seg2.closed)


if __name__ == "__main__":
    unittest.main()
