# SPDX-License-Identifier: MIT
"""A hash map of bytes to bytes inside a shared segment (shmkit_map(3))."""
from __future__ import annotations

import ctypes
import errno
import re
import threading
from collections.abc import ItemsView, Iterator, MutableMapping, ValuesView
from typing import Callable, Optional

from . import _lib
from ._errors import check, error
from ._handle import OPENED, Handle, guarded
from ._wait import SLICE_NS, attempt, to_ns

_ENOENT, _EMSGSIZE = -errno.ENOENT, -errno.EMSGSIZE
_ETIMEDOUT, _EAGAIN = -errno.ETIMEDOUT, -errno.EAGAIN
_LOCK_WAITS = (_ETIMEDOUT, _EAGAIN)     # a wait for the lock that ended: nothing changed
_SLICE_SAID = re.compile(r" for over [0-9.e+-]+ s$")    # the library's detail: one slice
_NO_DEFAULT = object()


class _ItemsView(ItemsView):
    """m.items(): iteration walks one snapshot of the pairs (keys with their values),
    taken under the writers' lock, so a pair another process deletes meanwhile is simply
    not there (never a KeyError), and every value is the one its key had in the snapshot."""

    __slots__ = ()

    def __iter__(self):
        return iter(self._mapping._walk(True))


class _ValuesView(ValuesView):
    """m.values(): the values of one snapshot of the pairs (see _ItemsView)."""

    __slots__ = ()

    def __iter__(self):
        return (v for _, v in self._mapping._walk(True))

    def __contains__(self, value):
        return any(v == value for v in self)


def _key(k) -> bytes:
    """A key or value as bytes: any contiguous bytes-like object (bytes, bytearray,
    memoryview, array.array, a numpy array), as the class documentation says."""
    if isinstance(k, bytes):
        return k
    return _lib.contiguous_view(k, "a shmkit.Map key or value").tobytes()


class Map(Handle, MutableMapping):
    """A hash map of bytes to bytes living in a shared segment: every process that opens
    the same uri sees the same pairs. Over ``file:`` it is a persistent key-value store.

    Map.create(uri, size, mode=0o600, persist=False)   a new map in a segment of size bytes
    Map.open(uri)                       an existing map

    It is a collections.abc.MutableMapping: ``m[k] = v``, ``m[k]`` (KeyError if absent),
    ``del m[k]``, ``k in m``, ``len(m)``, iteration over the keys, ``m.get(k, default)``,
    ``m.items()``, ``m.update(...)`` and the rest. Keys and values are bytes-like; values
    come back as bytes. A writer killed half-way leaves every key with its old or its new
    value, whole. Readers never block; writers take a robust lock.

    A full map raises OSError ENOSPC (nothing changed). Iteration walks a snapshot of the
    keys taken under the writers' lock; ``m.items()`` and ``m.values()`` walk a snapshot of
    the pairs the same way (each value as it was in the snapshot): a key another process
    deletes meanwhile is still seen by ``iter(m)`` (``m[k]`` may then raise KeyError) and
    never makes items() or values() raise. flush() makes a file: map durable. close()
    detaches.

    ``m.pop(k)``, ``m.pop(k, default)`` and ``m.popitem()`` take the pair out in one step
    under the writers' lock (shmkit_map_take): of several processes popping one key, exactly
    one gets the value; the others get the default (or KeyError when none was given).
    ``m.setdefault(k, d)`` is a get then a put: it is not atomic (two processes may both
    store their default; each gets back the one it stored). ``m.clear()`` pops every key
    of a snapshot, one at a time.

    A writer waits for the lock as long as another process holds it (one stopped by Ctrl-Z
    or a debugger holds it until it runs again), but in slices: Ctrl-C raises
    KeyboardInterrupt between two, with nothing half-done. put(k, v, timeout=S) and
    delete(k, timeout=S) bound the wait: TimeoutError (BlockingIOError for 0) naming the
    holder's pid, nothing changed.
    """

    def __init__(self, handle: int, uri, _opened=None):
        self._adopt(handle, uri, _opened)
        # One receive buffer per thread: the C call runs without the GIL, so
        # two threads' gets into one buffer returned each other's values.
        self._bufs = threading.local()
        # Every wait for the writers' lock is one slice long: see _locked().
        _lib.map_set_lock_timeout(handle, SLICE_NS)

    @classmethod
    def create(cls, uri, size: int, mode: int = 0o600, persist: bool = False) -> "Map":
        """Create a new map in a segment of size bytes at uri (persist=True: it lives
        until removed, shmkit gc never takes it)."""
        h = ctypes.c_void_p()
        check(_lib.map_create(ctypes.byref(h), _lib.encode(uri), _lib.size(size, "map size"),
                              _lib.create_mode(mode, persist)), "create map", uri, detail=True)
        return cls(h.value, uri, OPENED)

    @classmethod
    def open(cls, uri) -> "Map":
        """Open the existing map at uri."""
        h = ctypes.c_void_p()
        check(_lib.map_open(ctypes.byref(h), _lib.encode(uri)), "open map", uri, detail=True)
        return cls(h.value, uri, OPENED)

    def _locked(self, call: Callable[[], int], timeout: Optional[float] = None) -> int:
        """call(): a library call that may take the writers' lock, which the handle waits
        for one slice (SLICE_NS) at a time. A slice that ends changes nothing, so the call
        is made again, and between two a signal handler runs (Ctrl-C: KeyboardInterrupt)
        and a close() from another thread is seen (ValueError). timeout: seconds (None:
        without limit; 0: one try): the last slices are cut to it."""
        if timeout is None:
            r = call()
            while r in _LOCK_WAITS:     # -EAGAIN: another thread's timeout=0 call, for a moment
                if self._closing:
                    raise ValueError(f"shmkit.{type(self).__name__} closed while waiting")
                r = call()
            return r
        h = self._h

        def lock_for(t: int) -> int:
            _lib.map_set_lock_timeout(h, t)
            r = call()
            return _ETIMEDOUT if r == _EAGAIN and t != 0 else r

        try:
            r = attempt(lock_for, timeout, self)
        finally:
            _lib.map_set_lock_timeout(h, SLICE_NS)
        return r

    def _error(self, r: int, what: str, timeout: Optional[float] = None,
               pair: int = 0) -> OSError:
        if r == -errno.ENOSPC and pair:
            arena = self._arena()
            if arena and pair > arena:
                return error(r, what, self.uri, hint=f"a key and value of {pair} bytes can "
                             f"never fit: the whole map holds {arena} bytes")
            return error(r, what, self.uri, hint="the map is full; delete keys, or make a "
                         "larger map")
        if r not in _LOCK_WAITS:
            return error(r, what, self.uri)
        # who holds the lock (the library's detail), without its "for over <one slice>"
        why = _SLICE_SAID.sub("", _lib.last_error_detail().decode(errors="replace"))
        if r == _ETIMEDOUT and timeout:
            return error(r, what, self.uri, reason="timed out waiting for the map's lock",
                         hint=f"{why}; gave up after {timeout} s")
        return error(r, what, self.uri, hint=why)

    def _arena(self) -> int:
        """Bytes of the heap under the map (0 if unknown)."""
        heap = _lib.map_heap(self._h)
        st = _lib.HeapStats()
        if not heap or _lib.heap_stats(heap, ctypes.byref(st)) < 0:
            return 0
        return st.arena_bytes

    def _buffer(self, need: int = 0):
        """This thread's receive buffer, at least need bytes."""
        buf = getattr(self._bufs, "buf", None)
        if buf is None or len(buf) < need:
            buf = ctypes.create_string_buffer(max(256, need, 2 * len(buf) if buf else 0))
            self._bufs.buf = buf
        return buf

    @guarded
    def __getitem__(self, key) -> bytes:
        h, k = self._handle(), _key(key)
        while True:
            buf = self._buffer()
            n = _lib.map_get(h, k, len(k), buf, len(buf))
            if n in _LOCK_WAITS:    # it needed the lock: a writer stopped in this key's part
                n = self._locked(lambda: _lib.map_get(h, k, len(k), buf, len(buf)))
            if n >= 0:
                return ctypes.string_at(buf, n)
            if n == _ENOENT:
                raise KeyError(key)
            if n != _EMSGSIZE:
                raise self._error(n, "map get")
            need = self._locked(lambda: _lib.map_len(h, k, len(k)))  # the value grew: retry
            if need == _ENOENT:
                raise KeyError(key)
            if need < 0:
                raise self._error(need, "map get")
            self._buffer(need)

    def __setitem__(self, key, value) -> None:
        self.put(key, value)

    @guarded
    def put(self, key, value, timeout: Optional[float] = None) -> None:
        """m[key] = value, waiting for the writers' lock up to timeout seconds (None: as
        long as it takes; 0: not at all): TimeoutError (BlockingIOError for 0) when it
        passed, nothing changed."""
        if timeout is not None:
            to_ns(timeout)          # a bad timeout is refused even when no wait is needed
        h, k, v = self._handle(), _key(key), _key(value)
        r = self._locked(lambda: _lib.map_put(h, k, len(k), v, len(v)), timeout)
        if r < 0:
            raise self._error(r, "map put", timeout, len(k) + len(v))

    def __delitem__(self, key) -> None:
        self.delete(key)

    @guarded
    def delete(self, key, timeout: Optional[float] = None) -> None:
        """del m[key] (KeyError if absent), with the wait for the lock bounded as put()."""
        if timeout is not None:
            to_ns(timeout)          # a bad timeout is refused even when no wait is needed
        h, k = self._handle(), _key(key)
        r = self._locked(lambda: _lib.map_del(h, k, len(k)), timeout)
        if r == _ENOENT:
            raise KeyError(key)
        if r < 0:
            raise self._error(r, "map del", timeout)

    def pop(self, key, default=_NO_DEFAULT):
        """Remove key and return its value, in one step under the writers' lock: of two
        processes popping one key, one gets the value and the other the default (KeyError
        if no default was given). A key that is not bytes-like is absent."""
        try:
            k = _key(key)
        except TypeError:
            if default is _NO_DEFAULT:
                raise
            return default
        v = self._take(k)
        if v is None:
            if default is _NO_DEFAULT:
                raise KeyError(key)
            return default
        return v

    def popitem(self) -> tuple[bytes, bytes]:
        """Remove and return some (key, value) pair, taken in one step as pop() does
        (KeyError if the map is empty)."""
        for k in self._keys():
            v = self._take(k)
            if v is not None:
                return k, v
        raise KeyError("popitem(): shmkit.Map is empty")

    def clear(self) -> None:
        """Remove every key of a snapshot of the keys (a key put meanwhile may stay)."""
        for k in self._keys():
            self._take(k)

    def items(self) -> ItemsView:
        return _ItemsView(self)

    def values(self) -> ValuesView:
        return _ValuesView(self)

    @guarded
    def _take(self, k: bytes) -> Optional[bytes]:
        """shmkit_map_take: the value of k, removed, or None if k was absent."""
        h = self._handle()
        while True:
            buf = self._buffer()
            n = self._locked(lambda: _lib.map_take(h, k, len(k), buf, len(buf)))
            if n >= 0:
                return ctypes.string_at(buf, n)
            if n == _ENOENT:
                return None
            if n != _EMSGSIZE:
                raise self._error(n, "map take")
            need = self._locked(lambda: _lib.map_len(h, k, len(k)))
            if need == _ENOENT:
                return None
            if need < 0:
                raise self._error(need, "map take")
            self._buffer(need)

    def __contains__(self, key) -> bool:
        try:
            k = _key(key)
        except TypeError:
            return False
        return self._contains(k)

    def get(self, key, default=None):
        """m[key], or default when it is absent, or not bytes-like (as `key in m` says
        False for it)."""
        try:
            _key(key)
        except TypeError:
            return default
        try:
            return self[key]
        except KeyError:
            return default

    @guarded
    def _contains(self, k: bytes) -> bool:
        h = self._handle()
        r = self._locked(lambda: _lib.map_len(h, k, len(k)))
        if r == _ENOENT:
            return False
        if r < 0:
            raise self._error(r, "map lookup")
        return True

    @guarded
    def __len__(self) -> int:
        return check(_lib.map_count(self._handle()), "map count", self.uri)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._keys())

    def _keys(self) -> list[bytes]:
        return self._walk(False)

    @guarded
    def _walk(self, values: bool) -> list:
        """One walk under the writers' lock: the keys, or (values) the (key, value) pairs."""
        keys: list = []
        failed: list[BaseException] = []
        at = ctypes.string_at

        def each(k, klen, v, vlen, _arg):
            # ctypes would print an exception raised here and go on with the walk (a key
            # short, a Ctrl-C lost): stop the walk and raise it once the library is out.
            try:
                keys.append((at(k, klen), at(v, vlen)) if values else at(k, klen))
                return 0
            except BaseException as e:    # noqa: B036 - re-raised below
                failed.append(e)
                return 1

        h, fn = self._handle(), _lib.MAP_ITER_FN(each)
        r = self._locked(lambda: _lib.map_iter(h, fn, None))   # no pair seen until it locks
        if failed:
            raise failed[0]
        if r < 0:
            raise self._error(r, "map iterate")
        return keys

    @guarded
    def flush(self) -> None:
        """Make the map durable (msync for file:, nothing elsewhere)."""
        check(_lib.map_flush(self._handle()), "map flush", self.uri)

    def close(self) -> None:
        """Detach from the map (it stays until removed)."""
        super().close()

    def _close_handle(self, h: int) -> None:
        check(_lib.map_close(h), "close map", self.uri)

    def __repr__(self) -> str:
        return f"<shmkit.Map {self.uri!r}{' closed' if self._h is None else ''}>"
