# SPDX-License-Identifier: MIT
"""Maps from Python: a MutableMapping of bytes, read back by `shmkit map ... get` and by C."""
import array
import threading
import unittest
from collections.abc import MutableMapping

from pyhelp import Case, check_no_leftovers, shmkit


def tearDownModule():
    check_no_leftovers()


class MapTest(Case):
    def test_mutable_mapping(self):
        with shmkit.Map.create(self.uri("m"), 1 << 20) as m:
            self.assertIsInstance(m, MutableMapping)
            m[b"a"] = b"1"
            m[bytearray(b"b")] = memoryview(b"2")
            m.update({b"c": b"3"})
            self.assertEqual((m[b"a"], m[b"b"], len(m)), (b"1", b"2", 3))
            self.assertIn(b"c", m)
            self.assertNotIn(b"zz", m)
            self.assertNotIn("a", m)
            self.assertEqual(m.get(b"zz", b"dflt"), b"dflt")
            self.assertEqual(m.get("a", b"dflt"), b"dflt")   # as `"a" in m` (it raised)
            # bytes-like, as documented: an array's bytes (it raised TypeError)
            m[array.array("B", b"arr")] = array.array("B", b"value")
            self.assertEqual(m[b"arr"], b"value")
            del m[b"arr"]
            with self.assertRaises(TypeError):
                m["str"] = b"x"
            self.assertEqual(sorted(m), [b"a", b"b", b"c"])
            self.assertEqual(dict(m.items()), {b"a": b"1", b"b": b"2", b"c": b"3"})
            big = bytes(range(256)) * 40                 # larger than the first buffer
            m[b"a"] = big
            self.assertEqual(m[b"a"], big)
            del m[b"a"]
            with self.assertRaises(KeyError):
                m[b"a"]
            with self.assertRaises(KeyError):
                del m[b"a"]
            self.assertEqual(m.pop(b"b"), b"2")
            with self.assertRaises(TypeError):
                m["text"] = b"x"                          # keys and values are bytes
            with self.assertRaises(TypeError):
                m[b"k"] = "text"
            m.clear()
            self.assertEqual(len(m), 0)

    def test_shared_between_handles(self):
        u = self.uri("m")
        with shmkit.Map.create(u, 1 << 16) as a, shmkit.Map.open(u) as b:
            a[b"k"] = b"v"
            self.assertEqual(b[b"k"], b"v")

    def test_python_writes_cli_and_c_read(self):
        u = self.uri("m")
        n = 200
        with shmkit.Map.create(u, 1 << 20) as m:
            for i in range(n):
                m[b"k%d" % i] = (b"v%d" % i) * i
        self.assertEqual(self.tool("map", u, "get", "k7").stdout.rstrip(b"\n"), b"v7" * 7)
        self.assertEqual(self.c_peer("map-get", u, "k12").stdout, b"v12" * 12)
        self.c_peer("map-check", u, str(n))
        self.assertEqual(self.tool("map", u, "count").stdout.strip(), str(n).encode())

    def test_persist(self):
        u, v = self.uri("m"), self.uri("m")
        shmkit.Map.create(u, 1 << 16, persist=True).close()
        shmkit.Map.create(v, 1 << 16).close()
        self.assertEqual((shmkit.stat(u)["persistent"], shmkit.stat(v)["persistent"]),
                         (True, False))
        with self.assertRaises(ValueError):
            shmkit.Map.create(self.uri("m"), 1 << 16, mode=0o1000000)

    def test_full_map_is_enospc_and_keeps_its_pairs(self):
        with shmkit.Map.create(self.uri("m"), 64 << 10) as m:
            with self.assertRaises(OSError) as e:
                for i in range(100000):
                    m[b"key%d" % i] = b"x" * 200
            self.assertEqual(e.exception.errno, 28)        # ENOSPC
            self.assertEqual(m[b"key0"], b"x" * 200)
            self.assertEqual(len(m), i)

    def test_threads_get_their_own_values(self):
        # one handle, two threads: each get's value is its own key's (a
        # receive buffer shared by the handle's threads, filled without the
        # GIL, gave one thread the other's value: about 2 % of gets)
        with shmkit.Map.create(self.uri("t"), 1 << 20) as m:
            want = {b"a": b"A" * 3000, b"b": b"B" * 3000}
            m.update(want)
            wrong = []

            def reader(key):
                n = 0
                for _ in range(30000):
                    n += m[key] != want[key] or m.get(key) != want[key]
                wrong.append(n)

            ts = [threading.Thread(target=reader, args=(k,)) for k in want]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            self.assertEqual(wrong, [0, 0])
            m[b"p"] = b"P" * 3000
            m[b"q"] = b"Q" * 3000
            got = {}

            def popper(key):
                got[key] = m.pop(key)

            ts = [threading.Thread(target=popper, args=(k,)) for k in (b"p", b"q")]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            self.assertEqual(got, {b"p": b"P" * 3000, b"q": b"Q" * 3000})


if __name__ == "__main__":
    unittest.main()
