# SPDX-License-Identifier: MIT
"""python/bench.py runs and reports every row (a smoke test: speed is not judged here)."""
import json
import os
import subprocess
import sys
import unittest

from pyhelp import SRC


class BenchTest(unittest.TestCase):
    def test_quick_run_reports_all_rows(self):
        p = subprocess.Popen([sys.executable, os.path.join(SRC, "python", "bench.py"), "--quick",
                              "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = p.communicate(timeout=110)
        self.assertEqual(p.returncode, 0, err)
        doc = json.loads(out)
        self.assertEqual([r["transport"] for r in doc["rows"]],
                         ["shmkit.Queue", "multiprocessing.Queue", "multiprocessing.Pipe",
                          "socket.socketpair"])
        for r in doc["rows"]:
            self.assertGreater(r["msgs_per_s"], 0)
            self.assertGreater(r["latency_us"], 0)
        self.assertIn("throughput_vs_mp_queue", doc["goals"])
        self.assertFalse([f for f in os.listdir("/dev/shm") if f.startswith(
            f"shmkit-bench-py-{p.pid}")])


if __name__ == "__main__":
    unittest.main()
