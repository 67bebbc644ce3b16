# SPDX-License-Identifier: MIT
"""Segments from Python: the memoryview, its guard, numpy without copies, and interop with
multiprocessing.shared_memory and the shmkit CLI both ways; stat/list as the CLI's JSON."""
import ctypes
import json
import os
import struct
import subprocess
import unittest

from pyhelp import BUILD, Case, _reap, check_no_leftovers, shmkit, wait_line

try:
    import numpy
except ImportError:
    numpy = None


def tearDownModule():
    check_no_leftovers()


class SegmentTest(Case):
    def test_buf_is_the_shared_memory(self):
        u = self.uri()
        with shmkit.Segment(u, 4096, create=True) as a, shmkit.Segment(u) as b:
            self.assertEqual((a.size, b.size, len(a.buf)), (4096, 4096, 4096))
            self.assertFalse(a.buf.readonly)
            struct.pack_into("<Q", a.buf, 8, 0x1122334455667788)
            self.assertEqual(struct.unpack_from("<Q", b.buf, 8)[0], 0x1122334455667788)
            self.assertEqual(a.uri, u)
            self.assertGreaterEqual(a.fileno(), 0)
        self.assertTrue(a.closed)
        with self.assertRaises(ValueError):
            a.fileno()

    def test_create_flags(self):
        u = self.uri()
        with self.assertRaises(FileNotFoundError):
            shmkit.Segment(u)
        shmkit.Segment(u, 4096, exclusive=True).close()
        with self.assertRaises(FileExistsError):
            shmkit.Segment(u, 4096, exclusive=True)
        with shmkit.Segment(u, 4096, create=True) as s:       # create or open
            self.assertEqual(s.size, 4096)
        with shmkit.Segment(u, readonly=True) as r:
            self.assertTrue(r.buf.readonly)
            with self.assertRaises(TypeError):
                r.buf[0] = 1

    def test_close_refuses_while_views_live(self):
        s = shmkit.Segment(self.uri(), 4096, create=True)
        part = s.buf[100:200]
        with self.assertRaises(BufferError):
            s.close()                       # part would point at unmapped memory
        self.assertFalse(s.closed)
        del part
        s.close()
        with self.assertRaises(ValueError):  # the view given out is released, not dangling
            s.buf[0]

    def test_close_refuses_while_ctypes_object_lives(self):
        s = shmkit.Segment(self.uri(), 4096, create=True)
        c = ctypes.c_uint64.from_buffer(s.buf, 8)
        c.value = 7
        with self.assertRaises(BufferError):
            s.close()
        del c
        s.close()

    def test_backends(self):
        for scheme in ("file", "sysv"):
            with self.subTest(scheme=scheme):
                u = self.uri(scheme=scheme)
                with shmkit.Segment(u, 8192, create=True) as a, shmkit.Segment(u) as b:
                    a.buf[:3] = b"abc"
                    self.assertEqual(bytes(b.buf[:3]), b"abc")
                    a.flush()
                shmkit.remove(u)
        with shmkit.Segment("anon:", 4096, create=True) as a:
            a.buf[0] = 9
            self.assertEqual(a.buf[0], 9)

    def test_interop_with_multiprocessing_shared_memory(self):
        from multiprocessing import resource_tracker, shared_memory

        # shmkit creates, multiprocessing attaches (in another process).
        u = self.uri("mp")
        name = u[len("posix:/"):]
        with shmkit.Segment(u, 4096, create=True) as s:
            s.buf[:6] = b"shmkit"
            p = self.child(
                "import sys\nfrom multiprocessing import shared_memory, resource_tracker\n"
                "m = shared_memory.SharedMemory(name=sys.argv[1])\n"
                # Python < 3.13 would unlink an attached segment at exit: stop that.
                "resource_tracker.unregister(m._name, 'shared_memory')\n"
                "print(bytes(m.buf[:6]).decode()); m.buf[6:9] = b'+mp'; m.close()\n", name)
            self.assertEqual(self.wait_child(p).strip(), "shmkit")
            self.assertEqual(bytes(s.buf[:9]), b"shmkit+mp")
        # multiprocessing creates, shmkit opens it by URI.
        m = shared_memory.SharedMemory(create=True, size=8192, name=f"{name}-2")
        try:
            m.buf[:5] = b"hello"
            with shmkit.Segment("posix:/" + m.name.lstrip("/")) as s:
                self.assertEqual(s.size, 8192)
                self.assertEqual(bytes(s.buf[:5]), b"hello")
                s.buf[:5] = b"HELLO"
            self.assertEqual(bytes(m.buf[:5]), b"HELLO")
        finally:
            m.close()
            m.unlink()

    def test_interop_with_the_cli(self):
        u = self.uri("cli")
        self.tool("create", u, "4096")
        self.tool("write", u, "from the cli")
        with shmkit.Segment(u) as s:
            self.assertEqual(bytes(s.buf[:13]), b"from the cli\0")
            s.buf[:15] = b"python was here"
            s.buf[15] = 0
        self.assertEqual(self.tool("read", u).stdout.decode().strip(), "python was here")
        self.tool("rm", u)
        with self.assertRaises(FileNotFoundError):
            shmkit.stat(u)

    def test_stat_and_list_match_the_cli_json(self):
        u = self.uri("stat")
        with shmkit.Segment(u, 12288, create=True, mode=0o640):
            mine = shmkit.stat(u)
            cli = json.loads(self.tool("stat", "--json", u).stdout)
            for t in ("atime", "mtime", "ctime", "dtime"):
                mine.pop(t), cli.pop(t)
            self.assertEqual(mine, cli)
            self.assertEqual((mine["size"], mine["mode"], mine["backend"]), (12288, "0640", "posix"))
            self.assertIn(os.getpid(), [m["pid"] for m in mine["mappers"]])
            listed = [d for d in shmkit.list() if d["uri"] == u]
            self.assertEqual(len(listed), 1)
            self.assertEqual(set(listed[0]), set(cli) | {"atime", "mtime", "ctime", "dtime"})
        q = self.uri("q")
        with shmkit.Queue.create(q, 4, 16):
            listed = [d for d in shmkit.list() if d["uri"] == q][0]
            self.assertEqual((listed["kind"], listed["header_status"]), ("queue", "ok"))
            self.assertNotIn("queue", listed)          # list never opens the objects
            # ls of q, not of the machine: a segment another test truncates
            # meanwhile stops a whole-machine ls by SIGBUS (a documented limit)
            cli = [d for d in json.loads(self.tool("ls", "--json", q).stdout)["segments"]
                   if d["uri"] == q][0]
            volatile = {"atime", "mtime", "ctime", "dtime", "mappers", "n_mappers",
                        "attach_count", "attached_processes"}
            self.assertEqual({k: v for k, v in listed.items() if k not in volatile},
                             {k: v for k, v in cli.items() if k not in volatile})

    def test_a_removed_name_still_mapped_is_told_apart(self):
        # Made again under the name while the old one is still mapped: both
        # print the same URI, and the old row's URI names the new segment.
        # The old one says lifetime "deleted" and "deleted": true (it said
        # "kernel", nothing marked it), in the CLI's JSON, its table and here.
        u = self.uri("gone")
        with shmkit.Segment(u, 8192, create=True):
            shmkit.remove(u)
            with shmkit.Segment(u, 4096, exclusive=True):
                mine = sorted((d["size"], d["lifetime"], d["deleted"])
                              for d in shmkit.list() if d["uri"] == u)
                self.assertEqual(mine, [(4096, "kernel", False), (8192, "deleted", True)])
                cli = sorted((d["size"], d["lifetime"], d["deleted"])
                             for d in json.loads(self.tool("ls", "--json", u).stdout)["segments"]
                             if d["uri"] == u)
                self.assertEqual(cli, mine)
                rows = self.tool("ls", "-r", "-n", "-b", "-o", "SIZE,LIFETIME", u).stdout.split(b"\n")
                self.assertEqual(sorted(r for r in rows if r), [b"4096 kernel", b"8192 deleted"])

    def test_stat_of_objects_matches_the_cli_json(self):
        volatile = {"atime", "mtime", "ctime", "dtime", "mappers", "n_mappers", "attach_count",
                    "attached_processes", "last_pid"}
        q, t, m = self.uri("q"), self.uri("t"), self.uri("m")
        with shmkit.Queue.create(q, 16, 64) as qq, shmkit.Publisher.create(t, 128, 8) as pp, \
                shmkit.Map.create(m, 1 << 16) as mm:
            qq.send(b"x")
            pp.send(b"hello")
            mm[b"k"] = b"v"
            for u in (q, t, m):
                with self.subTest(uri=u):
                    mine = {k: v for k, v in shmkit.stat(u).items() if k not in volatile}
                    cli = json.loads(self.tool("stat", "--json", u).stdout)
                    self.assertEqual(mine, {k: v for k, v in cli.items() if k not in volatile})
            self.assertEqual(shmkit.stat(q)["queue"]["depth"], 1)
            self.assertEqual(shmkit.stat(m)["keys"], 1)
            self.assertEqual(shmkit.stat(t)["topic"]["publisher"], "active")
            self.assertEqual(shmkit.stat(t)["topic"]["bytes_published"], 5)


    def test_stat_only_looks(self):
        # shmkit.stat() read the "keys" and "heap" of a map (and a queue's "queue") by
        # opening the object to use it (shmkit_map_open, shmkit_heap_open, Queue.open): an
        # attach that writes into the segment, and waits on a map's lock. With the lock held
        # by a stopped process it took seconds and said "heap": None without "keys", where
        # `shmkit stat --json` takes them at once with looks (shmkit_heap_stat, a read-only
        # map, shmkit_queue_stat): the dicts are to match it.
        volatile = {"atime", "mtime", "ctime", "dtime", "mappers", "n_mappers", "attach_count",
                    "attached_processes", "last_pid"}
        holder = os.path.join(BUILD, "tests", "lock_holder")
        if not os.access(holder, os.X_OK):
            self.skipTest(f"{holder} not built")
        u = self.uri("m")
        with shmkit.Map.create(u, 1 << 16) as m:
            m[b"k"] = b"v"
            p = subprocess.Popen([holder, "map", u], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            self.addCleanup(_reap, p)
            wait_line(p, "locked")          # then stopped, holding the map's lock
            mine = shmkit.stat(u)
            cli = json.loads(self.tool("stat", "--json", u).stdout)
            self.assertEqual(cli["keys"], 1)
            self.assertEqual({k: v for k, v in mine.items() if k not in volatile},
                             {k: v for k, v in cli.items() if k not in volatile})

@unittest.skipIf(numpy is None, "numpy is not installed for this python3 (Debian: python3-numpy)")
class NumpyTest(Case):
    def test_array_shared_between_two_processes_without_copy(self):
        u = self.uri("np")
        n = 1 << 20
        with shmkit.Segment(u, n * 8, create=True) as s:
            a = numpy.frombuffer(s.buf, dtype=numpy.float64)
            # The array's data is the segment itself, not a copy of it.
            self.assertEqual(a.__array_interface__["data"][0],
                             ctypes.addressof(ctypes.c_char.from_buffer(s.buf)))
            a[:] = numpy.arange(n)
            p = self.child(
                "import sys, numpy, shmkit\n"
                "with shmkit.Segment(sys.argv[1]) as s:\n"
                "    a = numpy.frombuffer(s.buf, dtype=numpy.float64)\n"
                "    assert a[12345] == 12345.0\n"
                "    a *= 2                  # in place, in shared memory\n"
                "    print('done', flush=True)\n"
                "    del a\n", u)
            wait_line(p, "done")
            self.wait_child(p)
            self.assertEqual(a[12345], 24690.0)
            self.assertEqual(a.sum(), float(n * (n - 1)))
            with self.assertRaises(BufferError):
                s.close()          # the array still uses the memory
            del a


if __name__ == "__main__":
    unittest.main()
