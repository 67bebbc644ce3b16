# SPDX-License-Identifier: MIT
"""An independent queue peer of `shmkit bridge`, written from docs/BRIDGE.md alone.

    peer_proto.py recv ENDPOINT --bind|--connect --state FILE --out FILE [--max-msg B]
                       [--delay S] [--lazy-ack]
    peer_proto.py send ENDPOINT --bind|--connect --state FILE --count N [--sizes a,b,..]
                       [--window W] [--no-ack-ask]

The receiver (`in` side: ROUTER) appends each message it commits to --out as a
u32 length and the bytes; the file's record count is its queue's commit count,
and --state is its record (stream id, base_seq, base_pos), written by rename.
The sender (`out` side: DEALER) sends message i = msg(i) for i < N; --state
holds its stream id and the number of messages consumed (acknowledged).

Variations a peer written from the document may legitimately take, chosen by
the environment: PEER_WELCOME=full|flags|nomax|none (the receiver's WELCOME
body), PEER_BATCH_PAYLOAD=1 (the sender counts a BATCH's 64 KiB without the
u32 lengths), PEER_HELLO_MAX=B (the max_msg a HELLO announces),
PEER_LOSE_ACKS=1 (the sender never hears an ACK or NACK, as over a link that
loses them).
"""
import os
import struct
import sys
import time

import zmq

U64 = 2**64
MAGIC = b"SKB\x01"


def msg(i, sizes):
    """Message i: its number, then filler to the i-th size of the list."""
    n = sizes[i % len(sizes)]
    head = b"%d:" % i
    body = head + bytes((i + k) & 0xFF for k in range(max(0, n - len(head))))
    return body[:n] if n >= len(head) else body


def hdr(t, seq, flags=0):
    return MAGIC + t + bytes([flags]) + b"\0\0" + struct.pack("<Q", seq % U64)


def parse_hdr(f):
    if len(f) != 16 or f[:4] != MAGIC:
        return None
    return chr(f[4]), f[5], struct.unpack("<Q", f[8:16])[0]


def log(*a):
    print("[peer %d %.3f]" % (os.getpid(), time.time() % 1000), *a, file=sys.stderr, flush=True)


def setup(sock, ep, bind):
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.HEARTBEAT_IVL, 1000)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3000)
    sock.setsockopt(zmq.HANDSHAKE_IVL, 5000)
    (sock.bind if bind else sock.connect)(ep)


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


# ---------------------------------------------------------------- receiver
class Receiver:
    def __init__(self, ep, bind, state, out, max_msg, delay, lazy):
        self.state, self.out, self.max_msg = state, out, max_msg
        self.delay, self.lazy = delay, lazy
        self.committed = self.load_out()
        self.fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.stream = None
        self.base_seq = self.base_pos = 0
        if os.path.exists(state):
            d = open(state, "rb").read()
            self.stream = d[:16]
            self.base_seq, self.base_pos = struct.unpack("<QQ", d[16:32])
            if self.base_pos > self.committed:
                self.stream = None
        self.start = time.monotonic()
        self.heard = None           # when the record's sender was last heard from
        self.welcomed = set()
        self.sender = None          # the stream's sender's routing id
        self.asks = False
        self.nacked_at = None
        self.resync_at = {}
        self.sock = zmq.Context().socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.ROUTER_HANDOVER, 1)
        self.sock.setsockopt(zmq.MAXMSGSIZE, max(max_msg, 65536))
        setup(self.sock, ep, bind)
        self.stats = dict(committed=0, dup=0, nack=0, hello=0, refused=0, resync=0, bad=0)

    def load_out(self):
        """Committed messages: whole records in the file (a torn tail is cut)."""
        if not os.path.exists(self.out):
            return 0
        data = open(self.out, "rb").read()
        n = off = 0
        while off + 4 <= len(data):
            ln = struct.unpack("<I", data[off:off + 4])[0]
            if off + 4 + ln > len(data):
                break
            off += 4 + ln
            n += 1
        if off != len(data):
            os.truncate(self.out, off)
        return n

    @property
    def expected(self):
        return (self.base_seq + self.committed - self.base_pos) % U64

    def record(self, stream, seq):
        self.stream, self.base_seq, self.base_pos = stream, seq % U64, self.committed
        write_atomic(self.state, stream + struct.pack("<QQ", self.base_seq, self.base_pos))

    def live(self):
        now = time.monotonic()
        if self.heard is not None and now - self.heard < 5:
            return True
        return self.heard is None and now - self.start < 5

    def send(self, rid, t, seq, body=None, flags=0):
        parts = [rid, hdr(t, seq, flags)] + ([body] if body is not None else [])
        try:
            self.sock.send_multipart(parts, zmq.NOBLOCK)
        except zmq.ZMQError as e:
            log("send", t, "failed", e)

    def hello(self, rid, seq, body):
        self.stats["hello"] += 1
        if len(body) != 24:
            self.stats["bad"] += 1
            return
        stream = body[:16]
        mm, fl = struct.unpack("<II", body[16:24])
        if self.stream is not None and stream != self.stream and self.live():
            self.stats["refused"] += 1
            log("refuse stream", stream.hex())
            self.send(rid, b"X", 0, struct.pack("<I", 1))
            return
        if self.stream is None or stream != self.stream:
            log("new stream", stream.hex(), "at", seq)
            self.record(stream, seq)
        elif (seq - self.expected) % U64 and (seq - self.expected) % U64 < U64 // 2:
            log("gap of", (seq - self.expected) % U64)
            self.record(stream, seq)
        self.sender, self.asks = rid, bool(fl & 1)
        self.heard = time.monotonic()
        self.welcomed.add(rid)
        self.nacked_at = None
        log("welcome", rid.hex(), "hello", seq, "expected", self.expected)
        wb = os.environ.get("PEER_WELCOME", "full")
        body = {"full": struct.pack("<II", 1, self.max_msg), "none": None,
                "flags": struct.pack("<I", 1), "nomax": struct.pack("<II", 1, 0)}[wb]
        self.batch_ok = wb != "none"
        self.send(rid, b"W", self.expected, body)

    def commit(self, m):
        if self.delay:
            time.sleep(self.delay)
        os.write(self.fd, struct.pack("<I", len(m)) + m)
        self.committed += 1
        self.stats["committed"] += 1

    def data(self, rid, t, seq, body):
        """Returns 'ack' if an ACK is due now."""
        if rid not in self.welcomed or rid != self.sender:
            now = time.monotonic()
            if now - self.resync_at.get(rid, 0) >= 0.1:
                self.resync_at[rid] = now
                self.stats["resync"] += 1
                self.send(rid, b"R", 0)
            return False
        self.stats["maxframe"] = max(self.stats.get("maxframe", 0), len(body))
        self.stats["maxrecs"] = self.stats.get("maxrecs", 0)
        if t == "B" and not self.batch_ok:
            self.stats["bad"] += 1
            log("a BATCH after a WELCOME without body")
            return False
        if t == "D":
            recs = [body]
        else:
            recs, off = [], 0
            while off + 4 <= len(body):
                ln = struct.unpack("<I", body[off:off + 4])[0]
                if off + 4 + ln > len(body):
                    break
                recs.append(body[off + 4:off + 4 + ln])
                off += 4 + ln
            self.stats["maxrecs"] = max(self.stats["maxrecs"], len(recs))
            if off != len(body) or not recs:
                self.stats["bad"] += 1
                return False
        dup = False
        for k, m in enumerate(recs):
            s = (seq + k) % U64
            d = (s - self.expected) % U64
            if d >= U64 // 2:
                self.stats["dup"] += 1
                dup = True
                continue
            if d > 0:
                if self.nacked_at != self.expected:
                    self.nacked_at = self.expected
                    self.stats["nack"] += 1
                    log("nack", self.expected, "got", s)
                    self.send(rid, b"N", self.expected)
                break
            if len(m) > self.max_msg:
                self.send(rid, b"X", 0, struct.pack("<II", 2, self.max_msg))
                break
            self.commit(m)
        return dup

    def run(self, until, linger=3.0):
        """Until `until` are committed, then `linger` seconds more: a sender
        restarted meanwhile hears from its WELCOME what it may consume."""
        last_ack_exp = None
        last_commit = None
        end = None
        while until is None or end is None or time.monotonic() < end:
            if end is None and until is not None and self.committed >= until:
                end = time.monotonic() + linger
            if not self.sock.poll(10):
                if (last_commit is not None and self.sender is not None
                        and time.monotonic() - last_commit > 0.001
                        and last_ack_exp != self.expected):
                    self.send(self.sender, b"A", self.expected)
                    last_ack_exp = self.expected
                continue
            ack_now = False
            before = self.committed
            while True:
                try:
                    parts = self.sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                rid, rest = parts[0], parts[1:]
                h = parse_hdr(rest[0]) if rest else None
                if h is None:
                    self.stats["bad"] += 1
                    continue
                t, flags, seq = h
                if self.stream is not None and rid == b"SKBS" + self.stream:
                    self.heard = time.monotonic()
                if t == "H":
                    self.hello(rid, seq, rest[1] if len(rest) > 1 else b"")
                elif t in "DB" and len(rest) > 1:
                    dup = self.data(rid, t, seq, rest[1])
                    ack_now |= dup or bool(flags & 1) or not self.lazy or not self.asks
                elif t == "P":
                    pass
                else:
                    self.stats["bad"] += 1
                if self.committed - before >= 256:
                    break
            if self.committed != before:
                last_commit = time.monotonic()
            if self.sender is not None and (ack_now or self.committed - before >= 256):
                self.send(self.sender, b"A", self.expected)
                last_ack_exp = self.expected
        # final ACK so the sender can consume the last ones
        if self.sender is not None:
            self.send(self.sender, b"A", self.expected)
        time.sleep(0.2)
        log("receiver done", self.stats)


# ---------------------------------------------------------------- sender
class Sender:
    def __init__(self, ep, bind, state, count, sizes, window, ask):
        self.state, self.n, self.sizes, self.window, self.ask = state, count, sizes, window, ask
        if os.path.exists(state):
            d = open(state, "rb").read()
            self.stream, self.acked = d[:16], struct.unpack("<Q", d[16:24])[0]
        else:
            self.stream, self.acked = os.urandom(16), 0
            self.persist()
        self.next = self.acked
        self.synced = False
        self.batch = False
        self.peer_max = 0
        self.sock = zmq.Context().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.ROUTING_ID, b"SKBS" + self.stream)
        self.sock.setsockopt(zmq.SNDHWM, 1000)
        setup(self.sock, ep, bind)
        self.hello_at = self.sent_at = 0.0
        self.progress_at = time.monotonic()
        self.stats = dict(sent=0, resent=0, hellos=0, nacks=0, ignored=0)
        self.high = 0               # highest number sent by this process + 1

    def persist(self):
        write_atomic(self.state, self.stream + struct.pack("<Q", self.acked))

    def consume(self, a):
        if a != self.acked:
            self.acked = a
            self.persist()
            self.progress_at = time.monotonic()

    def hello(self):
        self.synced = False
        self.stats["hellos"] += 1
        now = time.monotonic()
        self.hello_at = self.sent_at = now
        mm = int(os.environ.get("PEER_HELLO_MAX", max(self.sizes)))
        body = self.stream + struct.pack("<II", mm, 1 if self.ask else 0)
        try:
            self.sock.send_multipart([hdr(b"H", self.acked), body], zmq.NOBLOCK)
        except zmq.Again:
            pass

    def fill(self):
        half = max(1, self.window // 2)
        while self.synced and self.next < self.n and self.next - self.acked < self.window:
            first = self.next
            m0 = msg(first, self.sizes)
            if self.peer_max and len(m0) > self.peer_max:
                log("message", first, "longer than the receiver's max_msg", self.peer_max)
                sys.exit(3)
            if not self.batch or len(m0) >= 8192:
                recs, t = [m0], b"D"
            else:
                recs, total, t = [], 0, b"B"
                while (first + len(recs) < self.n and len(recs) < 256
                       and first + len(recs) - self.acked < self.window):
                    m = msg(first + len(recs), self.sizes)
                    cost = len(m) if os.environ.get("PEER_BATCH_PAYLOAD") else 4 + len(m)
                    if len(m) >= 8192 or total + cost > 65536 and recs:
                        break
                    if self.peer_max and len(m) > self.peer_max:
                        break
                    recs.append(m)
                    total += cost
            end = first + len(recs)
            flags = 1 if self.ask and end - self.acked >= half else 0
            body = recs[0] if t == b"D" else b"".join(struct.pack("<I", len(m)) + m for m in recs)
            try:
                self.sock.send_multipart([hdr(t, first, flags), body], zmq.NOBLOCK)
            except zmq.Again:
                return
            if first < self.high:
                self.stats["resent"] += len(recs)
            self.stats["sent"] += len(recs)
            self.high = max(self.high, end)
            self.next = end
            self.sent_at = time.monotonic()

    def on(self, t, seq, body):
        if t == "W":
            if self.synced:
                if not self.acked <= seq <= self.next:
                    self.hello()
                return
            if (seq - self.acked) % U64 >= U64 // 2:
                return                      # answers an older HELLO
            if seq - self.acked > self.n - self.acked:
                log("WELCOME past what the queue holds", seq)
                sys.exit(4)
            self.batch = len(body) >= 4 and bool(struct.unpack("<I", body[:4])[0] & 1)
            self.peer_max = struct.unpack("<I", body[4:8])[0] if len(body) >= 8 else 0
            self.consume(seq)
            self.next = self.acked
            self.synced = True
            self.progress_at = time.monotonic()
        elif t in "AN" and os.environ.get("PEER_LOSE_ACKS"):
            return                          # as if every ACK were lost on the way
        elif t in "AN":
            if not self.acked <= seq <= self.next:
                self.stats["ignored"] += 1
                self.hello()
                return
            self.consume(seq)
            if t == "N":
                self.stats["nacks"] += 1
                self.next = seq
        elif t == "R":
            self.next = self.acked
            self.hello()
        elif t == "X":
            log("REFUSED", body.hex())
            sys.exit(5)

    def run(self):
        self.hello()
        while self.acked < self.n:
            if self.sock.poll(10):
                while True:
                    try:
                        parts = self.sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    h = parse_hdr(parts[0])
                    if h:
                        self.on(h[0], h[2], parts[1] if len(parts) > 1 else b"")
            now = time.monotonic()
            if not self.synced:
                if now - self.hello_at >= 0.5:
                    self.hello()
                continue
            self.fill()
            if self.next > self.acked and now - self.progress_at > 2:
                log("no progress for 2 s: HELLO")
                self.next = self.acked
                self.progress_at = now
                self.hello()
            elif self.next == self.acked and now - self.sent_at >= 1:
                self.sent_at = now
                try:
                    self.sock.send_multipart([hdr(b"P", self.acked)], zmq.NOBLOCK)
                except zmq.Again:
                    pass
        log("sender done", self.stats)


def main(argv):
    mode, ep = argv[0], argv[1]
    opts = {}
    i = 2
    while i < len(argv):
        a = argv[i]
        if a in ("--bind", "--connect", "--lazy-ack", "--no-ack-ask"):
            opts[a] = True
            i += 1
        else:
            opts[a] = argv[i + 1]
            i += 2
    bind = "--bind" in opts
    if mode == "recv":
        r = Receiver(ep, bind, opts["--state"], opts["--out"], int(opts.get("--max-msg", 65536)),
                     float(opts.get("--delay", 0)), "--lazy-ack" in opts)
        r.run(int(opts["--until"]) if "--until" in opts else None)
    else:
        sizes = [int(x) for x in opts.get("--sizes", "16").split(",")]
        s = Sender(ep, bind, opts["--state"], int(opts["--count"]), sizes,
                   int(opts.get("--window", 1024)), "--no-ack-ask" not in opts)
        s.run()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
