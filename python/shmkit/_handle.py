# SPDX-License-Identifier: MIT
"""What every shmkit handle shares: a closed flag, a context manager, close on collection,
and a close that never frees the library's handle under a call still using it.

Every call into the library releases the GIL (the waiting ones wait inside it), so another
thread may call close() meanwhile: freeing the C handle then would leave the first thread
inside the library on freed memory (a crash). So each method that passes the handle to C
runs as a "user" of it (:func:`guarded`, or inline on the hot paths), and close():

- refuses new users at once (ValueError, as for a closed handle);
- waits for the users in other threads to leave: a waiting call waits in 50 ms slices and
  gives up between two of them with ValueError "closed while waiting" (see _wait.sliced);
- when called by a thread that is itself inside a call on the handle (a signal handler
  that runs between two slices of a wait), leaves the closing to that call: the last user
  to leave closes.

A child forked while other threads were in calls on a handle has only the forking thread:
the others' entries are dropped at the fork (_forget_other_threads). They must not linger:
a thread the child starts may get the ident of one of them (glibc gives it the dead
thread's stack, so pthread_self() is the same), and close() would wait for it forever.
"""
from __future__ import annotations

import os
import sys
import threading
import time
import weakref
from functools import wraps
from typing import Callable, Self, TypeVar

from ._lib import uri_of

_ident = threading.get_ident
_finish_lock = threading.Lock()
# handles with a _users list, by id (a Map is a MutableMapping: not hashable)
_tracked: "weakref.WeakValueDictionary" = weakref.WeakValueDictionary()
F = TypeVar("F", bound=Callable)


def _forget_other_threads() -> None:
    """In a child just forked: only the forking thread exists, so only its entries (a
    fork made inside a call on the handle, from a signal handler) are calls still running."""
    me = _ident()
    for h in list(_tracked.values()):
        users = h.__dict__.get("_users")
        if users:
            users[:] = [u for u in users if u == me]


os.register_at_fork(after_in_child=_forget_other_threads)


class Handle:
    """Base of Segment, Queue, Publisher, Subscriber and Map: ``self._h`` is the library's
    handle (None once closed). Subclasses call ``self._track()`` first thing in
    ``__init__`` (those made by create() and open(): ``self._adopt(...)``) and define ``_release()`` (give back views, or raise BufferError leaving
    everything as it was) and ``_close_handle(h)`` (the C close)."""

    _h = None
    _closing = False          # close() was called: no new users
    _close_pending = False    # ... by a user of the handle: the last user to leave closes
    _users: list              # thread idents of the calls now using the handle
    _aio = None               # futures of the coroutines waiting in recv_async()

    def _adopt(self, handle: int, uri, token) -> None:
        """First thing in the __init__ of Queue, Publisher, Subscriber and Map, made only by
        their create() and open() (token: OPENED) from the library's handle for uri."""
        check_opened(type(self), token)
        self._track()
        self._h = handle
        uri = uri_of(uri)
        self.uri: str = uri.decode(errors="surrogateescape") if isinstance(uri, bytes) else str(uri)

    def _track(self) -> None:
        """Set up ``self._users`` (first thing in __init__): emptied of other threads'
        entries in a forked child."""
        self._users = []
        _tracked[id(self)] = self

    def _release(self) -> None:
        pass

    def _async_waiters(self) -> set:
        if self._aio is None:
            self._aio = set()
        return self._aio

    def _close_handle(self, h: int) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        return self._h is None or self._closing

    def _closed_error(self) -> ValueError:
        return ValueError(f"operation on a closed shmkit.{type(self).__name__}")

    def _handle(self) -> int:
        if self._h is None or self._closing:
            raise self._closed_error()
        return self._h

    def close(self) -> None:
        """Detach (see the subclass). Waits for calls in other threads to give up first."""
        if self._h is None or self._closing:
            return
        self._release()               # BufferError here: nothing changed, still open
        self._closing = True
        if self._aio:
            from ._aio import wake
            wake(self._aio)           # coroutines in recv_async(): they raise ValueError
        users = self._users
        if _ident() in users:         # called from inside a call on this handle
            self._close_pending = True
            return
        try:
            # No sys._current_frames() here to tell a call still running from an entry
            # left behind: on CPython before 3.11.9 it deadlocks the thread (a GC started
            # under its lock freeing a Map, whose threading.local takes that lock again),
            # with the waiting thread stopped for the GIL. Entries left behind come only
            # from threads that a fork did not copy, and the child drops them.
            while users:              # they see _closing within one wait slice
                if sys.is_finalizing():   # a daemon thread frozen in its call: leave it
                    return
                time.sleep(0.001)
        except BaseException:         # Ctrl-C while waiting: the last call out closes
            self._close_pending = True
            if not users:
                self._leave_last()
            raise
        self._finish_released()

    def _finish_released(self) -> None:
        # The calls just waited for may have given out views (a reserve() that got its
        # slot as close() began): give those back too before the memory goes.
        try:
            self._release()
        except BufferError:
            self._closing = False     # still open and usable, as after any refusal
            raise
        self._finish()

    def _finish(self) -> None:
        with _finish_lock:
            h, self._h = self._h, None
        if h is not None:
            self._close_handle(h)

    def _leave_last(self) -> None:
        if not self._users:
            self._close_pending = False
            self._finish_released()

    def __reduce_ex__(self, protocol):
        # A copy would hold the same library handle: closing one frees it under the other.
        raise TypeError(f"cannot copy or pickle a shmkit.{type(self).__name__}: it holds "
                        "a handle of this process; open its uri again instead")

    def __copy__(self):
        self.__reduce_ex__(0)

    def __deepcopy__(self, memo):
        self.__reduce_ex__(0)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        try:
            self.close()
        except BufferError:
            # The exception propagating (its traceback's frames) may be what still holds
            # views of the memory: close() refuses, and raising that would hide the error
            # the block raised. Let it propagate; the handle stays open (close() it once
            # the views are gone) and is closed when collected.
            pass

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # views still alive: keep the mapping rather than crash
            pass


OPENED = object()
"""Passed by create() and open() to the constructors of Queue, Publisher, Subscriber and
Map, whose first argument is a library handle: nothing else may make one."""


def check_opened(cls: type, token) -> None:
    if token is not OPENED:
        name = cls.__name__
        how = (f"shmkit.{name}.open(uri)" if name == "Subscriber" else
               f"shmkit.{name}.create(uri, ...) or shmkit.{name}.open(uri)")
        raise TypeError(f"shmkit.{name}() is not called directly: use {how}")


def guarded(fn: F) -> F:
    """Run the method as a user of the handle (ValueError if it is closed or closing)."""
    @wraps(fn)
    def call(self, *args, **kw):
        me = _ident()
        users = self._users
        try:
            users.append(me)          # in the try: a KeyboardInterrupt right after it
            if self._closing:
                raise self._closed_error()
            return fn(self, *args, **kw)
        finally:
            # The entry goes first, in line: a signal handler runs where the
            # interpreter checks for one, and entering a Python function is
            # such a point (a helper called here lost the entry to a Ctrl-C
            # now and then, and close() then took the stale entry for a call
            # still running and never closed). A C call checks only after it
            # returns, when the entry is already gone.
            try:
                users.remove(me)
            except ValueError:        # interrupted before it was added
                pass
            if self._close_pending:
                self._leave_last()
    return call
