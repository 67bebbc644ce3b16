# SPDX-License-Identifier: MIT
"""Hostile ZeroMQ peers against `shmkit bridge` (run by test_bridge_hostile.sh).

A foreign peer (pyzmq, speaking docs/BRIDGE.md by hand, or not at all) sends
what a careless or hostile network peer might: frames of wrong length, unknown
types and flags, sequence numbers backwards, repeated, far ahead and wrapping
near 2^64, hostile HELLOs, ACKs for messages never sent, floods of HELLOs and
reconnections, multipart messages, messages longer than the target takes,
frames of megabytes. Each scenario checks that the bridge lives, says why in
its log, holds no unbounded memory, and that a legitimate peer's messages
arrive exactly once, in order. Then the receiver's record file: truncated,
corrupt, too long, foreign, a FIFO, a symbolic link, a directory.
Every segment has a test-unique name and is removed at exit.
"""
import ctypes
import os
import re
import signal
import socket as pysocket
import shutil
import struct
import subprocess
import sys
import tempfile
import time

import zmq

SHMKIT = os.path.abspath(os.environ.get("SHMKIT", "build/shmkit"))
ID = os.getpid()
TMP = tempfile.mkdtemp(prefix="shmkit-hostile-")
os.environ["XDG_STATE_HOME"] = TMP + "/state"
CTX = zmq.Context()
SOCKETS = []


def socket(kind, ep=None, bind=False, **opts):
    """A socket closed at exit (pyzmq's Context.destroy may crash here)."""
    s = CTX.socket(kind)
    SOCKETS.append(s)
    s.setsockopt(zmq.LINGER, 0)
    for k, v in opts.items():
        s.setsockopt(getattr(zmq, k), v)
    if ep:
        (s.bind if bind else s.connect)(ep)
    return s
U64 = 2**64
fails = []
uris = []
procs = []


def check(cond, what):
    if not cond:
        fails.append(what)
        print("FAIL:", what, flush=True)
    return cond


def sh(*args, data=None, timeout=60):
    return subprocess.run([SHMKIT, *args], input=data, capture_output=True, timeout=timeout)


def make(kind, name, *opts):
    uri = f"posix:/shmkit-test-{ID}-hostile-{name}"
    uris.append(uri)
    r = sh(kind, "create", uri, *opts)
    assert r.returncode == 0, r.stderr
    return uri


def queue(name, cap=256, max_msg=64):
    return make("queue", name, "--capacity", str(cap), "--max-msg", str(max_msg))


def die_with_parent():
    """The bridges die with this script, whatever kills it."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def bridge(log, *args):
    p = subprocess.Popen([SHMKIT, "bridge", *args], stderr=open(log, "w"),
                         preexec_fn=die_with_parent)
    procs.append(p)
    return p


def stop(p):
    if p.poll() is None:
        p.terminate()
    try:
        return p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait()


def rss_kb(p):
    with open(f"/proc/{p.pid}/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS")).split()[1])


def depth(uri):
    out = sh("queue", "stat", uri).stdout.decode()
    return int(next(line for line in out.splitlines() if line.startswith("depth:")).split()[1])


def hdr(t, seq, flags=0, magic=b"SKB", version=1):
    return magic + bytes([version]) + t + bytes([flags]) + b"\0\0" + struct.pack("<Q", seq % U64)


def records(*ms):
    return b"".join(struct.pack("<I", len(m)) + m for m in ms)


def hello_body(stream, max_msg=64, flags=1):
    return stream + struct.pack("<II", max_msg, flags)


def dealer(ep, ident=None):
    # SNDTIMEO: a dead bridge leaves a peer's messages nowhere to go
    if ident:
        return socket(zmq.DEALER, ep, RCVTIMEO=5000, SNDTIMEO=5000, ROUTING_ID=ident)
    return socket(zmq.DEALER, ep, RCVTIMEO=5000, SNDTIMEO=5000)


def replies(s, want, limit=30.0):
    """Replies (type, seq, body frames) until one of type `want`, or `limit` seconds (a
    bridge just started on a loaded machine may take more than one receive timeout)."""
    got, end = [], time.monotonic() + limit
    while time.monotonic() < end:
        try:
            f = s.recv_multipart()
        except zmq.Again:
            continue
        got.append((f[0][4:5], struct.unpack("<Q", f[0][8:16])[0], f[1:]))
        if got[-1][0] == want:
            break
    return got


def log_has(log, text):
    with open(log) as f:
        return re.search(text, f.read()) is not None


def lines(n0, n1):
    return "".join(f"{i}\n" for i in range(n0, n1 + 1)).encode()


def feed(uri, n0, n1):
    return subprocess.Popen([SHMKIT, "send", uri, "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL).communicate(lines(n0, n1), timeout=60)


def garbage(s):
    """Everything a receiver must ignore, from a peer that is not the sender."""
    for f in ([b""], [b"x"], [hdr(b"D", 0)[:15]], [hdr(b"D", 0) + b"!"],
              [hdr(b"D", 0, magic=b"SKX"), b"m"], [hdr(b"D", 0, version=2), b"m"]):
        s.send_multipart(f)
    for t in b"HWDBANRPXZ\0\xff":  # every type, header alone, all flags set
        s.send_multipart([hdr(bytes([t]), 0, flags=0xFF)])
    for seq in (0, 1, 2, 10**6, U64 - 1, U64 - 2, 2**63):  # injected DATA and BATCH
        s.send_multipart([hdr(b"D", seq, flags=1), b"EVIL"])
        s.send_multipart([hdr(b"B", seq), records(b"EVIL1", b"EVIL2")])
    for body in (struct.pack("<I", 999) + b"short", struct.pack("<I", 0xFFFFFFFF), b"",
                 records(b"a") + b"\x01\0", b"\0\0\0"):  # lengths past the frame
        s.send_multipart([hdr(b"B", 0), body])
    s.send_multipart([hdr(b"D", 0), b"x" * 1000])  # longer than the queue takes
    s.send_multipart([hdr(b"D", 0), b"EVIL", b"extra1", b"extra2", b"extra3"])
    s.send_multipart([hdr(b"H", 0), b"short"])  # HELLO without its body
    # hostile HELLOs: another stream (refused while the sender is live),
    # all-ones fields, the real stream id from another routing id
    s.send_multipart([hdr(b"H", U64 - 1), hello_body(b"\xee" * 16, 0xFFFFFFFF, 0xFFFFFFFF)])
    s.send_multipart([hdr(b"H", 0), hello_body(b"\0" * 16, 0, 0) + b"more"])
    for t in b"AWNRX":
        s.send_multipart([hdr(bytes([t]), 5), b"\xff" * 8])


def scenario_third_peer():
    """A legitimate stream runs while other peers throw everything at the
    receiver: every legitimate message arrives once, in order; nothing the
    others sent is committed; the receiver lives and says why."""
    qa, qb = queue("a", cap=2048), queue("b", cap=2048)
    ep = f"ipc://{TMP}/q1"
    inlog, outlog = f"{TMP}/in1.log", f"{TMP}/out1.log"
    pin = bridge(inlog, "in", ep, qb, "--bind", "--state", f"{TMP}/q1.rec")
    pout = bridge(outlog, "out", qa, ep)
    feed(qa, 1, 500)
    got = sh("recv", qb, "--count", "500", "--timeout", "30").stdout
    check(got == lines(1, 500), "third peer: the stream before the attack")
    rss0 = rss_kb(pin)
    evil = dealer(ep)
    garbage(evil)
    feed(qa, 501, 1000)
    for _ in range(3):
        garbage(evil)
    for _ in range(2000):  # a HELLO flood of another stream
        evil.send_multipart([hdr(b"H", 0), hello_body(b"\xdd" * 16)])
    for i in range(100):  # a reconnection flood, each saying HELLO
        d = dealer(ep, b"flood%d" % i)
        d.send_multipart([hdr(b"H", i), hello_body(bytes([i]) * 16)])
        d.close()
    feed(qa, 1001, 1500)
    got = sh("recv", qb, "--count", "1000", "--timeout", "30").stdout
    check(got == lines(501, 1500), f"third peer: the stream during the attack ({len(got)} bytes)")
    check(sh("recv", qb, "--timeout", "0.3").returncode != 0, "third peer: a message was injected")
    check(pin.poll() is None, "third peer: the receiving bridge died")
    check(rss_kb(pin) - rss0 < 32768, f"third peer: receiver grew {rss_kb(pin) - rss0} KiB")
    evil.close()
    stop(pout)
    stop(pin)
    for text in ("DATA from a peer that is not the stream's sender", "header frame not 16 bytes",
                 "BATCH record length past the end", "HELLO without its 24-byte body",
                 "no SKB magic", "a type a receiver does not take", "frames past the body",
                 "[1-9][0-9]* senders? refused", "[0-9]{3,} rejected"):
        check(log_has(inlog, text), f"third peer: the receiver's log lacks '{text}'")


def scenario_intruder_at_sender():
    """A bound sending bridge with its receiver connected; a stranger
    connects too and forges replies (ACKs of everything, REFUSED, a
    WELCOME far ahead): the sender says so, sends nothing and consumes
    nothing while both are connected, and once the stranger leaves every
    message reaches the real receiver once, in order."""
    qa, qb = queue("ia", cap=2048), queue("ib", cap=2048)
    ep = f"ipc://{TMP}/q7"
    inlog, outlog = f"{TMP}/in7.log", f"{TMP}/out7.log"
    pout = bridge(outlog, "out", qa, ep, "--bind")
    pin = bridge(inlog, "in", ep, qb, "--state", f"{TMP}/q7.rec")
    feed(qa, 1, 100)
    check(sh("recv", qb, "--count", "100", "--timeout", "30").stdout == lines(1, 100),
          "intruder: the stream before it")
    evil = dealer(ep)
    for _ in range(50):
        if log_has(outlog, "a second receiving bridge connected"):
            break
        time.sleep(0.1)
    check(log_has(outlog, "a second receiving bridge connected"), "intruder: not said")
    feed(qa, 101, 300)
    for seq in (300, 10**6, U64 - 1):
        evil.send_multipart([hdr(b"A", seq)])
        evil.send_multipart([hdr(b"W", seq), struct.pack("<II", 1, 64)])
    evil.send_multipart([hdr(b"X", 0), struct.pack("<I", 1)])
    time.sleep(1)
    check(pout.poll() is None, "intruder: its REFUSED stopped the sender")
    # the first 100 may wait for the handshake after it (their ACK ignored)
    check(depth(qa) >= 200, f"intruder: {300 - depth(qa)} consumed of 100 committed")
    check(depth(qb) == 0, f"intruder: {depth(qb)} messages sent while two were connected")
    evil.setsockopt(zmq.RCVTIMEO, 100)
    data = [r for r in replies(evil, b"D", 0.5) if r[0] in (b"D", b"B")]
    check(not data, f"intruder: it was sent {len(data)} DATA/BATCH while two were connected")
    evil.close()
    got = sh("recv", qb, "--count", "200", "--timeout", "30").stdout
    check(got == lines(101, 300), f"intruder: the stream after it ({len(got)} bytes)")
    for _ in range(50):  # the last ACK reaches the sender
        if depth(qa) == 0:
            break
        time.sleep(0.1)
    check(depth(qa) == 0, f"intruder: {depth(qa)} delivered messages left unconsumed")
    check(log_has(outlog, "one receiving bridge connected .* again"), "intruder: the end not said")
    stop(pout)
    stop(pin)


def scenario_big_frames():
    """Frames of megabytes while the receiver holds a message (its queue
    full, so it reads nothing): ZeroMQ must not buffer them for it."""
    qa, qb = queue("c"), queue("d", cap=4)
    ep = f"ipc://{TMP}/q2"
    inlog = f"{TMP}/in2.log"
    pin = bridge(inlog, "in", ep, qb, "--bind", "--state", f"{TMP}/q2.rec")
    pout = bridge(f"{TMP}/out2.log", "out", qa, ep)
    feed(qa, 1, 50)  # fills qb: the receiver holds and reads nothing
    time.sleep(1)
    rss0 = rss_kb(pin)
    big = socket(zmq.DEALER, ep, SNDTIMEO=5000)
    for _ in range(12):
        big.send_multipart([hdr(b"D", 0), b"\xaa" * (8 << 20)])
    time.sleep(3)
    grew = rss_kb(pin) - rss0
    big.close()
    check(grew < 49152, f"big frames: the receiving bridge holds {grew} KiB of a peer's frames")
    got = sh("recv", qb, "--count", "50", "--timeout", "30").stdout
    check(got == lines(1, 50), "big frames: the stream")
    check(pin.poll() is None, "big frames: the receiving bridge died")
    stop(pout)
    stop(pin)


def scenario_pipe_fill():
    """Frames just under the limit while the receiver holds a message (its
    queue full, so it reads nothing): what one connection queues in the
    receiver is capped (ZMQ_RCVHWM, 4 MiB), not ZeroMQ's default of 1000
    such frames (63 MiB)."""
    qa, qb = queue("j"), queue("k", cap=4)
    ep = f"ipc://{TMP}/q8"
    pin = bridge(f"{TMP}/in8.log", "in", ep, qb, "--bind", "--state", f"{TMP}/q8.rec")
    pout = bridge(f"{TMP}/out8.log", "out", qa, ep)
    feed(qa, 1, 50)  # fills qb: the receiver holds and reads nothing
    time.sleep(1)
    rss0 = rss_kb(pin)
    fill = socket(zmq.DEALER, ep, SNDTIMEO=5000)
    for _ in range(600):
        fill.send_multipart([hdr(b"D", 0), b"\xab" * 66000])
    time.sleep(1.5)  # what the receiver holds once the frames have arrived
    grew = rss_kb(pin) - rss0
    fill.close()
    check(grew < 16384, f"pipe fill: the receiving bridge holds {grew} KiB of one peer's frames")
    got = sh("recv", qb, "--count", "50", "--timeout", "30").stdout
    check(got == lines(1, 50), "pipe fill: the stream")
    check(pin.poll() is None, "pipe fill: the receiving bridge died")
    stop(pout)
    stop(pin)


def scenario_own_stream():
    """The peer is the stream's sender itself and plays with its numbers."""
    q = queue("e")
    ep = f"ipc://{TMP}/q3"
    inlog = f"{TMP}/in3.log"
    pin = bridge(inlog, "in", ep, q, "--bind", "--state", f"{TMP}/q3.rec")
    s = dealer(ep, b"SKBS" + b"\x33" * 16)
    s.send_multipart([hdr(b"H", 0), hello_body(b"\x33" * 16)])
    w = replies(s, b"W")
    check(w and w[-1][0] == b"W" and w[-1][1] == 0, f"own stream: no WELCOME: {w}")
    body = w[-1][2][0] if w and w[-1][2] else b""
    check(len(body) >= 8 and struct.unpack("<II", body[:8]) == (1, 64),
          f"own stream: WELCOME body {body!r} (want flags 1, max_msg 64)")
    s.send_multipart([hdr(b"D", 0), b"a0"])
    s.send_multipart([hdr(b"D", 0), b"a0-again"])  # a repeat: a duplicate
    s.send_multipart([hdr(b"D", 5), b"a5"])  # ahead: NACK(1)
    check(any(r[:2] == (b"N", 1) for r in replies(s, b"N")), "own stream: no NACK(1)")
    s.send_multipart([hdr(b"D", 1), b"a1"])
    s.send_multipart([hdr(b"B", 1), records(b"a1-again", b"a2")])  # backwards overlap
    s.send_multipart([hdr(b"D", U64 - 1), b"far"])  # far ahead (near wrap)
    s.send_multipart([hdr(b"D", 3), b"y" * 65])  # longer than the queue takes
    r = replies(s, b"X")
    check(r and r[-1][0] == b"X" and r[-1][2] and struct.unpack("<II", r[-1][2][0][:8]) == (2, 64),
          f"own stream: a message too long is not REFUSED(too long, 64): {r}")
    s.send_multipart([hdr(b"D", 3), b"a3"])
    # a new stream of the same sender, starting just below 2^64: wraps
    s.send_multipart([hdr(b"H", U64 - 2), hello_body(b"\x34" * 16)])
    check(any(x[:2] == (b"W", U64 - 2) for x in replies(s, b"W")), "own stream: no WELCOME near 2^64")
    s.send_multipart([hdr(b"B", U64 - 2), records(b"w0", b"w1", b"w2", b"w3")])
    s.send_multipart([hdr(b"D", U64 - 1), b"w1-again"])
    s.send_multipart([hdr(b"D", 2), b"w4", b"extra"])
    time.sleep(0.5)
    got = sh("recv", q, "--count", "20", "--timeout", "1").stdout
    want = b"a0\na1\na2\na3\nw0\nw1\nw2\nw3\nw4\n"
    check(got == want, f"own stream: committed {got!r}, want {want!r}")
    check(pin.poll() is None, "own stream: the receiving bridge died")
    s.close()
    stop(pin)
    check(log_has(inlog, "longer than this queue takes"), "own stream: no log line for the long message")


def scenario_hostile_receiver():
    """The sending bridge talks to a hostile receiver: ACKs of messages never
    sent consume nothing; a receiver naming more than the queue holds, or
    too short a max_msg, stops it with nothing consumed."""
    q = queue("f")
    sh("send", q, "-", data=b"".join(b"message-%02d\n" % i for i in range(60)))
    ep = f"ipc://{TMP}/q4"
    r = socket(zmq.ROUTER, ep, bind=True, RCVTIMEO=5000)
    outlog = f"{TMP}/out4.log"
    p = bridge(outlog, "out", q, ep, "--window", "1")

    def recv_type(t):
        for _ in range(50):
            f = r.recv_multipart()
            if f[1][4:5] == t:
                return f
        raise AssertionError(f"no {t}")

    f = recv_type(b"H")
    peer, h = f[0], struct.unpack("<Q", f[1][8:16])[0]
    welcome = struct.pack("<II", 1, 64)
    r.send_multipart([peer, hdr(b"W", h), welcome])
    recv_type(b"D")
    for junk in ([b""], [b"SKB"], [hdr(b"A", h + 1, magic=b"XXX")], [hdr(b"Z", 0), b"?"],
                 [hdr(b"A", h, version=9)], [hdr(b"N", h), b"x", b"y", b"z"]):
        r.send_multipart([peer] + junk)
    r.send_multipart([peer, hdr(b"A", h + 50)])  # never sent: must not consume
    r.send_multipart([peer, hdr(b"N", h + 40)])
    recv_type(b"H")  # it asks where the receiver stands instead
    time.sleep(0.3)
    check(depth(q) == 60, f"hostile receiver: an ACK of messages never sent consumed some ({depth(q)} left)")
    check(p.poll() is None, "hostile receiver: the sending bridge stopped on a bogus ACK")
    r.send_multipart([peer, hdr(b"W", h + 1), welcome])  # the truth: it has one
    recv_type(b"D")
    r.send_multipart([peer, hdr(b"W", h + 1), struct.pack("<II", 1, 1)])  # max_msg 1
    check(p.wait(10) == 1, "hostile receiver: a receiver of 1-byte messages did not stop it")
    check(depth(q) == 59, f"hostile receiver: {depth(q)} left after a short max_msg (want 59)")
    check(log_has(outlog, "longer than the receiving queue takes"),
          "hostile receiver: no clear reason for the stop")
    check(log_has(outlog, "names messages never sent"), "hostile receiver: the bogus ACK is not logged")
    # a WELCOME past what the queue holds: stop, nothing consumed
    p = bridge(outlog, "out", q, ep)
    f = recv_type(b"H")
    r.send_multipart([f[0], hdr(b"W", struct.unpack("<Q", f[1][8:16])[0] + 10**6), welcome])
    check(p.wait(10) == 1, "hostile receiver: a WELCOME past the queue did not stop it")
    check(depth(q) == 59, f"hostile receiver: {depth(q)} left after a WELCOME past the queue")
    r.close()


def scenario_topic_in():
    """A hostile publisher: a multipart message is dropped whole, not
    published part by part; a message longer than the slots is dropped and
    counted; a frame of megabytes drops the link, which comes back."""
    t = make("topic", "ta", "--slots", "64", "--slot-size", "64")
    ep = f"ipc://{TMP}/t1"
    # XPUB_VERBOSE: a resubscription after the link came back is seen too
    pub = socket(zmq.XPUB, ep, bind=True, XPUB_VERBOSE=1, RCVTIMEO=10000)
    inlog = f"{TMP}/tin.log"
    p = bridge(inlog, "in", ep, t)
    sub = subprocess.Popen([SHMKIT, "sub", t, "--count", "3", "--timeout", "20"],
                           stdout=subprocess.PIPE)
    pub.recv()  # the bridge subscribed
    time.sleep(0.5)  # and the local subscriber joined
    pub.send(b"one")
    pub.send_multipart([b"envelope", b"payload", b"third"])
    pub.send(b"z" * 100)  # longer than a slot
    pub.send(b"two")
    pub.send(b"\xbb" * (2 << 20))  # past any frame it takes: the link drops
    while pub.recv()[:1] != b"\x01":  # ... and comes back, subscribing again
        pass
    time.sleep(0.2)
    pub.send(b"three")
    out, _ = sub.communicate(timeout=30)
    check(out == b"one\ntwo\nthree\n", f"topic in: local subscriber got {out!r}")
    check(p.poll() is None, "topic in: the bridge died")
    stop(p)
    pub.close()
    check(log_has(inlog, "a message of 3 frames"), "topic in: the multipart message is not logged")
    check(log_has(inlog, " 1 rejected"), "topic in: the multipart message is not counted")


EVIL_SUB = """
import sys, time, zmq
s = zmq.Context().socket(zmq.SUB)
s.connect(sys.argv[1])
for i in range(40):
    s.setsockopt(zmq.SUBSCRIBE, bytes([i]) * (1 << 20))
print("ready", flush=True)
time.sleep(60)
"""


def scenario_topic_out():
    """A hostile subscriber sends subscriptions of a megabyte: the PUB drops
    it at the first instead of storing them; a plain SUB still gets all."""
    t = make("topic", "tb", "--slots", "64", "--slot-size", "64", "--reliable")
    ep = f"ipc://{TMP}/t2"
    p = bridge(f"{TMP}/tout.log", "out", t, ep, "--bind")
    time.sleep(0.3)
    rss0 = rss_kb(p)
    # in a process of its own, killed: libzmq's own teardown of a megabyte
    # subscription recurses once per byte and overflows the stack (in the
    # bridge too, before it refused such frames: it died as the peer left)
    evil = subprocess.Popen([sys.executable, "-c", EVIL_SUB, ep], stdout=subprocess.PIPE,
                            preexec_fn=die_with_parent)
    evil.stdout.readline()
    good = socket(zmq.SUB, ep, SUBSCRIBE=b"", RCVTIMEO=10000)
    time.sleep(2)
    grew = rss_kb(p) - rss0
    check(grew < 20480, f"topic out: the bridge holds {grew} KiB of a peer's subscriptions")
    sh("pub", t, "-", data=lines(1, 100))
    got = [good.recv() for _ in range(100)]
    check(got == [str(i).encode() for i in range(1, 101)], "topic out: the plain SUB's messages")
    evil.kill()
    evil.wait()
    time.sleep(0.5)
    check(p.poll() is None, f"topic out: the bridge died (exit {p.poll()}) as the subscriber left")
    stop(p)


def good_record():
    """A record file a real stream left (scenario_third_peer's)."""
    with open(f"{TMP}/q1.rec", "rb") as f:
        return f.read()


def scenario_records():
    """Record files the receiver cannot use: exit 1 at once, saying which
    file and why; nothing committed, the sending queue keeps everything."""
    q = queue("g")
    rec = good_record()
    check(len(rec) == 64, f"records: the real record is {len(rec)} bytes")
    bad = {"truncated": rec[:40], "too long": rec + b"\0", "foreign": b"#!/bin/sh\n" * 20,
           "corrupt": rec[:44] + bytes([rec[44] ^ 1]) + rec[45:], "empty": b"",
           "newer version": rec[:4] + b"\x02" + rec[5:]}
    for what, data in bad.items():
        path = f"{TMP}/bad.rec"
        with open(path, "wb") as f:
            f.write(data)
        r = sh("bridge", "in", f"ipc://{TMP}/r1", q, "--bind", "--state", path, "--timeout", "1", timeout=10)
        err = r.stderr.decode()
        check(r.returncode == 1 and "record " + path in err, f"records: {what}: exit {r.returncode}: {err}")
    os.mkfifo(f"{TMP}/fifo.rec")
    os.symlink(f"{TMP}/q1.rec", f"{TMP}/link.rec")
    os.mkdir(f"{TMP}/dir.rec")
    for what in ("fifo", "link", "dir"):
        path = f"{TMP}/{what}.rec"
        try:
            r = sh("bridge", "in", f"ipc://{TMP}/r1", q, "--bind", "--state", path, "--timeout", "1", timeout=5)
        except subprocess.TimeoutExpired:
            check(False, f"records: a {what} in the record's place hangs the bridge")
            continue
        check(r.returncode == 1 and "record " + path in r.stderr.decode(),
              f"records: {what}: exit {r.returncode}: {r.stderr.decode()}")
    # a FIFO planted where the record's temporary file used to go: the
    # record is still written (a stream starts), nothing hangs
    qa, qb = queue("h"), queue("i")
    path = f"{TMP}/planted.rec"
    os.mkfifo(path + ".tmp")
    ep = f"ipc://{TMP}/r2"
    pin = bridge(f"{TMP}/in5.log", "in", ep, qb, "--bind", "--state", path)
    pout = bridge(f"{TMP}/out5.log", "out", qa, ep)
    feed(qa, 1, 100)
    r = sh("recv", qb, "--count", "100", "--timeout", "10")
    check(r.stdout == lines(1, 100), "records: a FIFO beside the record stops the stream")
    stop(pout)
    stop(pin)
    check(os.path.getsize(path) == 64 if os.path.exists(path) else False, "records: no record written")


def carries(topic, sub, within=30):
    """Publishes "before" on a lossy topic until SUB gets one, up to WITHIN
    seconds: what the bridge publishes before it has subscribed locally, and
    before the SUB's subscription has reached it, is lost uncounted
    (docs/BRIDGE.md), and a loaded machine takes longer than any fixed pause
    to get there (a fixed 0.8 s lost "before": 1 in 12 runs under load)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        sh("pub", topic, "before")
        if sub.poll(200):
            return sub.recv() == b"before"
    return False


def zmtp_stranger(path, frames):
    """A raw ZMTP 3.0 peer (NULL mechanism) calling itself a SUB that sends
    frames as they are: libzmq's SUB never sends an unsubscribe it did not
    subscribe, a stranger may."""
    s = pysocket.socket(pysocket.AF_UNIX)
    s.connect(path)
    s.sendall(b"\xff" + b"\0" * 8 + b"\x7f\x03\x00" + b"NULL".ljust(20, b"\0") + b"\0" * 32)
    body = b"\x05READY\x0bSocket-Type" + struct.pack(">I", 3) + b"SUB"
    s.sendall(bytes([0x04, len(body)]) + body)
    for f in frames:
        s.sendall(bytes([0x00, len(f)]) + f)
    return s


def scenario_fake_unsubscribe():
    """A stranger that subscribed nothing sends "\x00" (unsubscribe ""): the
    subscriber that did subscribe still gets what is published after."""
    t = make("topic", "tu", "--slots", "64", "--slot-size", "64")
    ep = f"ipc://{TMP}/t3"
    p = bridge(f"{TMP}/tuout.log", "out", t, ep, "--bind")
    good = socket(zmq.SUB, ep, SUBSCRIBE=b"", RCVTIMEO=5000)
    check(carries(t, good), "fake unsubscribe: the SUB's message before")
    stranger = zmtp_stranger(f"{TMP}/t3", [b"\x00"])
    time.sleep(0.5)
    sh("pub", t, "after")
    try:
        while (got := good.recv()) == b"before":  # a late one of carries()'s
            pass
        check(got == b"after", "fake unsubscribe: the SUB's message after")
    except zmq.Again:
        check(False, "fake unsubscribe: a stranger's \\x00 stopped the bridge for every subscriber")
    stranger.close()
    stop(p)


def timed_out(sig, frame):
    raise TimeoutError("over 60 s")


def main():
    signal.signal(signal.SIGTERM, lambda sig, frame: sys.exit(1))  # clean up first
    signal.signal(signal.SIGALRM, timed_out)
    scenarios = [scenario_third_peer, scenario_intruder_at_sender, scenario_big_frames,
                 scenario_pipe_fill, scenario_own_stream,
                 scenario_hostile_receiver, scenario_topic_in, scenario_topic_out, scenario_fake_unsubscribe,
                 scenario_records]
    only = sys.argv[1:]
    try:
        for sc in scenarios:
            if only and sc.__name__ not in only:
                continue
            t0 = time.monotonic()
            signal.alarm(60)
            try:
                sc()
            except Exception as e:  # a hang or a missing reply: a failure, go on
                check(False, f"{sc.__name__}: {type(e).__name__}: {e}")
            signal.alarm(0)
            print(f"{sc.__name__}: {time.monotonic() - t0:.1f} s", flush=True)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for u in uris:
            sh("rm", u)
        for s in SOCKETS:
            s.close(linger=0)
        CTX.term()
        if fails:
            for name in os.listdir(TMP):
                if name.endswith(".log"):
                    print(f"--- {name}:\n" + open(f"{TMP}/{name}").read()[-3000:])
        shutil.rmtree(TMP, ignore_errors=True)
    print("bridge_hostile:", "ok" if not fails else f"{len(fails)} failed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
