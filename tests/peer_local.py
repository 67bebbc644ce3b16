# SPDX-License-Identifier: MIT
"""Local side of the peer tests: feed msg(i) into a queue, or drain one to a file."""
import ctypes
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_proto import msg  # noqa: E402

LIB = ctypes.CDLL(os.environ.get("SHMKIT_LIB", "build/libshmkit.so"))
LIB.shmkit_queue_send.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int64]
LIB.shmkit_queue_recv.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int64]
LIB.shmkit_queue_recv.restype = ctypes.c_ssize_t


def open_queue(uri):
    q = ctypes.c_void_p()
    rc = LIB.shmkit_queue_open(ctypes.byref(q), uri.encode())
    if rc < 0:
        sys.exit("open %s: %d" % (uri, rc))
    return q


def feed(uri, first, count, sizes):
    q = open_queue(uri)
    for i in range(first, count):
        m = msg(i, sizes)
        rc = LIB.shmkit_queue_send(q, m, len(m), -1)
        if rc < 0:
            sys.exit("send %d: %d" % (i, rc))


def drain(uri, out, count, timeout_s):
    """Append each message to out (u32 length + bytes) until count are there."""
    q = open_queue(uri)
    buf = ctypes.create_string_buffer(1 << 21)
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    n = 0
    while n < count:
        r = LIB.shmkit_queue_recv(q, buf, len(buf), int(timeout_s * 1e9))
        if r < 0:
            sys.exit("recv after %d: %d" % (n, r))
        os.write(fd, struct.pack("<I", r) + buf.raw[:r])
        n += 1


if __name__ == "__main__":
    if sys.argv[1] == "feed":
        feed(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), [int(x) for x in sys.argv[5].split(",")])
    else:
        drain(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
