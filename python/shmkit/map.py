# SPDX-License-Identifier: MIT
"""A hash map of bytes to bytes inside a shared segment (shmkit_map(3))."""
from __future__ import annotations

import ctypes
import errno
from collections.abc import Iterator, MutableMapping
from typing import Optional

from . import _lib
from ._errors import check, error
from ._handle import OPENED, Handle, check_opened, guarded

_ENOENT, _EMSGSIZE = -errno.ENOENT, -errno.EMSGSIZE


def _key(k) -> bytes:
    if isinstance(k, bytes):
        return k
    if isinstance(k, (bytearray, memoryview)):
        return bytes(k)
    raise TypeError(f"shmkit.Map keys and values are bytes, not {type(k).__name__}")


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
    keys taken under the writers' lock. flush() makes a file: map durable. close() detaches.
    """

    def __init__(self, handle: int, uri, _opened=None):
        check_opened(type(self), _opened)      # only create() and open() make one
        self._users: list[int] = []
        self._h: Optional[int] = handle
        self.uri: str = uri.decode(errors="surrogateescape") if isinstance(uri, bytes) else str(uri)
        self._buf = ctypes.create_string_buffer(256)

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

    @guarded
    def __getitem__(self, key) -> bytes:
        h, k = self._handle(), _key(key)
        while True:
            buf = self._buf
            n = _lib.map_get(h, k, len(k), buf, len(buf))
            if n >= 0:
                return ctypes.string_at(buf, n)
            if n == _ENOENT:
                raise KeyError(key)
            if n != _EMSGSIZE:
                raise error(n, "map get", self.uri)
            need = _lib.map_len(h, k, len(k))   # the value grew: retry with room for it
            if need == _ENOENT:
                raise KeyError(key)
            if need < 0:
                raise error(need, "map get", self.uri)
            self._buf = ctypes.create_string_buffer(max(need, 2 * len(buf)))

    @guarded
    def __setitem__(self, key, value) -> None:
        k = _key(key)
        v = _key(value)
        check(_lib.map_put(self._handle(), k, len(k), v, len(v)), "map put", self.uri)

    @guarded
    def __delitem__(self, key) -> None:
        k = _key(key)
        r = _lib.map_del(self._handle(), k, len(k))
        if r == _ENOENT:
            raise KeyError(key)
        check(r, "map del", self.uri)

    def __contains__(self, key) -> bool:
        try:
            k = _key(key)
        except TypeError:
            return False
        return self._contains(k)

    @guarded
    def _contains(self, k: bytes) -> bool:
        r = _lib.map_len(self._handle(), k, len(k))
        if r == _ENOENT:
            return False
        check(r, "map lookup", self.uri)
        return True

    @guarded
    def __len__(self) -> int:
        return check(_lib.map_count(self._handle()), "map count", self.uri)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._keys())

    @guarded
    def _keys(self) -> list[bytes]:
        keys: list[bytes] = []
        failed: list[BaseException] = []

        def each(k, klen, _v, _vlen, _arg):
            # ctypes would print an exception raised here and go on with the walk (a key
            # short, a Ctrl-C lost): stop the walk and raise it once the library is out.
            try:
                keys.append(ctypes.string_at(k, klen))
                return 0
            except BaseException as e:    # noqa: B036 - re-raised below
                failed.append(e)
                return 1

        r = _lib.map_iter(self._handle(), _lib.MAP_ITER_FN(each), None)
        if failed:
            raise failed[0]
        check(r, "map iterate", self.uri)
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
