# SPDX-License-Identifier: MIT
"""Broadcast topics: one publisher, many subscribers, each sees every message
(shmkit_pubsub(3))."""
from __future__ import annotations

import collections
import ctypes
import errno
from typing import Any, Optional

from . import _aio, _fork, _lib
from ._errors import check, error, message_error
from ._handle import OPENED, Handle, guarded
from ._message import NOT_SENT as _NOT_SENT, SendRecord, Lending, hand_over, lend, send_copy
from ._views import Window
from ._wait import sliced, to_ns

_EAGAIN = -errno.EAGAIN
_PUB_STATES = {0: "none", 1: "active", 2: "closed"}
_LOAN = Lending("loan", "publish", "a loan", "loaned", "topic", "_loan")


class Publisher(Handle):
    """The one publisher of a topic.

    Publisher.create(uri, slot_size, slots, reliable=False, mode=0o600, max_subs=0,
                     persist=False)
        Make a topic: a ring of slots messages of up to slot_size bytes each.
        reliable=False: the publisher never waits; a slow subscriber loses the oldest
        messages and is told how many (Subscriber.dropped). reliable=True: the publisher
        waits for the slowest live subscriber (a dead one never holds it). persist=True:
        the topic lives until removed (``shmkit gc`` never takes it).
    Publisher.open(uri)
        Become the publisher of an existing topic: OSError EBUSY while a live publisher
        holds it; takes over from one that closed or died.

    send(data, timeout=None)       publish a copy of data
    loan(size) / publish()         zero-copy: fill the loaned memoryview, then publish it
    published                      messages published on the topic so far
    close()                        subscribers drain what is left, then get BrokenPipeError

    Timeouts and errors as for shmkit.Queue.
    """

    def __init__(self, handle: int, uri, _opened=None):
        self._adopt(handle, uri, _opened)
        self._hc = ctypes.c_void_p(handle)   # for the fast path; NULL once closed
        self._sender = SendRecord("shmkit_pub_send")     # see interrupted_send_done()
        self._send_r = self._sender.r
        self._loan: Optional[tuple[int, int, Window]] = None
        self._lent_unseen = False       # _loan's view not yet returned (see _message.lend)

    @classmethod
    def create(cls, uri, slot_size: int, slots: int, reliable: bool = False,
               mode: int = 0o600, max_subs: int = 0, persist: bool = False) -> "Publisher":
        """Create a topic at uri and become its publisher."""
        o = _lib.TopicOpts(_lib.size(slot_size, "slot_size"), _lib.size(slots, "slots"),
                           int(bool(reliable)), _lib.create_mode(mode, persist),
                           _lib.size(max_subs, "max_subs", _lib.UINT_MAX))
        h = ctypes.c_void_p()
        check(_lib.pub_create(ctypes.byref(h), _lib.encode(uri), ctypes.byref(o)),
              "create topic", uri, detail=True)
        return cls(h.value, uri, OPENED)

    @classmethod
    def open(cls, uri) -> "Publisher":
        """Become the publisher of the existing topic at uri."""
        h = ctypes.c_void_p()
        check(_lib.pub_open(ctypes.byref(h), _lib.encode(uri)), "open topic", uri, detail=True)
        return cls(h.value, uri, OPENED)

    def send(self, data, timeout: Optional[float] = None) -> None:
        """Publish a copy of data (at most slot_size bytes). Only a reliable topic waits.
        If it raises (Ctrl-C: KeyboardInterrupt), interrupted_send_done() says whether
        the message had been published all the same."""
        rec = self._send_r
        rec[-1] = _NOT_SENT         # item stores: no point where a signal handler runs
        if timeout is not None:
            to_ns(timeout)          # a bad timeout is refused even when no wait is needed
        # GIL held through the C call; close() zeroes _hc first (see Queue.send).
        if type(data) is bytes:
            self._sender.fast(self._hc, data, _lib.size_arg(len(data)), _lib.NOWAIT)
            if rec[-1] == 0:
                rec[-1] = _NOT_SENT
                return
        self._send_slow(data, timeout)
        rec[-1] = _NOT_SENT

    @guarded
    def _send_slow(self, data, timeout: Optional[float]) -> None:
        send_copy(self, self._sender, data, timeout, "publish")

    def interrupted_send_done(self) -> bool:
        """After send() raised (KeyboardInterrupt, or any signal handler's exception, which
        can come right after the message was published): True if it was published (do
        not send it again), False if not. Answers once, then False until another send()
        raises."""
        return self._sender.done()

    @guarded
    def loan(self, size: int, timeout: Optional[float] = None) -> memoryview:
        """A writable memoryview of the next slot (size bytes) to fill in place; publish()
        sends it and releases the view (drop anything made from it first)."""
        mv = lend(self, _lib.pub_loan, size, timeout, _LOAN)[2].view()
        self._lent_unseen = False       # stores only: no handler runs before the return
        return mv

    @guarded
    def publish(self, size: Optional[int] = None) -> None:
        """Publish the loaned slot as a message of size bytes (default: all loaned).
        BufferError (nothing published) while views of the slot are still in use."""
        h = self._handle()
        addr, n = hand_over(self._loan, size, _LOAN, self.uri)
        self._loan = None
        check(_lib.pub_publish(h, addr, n), "publish", self.uri)

    def _pending(self, err: int, size: Optional[int] = None) -> str:
        if err == -errno.EINVAL and self._loan is not None and self._lent_unseen:
            return ("this publisher holds the slot an interrupted loan() took: loan() gives "
                    "its view, publish() sends it")
        if err == -errno.EINVAL and self._loan is not None:
            return "this publisher has a loan()ed slot: publish() it first"
        if err == -errno.EMSGSIZE and size is not None:    # as the CLI says it
            info = _lib.TopicInfo()
            if _lib.topic_stat(_lib.encode(self.uri), ctypes.byref(info), None, 0) == 0 and \
                    size > info.slot_size:
                return (f"a message of {size} bytes is over the topic's slot size of "
                        f"{info.slot_size} bytes")
        return ""

    @property
    @guarded
    def published(self) -> int:
        """Messages published on this topic so far (the next message's index)."""
        return _lib.pub_published(self._handle())

    def close(self) -> None:
        """Stop publishing; the topic stays (shmkit.remove(uri) deletes it)."""
        super().close()

    def _release(self) -> None:
        if self._loan is not None:
            self._loan[2].retire(f"close topic {self.uri}")

    def _close_handle(self, h: int) -> None:
        self._hc.value = None
        check(_lib.pub_close(h), "close publisher", self.uri)

    def __repr__(self) -> str:
        return f"<shmkit.Publisher {self.uri!r}{' closed' if self._h is None else ''}>"


class Subscriber(Handle):
    """One subscriber of a topic: receives every message published after it joined.

    Subscriber.open(uri)
        Join the topic at uri (it may have no publisher yet).

    recv(timeout=None) -> bytes    the next message; BrokenPipeError once the publisher is
                                   gone and every message has been read
    await recv_async()             recv for asyncio, woken through fileno()
    dropped                        messages this subscriber lost on a lossy topic
                                   (received + dropped = published since it joined)
    position                       index of the next message it will read
    fileno()                       readable while a message (or the end) waits
    close()

    Timeouts and errors as for shmkit.Queue.
    """

    def __init__(self, handle: int, uri, _opened=None):
        self._adopt(handle, uri, _opened)
        self._hc = ctypes.c_void_p(handle)   # for the fast path; NULL once closed
        info = _lib.TopicInfo()
        r = _lib.topic_stat(_lib.encode(uri), ctypes.byref(info), None, 0)
        if r < 0:
            _lib.sub_close(handle)
            self._h = None
            raise error(r, "open topic", uri)
        self.slot_size: int = info.slot_size
        self._buf, self._addr, self._mv = _lib.receive_buffer(self.slot_size)
        self._bufc = ctypes.c_void_p(self._addr)
        # the recorded result is a C int: a slot of 2 GiB or more takes at most 2 GiB - 1
        self._capc = ctypes.c_size_t(min(self.slot_size, 0x7FFFFFFF))
        self._got: collections.deque = collections.deque(maxlen=1)
        self._frecv = _lib.recording_fn("shmkit_sub_recv", self._got.append, True)
        self._wrecv = _lib.recording_fn("shmkit_sub_recv", self._got.append, False)
        _fork.watch(self)

    def _forget_held(self) -> None:
        """In a child just forked: the message the parent's handle holds stays the parent's."""
        self._got.clear()

    @classmethod
    def open(cls, uri) -> "Subscriber":
        """Join the topic at uri."""
        h = ctypes.c_void_p()
        check(_lib.sub_open(ctypes.byref(h), _lib.encode(uri)), "subscribe", uri, detail=True)
        return cls(h.value, uri, OPENED)

    def recv(self, timeout: Optional[float] = None) -> bytes:
        """The next message as bytes; waits while there is none."""
        if timeout is not None:
            to_ns(timeout)          # a bad timeout is refused even when no wait is needed
        # As Queue.recv (queue.py, "Receiving without losing a message"): the C call's
        # result is recorded in _got (a deque(maxlen=1)) inside the call, so a message it
        # took is held there if an exception comes as the call returns, and given out first.
        got = self._got
        if not got or got[-1] < 0:          # no message held: take one
            self._frecv(self._hc, self._bufc, self._capc, _lib.NOWAIT)   # see Queue.send
            if got[-1] < 0:
                self._recv_wait(timeout)
        b = self._mv[:got[-1]].tobytes()
        del got[0]                          # nothing between this and the return
        return b

    @guarded
    def _recv_wait(self, timeout: Optional[float]) -> None:
        """After a receive that took nothing: wait up to timeout for one, or raise."""
        got = self._got
        r = got[-1]
        if r == _EAGAIN and timeout != 0:
            h, wait, addr, cap = self._h, self._wrecv, self._addr, self._capc.value
            r = sliced(lambda t: (wait(h, addr, cap, t), got[-1])[1], to_ns(timeout), self)
        if got[-1] < 0:                     # r: also a timeout sliced() saw without a call
            raise message_error(r, "receive", self.uri, timeout=timeout)

    async def recv_async(self) -> bytes:
        """recv() for asyncio, without a thread (the loop watches fileno())."""
        return await _aio.receive(self, self._try_recv)

    def _try_recv(self) -> Optional[bytes]:
        got = self._got
        if not got or got[-1] < 0:
            self._frecv(self._hc, self._bufc, self._capc, _lib.NOWAIT)
            if got[-1] < 0:
                if got[-1] == _EAGAIN and not self.closed:
                    return None
                self._recv_wait(0)          # raises
        b = self._mv[:got[-1]].tobytes()
        del got[0]                          # nothing between this and the return
        return b

    @property
    @guarded
    def dropped(self) -> int:
        """Messages overwritten before this subscriber read them (lossy topics)."""
        return _lib.sub_dropped(self._handle())

    @property
    @guarded
    def position(self) -> int:
        """Index of the next message this subscriber will read."""
        return _lib.sub_position(self._handle())

    @guarded
    def fileno(self) -> int:
        """A descriptor readable while a message (or the publisher's end) waits."""
        return check(_lib.sub_fd(self._handle()), "topic descriptor", self.uri)

    def close(self) -> None:
        """Leave the topic."""
        super().close()

    def _close_handle(self, h: int) -> None:
        self._hc.value = None
        check(_lib.sub_close(h), "close subscriber", self.uri)

    def __repr__(self) -> str:
        return f"<shmkit.Subscriber {self.uri!r}{' closed' if self._h is None else ''}>"


def topic_info(uri) -> dict[str, Any]:
    """A topic's state, as the "topic" object of ``shmkit stat --json``."""
    u = _lib.encode(uri)
    info = _lib.TopicInfo()
    cap = 0
    while True:
        subs = (_lib.TopicSubInfo * max(cap, 1))()
        r = _lib.topic_stat(u, ctypes.byref(info), subs, cap)
        if r < 0:
            return {"error": _lib.strerror(r).decode(errors="replace")}
        if info.n_subs <= cap:
            break
        cap = info.n_subs + 8      # subscribers joined meanwhile: ask again with room
    d: dict[str, Any] = {"slots": info.slots, "slot_size": info.slot_size,
                         "reliable": bool(info.reliable), "max_subs": info.max_subs,
                         "published": info.published, "bytes_published": info.bytes_published,
                         "publisher": _PUB_STATES.get(info.pub_state, "none")}
    active = info.pub_state == 1   # the same keys every time, None without a publisher
    d["publisher_pid"] = info.pub_pid if active else None
    d["publisher_alive"] = bool(info.pub_alive) if active and info.pub_alive >= 0 else None
    d["subscribers"] = [{"pid": s.pid, "alive": bool(s.alive) if s.alive >= 0 else None,
                         "position": s.position, "dropped": s.dropped,
                         "bytes_received": s.bytes_received, "waiting": bool(s.sleeping)}
                        for s in subs[:info.n_subs]]
    return d
