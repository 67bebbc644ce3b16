# SPDX-License-Identifier: MIT
"""Check a peer test's output file: messages 0..N-1 (peer_proto.msg), once each, in order."""
import os, struct, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_proto import msg
def read(out):
    data = open(out, "rb").read(); off = 0; r = []
    while off + 4 <= len(data):
        ln = struct.unpack("<I", data[off:off+4])[0]; r.append(data[off+4:off+4+ln]); off += 4 + ln
    return r
def check(out, n, sizes):
    got = read(out)
    bad = [i for i, m in enumerate(got[:n]) if m != msg(i, sizes)]
    print("got", len(got), "want", n, "first bad", bad[:5], "extra", len(got) - n)
    if bad:
        i = bad[0]; print("at", i, "got", got[i][:20], "want", msg(i, sizes)[:20])
    return len(got) == n and not bad
if __name__ == "__main__":
    sys.exit(0 if check(sys.argv[1], int(sys.argv[2]), [int(x) for x in sys.argv[3].split(",")]) else 1)
