# SPDX-License-Identifier: MIT
"""Topics from Python: fan-out to Python subprocesses (reliable: every message in order;
lossy: received + dropped = published, exactly), the CLI both ways, asyncio."""
import asyncio
import ctypes
import mmap
import struct
import subprocess
import time
import unittest

from pyhelp import SHMKIT, Case, check_no_leftovers, has_fd, shmkit, wait_line, _reap

SUBSCRIBER = """
import sys, struct, time, shmkit
s = shmkit.Subscriber.open(sys.argv[1])
slow = sys.argv[2] == "slow"
print("ready", flush=True)
got = []
try:
    while True:
        got.append(struct.unpack("<Q", s.recv(timeout=60))[0])
        if slow and len(got) % 64 == 1:
            time.sleep(0.005)          # fall behind: the lossy ring overwrites
except BrokenPipeError:                # the publisher closed and everything was read
    pass
assert all(a < b for a, b in zip(got, got[1:])), "out of order or repeated"
print(len(got), s.dropped, got[-1] if got else -1, flush=True)
"""


# A parent publishing, a child forked with the handle that exits without touching it.
FORK_AND_EXIT = """
import os, subprocess, sys, shmkit
u = sys.argv[1]
pub = shmkit.Publisher.create(u, 64, 8)
sub = shmkit.Subscriber.open(u)
pub.send(b"before")
pid = os.fork()
if pid == 0:
    sys.exit(0)                        # finalization closes the child's copies
os.waitpid(pid, 0)
print(shmkit.stat(u)["topic"]["publisher"])
pub.send(b"after")
for t in (5, 5, 0.2):                  # the last one waits: no BrokenPipeError
    try:
        print(sub.recv(timeout=t))
    except OSError as e:
        print(type(e).__name__.replace("TimeoutError", "timeout"))
other = subprocess.run([sys.executable, "-c", "import shmkit, sys; shmkit.Publisher.open(sys.argv[1])",
                        u], capture_output=True, text=True)
print("EBUSY" if "Errno 16" in other.stderr else f"second publisher: {other.returncode}")
sub.close()
pub.close()
"""

def free_range(n: int) -> int:
    """A 2 MiB-aligned address with n bytes unmapped after it (for now), as
    tests/test_seg_addr.c finds one."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype, libc.mmap.argtypes = ctypes.c_void_p, [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    span = n + (2 << 20)
    p = libc.mmap(None, span, 0, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)  # 0: PROT_NONE
    assert p not in (None, ctypes.c_void_p(-1).value), "mmap failed"
    libc.munmap(p, span)
    return (p + (2 << 20) - 1) & ~((2 << 20) - 1)

def tearDownModule():
    check_no_leftovers()


class TopicTest(Case):
    def fan_out(self, reliable, n, subs=3, slow=False):
        u = self.uri("t")
        pub = shmkit.Publisher.create(u, slot_size=64, slots=16, reliable=reliable)
        kids = [self.child(SUBSCRIBER, u, "slow" if slow else "fast") for _ in range(subs)]
        for k in kids:
            wait_line(k, "ready")
        pack = struct.Struct("<Q").pack
        for i in range(n):
            pub.send(pack(i), timeout=30)
        self.assertEqual(pub.published, n)
        pub.close()
        return [tuple(map(int, self.wait_child(k, 120).split())) for k in kids]

    def test_reliable_fan_out_every_message_in_order(self):
        n = 20000
        for got, dropped, last in self.fan_out(True, n):
            self.assertEqual((got, dropped, last), (n, 0, n - 1))

    def test_lossy_accounting_is_exact(self):
        n = 20000
        results = self.fan_out(False, n, slow=True)
        for got, dropped, last in results:
            self.assertEqual(got + dropped, n)      # each message received or counted lost
        self.assertTrue(any(d > 0 for _, d, _ in results), "the slow readers lost nothing")

    def test_publisher_gone_then_broken_pipe(self):
        u = self.uri("t")
        pub = shmkit.Publisher.create(u, 32, 4)
        with shmkit.Subscriber.open(u) as s:
            pub.send(b"last words")
            pub.close()
            self.assertEqual(s.recv(timeout=5), b"last words")
            with self.assertRaises(BrokenPipeError):
                s.recv(timeout=5)
        with shmkit.Publisher.open(u) as again:     # a closed topic can be taken over
            self.assertEqual(again.published, 1)

    def test_forked_child_exit_leaves_the_publisher_publishing(self):
        # os.fork() with a Publisher open, and a child that never touches it: when the
        # child's interpreter exits, its finalization closes its copy of the handle. That
        # close must only close the copy (as a subscriber's does, pubsub(3) "shared by
        # fork"): it marked the parent's live publication closed, so subscribers got
        # BrokenPipeError while the parent still published and another process could
        # become a second publisher beside it.
        u = self.uri("t")
        out = self.wait_child(self.child(FORK_AND_EXIT, u))
        self.assertEqual(out.split(), ["active", "b'before'", "b'after'", "timeout",
                                       "EBUSY"], out)

    def test_subscriber_at_a_fixed_address(self):
        # ?addr= maps the topic at that address (shmkit_seg(3)). Subscriber.open() reads the
        # slot size with shmkit_topic_stat(uri), a look that also mapped at ?addr=, where the
        # subscription itself already was: FileExistsError, for every such URI.
        u = self.uri("t")
        a = free_range(4 << 20)
        with shmkit.Publisher.create(u, 64, 4) as pub, \
                shmkit.Subscriber.open(f"{u}?addr=0x{a:x}") as s:
            pub.send(b"at a fixed address")
            self.assertEqual(s.recv(timeout=5), b"at a fixed address")

    def test_loan_publish_guard(self):
        u = self.uri("t")
        with shmkit.Publisher.create(u, 32, 4) as pub, shmkit.Subscriber.open(u) as s:
            v = pub.loan(5)
            v[:] = b"loans"
            keep = v[1:]
            with self.assertRaises(BufferError):
                pub.publish()
            del keep
            pub.publish()
            self.assertEqual(s.recv(timeout=5), b"loans")

    def test_cli_both_ways(self):
        u = self.uri("t")
        with shmkit.Publisher.create(u, 64, 16) as pub:
            sub = subprocess.Popen([SHMKIT, "sub", u, "--count", "2", "--timeout", "30"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.addCleanup(_reap, sub)
            deadline = time.monotonic() + 30
            while not shmkit.stat(u)["topic"]["subscribers"] and time.monotonic() < deadline:
                time.sleep(0.01)                     # until the CLI has joined
            pub.send(b"to the"), pub.send(b"cli")
            out, err = sub.communicate(timeout=30)
            self.assertEqual(out, b"to the\ncli\n", err)
        u2 = self.uri("t")
        self.tool("topic", "create", u2)
        with shmkit.Subscriber.open(u2) as s:
            self.tool("pub", u2, "from", "the cli")
            self.assertEqual([s.recv(timeout=10), s.recv(timeout=10)], [b"from", b"the cli"])

    def test_asyncio_subscriber(self):
        if not has_fd():
            self.skipTest("this libshmkit has no shmkit_sub_fd yet")
        u = self.uri("t")

        async def main(s, pub):
            loop = asyncio.get_running_loop()
            loop.call_later(0.1, pub.send, b"late")
            first = await s.recv_async()
            pub.close()
            with self.assertRaises(BrokenPipeError):
                await s.recv_async()
            return first

        with shmkit.Publisher.create(u, 32, 4) as pub, shmkit.Subscriber.open(u) as s:
            self.assertEqual(asyncio.run(asyncio.wait_for(main(s, pub), 30)), b"late")


if __name__ == "__main__":
    unittest.main()
