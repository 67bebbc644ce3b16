# SPDX-License-Identifier: MIT
"""Every error class the binding raises, with errno set and the library's detail line."""
import errno
import os
import struct
import unittest

from pyhelp import Case, check_no_leftovers, shmkit, wait_line


def tearDownModule():
    check_no_leftovers()


class ErrorTest(Case):
    def assertOSError(self, cls, code, fn, *args, **kw):
        with self.assertRaises(cls) as e:
            fn(*args, **kw)
        self.assertIsInstance(e.exception, OSError)
        self.assertEqual(e.exception.errno, code)
        return e.exception

    def test_not_found_and_exists(self):
        u = self.uri()
        e = self.assertOSError(FileNotFoundError, errno.ENOENT, shmkit.Queue.open, u)
        self.assertEqual(e.filename, u)
        self.assertOSError(FileNotFoundError, errno.ENOENT, shmkit.Map.open, u)
        self.assertOSError(FileNotFoundError, errno.ENOENT, shmkit.Subscriber.open, u)
        self.assertOSError(FileNotFoundError, errno.ENOENT, shmkit.remove, u)
        shmkit.Queue.create(u, 4, 16).close()
        self.assertOSError(FileExistsError, errno.EEXIST, shmkit.Queue.create, u, 4, 16)
        self.assertOSError(FileExistsError, errno.EEXIST, shmkit.Segment, u, 4096, exclusive=True)

    def test_permission(self):
        u = self.uri()
        shmkit.Segment(u, 4096, create=True, mode=0o600).close()
        if os.geteuid() != 0:
            os.chmod("/dev/shm/" + u.split("/", 1)[1], 0)
            self.assertOSError(PermissionError, errno.EACCES, shmkit.Segment, u)
            return
        p = self.child("import os, sys, errno, shmkit\nos.setgid(65534); os.setuid(65534)\n"
                       "try:\n    shmkit.Segment(sys.argv[1])\n"
                       "except PermissionError as e:\n    assert e.errno == errno.EACCES\n"
                       "    print('refused', flush=True)\n", u)
        self.assertEqual(self.wait_child(p).strip(), "refused")

    def test_would_block_and_timeout(self):
        with shmkit.Queue.create(self.uri(), 2, 16) as q:
            self.assertOSError(BlockingIOError, errno.EAGAIN, q.recv, timeout=0)
            self.assertOSError(TimeoutError, errno.ETIMEDOUT, q.recv, timeout=0.01)

    def test_broken_pipe(self):
        u = self.uri()
        pub = shmkit.Publisher.create(u, 32, 4)
        with shmkit.Subscriber.open(u) as s:
            pub.close()
            self.assertOSError(BrokenPipeError, errno.EPIPE, s.recv, timeout=5)

    def test_corrupt_not_a_queue(self):
        u = self.uri()
        shmkit.Segment(u, 65536, create=True).close()
        e = self.assertOSError(shmkit.CorruptError, errno.EBADMSG, shmkit.Queue.open, u)
        self.assertIn("no shmkit header", str(e))        # the library's detail line
        m = self.uri()
        shmkit.Map.create(m, 1 << 16).close()
        e = self.assertOSError(shmkit.CorruptError, errno.EBADMSG, shmkit.Queue.open, m)
        self.assertIn("not a queue", str(e))

    def test_corrupt_other_layout_version(self):
        u = self.uri()
        shmkit.Queue.create(u, 4, 16).close()
        with shmkit.Segment(u) as s:
            struct.pack_into("<I", s.buf, 12, 9999)          # header.layout_version
        e = self.assertOSError(shmkit.CorruptError, errno.EPROTO, shmkit.Queue.open, u)
        self.assertIn("9999", str(e))
        self.assertIn("layout version", shmkit.stat(u)["header_status"])

    def test_message_too_long_and_busy(self):
        with shmkit.Queue.create(self.uri(), 4, 16) as q:
            self.assertOSError(OSError, errno.EMSGSIZE, q.send, b"x" * 17)
            q.reserve(8)
            self.assertOSError(OSError, errno.EBUSY, q.reserve, 8)  # one reservation per handle
            q.commit()

    def test_message_errors_say_what_the_cli_says(self):
        # send/recv/publish/receive raised only the errno's text: "send: Device or resource
        # busy" where the CLI says which live pid holds the producer role, "Message too long"
        # where it gives the sizes, and "receive: the other side is gone for good" for a
        # topic whose publisher closed, which another publisher may take over.
        u = self.uri()
        with shmkit.Queue.create(u, 4, 16) as q:
            holder = self.child("import shmkit, sys, time\n"
                                "q = shmkit.Queue.open(sys.argv[1]); q.send(b'a')\n"
                                "print('sent', flush=True); time.sleep(60)\n", u)
            wait_line(holder, "sent")
            cli = self.tool("send", u, "b", check=False).stderr.decode()
            e = self.assertOSError(OSError, errno.EBUSY, q.send, b"c")
            said = f"pid {holder.pid} is already its producer, and only one is allowed"
            self.assertIn(said, cli)
            self.assertIn(said, str(e))
            e = self.assertOSError(OSError, errno.EMSGSIZE, q.reserve, 17)
            self.assertIn("a message of 17 bytes is over the queue's max_msg of 16 bytes", str(e))
        t = self.uri()
        pub = shmkit.Publisher.create(t, 32, 4)
        e = self.assertOSError(OSError, errno.EMSGSIZE, pub.send, b"x" * 33)
        self.assertIn("a message of 33 bytes is over the topic's slot size of 32 bytes", str(e))
        with shmkit.Subscriber.open(t) as s:
            pub.close()
            e = self.assertOSError(BrokenPipeError, errno.EPIPE, s.recv, timeout=5)
            self.assertNotIn("for good", str(e))
            self.assertIn("no publisher has the topic open now", str(e))
            shmkit.Publisher.open(t).close()    # a new publisher: not the end, as it said

    def test_invalid_arguments(self):
        self.assertOSError(OSError, errno.EINVAL, shmkit.Segment, "nosuchscheme:/x", 4096,
                           create=True)
        self.assertOSError(OSError, errno.EINVAL, shmkit.Queue.create, self.uri(), 0, 16)
        with shmkit.Queue.create(self.uri(), 4, 16) as q:
            with self.assertRaises(TypeError):
                q.send("text is not bytes")
            with self.assertRaises(ValueError):
                q.recv(timeout=-1)
        with self.assertRaises(ValueError):
            q.recv()                                       # closed handle

    def test_bad_topic_sizes_say_which(self):
        # Publisher.create(u, 16, 0) said "create topic: Invalid argument" and nothing more,
        # where Queue.create(u, 0, 16) says "capacity 0 is not 1 to 1073741824 messages".
        u = self.uri()
        for args, says in (((0, 4), "slot_size 0 is not 1 to"), ((16, 0), "slots 0 is not 1 to"),
                           ((1 << 40, 4), "slot_size 1099511627776 is not 1 to"),
                           ((16, 1 << 30), "slots 1073741824 is not 1 to")):
            with self.subTest(args=args), self.assertRaises(OSError) as cm:
                shmkit.Publisher.create(u, *args)
            self.assertEqual(cm.exception.errno, errno.EINVAL)
            self.assertIn(says, str(cm.exception))
        with self.assertRaises(OSError) as cm:
            shmkit.Publisher.create(u, 16, 4, max_subs=5000)
        self.assertIn("max_subs 5000 is more than", str(cm.exception))

    def test_error_classes_are_oserrors(self):
        self.assertTrue(issubclass(shmkit.CorruptError, OSError))


if __name__ == "__main__":
    unittest.main()
