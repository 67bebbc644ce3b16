# SPDX-License-Identifier: MIT
"""Bounded message queues in shared memory (shmkit_queue(3))."""
from __future__ import annotations

import array
import collections
import ctypes
import errno
from typing import Any, Optional

from . import _aio, _fork, _lib
from ._errors import check, error, message_error
from ._handle import OPENED, Handle, guarded
from ._message import NOT_SENT as _NOT_SENT, SendRecord, Lending, hand_over, lend, send_copy
from ._views import Window
from ._wait import attempt, sliced, to_ns

_EAGAIN = -errno.EAGAIN
_recv = _lib.queue_recv
_size, _NOWAIT = _lib.size_arg, _lib.NOWAIT
_frecvm, _recvm = _lib.fast_queue_recv_many, _lib.queue_recv_many
_ONE = _lib.size_arg(1)
_HELD = 0       # in _peeked: the message peek() shows is the one the handle holds
_SLOT = Lending("reserve", "commit", "a reservation", "reserved", "queue", "_slot")

# Receiving without losing a message to an exception (docs: "Interrupted receives").
#
# A Python signal handler (KeyboardInterrupt on Ctrl-C, a SIGTERM handler that raises
# SystemExit) runs after every call into C returns, before the next instruction: so after
# the C call that took a message out of the queue, an exception may come before the bytes
# reach the caller. Every receive therefore takes the message with
# shmkit_queue_recv_many() into the handle's own buffer through the iovec self._iov
# (array of [base, len]), whose iov_len is _nil (> max_msg: no message) until the call
# writes the message's length there, in the same C call that consumes it. The handle
# "holds" a message while iov_len != _nil, and every receive first returns a held
# message. The bytes are made from the buffer, iov_len is set back to _nil and the method
# returns, with nothing in between where Python runs a signal handler (a store into an
# array and RETURN_VALUE; a Python caller gets the value without one either). Waiting
# and errors are handled by guarded helpers that never give the message out themselves:
# the guard's own exits have such points.


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
        self._adopt(handle, uri, _opened)
        # Made once for the non-blocking fast path (see _lib.fast_queue_send); set before
        # anything here can fail, so that __del__ can close the handle.
        self._hc = ctypes.c_void_p(handle)      # NULL once closed
        self._sender = SendRecord("shmkit_queue_send")     # see interrupted_send_done()
        self._send_r = self._sender.r
        self._slot: Optional[tuple[int, int, Window]] = None   # reserved: addr, size, views
        self._lent_unseen = False       # _slot's view not yet returned (see _message.lend)
        self._peeked: Optional[tuple[int, int, Window]] = None
        st = self._stats()
        self.capacity: int = st.capacity
        self.max_msg: int = st.max_msg
        self._buf, self._addr, self._mv = _lib.receive_buffer(self.max_msg)
        # See "Receiving without losing a message" above. recv_into() receives through
        # _iov2 (the same buffer, its own length limit) with a function of its own whose
        # result lands in _into_r (restype: a C callable, so nothing runs Python between the
        # C return and the recording); while it may have received, _iov holds _INTO.
        self._nil = self.max_msg + 1
        self._INTO = self.max_msg + 2
        self._iov = array.array("L", [self._addr, self._nil])
        self._iovc = ctypes.c_void_p(self._iov.buffer_info()[0])
        self._iov2 = array.array("L", [self._addr, 0])
        self._iov2c = ctypes.c_void_p(self._iov2.buffer_info()[0])
        self._into_r: collections.deque = collections.deque(maxlen=1)
        self._into_fast = _lib.recording_fn("shmkit_queue_recv_many", self._into_r.append, True)
        self._into_wait = _lib.recording_fn("shmkit_queue_recv_many", self._into_r.append, False)
        _fork.watch(self)

    def _forget_held(self) -> None:
        """In a child just forked: the message the parent's handle holds stays the parent's."""
        self._into_r.clear()
        self._iov[1] = self._nil

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
        Waits while the queue is full, up to timeout seconds (None: without limit).
        If it raises (Ctrl-C: KeyboardInterrupt), interrupted_send_done() says whether
        the message had gone in all the same."""
        rec = self._send_r
        rec[-1] = _NOT_SENT         # item stores: no point where a signal handler runs
        if timeout is not None:
            to_ns(timeout)          # a bad timeout is refused even when no wait is needed
        # The fast path holds the GIL through the C call; close() zeroes _hc before it
        # frees the handle, so here the library sees NULL (-EINVAL), never freed memory.
        if type(data) is bytes:
            self._sender.fast(self._hc, data, _size(len(data)), _NOWAIT)
            if rec[-1] == 0:
                rec[-1] = _NOT_SENT
                return
        self._send_slow(data, timeout)
        rec[-1] = _NOT_SENT

    @guarded
    def _send_slow(self, data, timeout: Optional[float]) -> None:
        send_copy(self, self._sender, data, timeout, "send")

    def interrupted_send_done(self) -> bool:
        """After send() raised (KeyboardInterrupt, or any signal handler's exception, which
        can come right after the message went in): True if that message was sent (do not
        send it again), False if not. Answers once, then False until another send()
        raises."""
        return self._sender.done()

    def recv(self, timeout: Optional[float] = None) -> bytes:
        """Take the next message and return it as bytes. Waits while the queue is empty."""
        if timeout is not None:
            to_ns(timeout)          # a bad timeout is refused even when no wait is needed
        iov = self._iov
        if iov[1] == self._nil:                         # no message held: take one
            r = _frecvm(self._hc, self._iovc, _ONE, _NOWAIT)      # fast path: see send()
            if iov[1] == self._nil:
                self._recv_wait(r, timeout)
        elif iov[1] == self._INTO:
            self._settle_into()
            return self.recv(timeout)
        elif self._peeked is not None:
            self._busy()
        b = self._mv[:iov[1]].tobytes()
        iov[1] = self._nil                  # nothing between this and the return
        return b

    @guarded
    def _recv_wait(self, r: int, timeout: Optional[float]) -> None:
        """After a receive that took nothing (r): wait up to timeout for a message to be
        held in the buffer, or raise."""
        iov, iovc, nil = self._iov, self._iovc, self._nil
        if r == _EAGAIN and timeout != 0:
            h = self._h
            r = sliced(lambda t: _recvm(h, iovc, 1, t), to_ns(timeout), self)
        if iov[1] == nil:
            raise message_error(r, "recv", self.uri, hint=self._pending(r), timeout=timeout)

    def _settle_into(self) -> None:
        """A recv_into() was interrupted: hold what it took (if anything) as any receive."""
        r = self._into_r
        if r and r[-1] == 1:
            self._iov[1] = self._iov2[1]
        else:
            self._iov[1] = self._nil
        r.clear()                           # after: an interruption here redoes it

    def recv_into(self, buffer, timeout: Optional[float] = None) -> int:
        """Take the next message into a writable buffer; return its length. A buffer too
        small for it: OSError EMSGSIZE, and the message stays in the queue."""
        if timeout is not None:
            to_ns(timeout)          # a bad timeout is refused even when no wait is needed
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
        size = mv.nbytes
        iov = self._iov
        if iov[1] == self._INTO:
            self._settle_into()
        if iov[1] == self._nil:             # no message held: take one
            self._recv_into_wait(min(size, self._nil), timeout)
            if iov[1] == self._INTO:
                self._settle_into()
            if iov[1] == self._nil:
                return self.recv_into(buffer, timeout)   # pragma: no cover - raced
        elif self._peeked is not None:
            self._busy()
        n = iov[1]
        if n > size:                        # held (taken by an interrupted recv()), too big
            raise error(-errno.EMSGSIZE, "recv", self.uri,
                        hint=f"a message of {n} bytes was already taken by an interrupted "
                        "receive: recv() or a larger buffer gets it")
        mv[:n] = self._mv[:n]
        iov[1] = self._nil                  # nothing between this and the return
        return n

    @guarded
    def _recv_into_wait(self, limit: int, timeout: Optional[float]) -> None:
        """Take a message of up to limit bytes into the buffer (held: _iov says _INTO until
        _settle_into), waiting up to timeout; raise if none."""
        h, rec, iov2c = self._handle(), self._into_r, self._iov2c
        self._iov2[1] = limit
        rec.clear()
        self._iov[1] = self._INTO
        self._into_fast(self._hc, iov2c, _ONE, _NOWAIT)
        r = rec[-1]
        if r == _EAGAIN and timeout != 0:
            wait = self._into_wait
            r = sliced(lambda t: (wait(h, iov2c, 1, t), rec[-1])[1], to_ns(timeout), self)
        if rec[-1] != 1:                    # r: also a timeout sliced() saw without a call
            self._settle_into()
            hint = self._pending(r)
            if r == -errno.EMSGSIZE and not hint:
                hint = (f"the next message is longer than the {limit}-byte buffer; it stays in "
                        f"the queue: recv(), or a buffer of up to max_msg = {self.max_msg} "
                        "bytes, takes it")
            raise message_error(r, "recv", self.uri, hint=hint, timeout=timeout)

    async def recv_async(self) -> bytes:
        """recv() for asyncio: awaits a message without blocking the event loop or using a
        thread (the loop watches fileno()). Wrap it in asyncio.wait_for for a timeout."""
        return await _aio.receive(self, self._try_recv)

    def _try_recv(self) -> Optional[bytes]:
        iov = self._iov
        if iov[1] == self._nil:
            r = _frecvm(self._hc, self._iovc, _ONE, _NOWAIT)
            if iov[1] == self._nil:
                if r == _EAGAIN and not self.closed:
                    return None
                self._recv_wait(r, 0)       # raises
        elif iov[1] == self._INTO:
            self._settle_into()
            return self._try_recv()
        elif self._peeked is not None:
            self._busy()
        b = self._mv[:iov[1]].tobytes()
        iov[1] = self._nil                  # nothing between this and the return
        return b

    # ---- zero-copy ----

    @guarded
    def reserve(self, size: int, timeout: Optional[float] = None) -> memoryview:
        """Reserve the next slot for a message of up to size bytes and return a writable
        memoryview of it: fill it in place, then commit(). Waits while the queue is full.
        The view (and anything made from it) must be dropped before commit(): commit
        releases it, so it can never write into a slot that was handed over."""
        mv = lend(self, _lib.queue_reserve, size, timeout, _SLOT)[2].view()
        self._lent_unseen = False       # stores only: no handler runs before the return
        return mv

    @guarded
    def commit(self, size: Optional[int] = None) -> None:
        """Publish the reserved slot as a message of size bytes (default: all reserved).
        BufferError (nothing published) while views of the slot are still in use."""
        h = self._handle()
        addr, n = hand_over(self._slot, size, _SLOT, self.uri)
        self._slot = None
        check(_lib.queue_commit(h, addr, n), "commit", self.uri)

    @guarded
    def peek(self, timeout: Optional[float] = None) -> memoryview:
        """A read-only memoryview of the next message where it lies in the queue, without
        taking it; peeking again gives the same message. consume() takes it and releases
        the view. Waits while the queue is empty."""
        if timeout is not None:
            to_ns(timeout)          # a bad timeout is refused even when no wait is needed
        h = self._handle()
        if self._iov[1] == self._INTO:
            self._settle_into()
        if self._iov[1] != self._nil:       # taken by an interrupted receive: it is next
            if self._peeked is None:
                self._peeked = (_HELD, self._iov[1], Window(self._addr, self._iov[1]))
            return self._peeked[2].view(readonly=True)
        p = ctypes.c_void_p()
        try:
            n = attempt(lambda t: _lib.queue_peek(h, ctypes.byref(p), t), timeout, self)
        except BaseException:
            # A signal handler's exception (Ctrl-C) as the C peek returned: the library
            # holds the peek (it wrote the address); hold it here too, as peek() gave it
            # (peeking again gives the same message), so that consume() takes it and a
            # recv() says why it is refused.
            if p.value is not None and self._peeked is None:
                n = _lib.queue_peek(h, ctypes.byref(p), 0)
                if n >= 0:
                    self._peeked = (p.value, n, Window(p.value, n))
            raise
        if n < 0:
            raise message_error(n, "peek", self.uri, hint=self._pending(n), timeout=timeout)
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
        held = self._peeked[0] is _HELD
        self._peeked[2].retire(f"consume from queue {self.uri}")
        self._peeked = None
        if held:
            self._iov[1] = self._nil
            return
        check(_lib.queue_consume(h), "consume", self.uri)

    def _busy(self) -> None:
        """recv with the held message peek()ed: EBUSY, as the library refuses it."""
        raise error(-errno.EBUSY, "recv", self.uri, hint=self._pending(-errno.EBUSY))

    def _pending(self, err: int, size: Optional[int] = None) -> str:
        """Why this handle refused, when it is its own half-done zero-copy operation, or
        the message of size bytes it was given is over max_msg (as the CLI says it)."""
        if err in (-errno.EBUSY, -errno.EINVAL):
            if self._slot is not None and self._lent_unseen:
                return ("this handle holds the slot an interrupted reserve() took: reserve() "
                        "gives its view, commit() sends it")
            if self._slot is not None:
                return "this handle has a reserve()d slot: commit() it first"
            if self._peeked is not None:
                return "this handle has a peek()ed message: consume() it first"
        if err == -errno.EMSGSIZE and size is not None and size > self.max_msg:
            return f"a message of {size} bytes is over the queue's max_msg of {self.max_msg} bytes"
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
        given up, and a peeked message not consumed is consumed (taken from the queue,
        as shmkit_queue(3) says): receive it, or do not peek it, to keep it. BufferError
        while views from reserve()/peek() are still in use."""
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
