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
import gc
import sys


class Window:
    """One region of shared memory and the views of it given out so far."""

    __slots__ = ("_arr", "_views")

    def __init__(self, addr: int, size: int):
        self._arr = (ctypes.c_char * size).from_address(addr)
        self._views: list[memoryview] = []

    def view(self, readonly: bool = False) -> memoryview:
        """A byte view of the whole region (read-only if asked): the one given out before
        while it is not released, so that a window has one view of each kind at most."""
        for mv in self._views:
            try:
                if mv.readonly == readonly:
                    return mv
            except ValueError:           # released by its user
                pass
        mv = memoryview(self._arr).cast("B")
        if readonly:
            ro = mv.toreadonly()
            mv.release()
            mv = ro
        self._views.append(mv)
        return mv

    def busy(self) -> bool:
        """Whether anything but the views given out still reaches the memory: a slice,
        cast or memoryview() of one of them (they share its managed buffer), or a buffer
        taken from the array itself (``view.obj``). Changes nothing. Exports of a view
        itself (numpy, ctypes) are seen by release(), which refuses without a change."""
        live = 0
        for mv in self._views:
            mbuf = gc.get_referents(mv)  # [its managed buffer], [] once released
            if not mbuf:
                continue
            live += 1
            mbuf = mbuf[0]
            # references: the view, this name and getrefcount's argument
            if sys.getrefcount(mbuf) > 3:
                return True
        # references: self._arr, getrefcount's argument and each live view's buffer
        return sys.getrefcount(self._arr) > 2 + live

    def held(self, owned: int) -> bool:
        """In the owner's finalizer: whether anything but the owner (which holds `owned`
        references to each view, e.g. Segment.buf) still reaches the memory: busy(), or a
        view given out that someone else still references (``b = Segment(uri).buf``)."""
        if self.busy():
            return True
        for mv in self._views:
            try:
                mv.nbytes
            except ValueError:           # released by its user
                continue
            # references: the list, this name, getrefcount's argument and the owner's
            if sys.getrefcount(mv) > 3 + owned:
                return True
        return False

    def outlive(self, unmap) -> None:
        """Hand the memory to the views given out: unmap (an object whose collection
        unmaps) is kept by the array they all reference, so the memory stays mapped
        exactly as long as a view of it (or anything made from one) is alive, as an
        mmap's exported buffers keep the mmap."""
        self._arr._unmap = unmap

    def retire(self, what: str) -> None:
        """Release every view; raise BufferError, changing nothing (the views stay
        usable), if anything made from them is still in use."""
        if self.busy():
            raise BufferError(f"{what}: views of its memory are still in use (arrays, slices or "
                              "ctypes objects made from it); delete or release them first")
        for mv in self._views:
            try:
                mv.release()
            except BufferError:        # something (numpy, a buffer export) holds it
                # Nothing was released before: every window here gives out one view
                # (Segment.buf, a reservation, a loan, a peeked message).
                raise BufferError(f"{what}: views of its memory are still in use (arrays, "
                                  "slices or ctypes objects made from it); delete or release "
                                  "them first") from None
        self._views.clear()
