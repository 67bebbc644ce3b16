# SPDX-License-Identifier: MIT
"""Memoryviews of shared memory that cannot outlive the memory they show.

A memoryview made over a ctypes array at a raw address would keep pointing there after
the segment is unmapped, or after a queue slot is handed back to the other side. Every view
this package gives out is made here from one private ctypes array; the array is referenced
by the views (and their slices, casts and anything that took a buffer from them) and by
nothing else but the owner. So before the memory goes away, :func:`retire` releases the
views it gave out and then checks that nobody else still holds the array: if something does,
it raises BufferError and the memory stays valid, like ``mmap.close()`` with exports.
"""
from __future__ import annotations

import ctypes
import sys


class Window:
    """One region of shared memory and the views of it given out so far."""

    __slots__ = ("_arr", "_views")

    def __init__(self, addr: int, size: int):
        self._arr = (ctypes.c_char * size).from_address(addr)
        self._views: list[memoryview] = []

    def view(self, readonly: bool = False) -> memoryview:
        """A new byte view of the whole region (read-only if asked)."""
        mv = memoryview(self._arr).cast("B")
        if readonly:
            ro = mv.toreadonly()
            mv.release()
            mv = ro
        self._views.append(mv)
        return mv

    def retire(self, what: str) -> None:
        """Release every view; raise BufferError (memory kept valid) if any is still in use."""
        busy = False
        for mv in self._views:
            try:
                mv.release()
            except BufferError:        # something (numpy, ctypes.from_buffer) exports it
                busy = True
        # References now: self._arr and getrefcount's argument; any more are live slices
        # or casts of a released view, which still reach the memory.
        if busy or sys.getrefcount(self._arr) > 2:
            raise BufferError(f"{what}: views of its memory are still in use (arrays, slices or "
                              "ctypes objects made from it); delete or release them first")
        self._views.clear()
