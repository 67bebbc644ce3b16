# SPDX-License-Identifier: MIT
"""Map methods beside other processes that change the map: items()/values() walk one
snapshot of the pairs (no KeyError for a key deleted meanwhile); pop(), popitem() take a
pair in one step (no KeyError when a default is given, never one value to two poppers)."""
import time
import unittest

from pyhelp import Case, check_no_leftovers, shmkit


def tearDownModule():
    check_no_leftovers()


CHURN = """
import random, sys, time, shmkit
m = shmkit.Map.open(sys.argv[1]); end = time.time() + float(sys.argv[2])
print("ready", flush=True)
while time.time() < end:
    k = b"k%04d" % random.randrange(300)
    try: del m[k]
    except KeyError: m[k] = b"v" * 40
"""

POPPER = """
import sys, shmkit
m = shmkit.Map.open(sys.argv[1]); n = int(sys.argv[2]); got = []
sys.stdin.readline()
for i in range(n):
    v = m.pop(b"%d" % i, None)
    if v is not None: got.append(i)
    if i % 2 == 0 and m.pop(b"x%d" % i, b"d") == b"d": pass
print(" ".join(map(str, got)))
"""


class MapRaceTest(Case):
    def test_items_values_while_deleting(self):
        u = self.uri("mrace")
        with shmkit.Map.create(u, 1 << 20) as m:
            for i in range(300):
                m[b"k%04d" % i] = b"v" * 40
            p = self.child(CHURN, u, "2.0")
            self.assertEqual(p.stdout.readline().strip(), b"ready")
            walks = 0
            end = time.monotonic() + 1.5
            while time.monotonic() < end:
                for k, v in m.items():                 # raised KeyError
                    self.assertEqual((k[:1], v), (b"k", b"v" * 40))
                for v in m.values():
                    self.assertEqual(v, b"v" * 40)
                d = dict(m.items())
                self.assertTrue(all(v == b"v" * 40 for v in d.values()))
                walks += 1
            self.wait_child(p)
            self.assertGreater(walks, 0)
            # the views still behave as views
            m.clear()
            m[b"a"] = b"1"
            self.assertIn((b"a", b"1"), m.items())
            self.assertNotIn((b"a", b"2"), m.items())
            self.assertIn(b"1", m.values())
            self.assertEqual((len(m.items()), len(m.values())), (1, 1))
            self.assertEqual(list(m.items()), [(b"a", b"1")])

    def test_pop_concurrent(self):
        u = self.uri("mpop")
        n = 4000
        with shmkit.Map.create(u, 4 << 20) as m:
            for i in range(n):
                m[b"%d" % i] = b"x"
            ps = [self.child(POPPER, u, str(n), stdin=__import__("subprocess").PIPE)
                  for _ in range(2)]
            for p in ps:
                p.stdin.write(b"go\n")
                p.stdin.flush()
            got = [set(map(int, self.wait_child(p).split())) for p in ps]
            self.assertEqual(got[0] & got[1], set())          # no value popped twice
            self.assertEqual(got[0] | got[1], set(range(n)))  # and none lost
            self.assertEqual(len(m), 0)

    def test_pop_popitem_setdefault(self):
        with shmkit.Map.create(self.uri("mpop1"), 1 << 20) as m:
            m[b"a"] = b"1"
            big = bytes(range(256)) * 40                      # larger than the first buffer
            m[b"big"] = big
            self.assertEqual(m.pop(b"big"), big)
            self.assertEqual(m.pop(b"a"), b"1")
            with self.assertRaises(KeyError):
                m.pop(b"a")
            self.assertEqual(m.pop(b"a", None), None)
            self.assertEqual(m.pop("str", 7), 7)              # not bytes-like: absent
            with self.assertRaises(TypeError):
                m.pop("str")
            m[b"e"] = b""
            self.assertEqual(m.pop(b"e"), b"")
            m.update({b"p": b"q", b"r": b"s"})
            got = {m.popitem(), m.popitem()}
            self.assertEqual(got, {(b"p", b"q"), (b"r", b"s")})
            with self.assertRaises(KeyError):
                m.popitem()
            self.assertEqual(m.setdefault(b"s", b"d"), b"d")
            self.assertEqual(m.setdefault(b"s", b"z"), b"d")
            m.clear()
            self.assertEqual(len(m), 0)


if __name__ == "__main__":
    unittest.main()
