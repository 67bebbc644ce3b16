# SPDX-License-Identifier: MIT
"""Shared by the Python binding's tests: unique segment names that are always removed,
the C tools, and Python child processes.

Every segment a test makes is named shmkit-test-<pid of this test>-py-... (what
.ci/leakcheck.sh looks for) and removed by a cleanup, even when the test fails; children
get their names from the parent. tearDownModule() of each test module then proves that
nothing with this process's prefix is left.
"""
from __future__ import annotations

import glob
import itertools
import os
import select
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("SHMKIT_SOURCE_DIR", os.path.normpath(os.path.join(HERE, "..", "..")))
BUILD = os.environ.get("SHMKIT_BINARY_DIR", os.path.join(SRC, "build"))
SHMKIT = os.environ.get("SHMKIT", os.path.join(BUILD, "shmkit"))
C_PEER = os.environ.get("SHMKIT_C_PEER", os.path.join(BUILD, "tests", "python", "py_c_peer"))
sys.path.insert(0, os.path.join(SRC, "python"))
os.environ.setdefault("PYTHONPATH", os.path.join(SRC, "python"))

import shmkit  # noqa: E402

PID = os.getpid()
PREFIX = f"shmkit-test-{PID}-py-"
_seq = itertools.count()
WAIT = 60        # seconds: generous bounds, the machine is shared


def remove_quietly(uri: str) -> None:
    try:
        shmkit.remove(uri)
    except FileNotFoundError:
        pass


def leftovers() -> list[str]:
    """Segments this test process's prefix still names."""
    found = glob.glob(f"/dev/shm/{PREFIX}*") + glob.glob(os.path.join(tempfile.gettempdir(),
                                                                      f"{PREFIX}*"))
    key_hi = 0x5B000000 | ((PID & 0xFFFF) << 8)
    try:
        with open("/proc/sysvipc/shm") as f:
            next(f)
            for line in f:
                key = int(line.split()[0]) & 0xFFFFFFFF
                if key & 0xFFFFFF00 == key_hi:
                    found.append(f"sysv:0x{key:08x}")
    except OSError:
        pass
    return found


def check_no_leftovers() -> None:
    """For tearDownModule: nothing this module made is left behind."""
    left = leftovers()
    for uri in left:     # leave the machine clean, then fail
        remove_quietly(uri if uri.startswith("sysv:") else "posix:/" + os.path.basename(uri))
    if left:
        raise AssertionError(f"segments left behind: {left}")


class Case(unittest.TestCase):
    """A TestCase whose uri() names are removed after the test, pass or fail."""

    def uri(self, tag: str = "seg", scheme: str = "posix") -> str:
        n = next(_seq)
        if scheme == "posix":
            u = f"posix:/{PREFIX}{tag}-{n}"
        elif scheme == "file":
            u = f"file:{tempfile.gettempdir()}/{PREFIX}{tag}-{n}"
        elif scheme == "sysv":
            u = f"sysv:0x{0x5B000000 | ((PID & 0xFFFF) << 8) | (n & 0xFF):08x}"
        else:
            raise ValueError(scheme)
        self.addCleanup(remove_quietly, u)
        return u

    def tool(self, *args: str, input: bytes | None = None, check: bool = True,
             timeout: float = WAIT) -> subprocess.CompletedProcess:
        """Run the shmkit CLI; fail the test (with its stderr) when check and it fails."""
        p = subprocess.run([SHMKIT, *args], input=input, capture_output=True, timeout=timeout)
        if check and p.returncode != 0:
            self.fail(f"shmkit {' '.join(args)}: exit {p.returncode}: {p.stderr.decode()}")
        return p

    def c_peer(self, *args: str, timeout: float = WAIT) -> subprocess.CompletedProcess:
        if not os.access(C_PEER, os.X_OK):
            self.skipTest(f"{C_PEER} not built")
        p = subprocess.run([C_PEER, *args], capture_output=True, timeout=timeout)
        if p.returncode != 0:
            self.fail(f"c_peer {' '.join(args)}: exit {p.returncode}: {p.stderr.decode()}")
        return p

    def peer(self, *args: str) -> subprocess.Popen:
        """The C peer running in the background, killed if the test ends first."""
        if not os.access(C_PEER, os.X_OK):
            self.skipTest(f"{C_PEER} not built")
        p = subprocess.Popen([C_PEER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(_reap, p)
        return p

    def child(self, code: str, *args: str, **kw) -> subprocess.Popen:
        """A Python child running code (sys.argv[1:] = args), killed if the test ends first."""
        p = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, **kw)
        self.addCleanup(_reap, p)
        return p

    def wait_child(self, p: subprocess.Popen, timeout: float = WAIT) -> str:
        """Wait for a child; fail with its stderr unless it exited 0; return its stdout."""
        out, err = p.communicate(timeout=timeout)
        if p.returncode != 0:
            self.fail(f"child exit {p.returncode}: {err.decode()}")
        return out.decode()


def _reap(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.kill()
    p.communicate()


def wait_line(p: subprocess.Popen, want: str, timeout: float = WAIT) -> None:
    """Read the child's stdout until a line equal to want (it says it is ready)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([p.stdout], [], [], left)[0]:
            break
        line = p.stdout.readline()
        if not line:
            raise AssertionError(f"child ended before saying {want!r}: "
                                 f"{p.stderr.read().decode()}")
        if line.decode().strip() == want:
            return
    raise AssertionError(f"child did not say {want!r} in {timeout} s")


def has_fd() -> bool:
    """The library has the pollable descriptors asyncio needs."""
    from shmkit import _lib
    return _lib.has("queue_fd") and _lib.has("sub_fd")
