#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""An independent reader (and SPSC producer/consumer) of shmkit objects,
written from docs/LAYOUT.md alone: standard library only (mmap, struct, os).

Run as a test (tests/test_layout_reader.sh): it makes objects with the real
CLI (build/shmkit), decodes them here from the documented offsets, and
compares with what the CLI says (stat/ls --json, heap stats, map ls). Any
drift between docs/LAYOUT.md and the code fails it. Every object's name
carries "lr<pid>" and is removed at the end.
"""
import json
import mmap
import os
import signal
import struct
import subprocess
import sys
import time

SHMKIT = os.environ.get("SHMKIT", "build/shmkit")
M64 = (1 << 64) - 1

# ---------------------------------------------------------------- helpers


class Corrupt(Exception):
    """What the C side must answer with -EBADMSG."""


def u8(b, o):
    return b[o]


def u32(b, o):
    return struct.unpack_from("<I", b, o)[0]


def u64(b, o):
    return struct.unpack_from("<Q", b, o)[0]


def need(cond, what):
    if not cond:
        raise Corrupt(what)


def uri_path(uri):
    if uri.startswith("posix:"):
        return "/dev/shm/" + uri[len("posix:"):].lstrip("/")
    if uri.startswith("file:"):
        return uri[len("file:"):]
    raise ValueError("reader handles posix: and file: only: " + uri)


def open_map(uri, write=False):
    fd = os.open(uri_path(uri), os.O_RDWR if write else os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        prot = mmap.PROT_READ | (mmap.PROT_WRITE if write else 0)
        return mmap.mmap(fd, size, mmap.MAP_SHARED, prot), size
    finally:
        os.close(fd)


def round_up(x, a):
    return (x + a - 1) // a * a


def ident(b, o):
    return {"pid": u32(b, o), "pidns": u32(b, o + 4), "start_time": u64(b, o + 8),
            "boot_id": bytes(b[o + 16:o + 32])}


def my_ident():
    with open("/proc/self/stat") as f:
        st = f.read()
    start = int(st[st.rindex(")") + 2:].split()[19])  # field 22
    with open("/proc/sys/kernel/random/boot_id") as f:
        boot = bytes.fromhex(f.read().strip().replace("-", ""))
    return {"pid": os.getpid(), "pidns": os.stat("/proc/self/ns/pid").st_ino,
            "start_time": start, "boot_id": boot}


def pack_ident(i):
    return struct.pack("<IIQ", i["pid"], i["pidns"], i["start_time"]) + i["boot_id"]


def store64(m, off, v):
    """One aligned 8-byte store (memoryview of 'Q': a single mov on x86-64)."""
    assert off % 8 == 0
    mv = memoryview(m).cast("B")[off:off + 8].cast("Q")
    mv[0] = v
    mv.release()


def load64(m, off):
    assert off % 8 == 0
    mv = memoryview(m).cast("B")[off:off + 8].cast("Q")
    v = mv[0]
    mv.release()
    return v


# ---------------------------------------------------------------- header

HDR = 4096
MAGIC = 0x0174694b6d685353
FINGERPRINT = 0x4c000804
KINDS = {1: "raw", 2: "queue", 3: "topic", 4: "heap", 5: "map"}


def read_header(b, real_size):
    need(real_size >= HDR, "segment smaller than the header")
    need(bytes(b[0:8]) == b"SShmKit\x01", "magic bytes")
    need(u64(b, 0) == MAGIC, "magic")
    need(u32(b, 8) == FINGERPRINT, "fingerprint")
    ver = u32(b, 12)
    if ver != 2:
        raise Corrupt("layout version %d (EPROTO)" % ver)
    kind = u32(b, 16)
    need(kind in KINDS, "kind %d" % kind)
    need(u32(b, 20) == HDR, "header_size")
    total = u64(b, 24)
    need(total == real_size, "total_size %d != real %d" % (total, real_size))
    need(u64(b, 32) == total - HDR, "body_size")
    init = u64(b, 40)
    state = (init >> 32) & 0xff
    need(state in (1, 2), "init state %d" % state)
    flags = u32(b, 52)  # bits other than 0: ignored (LAYOUT.md)
    need(u32(b, 96) == 64 and u32(b, 100) == 128, "attach geometry")
    need(bytes(b[104:128]) == bytes(24), "reserved0")
    need(bytes(b[2816:4096]) == bytes(1280), "reserved1")
    h = {"kind": KINDS[kind], "kind_no": kind, "total_size": total, "body_size": total - HDR,
         "init_pid": init & 0xffffffff, "state": state, "gen": init >> 40,
         "creator_gen": u32(b, 48), "persist": bool(flags & 1),
         "created_realtime": u64(b, 56), "creator": ident(b, 64), "attach": [], "roles": []}
    for i in range(64):
        w = u64(b, 128 + 32 * i)
        st = (w >> 32) & 0xff
        need(st in (0, 1, 2), "attach slot %d state %d" % (i, st))
        if st:
            h["attach"].append({"slot": i, "pid": w & 0xffffffff, "state": st, "gen": w >> 40,
                                "start_time": u64(b, 128 + 32 * i + 8),
                                "pidns": u32(b, 2176 + 8 * i),
                                "flags": u32(b, 2176 + 8 * i + 4)})
    for r in range(2):
        o = 2688 + 64 * r
        w = u64(b, o)
        h["roles"].append({"pid": w & 0xffffffff, "state": (w >> 32) & 0xff, "gen": w >> 40,
                           "id": ident(b, o + 8), "flags": u32(b, o + 40)})
    return h


# ---------------------------------------------------------------- queue

Q_SLOTS_OFF = 5440


def mpmc_stride(n):
    """The topic/MPMC stride rule for n = 16 + payload bytes."""
    lines = -(-n // 64)
    s = 16
    while True:
        g = gcd(s, 64)
        if s >= n and 64 - g + n <= 64 * lines:
            return s
        s += 16


def gcd(a, b):
    while b:
        a, b = b, a % b
    return a


def read_queue_cfg(b, body_size):
    q = HDR
    flags, cap, max_msg, stride = struct.unpack_from("<IIII", b, q)
    need(flags & ~0xf == 0, "queue flags 0x%x" % flags)
    mpmc = bool(flags & 3)
    need(mpmc or not flags & 0xc, "lease/peergen bits on an SPSC queue")
    need(1 <= cap <= 1 << 30 and cap & (cap - 1) == 0, "capacity")
    need(1 <= max_msg <= 1 << 30, "max_msg")
    if mpmc:
        need(stride in (mpmc_stride(16 + max_msg), round_up(16 + max_msg, 64)), "mpmc stride")
        hdr, markers = 16, 0
    else:
        need(stride == (64 if max_msg <= 56 else round_up(max_msg, 64)), "spsc stride")
        hdr = 8 if max_msg <= 56 else 0
        markers = 0 if max_msg <= 56 else Q_SLOTS_OFF + cap * stride
    need(u64(b, q + 16) == Q_SLOTS_OFF, "slots_off")
    need(u64(b, q + 24) == markers, "markers_off")
    need(u32(b, q + 32) == hdr, "slot_hdr")
    # the marker array is padded to a multiple of 64 bytes
    end = Q_SLOTS_OFF + cap * stride + (round_up(cap * 8, 64) if markers else 0)
    need(end <= body_size, "slots past the body")
    return {"flags": flags, "mpmc": mpmc, "capacity": cap, "max_msg": max_msg,
            "slot_stride": stride, "markers_off": markers, "slot_hdr": hdr, "end": end}


def queue_counters(b):
    q = HDR
    return {"tail": u64(b, q + 64), "bytes_sent": u64(b, q + 72), "head": u64(b, q + 128),
            "skipped": u64(b, q + 136), "abandoned": u64(b, q + 144),
            "bytes_received": u64(b, q + 152)}


def spsc_marker_off(c, p):
    i = p & (c["capacity"] - 1)
    if c["markers_off"]:
        return HDR + c["markers_off"] + 8 * i
    return HDR + Q_SLOTS_OFF + c["slot_stride"] * i


def spsc_payload_off(c, p):
    return HDR + Q_SLOTS_OFF + c["slot_stride"] * (p & (c["capacity"] - 1)) + c["slot_hdr"]


def spsc_pending(b, c):
    """The messages from head on, without consuming (the consumer's rule)."""
    h = u64(b, HDR + 128)
    out = []
    for k in range(c["capacity"]):
        p = h + k
        mk = u64(b, spsc_marker_off(c, p))
        pos, ln = mk >> 32, mk & 0xffffffff
        if pos == p & 0xffffffff:
            need(ln <= c["max_msg"], "length over max_msg")
            o = spsc_payload_off(c, p)
            out.append(bytes(b[o:o + ln]))
        elif pos == (p - c["capacity"]) & 0xffffffff:
            break
        else:
            raise Corrupt("marker at %d names position %d" % (p, pos))
    return out


def mpmc_pending(b, c):
    """Count and decode COMMITTED slots from the head hint (no claiming)."""
    cap = c["capacity"]
    out = []
    h = u64(b, HDR + 128)
    for k in range(cap):
        p = h + k
        o = HDR + Q_SLOTS_OFF + c["slot_stride"] * (p & (cap - 1))
        seq = u64(b, o)
        pos, tag = seq >> 8, seq & 0xff
        need((pos - (p & (cap - 1))) % cap == 0, "marker not congruent to its slot")
        if tag == 1 and pos == p & ((1 << 56) - 1):
            ln = u32(b, o + 8)
            need(ln <= c["max_msg"], "mpmc len")
            out.append(bytes(b[o + 16:o + 16 + ln]))
        elif tag == 0 or tag & 0xc0:
            if tag == 0 and pos == p & ((1 << 56) - 1):
                break
            if tag & 0x80 and pos == p & ((1 << 56) - 1):
                continue  # claimed, being read
            if tag == 0:
                continue  # freed for the next lap (the hint lags)
            break
        else:
            raise Corrupt("tag 0x%x" % tag)
    return out


# ---------------------------------------------------------------- SPSC roles


def claim_role(m, role):
    """Claim a role entry by plain stores: only when it is FREE (no racing
    claimant in the test: a real implementation uses CAS)."""
    o = 2688 + 64 * role
    w = load64(m, o)
    st = (w >> 32) & 0xff
    if st == 2:
        # held: only a dead holder may be replaced (identity check)
        pid = w & 0xffffffff
        if os.path.exists("/proc/%d" % pid):
            raise BlockingIOError("role %d held by live pid %d" % (role, pid))
    elif st != 0:
        raise BlockingIOError("role %d state %d" % (role, st))
    gen = (w >> 40) + 1
    me = my_ident()
    store64(m, o, os.getpid() | 1 << 32 | (gen & 0xffffff) << 40)
    m[o + 8:o + 40] = pack_ident(me)
    m[o + 40:o + 44] = struct.pack("<I", 0)
    store64(m, o, os.getpid() | 2 << 32 | (gen & 0xffffff) << 40)
    return gen


def release_role(m, role, gen):
    o = 2688 + 64 * role
    if load64(m, o) == os.getpid() | 2 << 32 | (gen & 0xffffff) << 40:
        store64(m, o, (gen & 0xffffff) << 40)


def spsc_send(m, c, msg):
    """Producer: marker after payload, then tail; no wake (consumers sleep in
    100 ms slices, so a sleeping consumer still sees it)."""
    t = load64(m, HDR + 64)
    h = load64(m, HDR + 128)
    if t - h >= c["capacity"]:
        return False
    assert len(msg) <= c["max_msg"]
    po = spsc_payload_off(c, t)
    m[po:po + len(msg)] = msg
    store64(m, spsc_marker_off(c, t), (t & 0xffffffff) << 32 | len(msg))
    store64(m, HDR + 64, t + 1)
    store64(m, HDR + 72, load64(m, HDR + 72) + len(msg))
    return True


def spsc_recv(m, c):
    h = load64(m, HDR + 128)
    mk = load64(m, spsc_marker_off(c, h))
    pos, ln = mk >> 32, mk & 0xffffffff
    if pos == (h - c["capacity"]) & 0xffffffff:
        return None
    need(pos == h & 0xffffffff, "marker position")
    need(ln <= c["max_msg"], "length")
    po = spsc_payload_off(c, h)
    msg = bytes(m[po:po + ln])
    store64(m, HDR + 128, h + 1)
    store64(m, HDR + 152, load64(m, HDR + 152) + ln)
    return msg


# ---------------------------------------------------------------- topic

T_MAGIC = 0x0031435042555354


def topic_stride_new(slot_size):
    return mpmc_stride(16 + slot_size)


def read_topic(b, body_size):
    t = HDR
    need(u64(b, t) == T_MAGIC, "topic magic")
    need(bytes(b[t:t + 8]) == b"TSUBPC1\x00", "topic magic bytes")
    slot_size, slots, stride, subs_off, ring_off = struct.unpack_from("<QQQQQ", b, t + 8)
    max_subs, reliable = struct.unpack_from("<II", b, t + 48)
    bsize = u64(b, t + 56)
    need(1 <= slot_size <= 1 << 32 and 1 <= slots <= 1 << 24 and max_subs <= 4096, "limits")
    need(stride in (topic_stride_new(slot_size), round_up(16 + slot_size, 64)), "stride")
    need(subs_off == 256, "subs_off")
    need(ring_off == round_up(256 + 128 * max_subs, 4096), "ring_off")
    need(bsize == ring_off + slots * stride, "topic body_size")
    need(bsize <= body_size, "topic body past the segment")
    need(reliable in (0, 1), "reliable")
    head = u64(b, t + 64)
    ps = u64(b, t + 72)
    top = {"slot_size": slot_size, "slots": slots, "slot_stride": stride, "max_subs": max_subs,
           "reliable": reliable, "head": head, "pub_state": ps & 0xff, "pub_gen": ps >> 8,
           "pub_ident": ident(b, t + 80), "bytes_published": u64(b, t + 112),
           "act_state": u64(b, t + 200), "act_ident": ident(b, t + 208),
           "n_subs": u32(b, t + 136), "subs": [], "messages": []}
    for i in range(max_subs):
        o = t + subs_off + 128 * i
        s = u64(b, o)
        if s & 0xff:
            need(s & 0xff in (1, 2), "sub state")
            top["subs"].append({"index": i, "state": s & 0xff, "gen": s >> 8,
                                "ident": ident(b, o + 8), "pos": u64(b, o + 40),
                                "dropped": u64(b, o + 48), "bytes_received": u64(b, o + 72)})
    first = max(0, head - slots)
    for i in range(first, head):
        o = t + ring_off + stride * (i % slots)
        seq = u64(b, o)
        need(seq <= 2 * head, "slot names a message past head")
        if seq == 2 * i + 2:
            ln = u64(b, o + 8)
            need(ln <= slot_size, "topic len")
            top["messages"].append((i, bytes(b[o + 16:o + 16 + ln])))
    return top


# ---------------------------------------------------------------- heap

H_MAGIC = 0x3170616568746b73
TAG = 0x4b4c4200


def heap_geometry(seg_size):
    bitmap_off = 4096 + 5888
    bitmap_bytes = round_up(-(-(seg_size - bitmap_off) // 16 // 64) * 8, 64)
    arena_off = bitmap_off + bitmap_bytes
    arena_end = arena_off + min((seg_size - arena_off) // 16 * 16, (16 * (2**32 - 1)) // 16 * 16)
    return bitmap_off, bitmap_bytes, arena_off, arena_end


def ceil_div(a, b):
    return -(-a // b)


def heap_bin(size):
    if size <= 528:
        return size // 16 - 2
    return min(32 + (size // 16).bit_length() - 1 - 5, 63)


def read_heap(b, real_size):
    o = HDR
    need(u64(b, o) == H_MAGIC and bytes(b[o:o + 8]) == b"sktheap1", "heap magic")
    ver = u32(b, o + 8)
    if ver != 1:
        raise Corrupt("heap version %d (EPROTO)" % ver)
    need(u32(b, o + 12) == 64, "nbins")
    seg_size = u64(b, o + 16)
    need(seg_size <= real_size, "seg_size")
    bm, bmb, ao, ae = heap_geometry(seg_size)
    need((u64(b, o + 24), u64(b, o + 32), u64(b, o + 40)) == (bm, ao, ae), "heap geometry")
    hp = {"seg_size": seg_size, "bitmap_off": bm, "arena_off": ao, "arena_end": ae,
          "root": u64(b, o + 48), "hj_op": u32(b, o + 128), "oj_op": u32(b, o + 144),
          "nonempty": u64(b, o + 176), "bins": [u64(b, o + 184 + 8 * i) for i in range(64)],
          "used_bytes": u64(b, o + 696), "free_bytes": u64(b, o + 704),
          "n_used": u64(b, o + 712), "n_free": u64(b, o + 720), "blocks": [], "names": []}
    for i in range(32):
        e = o + 768 + 64 * i
        name = bytes(b[e:e + 48]).split(b"\0")[0]
        off = u64(b, e + 56)
        if off:
            hp["names"].append((name.decode(errors="replace"), u64(b, e + 48), off))
    # the chain of headers
    p, prev, n = ao, 0, 0
    limit = (ae - ao) // 32
    while p < ae:
        n += 1
        need(n <= limit, "walk bound")
        tag, prev_units, size = struct.unpack_from("<IIQ", b, p)
        need(tag & ~0xff == TAG and tag & 0xff in (1, 2, 3), "block tag 0x%x at %d" % (tag, p))
        need(size % 16 == 0 and size >= 32 and p + size <= ae, "block size %d at %d" % (size, p))
        need(prev_units * 16 == prev, "prev_units at %d" % p)
        bit = (p - ao) // 16
        live = (b[bm + bit // 8] >> (bit % 8)) & 1
        hp["blocks"].append({"off": p, "state": tag & 0xff, "size": size, "bit": live})
        prev, p = size, p + size
    need(p == ae, "chain does not end at arena_end")
    return hp


def heap_verify(b, hp):
    """The derived state, as LAYOUT says it must be."""
    bm = hp["bitmap_off"]
    ao = hp["arena_off"]
    used = [x for x in hp["blocks"] if x["state"] in (2, 3)]
    free = [x for x in hp["blocks"] if x["state"] == 1]
    need(hp["used_bytes"] == sum(x["size"] for x in used), "used_bytes")
    need(hp["free_bytes"] == sum(x["size"] for x in free), "free_bytes")
    need(hp["n_free"] == len(free), "n_free")
    need(all(x["bit"] == (x["state"] in (2, 3)) for x in hp["blocks"]), "live-start bit")
    pop = sum(bin(x).count("1") for x in bytes(b[bm:ao]))
    need(pop == len(used), "bitmap population %d != %d" % (pop, len(used)))
    for a, c in zip(free, free[1:]):
        need(a["off"] + a["size"] != c["off"], "uncoalesced free blocks")
    listed = set()
    for i, headp in enumerate(hp["bins"]):
        need(bool(headp) == bool(hp["nonempty"] >> i & 1), "nonempty bit %d" % i)
        p, prevp = headp, 0
        while p:
            blk = p
            need(blk not in listed, "free block listed twice")
            listed.add(blk)
            tag, _, size = struct.unpack_from("<IIQ", b, blk)
            need(tag == TAG | 1, "listed block not free")
            need(heap_bin(size) == i, "block of %d in bin %d" % (size, i))
            nxt, prv = struct.unpack_from("<QQ", b, blk + 16)
            need(prv == prevp, "prev link")
            prevp, p = blk, nxt
    need(listed == {x["off"] for x in free}, "free lists != free blocks")
    return {"used": len(used), "free": len(free)}


# ---------------------------------------------------------------- map

MAP_MAGIC = 0x3170616d74746b73


def mix(a, b):
    r = (a & M64) * (b & M64)
    return (r & M64) ^ (r >> 64)


def map_hash(key, seed):
    ln = len(key)
    h = seed ^ mix(ln ^ 0xa0761d6478bd642f, 0xe7037ed1a0b428db)
    p = 0
    while ln >= 16:
        h = mix(u64(key, p) ^ 0x8ebc6af09c88c6e3, u64(key, p + 8) ^ h)
        p += 16
        ln -= 16
    if ln >= 8:
        h = mix(u64(key, p) ^ 0x589965cc75374cc3, h ^ 0x1d8e4e27c47d124f)
        p += 8
        ln -= 8
    tail = int.from_bytes(key[p:p + ln], "little")
    return mix(tail ^ 0xe7037ed1a0b428db ^ ln, h ^ 0xa0761d6478bd642f)


def read_map(b, hp):
    r = hp["root"]
    need(r, "map root")
    need(u64(b, r) == MAP_MAGIC and bytes(b[r:r + 8]) == b"skttmap1", "map magic")
    ver = u32(b, r + 8)
    if ver != 2:
        raise Corrupt("map version %d (EPROTO)" % ver)
    nb, boff, seed, count, bblock = struct.unpack_from("<QQQQQ", b, r + 16)
    arena = hp["arena_end"] - hp["arena_off"]
    need(nb & (nb - 1) == 0 and nb >= 16, "nbuckets")
    want_nb = 16
    while want_nb * 2 <= arena // 128:
        want_nb *= 2
    mp = {"nbuckets": nb, "want_nbuckets": want_nb, "seed": seed, "count": count,
          "buckets_off": boff, "entries": {}}
    need(boff % 64 == 0 and 0 <= boff - bblock < 64, "buckets_off")
    need(boff + 64 * nb <= hp["arena_end"], "bucket array past the arena")
    for i in range(nb):
        o = boff + 64 * i
        chain, h, klen, vlen = struct.unpack_from("<QQII", b, o)
        if klen != 0xffffffff:
            need(klen + vlen <= 40, "bucket pair too long")
            k = bytes(b[o + 24:o + 24 + klen])
            v = bytes(b[o + 24 + klen:o + 24 + klen + vlen])
            need(h == map_hash(k, seed), "bucket hash")
            need(h & (nb - 1) == i, "key in the wrong bucket")
            mp["entries"][k] = v
        steps = 0
        while chain:
            steps += 1
            need(steps <= arena // 48, "chain too long")
            need(hp["arena_off"] <= chain < hp["arena_end"], "chain offset")
            nxt, h, klen, vlen = struct.unpack_from("<QQII", b, chain)
            k = bytes(b[chain + 24:chain + 24 + klen])
            v = bytes(b[chain + 24 + klen:chain + 24 + klen + vlen])
            need(h == map_hash(k, seed) and h & (nb - 1) == i, "chain entry hash")
            need(k not in mp["entries"], "key in two places")
            mp["entries"][k] = v
            chain = nxt
    return mp


def map_get(b, mp, key):
    h = map_hash(key, mp["seed"])
    o = mp["buckets_off"] + 64 * (h & (mp["nbuckets"] - 1))
    chain, bh, klen, vlen = struct.unpack_from("<QQII", b, o)
    if klen != 0xffffffff and bh == h and bytes(b[o + 24:o + 24 + klen]) == key:
        return bytes(b[o + 24 + klen:o + 24 + klen + vlen])
    while chain:
        nxt, ch, klen, vlen = struct.unpack_from("<QQII", b, chain)
        if ch == h and bytes(b[chain + 24:chain + 24 + klen]) == key:
            return bytes(b[chain + 24 + klen:chain + 24 + klen + vlen])
        chain = nxt
    return None


# ---------------------------------------------------------------- creating


def create_header(path, kind, body):
    """Steps 1-4 of LAYOUT.md's init protocol; the caller fills the body,
    then calls publish_ready()."""
    total = HDR + body
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.posix_fallocate(fd, 0, total)
        m = mmap.mmap(fd, total)
    finally:
        os.close(fd)
    me = my_ident()
    m[64:96] = pack_ident(me)
    struct.pack_into("<I", m, 48, 1)  # creator_gen
    struct.pack_into("<IIII", m, 8, FINGERPRINT, 2, kind, HDR)
    struct.pack_into("<QQ", m, 24, total, body)
    struct.pack_into("<I", m, 52, 1)  # persistent
    struct.pack_into("<Q", m, 56, int(time.time()))
    struct.pack_into("<II", m, 96, 64, 128)
    store64(m, 40, me["pid"] | 1 << 32 | 1 << 40)  # INITIALIZING, generation 1
    store64(m, 0, MAGIC)
    return m


def publish_ready(m):
    store64(m, 40, os.getpid() | 2 << 32 | 1 << 40)
    m.close()


def create_spsc(path, cap, max_msg):
    stride = 64 if max_msg <= 56 else round_up(max_msg, 64)
    markers = 0 if max_msg <= 56 else Q_SLOTS_OFF + cap * stride
    body = Q_SLOTS_OFF + cap * stride + (round_up(8 * cap, 64) if markers else 0)
    m = create_header(path, 2, body)
    struct.pack_into("<IIII", m, HDR, 0, cap, max_msg, stride)
    struct.pack_into("<QQI", m, HDR + 16, Q_SLOTS_OFF, markers, 8 if max_msg <= 56 else 0)
    c = {"capacity": cap, "markers_off": markers, "slot_stride": stride}
    for i in range(cap):  # "the consumed message of the lap before"
        store64(m, spsc_marker_off(c, i), ((i - cap) & 0xffffffff) << 32)
    publish_ready(m)  # eventcounts: all zero (FENCE mode)


def create_topic(path, slot_size, slots, max_subs, reliable):
    stride = topic_stride_new(slot_size)
    ring_off = round_up(256 + 128 * max_subs, 4096)
    body = ring_off + slots * stride
    m = create_header(path, 3, body)
    struct.pack_into("<QQQQQQIIQ", m, HDR, T_MAGIC, slot_size, slots, stride, 256, ring_off,
                     max_subs, reliable, body)
    publish_ready(m)


# ---------------------------------------------------------------- decode


def decode(uri):
    m, size = open_map(uri)
    try:
        h = read_header(m, size)
        if h["kind"] == "queue":
            c = read_queue_cfg(m, h["body_size"])
            h["queue"] = c
            h["counters"] = queue_counters(m)
            h["pending"] = mpmc_pending(m, c) if c["mpmc"] else spsc_pending(m, c)
        elif h["kind"] == "topic":
            h["topic"] = read_topic(m, h["body_size"])
        elif h["kind"] in ("heap", "map"):
            hp = read_heap(m, size)
            h["heap"] = hp
            h["heap_check"] = heap_verify(m, hp)
            if h["kind"] == "map":
                h["map"] = read_map(m, hp)
        return h
    finally:
        m.close()


def mpmc_peer_bytes(b):
    """The byte counters MPMC handles keep in their peer entries."""
    sent = sum(u64(b, HDR + 320 + 64 * k + 40) for k in range(64))
    recv = sum(u64(b, HDR + 320 + 64 * k + 48) for k in range(64))
    return sent, recv


# ---------------------------------------------------------------- the test

NAME_TAG = os.environ.get("LAYOUT_READER_TAG", "test-%d-lr" % os.getpid())
made = []
failures = []


def uri(name):
    u = "posix:/shmkit-%s-%s" % (NAME_TAG, name)
    made.append(u)
    return u


def cli(*args, check=True, inp=None):
    r = subprocess.run([SHMKIT, *args], capture_output=True, text=True, input=inp, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError("shmkit %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr))
    return r


def cli_json(*args):
    return json.loads(cli(*args, "--json").stdout)


def expect(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)


def check_header(u, kind, creator_pid=None):
    h = decode(u)
    st = cli_json("stat", u)
    expect(h["kind"] == kind and st["kind_id"] == h["kind_no"], "%s: kind" % u)
    expect(st["layout_version"] == 2, "%s: layout version" % u)
    expect(st["persistent"] == h["persist"], "%s: persist flag" % u)
    expect(st["managed_creator_pid"] == h["creator"]["pid"] == h["init_pid"], "%s: creator" % u)
    expect(h["state"] == 2 and h["gen"] == 1 and h["creator_gen"] == 1, "%s: init word" % u)
    me = my_ident()
    expect(h["creator"]["boot_id"] == me["boot_id"] and h["creator"]["pidns"] == me["pidns"],
           "%s: creator boot id / pid namespace" % u)
    expect(abs(h["created_realtime"] - time.time()) < 600, "%s: created_realtime" % u)
    if creator_pid is not None:
        expect(h["creator"]["pid"] == creator_pid, "%s: creator pid" % u)
    return h


def test_spsc(max_msg):
    u = uri("spsc%d" % max_msg)
    cap = 4
    cli("queue", "create", u, "--capacity", str(cap), "--max-msg", str(max_msg))
    h = check_header(u, "queue")
    c = h["queue"]
    expect(not c["mpmc"] and c["slot_hdr"] == (8 if max_msg <= 56 else 0), "spsc geometry")
    expect(h["body_size"] == c["end"], "spsc body size %d != %d" % (h["body_size"], c["end"]))
    sent = []
    # C producer, Python reader (no consuming) and Python consumer; around the ring twice
    m, size = open_map(u, write=True)
    role = claim_role(m, 1)
    for lap in range(3):
        msgs = ["c%d-%d-%s" % (lap, i, "x" * (max_msg - 8)) for i in range(cap)]
        msgs = [x[:max_msg] for x in msgs]
        cli("send", u, *msgs)
        expect(decode(u)["pending"] == [x.encode() for x in msgs], "spsc pending lap %d" % lap)
        got = [spsc_recv(m, c) for _ in range(cap)]
        expect(got == [x.encode() for x in msgs], "python consumer lap %d: %r" % (lap, got))
        expect(spsc_recv(m, c) is None, "python consumer: empty")
        sent += msgs
    release_role(m, 1, role)
    # Python producer, C consumer (which may sleep: it wakes in 100 ms slices)
    rc = subprocess.Popen([SHMKIT, "recv", u, "--count", str(2 * cap), "--timeout", "10"],
                          stdout=subprocess.PIPE, text=True)
    prole = claim_role(m, 0)
    want = []
    for i in range(2 * cap):
        msg = ("p%d" % i).encode() * (max_msg // 4)
        msg = msg[:max_msg]
        deadline = time.time() + 10
        while not spsc_send(m, c, msg):
            expect(time.time() < deadline, "python producer: ring never drained")
            time.sleep(0.01)
        want.append(msg.decode())
    release_role(m, 0, prole)
    out, _ = rc.communicate(timeout=20)
    expect(rc.returncode == 0 and out.split("\n")[:-1] == want,
           "C consumer of a python producer: %r" % out[:200])
    qs = cli_json("queue", "stat", u)["queue"]
    cnt = queue_counters(m)
    expect(qs["sent"] == cnt["tail"] and qs["received"] == cnt["head"] and qs["depth"] == 0,
           "queue stat vs tail/head")
    expect(qs["bytes_sent"] == cnt["bytes_sent"] and qs["bytes_received"] == cnt["bytes_received"],
           "queue stat byte counters")
    # a consumer role left by a dead Python process is taken over by the C side
    pid = os.fork()
    if pid == 0:
        claim_role(m, 1)
        os._exit(0)
    os.waitpid(pid, 0)
    cli("send", u, "after")
    r = cli("recv", u, "--timeout", "5", check=False)
    expect(r.returncode == 0 and r.stdout == "after\n", "role of a dead python consumer: %r %r"
           % (r.stdout, r.stderr))
    m.close()


def test_header_rules():
    """What LAYOUT.md says a reader does with values no shmkit writes: header
    flag bits other than 0 are ignored, an attach slot or role word in a
    state other than 0-2 names nobody."""
    u = uri("rules")
    cli("queue", "create", u, "--capacity", "4", "--max-msg", "16")
    m, _ = open_map(u, write=True)
    struct.pack_into("<I", m, 52, u32(m, 52) | 0x80)
    for i in range(64):  # every attach slot: state 7, a live pid (ours)
        store64(m, 128 + 32 * i, os.getpid() | 7 << 32 | 1 << 40)
    store64(m, 2688, os.getpid() | 7 << 32 | 1 << 40)       # producer role
    store64(m, 2688 + 64, os.getpid() | 7 << 32 | 1 << 40)  # consumer role
    m.close()
    r1 = cli("send", u, "m", check=False)
    r2 = cli("recv", u, "--timeout", "2", check=False)
    expect(r1.returncode == 0 and r2.stdout == "m\n",
           "unknown header flags / slot states: %r %r" % (r1.stderr, r2.stderr))
    expect(cli_json("stat", u)["attached_processes"] == [], "garbage attach slots listed")


def test_unreadable_header_ownership():
    """A header of another layout version (or corrupt) is not read: stat must
    not say the object is owned and removable by gc (it is persistent)."""
    for name, off, val in (("v3", 12, 3), ("badfp", 8, 0x4c000805)):
        u = uri("own-" + name)
        cli("queue", "create", u, "--capacity", "4", "--max-msg", "16")  # persistent
        m, _ = open_map(u, write=True)
        struct.pack_into("<I", m, off, val)
        m.close()
        st = cli_json("stat", u)
        text = cli("stat", u).stdout
        expect(st["persistent"] is None and "owned (gc may remove" not in text,
               "%s: stat says %r / %r" % (name, st["persistent"],
                                         [x for x in text.split("\n") if "ownership" in x]))


def test_python_creates():
    """Objects made here from LAYOUT.md alone work with the C side."""
    for max_msg in (24, 300):
        u = uri("made-q%d" % max_msg)
        create_spsc(uri_path(u), 4, max_msg)
        cli("send", u, "a", "b", "c")
        r = cli("recv", u, "--count", "3", "--timeout", "5", check=False)
        expect(r.returncode == 0 and r.stdout == "a\nb\nc\n", "python-made queue: %r %r"
               % (r.stdout, r.stderr))
        expect(cli_json("stat", u)["persistent"] is True, "python-made queue: persist flag")
    u = uri("made-t")
    create_topic(uri_path(u), 64, 8, 5, 1)
    sub = subprocess.Popen([SHMKIT, "sub", u, "--count", "3", "--timeout", "10"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    r = cli("pub", u, "x", "y", "z", "--wait-subs", "1", "--timeout", "10", check=False)
    out, err = sub.communicate(timeout=20)
    expect(r.returncode == 0 and out == "x\ny\nz\n", "python-made topic: %r %r %r"
           % (r.stderr, out, err))


def test_mpmc():
    u = uri("mpmc")
    cli("queue", "create", u, "--capacity", "8", "--max-msg", "100", "--multi")
    msgs = ["m%d" % i + "y" * i for i in range(6)]
    cli("send", u, *msgs)
    cli("recv", u, "--count", "2")
    h = check_header(u, "queue")
    c = h["queue"]
    expect(c["mpmc"] and c["flags"] == 15 and c["slot_hdr"] == 16, "mpmc flags / header")
    expect(c["slot_stride"] == mpmc_stride(116), "mpmc stride rule")
    expect(h["body_size"] == c["end"], "mpmc body size")
    expect(h["pending"] == [x.encode() for x in msgs[2:]], "mpmc pending: %r" % h["pending"])
    m, _ = open_map(u)
    qs = cli_json("queue", "stat", u)["queue"]
    ps, pr = mpmc_peer_bytes(m)
    cnt = queue_counters(m)
    expect(qs["depth"] == len(h["pending"]), "mpmc depth")
    expect(qs["bytes_sent"] == cnt["bytes_sent"] + ps and
           qs["bytes_received"] == cnt["bytes_received"] + pr, "mpmc byte counters")
    m.close()


def test_topic():
    u = uri("topic")
    cli("topic", "create", u, "--slots", "8", "--slot-size", "100", "--max-subs", "3")
    sub = subprocess.Popen([SHMKIT, "sub", u], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    deadline = time.time() + 10
    while not decode(u)["topic"]["subs"] and time.time() < deadline:
        time.sleep(0.02)
    msgs = ["t%d" % i for i in range(11)]
    with Stopped(sub):  # it reads nothing while we look
        cli("pub", u, *msgs)
        h = check_header(u, "topic")
        t = h["topic"]
        ts = cli_json("topic", "stat", u)["topic"]
        expect(t["head"] == ts["published"] == 11, "topic head")
        expect(t["bytes_published"] == ts["bytes_published"], "topic bytes")
        expect([x for _, x in t["messages"]] == [x.encode() for x in msgs[3:]],
               "topic ring: %r" % t["messages"])
        expect(len(t["subs"]) == 1 and t["subs"][0]["ident"]["pid"] == sub.pid and
               t["subs"][0]["pos"] == 0, "subscriber entry")
    out, err = sub.communicate(timeout=20)
    # lossy and lapped: it goes on from max(p + 1, head + 1 - slots), the
    # oldest message a publisher writing message `head` cannot be tearing
    expect(out.split("\n")[:-1] == msgs[4:], "lapped subscriber: %r" % out)


def test_topic_scribbled_seq():
    """A slot whose seq says "not yet" for a message head counts as
    published is corrupt: the subscriber says so, never that it drained."""
    u = uri("tscrib")
    cli("topic", "create", u, "--slots", "8", "--slot-size", "100")
    sub = subprocess.Popen([SHMKIT, "sub", u], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    deadline = time.time() + 10
    while not decode(u)["topic"]["subs"] and time.time() < deadline:
        time.sleep(0.02)
    with Stopped(sub):  # it reads nothing while we publish and scribble
        cli("pub", u, "a", "b", "c")
        m, size = open_map(u, write=True)
        t = read_topic(m, size - HDR)
        ring = HDR + round_up(256 + 128 * t["max_subs"], 4096)
        store64(m, ring + t["slot_stride"] * 1, 0)  # message 1's slot: "nothing yet"
        m.close()
    out, err = sub.communicate(timeout=20)
    expect(sub.returncode == 1 and out == "a\n" and "corrupt" in err,
           "scribbled topic slot: exit %d, %r, %r" % (sub.returncode, out, err))


def test_heap_map():
    u = uri("heap")
    cli("heap", u, "create", "64K")
    h = check_header(u, "heap")
    hs = cli_json("heap", u, "stats")
    hp = h["heap"]
    expect(hs["arena_bytes"] == hp["arena_end"] - hp["arena_off"], "heap arena")
    expect(len(hp["blocks"]) == 1 and hp["blocks"][0]["state"] == 1, "fresh heap: one free block")
    u = uri("map")
    cli("map", u, "create", "128K")
    model = {}
    for i in range(40):
        k = "key%d" % (i % 23) + ("-long-key-" * (i % 3))
        if i % 7 == 6 and k in model:
            cli("map", u, "del", k)
            del model[k]
        else:
            v = "v%d" % i * (1 + i % 9) * (1 if i % 4 else 5)
            cli("map", u, "put", k, v)
            model[k] = v
    h = check_header(u, "map")
    hp, mp = h["heap"], h["map"]
    want = {k.encode(): v.encode() for k, v in model.items()}
    expect(mp["entries"] == want, "map entries")
    expect(mp["count"] == len(want) and mp["nbuckets"] == mp["want_nbuckets"], "map count/buckets")
    m, _ = open_map(u)
    for k, v in want.items():
        expect(map_get(m, mp, k) == v, "map lookup %r" % k)
    expect(map_get(m, mp, b"missing") is None, "map lookup of a missing key")
    m.close()
    ls = cli_json("map", u, "ls")
    expect({e["key"].encode(): e["value"].encode() for e in ls} == want, "map ls --json")
    hs = cli_json("heap", u, "stats")
    for f in ("used_bytes", "free_bytes", "n_used", "n_free"):
        expect(hs[f] == hp[f], "heap stats %s: %s != %s" % (f, hs[f], hp[f]))
    expect(cli("heap", u, "check").stdout.strip() == "ok", "heap check")


def test_hash_golden():
    """The values tests/test_map.c test_hash_golden checks the C hash with."""
    buf = bytes((i * 37 + 11) & 0xff for i in range(80))
    want = {0: 0x12f94f615a6e5659, 1: 0x109a4bd2b83373a7, 3: 0xd8eca70b98990f14,
            4: 0xdde68ff13366a62a, 7: 0x5db651edee2de70d, 8: 0x275de2288860a032,
            12: 0xc16b22fdcbd6e167, 15: 0xfe27e795d0244b0d, 16: 0x31950019c3eff414,
            17: 0x1f1d898902535d3e, 24: 0x9dc1fc0d8fc717b1}
    for n, h in want.items():
        expect(map_hash(buf[:n], 0x9e3779b97f4a7c15 * (n + 1) & M64) == h, "hash len %d" % n)
    acc = 0
    for n in range(71):
        for off in range(3):
            acc = (acc * 31 + map_hash(buf[off:off + n], 0x9e3779b97f4a7c15 * (n + 1) & M64)) & M64
    expect(acc == 0x514daca99fd4a360, "hash accumulator")


class Stopped:
    """A subprocess stopped (SIGSTOP) for the body of a with: always
    continued, and killed if it is still there when the body failed."""

    def __init__(self, proc):
        self.proc = proc

    def __enter__(self):
        os.kill(self.proc.pid, signal.SIGSTOP)
        return self.proc

    def __exit__(self, exc, *_):
        os.kill(self.proc.pid, signal.SIGCONT)
        if exc is not None:
            self.proc.kill()
            self.proc.wait()


def main():
    tests = [test_hash_golden, lambda: test_spsc(32), lambda: test_spsc(56),
             lambda: test_spsc(200), test_header_rules, test_unreadable_header_ownership,
             test_python_creates,
             test_mpmc, test_topic, test_topic_scribbled_seq,
             test_heap_map]
    try:
        for t in tests:
            try:
                t()
            except (Corrupt, AssertionError, OSError, subprocess.SubprocessError) as e:
                expect(False, "%s: %s: %s" % (getattr(t, "__name__", "test"), type(e).__name__, e))
    finally:
        for u in made:
            subprocess.run([SHMKIT, "rm", u], capture_output=True)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("layout_reader: every object decoded as docs/LAYOUT.md says")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 2:
        import pprint
        pprint.pprint(decode(sys.argv[1]), width=120)
    else:
        sys.exit(main())
