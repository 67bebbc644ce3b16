# SPDX-License-Identifier: MIT
"""What Queue and Publisher share: a message sent as a copy of any bytes-like object, and
a slot lent for a zero-copy message (Queue.reserve/commit, Publisher.loan/publish).

A lent slot is (addr, size, window): the window (see _views) gives out the one writable
view of it and retires that view before the slot is handed over."""
from __future__ import annotations

import collections
import ctypes
import errno
from typing import Any, Callable, NamedTuple, Optional

from . import _lib
from ._errors import message_error
from ._views import Window
from ._wait import attempt, to_ns

Slot = tuple[int, int, Window]


class Lending(NamedTuple):
    """The words a handle's errors use for its zero-copy slot."""
    take: str       # "reserve": also names the size argument ("reserve size")
    give: str       # "commit"
    noun: str       # "a reservation": what commit without one lacks
    lent: str       # "reserved"
    kind: str       # "queue": what the slot is given to
    held: str       # "_slot": the owner's attribute that holds the lent slot


def as_bytes(data) -> Any:
    """data as something ctypes passes as const void * without copying where it can."""
    if type(data) is bytes:
        return data
    mv = _lib.contiguous_view(data, "a message")
    if mv.readonly:
        return mv.tobytes()
    return (ctypes.c_char * mv.nbytes).from_buffer(mv.cast("B"))


NOT_SENT = 1     # in a handle's _send_r: no send() is known to have put its message in


class SendRecord:
    """Whether a send() that raised had put its message in (docs: "Interrupted sends").

    A signal handler's exception (KeyboardInterrupt) may come right after the C call that
    sent the message returns, before send() returns. So the C send functions are called
    through recording functions (_lib.recording_fn) whose result lands in ``self.r``
    (deque(maxlen=1)) inside the call. send() sets r[-1] = NOT_SENT on entry and again on
    a normal return, by item stores (no point where a handler runs); r[-1] == 0 after
    send() raised means the message went."""

    __slots__ = ("r", "fast", "wait")

    def __init__(self, name: str):
        self.r: collections.deque = collections.deque([NOT_SENT], maxlen=1)
        self.fast = _lib.recording_fn(name, self.r.append, True)
        self.wait = _lib.recording_fn(name, self.r.append, False)

    def done(self) -> bool:
        """True once: the send() that raised had sent its message; then False."""
        r = self.r
        sent = r[-1] == 0
        r[-1] = NOT_SENT
        return sent


def send_copy(owner, rec: SendRecord, data, timeout: Optional[float],
              what: str) -> None:
    """Send a copy of data through rec.wait(h, msg, n, timeout_ns) (its result in rec.r),
    waiting up to timeout seconds: the path of send() that the fast one left. owner: the
    handle (a guarded call); its _pending() says what its refusal means."""
    h = owner._h
    msg = as_bytes(data)
    n = len(msg) if type(msg) is bytes else ctypes.sizeof(msg)
    call, res = rec.wait, rec.r
    r = attempt(lambda t: (call(h, msg, n, t), res[-1])[1], timeout, owner)
    if r < 0:
        raise message_error(r, what, owner.uri, hint=owner._pending(r, n), timeout=timeout)


def lend(owner, call: Callable[..., int], size: int, timeout: Optional[float],
         words: Lending) -> Slot:
    """The slot for a message of up to size bytes from call(h, size, &addr, timeout_ns),
    waiting up to timeout seconds (a guarded call of owner), set as the owner's
    words.held attribute.

    A signal handler runs as the C call returns: an exception it raises (Ctrl-C) may come
    after the library lent the slot, before it reaches the caller. The slot is recorded on
    the owner all the same (the library writes addr only when it lends), so commit() /
    publish() or close() can give it back: forgotten, the library's handle stayed
    reserved and every later reserve/send was refused (EBUSY, EINVAL) until close().

    Such a slot is marked unseen (owner._lent_unseen) until reserve()/loan() returns its
    view: the next reserve()/loan() gives that slot (its view), so the message sent is
    the one then written into it. Sent as it was, it carried the slot's old bytes: an
    earlier message, received a second time."""
    if timeout is not None:
        to_ns(timeout)          # a bad timeout is refused even when no wait is needed
    size = _lib.size(size, f"{words.take} size")
    h = owner._handle()
    held = getattr(owner, words.held)
    if held is not None and owner._lent_unseen:
        if size > held[1]:
            raise message_error(-errno.EBUSY, words.take, owner.uri, timeout=timeout,
                                hint=f"an interrupted {words.take}() holds a slot of "
                                     f"{held[1]} bytes: {words.take}() up to that many gives "
                                     "it")
        if size < held[1]:
            held[2].retire(f"{words.take} again")
            held = (held[0], size, Window(held[0], size))
            setattr(owner, words.held, held)
        return held
    p = ctypes.c_void_p()
    try:
        r = attempt(lambda t: call(h, size, ctypes.byref(p), t), timeout, owner)
        if r < 0:
            raise message_error(r, words.take, owner.uri, hint=owner._pending(r, size),
                                timeout=timeout)
    finally:
        if p.value is not None and getattr(owner, words.held) is None:
            owner._lent_unseen = True   # first: a handler may run as setattr returns
            setattr(owner, words.held, (p.value, size, Window(p.value, size)))
    return getattr(owner, words.held)


def hand_over(slot: Optional[Slot], size: Optional[int], words: Lending,
              uri: str) -> tuple[int, int]:
    """(addr, n): the lent slot, checked to go as a message of size bytes (None: all that
    was lent), with its view retired. ValueError or BufferError: nothing changed, the
    slot is still lent."""
    if slot is None:
        raise ValueError(f"{words.give} without {words.noun}")
    addr, lent, window = slot
    n = lent if size is None else _lib.size(size, "size", None)  # first
    if not 0 <= n <= lent:
        raise ValueError(f"{words.give} size {n} outside the {lent} bytes {words.lent}")
    window.retire(f"{words.give} to {words.kind} {uri}")
    return addr, n
