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


if __name__ == "__main__":
    unittest.main()
