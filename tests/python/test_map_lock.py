# SPDX-License-Identifier: MIT
"""Map writes while another process is stopped (SIGSTOP: Ctrl-Z, a debugger) holding the
map's lock (tests/lock_holder). The C call used to wait inside the library without end, so
Ctrl-C did nothing until the holder ran again: now a write waits in slices, Ctrl-C raises
KeyboardInterrupt promptly with the map unchanged, close() from another thread ends the
wait, and put()/delete() take a timeout (TimeoutError naming the stopped holder)."""
import os
import signal
import subprocess
import threading
import time
import unittest

from pyhelp import BUILD, WAIT, Case, check_no_leftovers, shmkit, wait_line

HOLDER = os.environ.get("SHMKIT_LOCK_HOLDER", os.path.join(BUILD, "tests", "lock_holder"))
PROMPT = 0.5        # seconds from Ctrl-C to KeyboardInterrupt, at most
FALLBACK = 10       # seconds: then the holder is continued, so a broken wait ends the test


def tearDownModule():
    check_no_leftovers()


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def _stop_and_reap(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.kill()
    p.communicate()


class MapLockTest(Case):
    def setUp(self):
        if not os.access(HOLDER, os.X_OK):
            self.skipTest(f"{HOLDER} not built")
        self.u = self.uri("m")
        self.m = shmkit.Map.create(self.u, 1 << 16)
        self.addCleanup(self.m.close)
        self.m[b"k"] = b"old"

    def hold(self) -> subprocess.Popen:
        """A process stopped holding the map's lock."""
        p = subprocess.Popen([HOLDER, "map", self.u], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self.addCleanup(_stop_and_reap, p)
        wait_line(p, "locked")
        deadline = time.monotonic() + WAIT
        while _state(p.pid) != "T":
            self.assertLess(time.monotonic(), deadline, "the holder never stopped")
            time.sleep(0.01)
        return p

    def release(self, p: subprocess.Popen) -> None:
        os.kill(p.pid, signal.SIGCONT)
        self.assertEqual(p.wait(WAIT), 0)

    def assert_unchanged(self):
        # readers take no lock: they work beside the stopped holder
        self.assertEqual((len(self.m), self.m[b"k"], b"new" in self.m), (1, b"old", False))

    def interrupted(self, write) -> float:
        """Runs write() with SIGINT sent 0.3 s in; returns how long KeyboardInterrupt took
        after the signal."""
        sent = []

        def ctrl_c():
            sent.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGINT)

        timer = threading.Timer(0.3, ctrl_c)
        timer.start()
        self.addCleanup(timer.cancel)
        try:
            with self.assertRaises(KeyboardInterrupt):
                write()
        finally:
            timer.join()
        return time.monotonic() - sent[0]

    def test_ctrl_c_interrupts_a_waiting_write(self):
        holder = self.hold()
        # a write that never gives up would hang the test: continue the holder then
        rescue = threading.Timer(FALLBACK, os.kill, (holder.pid, signal.SIGCONT))
        rescue.start()
        self.addCleanup(rescue.cancel)
        for name, write in [("put", lambda: self.m.__setitem__(b"new", b"v")),
                            ("put over", lambda: self.m.__setitem__(b"k", b"new")),
                            ("del", lambda: self.m.__delitem__(b"k")),
                            ("iterate", lambda: list(self.m)),
                            ("put with a timeout", lambda: self.m.put(b"k", b"v", timeout=30))]:
            with self.subTest(name):
                took = self.interrupted(write)
                self.assertLess(took, PROMPT, f"{name}: Ctrl-C took {took:.2f} s")
                self.assertEqual(_state(holder.pid), "T", "the holder was continued")
        rescue.cancel()
        self.assert_unchanged()
        self.release(holder)
        self.m[b"new"] = b"v"                     # the holder gone, writes go through
        del self.m[b"new"]
        self.assert_unchanged()

    def test_timeout_raises_and_changes_nothing(self):
        holder = self.hold()
        for name, write in [("put", lambda t: self.m.put(b"new", b"v", timeout=t)),
                            ("delete", lambda t: self.m.delete(b"k", timeout=t))]:
            with self.subTest(name):
                t0 = time.monotonic()
                with self.assertRaises(TimeoutError) as e:
                    write(0.2)
                took = time.monotonic() - t0
                self.assertGreaterEqual(took, 0.2)
                self.assertLess(took, 0.2 + PROMPT)
                self.assertIn(f"held by pid {holder.pid} (stopped)", str(e.exception))
                self.assertIn("gave up after 0.2 s", str(e.exception))
                self.assertEqual(e.exception.filename, self.u)
                with self.assertRaises(BlockingIOError) as e:
                    write(0)
                self.assertIn(f"held by pid {holder.pid} (stopped)", str(e.exception))
        with self.assertRaises(TypeError):
            self.m.put(b"new", b"v", timeout="soon")
        self.assert_unchanged()
        # a timeout longer than the wait: the write waits, then goes through
        threading.Timer(0.3, os.kill, (holder.pid, signal.SIGCONT)).start()
        self.m.put(b"new", b"v", timeout=WAIT)
        self.assertEqual(holder.wait(WAIT), 0)
        self.m.delete(b"new", timeout=0)
        self.assert_unchanged()

    def test_close_from_another_thread_ends_the_wait(self):
        holder = self.hold()
        failed = []

        def write():
            try:
                self.m[b"new"] = b"v"
            except ValueError as e:
                failed.append(e)

        t = threading.Thread(target=write)
        t.start()
        time.sleep(0.3)
        self.m.close()                  # waits for the writer to leave, between two slices
        t.join(WAIT)
        self.assertFalse(t.is_alive())
        self.assertEqual(len(failed), 1, "the waiting write did not end with ValueError")
        self.assertIn("closed while waiting", str(failed[0]))
        self.release(holder)
        with shmkit.Map.open(self.u) as m:
            self.assertEqual(dict(m.items()), {b"k": b"old"})


if __name__ == "__main__":
    unittest.main()
