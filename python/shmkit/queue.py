# SPDX-License-Identifier: MIT
"""Bounded message queues in shared memory (shmkit_queue(3))."""
from __future__ import annotations

import ctypes
import errno
from typing import Any, Optional

from . import _aio, _lib
from ._errors import check, error
from ._handle import OPENED, Handle, check_opened, guarded
from ._views import Window
from ._wait import sliced, to_ns

_EAGAIN = -errno.EAGAIN
_send, _recv = _lib.queue_send, _lib.queue_recv
_fsend, _frecv, _size, _NOWAIT = (_lib.fast_queue_send, _lib.fast_queue_recv, _lib.size_arg,
                                  _lib.NOWAIT)


def as_bytes(data) -> Any:
    """data as something ctypes passes as const void * without copying where it can."""
    if type(data) is bytes:
        return data
    try:
        mv = memoryview(data)
    except TypeError:
        hint = "; encode the str first" if isinstance(data, str) else ""
        raise TypeError("a message is a bytes-like object (bytes, bytearray, memoryview, "
                        f"array, numpy array), not {type(data).__name__}{hint}") from None
    if not mv.c_contiguous:
        raise BufferError("message must be a contiguous buffer")
    if mv.readonly:
        return mv.tobytes()
    return (ctypes.c_char * mv.nbytes).from_buffer(mv.cast("B"))


class Queue(Handle):
    """A bounded queue of messages in a shared segment: whole messages, in order, exactly once.

    Queue.create(uri, capacity, max_msg, multi_producer=False, multi_consumer=False, mode=0o600)
        Make a new queue holding capacity messages (rounded up to a power of two) of up to
        max_msg bytes each. FileExistsError if uri already exists. By default one producer
        and one consumer at a time (a second live one gets OSError EBUSY); ask for
        multi_producer / multi_consumer to share either side. The queue belongs to its
        users (``shmkit gc`` may remove it once they are all dead and it is empty) unless
        persist=True: then it lives until removed, like a file.
    Queue.open(uri)
        Attach to an existing queue. FileNotFoundError if there is none, CorruptError if
        uri is not a queue (or is corrupt, or of another layout version).

    send(data, timeout=None)      copy one message in; waits while the queue is full
    recv(timeout=None) -> bytes   take the next message; waits while the queue is empty
    recv_into(buffer, timeout=None) -> int   the same, into a writable buffer
    reserve(size) / commit()      zero-copy send: write into the slot's memoryview
    peek() / consume()            zero-copy receive: read the message where it lies
    await recv_async()            recv for asyncio, woken through fileno()
    fileno()                      readable while messages wait (selectors, poll, asyncio)
    stats() -> dict               counters, with the names of ``shmkit queue stat --json``
    close()                       detach (the queue stays; shmkit.remove(uri) deletes it)

    Timeouts are seconds: None waits without limit, 0 does not wait (BlockingIOError if it
    would), a positive timeout raises TimeoutError when it expires, never earlier. Ctrl-C
    interrupts any wait (KeyboardInterrupt within 50 ms). A message longer than max_msg:
    OSError EMSGSIZE. Every error is an OSError with errno set.

    Handles are context managers; a handle is used by one thread at a time, but any
    thread may close() it: a call waiting on it in another thread then ends with ValueError
    (within 50 ms), and close() returns once it has.
    """

    def __init__(self, handle: int, uri, _opened=None):
        check_opened(type(self), _opened)      # only create() and open() make one
        self._users: list[int] = []
        self._h: Optional[int] = handle
        # Made once for the non-blocking fast path (see _lib.fast_queue_send); set before
        # anything here can fail, so that __del__ can close the handle.
        self._hc = ctypes.c_void_p(handle)      # NULL once closed
        self._slot: Optional[tuple[int, int, Window]] = None   # reserved: addr, size, views
        self._peeked: Optional[tuple[int, int, Window]] = None
        self.uri: str = uri.decode(errors="surrogateescape") if isinstance(uri, bytes) else str(uri)
        st = self._stats()
        self.capacity: int = st.capacity
        self.max_msg: int = st.max_msg
        self._buf = ctypes.create_string_buffer(max(1, self.max_msg))
        self._addr = ctypes.addressof(self._buf)
        self._mv = memoryview(self._buf).cast("B")
        self._bufc = ctypes.c_void_p(self._addr)
        self._capc = ctypes.c_size_t(self.max_msg)

    @classmethod
    def create(cls, uri, capacity: int, max_msg: int, multi_producer: bool = False,
               multi_consumer: bool = False, mode: int = 0o600,
               persist: bool = False) -> "Queue":
        """Create a new queue at uri (see the class documentation)."""
        o = _lib.QueueOpts(_lib.size(capacity, "capacity"), _lib.size(max_msg, "max_msg"),
                           int(bool(multi_producer)),
                           int(bool(multi_consumer)), _lib.create_mode(mode, persist))
        h = ctypes.c_void_p()
        check(_lib.queue_create(ctypes.byref(h), _lib.encode(uri), ctypes.byref(o)),
              "create queue", uri, detail=True)
        return cls(h.value, uri, OPENED)

    @classmethod
    def open(cls, uri) -> "Queue":
        """Attach to the existing queue at uri."""
        h = ctypes.c_void_p()
        check(_lib.queue_open(ctypes.byref(h), _lib.encode(uri)), "open queue", uri, detail=True)
        return cls(h.value, uri, OPENED)

    # ---- copying ----

    def send(self, data, timeout: Optional[float] = None) -> None:
        """Copy data (bytes-like, at most max_msg bytes) into the queue as one message.
        Waits while the queue is full, up to timeout seconds (None: without limit)."""
        # The fast path holds the GIL through the C call; close() zeroes _hc before it
        # frees the handle, so here the library sees NULL (-EINVAL), never freed memory.
        if type(data) is bytes and _fsend(self._hc, data, _size(len(data)), _NOWAIT) == 0:
            return
        self._send_slow(data, timeout)

    @guarded
    def _send_slow(self, data, timeout: Optional[float]) -> None:
        h = self._h
        msg = as_bytes(data)
        n = len(msg) if type(msg) is bytes else ctypes.sizeof(msg)
        r = _send(h, msg, n, 0)
        if r == _EAGAIN and timeout != 0:
            r = sliced(lambda t: _send(h, msg, n, t), to_ns(timeout), self)
        if r < 0:
            raise error(r, "send", self.uri, hint=self._pending(r))

    def recv(self, timeout: Optional[float] = None) -> bytes:
        """Take the next message and return it as bytes. Waits while the queue is empty."""
        n = _frecv(self._hc, self._bufc, self._capc, _NOWAIT)     # see send()
        if n >= 0:
            return self._mv[:n].tobytes()
        return self._recv_slow(n, timeout)

    @guarded
    def _recv_slow(self, n: int, timeout: Optional[float]) -> bytes:
        if n == _EAGAIN and timeout != 0:
            h = self._h
            n = sliced(lambda t: _recv(h, self._addr, self.max_msg, t), to_ns(timeout), self)
        if n < 0:
            raise error(n, "recv", self.uri, hint=self._pending(n))
        return self._mv[:n].tobytes()

    @guarded
    def recv_into(self, buffer, timeout: Optional[float] = None) -> int:
        """Take the next message into a writable buffer; return its length. A buffer too
        small for it: OSError EMSGSIZE, and the message stays in the queue."""
        h = self._handle()
        try:
            mv = memoryview(buffer)
        except TypeError:
            raise TypeError("recv_into needs a writable bytes-like buffer, not "
                            f"{type(buffer).__name__}") from None
        if mv.readonly:
            raise TypeError(f"recv_into needs a writable buffer; this {type(buffer).__name__} "
                            "is read-only")
        if not mv.c_contiguous:
            raise BufferError("recv_into needs a contiguous buffer")
        mv = mv.cast("B")
        dst = (ctypes.c_char * mv.nbytes).from_buffer(mv)
        n = _recv(h, dst, mv.nbytes, 0)
        if n == _EAGAIN and timeout != 0:
            n = sliced(lambda t: _recv(h, dst, mv.nbytes, t), to_ns(timeout), self)
        if n < 0:
            raise error(n, "recv", self.uri, hint=self._pending(n))
        return n

    async def recv_async(self) -> bytes:
        """recv() for asyncio: awaits a message without blocking the event loop or using a
        thread (the loop watches fileno()). Wrap it in asyncio.wait_for for a timeout."""
        return await _aio.receive(self, self._try_recv)

    @guarded
    def _try_recv(self) -> Optional[bytes]:
        n = _recv(self._handle(), self._addr, self.max_msg, 0)
        if n == _EAGAIN:
            return None
        if n < 0:
            raise error(n, "recv", self.uri, hint=self._pending(n))
        return self._mv[:n].tobytes()

    # ---- zero-copy ----

    @guarded
    def reserve(self, size: int, timeout: Optional[float] = None) -> memoryview:
        """Reserve the next slot for a message of up to size bytes and return a writable
        memoryview of it: fill it in place, then commit(). Waits while the queue is full.
        The view (and anything made from it) must be dropped before commit(): commit
        releases it, so it can never write into a slot that was handed over."""
        size = _lib.size(size, "reserve size")
        h = self._handle()
        p = ctypes.c_void_p()
        r = _lib.queue_reserve(h, size, ctypes.byref(p), 0)
        if r == _EAGAIN and timeout != 0:
            r = sliced(lambda t: _lib.queue_reserve(h, size, ctypes.byref(p), t), to_ns(timeout),
                       self)
        if r < 0:
            raise error(r, "reserve", self.uri, hint=self._pending(r))
        self._slot = (p.value, size, Window(p.value, size))
        return self._slot[2].view()

    @guarded
    def commit(self, size: Optional[int] = None) -> None:
        """Publish the reserved slot as a message of size bytes (default: all reserved).
        BufferError (nothing published) while views of the slot are still in use."""
        h = self._handle()
        if self._slot is None:
            raise ValueError("commit without a reservation")
        addr, reserved, window = self._slot
        n = reserved if size is None else _lib.size(size, "size", None)  # first
        if not 0 <= n <= reserved:
            raise ValueError(f"commit size {n} outside the {reserved} bytes reserved")
        window.retire(f"commit to queue {self.uri}")
        self._slot = None
        check(_lib.queue_commit(h, addr, n), "commit", self.uri)

    @guarded
    def peek(self, timeout: Optional[float] = None) -> memoryview:
        """A read-only memoryview of the next message where it lies in the queue, without
        taking it; peeking again gives the same message. consume() takes it and releases
        the view. Waits while the queue is empty."""
        h = self._handle()
        p = ctypes.c_void_p()
        n = _lib.queue_peek(h, ctypes.byref(p), 0)
        if n == _EAGAIN and timeout != 0:
            n = sliced(lambda t: _lib.queue_peek(h, ctypes.byref(p), t), to_ns(timeout), self)
        if n < 0:
            raise error(n, "peek", self.uri, hint=self._pending(n))
        if self._peeked is None or self._peeked[0] != p.value:
            self._peeked = (p.value, n, Window(p.value, n))
        return self._peeked[2].view(readonly=True)

    @guarded
    def consume(self) -> None:
        """Take the peeked message. BufferError (nothing taken) while views of it are still
        in use."""
        h = self._handle()
        if self._peeked is None:
            raise ValueError("consume without a peeked message")
        self._peeked[2].retire(f"consume from queue {self.uri}")
        self._peeked = None
        check(_lib.queue_consume(h), "consume", self.uri)

    def _pending(self, err: int) -> str:
        """Why this handle refused, when it is its own half-done zero-copy operation."""
        if err in (-errno.EBUSY, -errno.EINVAL):
            if self._slot is not None:
                return "this handle has a reserve()d slot: commit() it first"
            if self._peeked is not None:
                return "this handle has a peek()ed message: consume() it first"
        return ""

    # ---- the rest ----

    @guarded
    def fileno(self) -> int:
        """A descriptor readable while messages wait (for selectors, poll and asyncio);
        it belongs to the handle and is closed by close()."""
        return check(_lib.queue_fd(self._handle()), "queue descriptor", self.uri)

    def stats(self) -> dict[str, Any]:
        """The queue's counters, as ``shmkit queue stat --json`` names them."""
        st = self._stats()
        d: dict[str, Any] = {"multi_producer": bool(st.multi_producer),
                             "multi_consumer": bool(st.multi_consumer)}
        for f in ("capacity", "max_msg", "depth", "sent", "received", "skipped", "abandoned",
                  "recv_waiters", "send_waiters", "bytes_sent", "bytes_received"):
            d[f] = getattr(st, f)
        return d

    @guarded
    def _stats(self) -> _lib.QueueStats:
        st = _lib.QueueStats()
        check(_lib.queue_stats(self._handle(), ctypes.byref(st)), "queue stats", self.uri)
        return st

    def close(self) -> None:
        """Detach from the queue (it stays until removed). An uncommitted reservation is
        given up. BufferError while views from reserve()/peek() are still in use."""
        super().close()

    def _release(self) -> None:
        for held in (self._slot, self._peeked):
            if held is not None:
                held[2].retire(f"close queue {self.uri}")

    def _close_handle(self, h: int) -> None:
        self._hc.value = None
        check(_lib.queue_close(h), "close queue", self.uri)

    def __repr__(self) -> str:
        state = "closed" if self._h is None else f"capacity {self.capacity}, max_msg {self.max_msg}"
        return f"<shmkit.Queue {self.uri!r} {state}>"
