# SPDX-License-Identifier: MIT
"""Segments: shared memory named by a URI, over any of shmkit's backends."""
from __future__ import annotations

import ctypes
import errno
import grp
import pwd
from typing import Any, Optional

from . import _lib
from ._errors import check
from ._handle import Handle, _finish_lock, guarded
from ._views import Window

BACKENDS = {0: "posix", 1: "sysv", 2: "file", 3: "memfd", 4: "anon"}   # enum shmkit_backend
LIFETIMES = {0: "process", 1: "kernel", 2: "filesystem"}
KIND_QUEUE, KIND_TOPIC, KIND_HEAP, KIND_MAP = 2, 3, 4, 5
_SYSV_ATTACHING = ("attaching to look would rewrite its last-user pid and times, which "
                   "gc --foreign relies on")


def _sysv_not_read(st) -> str:
    """Why a SysV segment was left unread (header_status -ENODATA), true to the cause."""
    if st.attach_count == 0:
        return "nobody has it attached, and " + _SYSV_ATTACHING
    if st.attach_count > 0:
        return ("attached %d time%s, but by no process we may read (another user's, one not "
                "visible here, or reading process memory is refused here), and %s"
                % (st.attach_count, "" if st.attach_count == 1 else "s", _SYSV_ATTACHING))
    return "no process we may read has it attached, and " + _SYSV_ATTACHING


class Segment(Handle):
    """A shared memory segment, mapped into this process.

    Segment(uri, size=0, create=False, exclusive=False, readonly=False, mode=0o600)

    uri names it: ``posix:/name`` (or ``/name``), ``sysv:0x1234``, ``file:/path``,
    ``memfd:name``, ``anon:``, ``fd:N``; a ``pathlib.Path`` (any os.PathLike) is the ``file:``
    segment at that path. To create, give ``create=True`` and a size;
    ``exclusive=True`` creates only (FileExistsError if it exists). ``size=0`` opens an
    existing segment whole. ``mode`` is applied exactly on creation. ``populate=True``
    faults every page in now; ``huge=True`` backs it with huge pages (OSError ENOMEM or
    EOPNOTSUPP where it cannot, never a silent fallback).

    ``buf`` is a writable memoryview of the whole segment (read-only with readonly=True):
    ``numpy.frombuffer(seg.buf, dtype)`` and ``struct.pack_into(fmt, seg.buf, off, ...)``
    work on the shared bytes without a copy. Closing unmaps; it never removes the segment
    (use :func:`remove`), and it refuses with BufferError while arrays or slices made from
    ``buf`` are still alive, so they can never point at unmapped memory. A Segment collected
    without close() while ``buf`` or anything made from it is still referenced leaves the
    mapping to them (``b = Segment(uri).buf`` works): it is unmapped when the last goes.

    Errors: OSError subclasses (FileNotFoundError, FileExistsError, PermissionError, ...).
    """

    _window: Optional[Window] = None
    uri = ""

    def __init__(self, uri, size: int = 0, create: bool = False, exclusive: bool = False,
                 readonly: bool = False, mode: int = 0o600, populate: bool = False,
                 huge: bool = False):
        self._track()
        flags = ((_lib.CREATE if create or exclusive else 0) | (_lib.EXCL if exclusive else 0)
                 | (_lib.RDONLY if readonly else 0) | (_lib.POPULATE if populate else 0)
                 | (_lib.HUGE if huge else 0))
        size = _lib.size(size, "segment size")
        mode = _lib.size(mode, "mode", _lib.UINT_MAX)     # the library checks the bits
        h = ctypes.c_void_p()
        check(_lib.seg_open(ctypes.byref(h), _lib.encode(uri), size, flags, mode),
              "open segment", uri, detail=True)
        self._h: Optional[int] = h.value
        self.readonly = readonly
        self.size: int = _lib.seg_size(self._h)
        self.uri: str = _lib.seg_uri(self._h).decode(errors="surrogateescape")
        self._window = Window(_lib.seg_addr(self._h), self.size)
        self.buf: memoryview = self._window.view(readonly)

    @guarded
    def fileno(self) -> int:
        """The segment's own descriptor (do not close it); OSError(EBADF) for sysv:/anon:."""
        return check(_lib.seg_fd(self._handle()), "segment descriptor", self.uri)

    @guarded
    def flush(self) -> None:
        """Make a file: segment durable (msync + fdatasync); nothing elsewhere."""
        check(_lib.seg_flush(self._handle()), "flush segment", self.uri)

    def close(self) -> None:
        """Unmap (never removes). BufferError while views of buf are still in use."""
        super().close()

    def __del__(self) -> None:
        # Collected while a view of buf is still referenced (``b = Segment(uri).buf``, or an
        # array made from it): closing would release a view in use, or refuse and leak the
        # mapping. The views keep the mapping instead, until the last of them goes.
        w = self._window
        try:
            if self._h is not None and not self._closing and w is not None and w.held(1):
                with _finish_lock:
                    h, self._h = self._h, None
                if h is not None:
                    w.outlive(_Unmap(h))
                return
        except Exception:  # noqa: S110 - a finalizer: close() below says what it can
            pass
        super().__del__()

    def _release(self) -> None:
        if self._window is not None:    # None: __init__ failed half-way
            self._window.retire(f"close segment {self.uri}")

    def _close_handle(self, h: int) -> None:
        check(_lib.seg_close(h), "close segment", self.uri)

    def __repr__(self) -> str:
        state = "closed" if self._h is None else f"{self.size} bytes"
        return f"<shmkit.Segment {self.uri!r} {state}>"


class _Unmap:
    """The library's handle of a segment whose Segment was collected while views of its
    memory were still in use: closed (unmapped) when the last of them goes."""

    __slots__ = ("_h",)

    def __init__(self, h: int):
        self._h = h

    def __del__(self) -> None:
        h, self._h = self._h, None
        if h is not None:
            _lib.seg_close(h)


def remove(uri) -> None:
    """Remove the segment named by uri (shm_unlink, IPC_RMID, unlink); processes that map it
    keep their mapping. FileNotFoundError if there is none."""
    check(_lib.remove(_lib.encode(uri)), "remove", uri, detail=True)


def stat(uri) -> dict[str, Any]:
    """Describe one segment: a dict with the field names of ``shmkit stat --json``."""
    st = _new_stat()
    check(_lib.stat(_lib.encode(uri), ctypes.byref(st)), "stat", uri, detail=True)
    return _stat_dict(st)


def list_segments() -> "list[dict[str, Any]]":
    """Every visible segment (SysV, POSIX, and memfd/file/anon mappings seen in /proc), each
    a dict with the field names of ``shmkit ls --json``. Unlike :func:`stat` it does not
    look into the objects it finds, so the sections that need that ("queue", "heap", "keys") are
    left out, as ``shmkit ls --json`` leaves them: listing never waits on anyone's lock."""
    found = []
    failed: list[BaseException] = []

    @ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
    def each(p, _arg):
        try:     # an exception would be printed, and the walk go on (see Map._keys)
            st = _new_stat()
            ctypes.memmove(ctypes.byref(st), p, ctypes.sizeof(_lib.Stat))
            found.append(st)
            return 0
        except BaseException as e:    # noqa: B036 - re-raised below
            failed.append(e)
            return 1

    r = _lib.list(ctypes.cast(each, ctypes.c_void_p), None)
    if failed:
        raise failed[0]
    check(r, "list segments", detail=True)
    return [_stat_dict(st, objects=False) for st in found]


def _new_stat() -> _lib.Stat:
    # Room beyond the struct as this package knows it, in case the library's has grown.
    room = ctypes.create_string_buffer(ctypes.sizeof(_lib.Stat) + 4096)
    st = _lib.Stat.from_buffer(room)
    st._room = room
    return st


def _name(fn, ident: int) -> str:
    try:
        return fn(ident)[0]
    except KeyError:
        return str(ident)


def _stat_dict(st: _lib.Stat, objects: bool = True) -> dict[str, Any]:
    uri = st.uri.decode(errors="surrogateescape")
    sysv = BACKENDS.get(st.backend) == "sysv"
    backend = BACKENDS.get(st.backend, "unknown")
    # as `shmkit ls`: a POSIX or file segment whose name was removed while
    # mapped lives while mapped, and its URI names another object or none
    name_removed = bool(st.deleted) and backend in ("posix", "file")
    d: dict[str, Any] = {
        "uri": uri, "backend": backend,
        "lifetime": "deleted" if name_removed else LIFETIMES.get(st.lifetime, "unknown"),
        "deleted": bool(st.deleted),
        "size": st.size, "real_size": st.real_size}
    if st.page_size:
        d["page_size"] = st.page_size
        d["pages"] = _pages(st)
    d.update({
        "mode": "%04o" % (st.mode & 0o7777),
        "uid": st.uid, "user": _name(pwd.getpwuid, st.uid),
        "gid": st.gid, "group": _name(grp.getgrgid, st.gid),
        # None: the backend keeps no such pid
        "creator_pid": st.creator_pid if st.creator_pid > 0 else None,
        "last_pid": st.last_pid if st.last_pid > 0 else None,
        "attach_count": st.attach_count if st.attach_count >= 0 else None,
        "marked_for_removal": bool(st.marked_for_removal),
        "sysv_key": "0x%08x" % st.sysv_key if sysv and st.sysv_key >= 0 else None,
        "sysv_id": st.sysv_id if sysv and st.sysv_id >= 0 else None,
        "atime": st.atime, "dtime": st.dtime, "ctime": st.ctime, "mtime": st.mtime,
        "n_mappers": st.n_mappers,
        "mappers": [{"pid": m.pid, "comm": m.comm.decode(errors="replace")}
                    for m in st.mappers[:min(st.n_mappers, _lib.STAT_MAPPERS)]],
        "managed": bool(st.managed),
    })
    # Not managed only means "no header" when the header was read: SysV is
    # left unread on purpose, another user's 0600 segment cannot be opened.
    if not st.managed and st.header_status == -errno.ENODATA:
        d["managed"] = None
        d["header_status"] = "not read: " + _sysv_not_read(st)
    elif not st.managed and st.header_status < 0:
        d["managed"] = None
        d["header_status"] = "not read: " + _lib.strerror(st.header_status).decode(errors="replace")
    if st.managed:
        _managed_fields(d, st, _lib.encode(uri), objects)
    return d


def _pages(st: _lib.Stat) -> str:
    if st.pages == _lib.PAGES_HUGETLB:
        return "huge (hugetlb)"
    if st.pages == _lib.PAGES_THP:
        return "huge (transparent)"
    return "huge" if st.page_size > 4096 else "base"


def _header_status(st: _lib.Stat) -> str:
    s = st.header_status
    why = st.header_detail.decode(errors="replace")
    if s == -errno.EPROTO:
        return why if why.startswith("layout version") else f"layout version {st.layout_version}"
    if s == -errno.EBADMSG and why:
        return "corrupt or foreign: " + why
    if s == 0 and _lib.kind_name(st.kind) == b"unknown":
        return ("ok, but of a kind this build does not know: a newer shmkit's object, "
                "or a damaged kind word")
    words = {0: "ok", -errno.EINPROGRESS: "initializing (its creator is still filling it)",
             -errno.EOWNERDEAD: "half-built: its creator died before it was ready"}
    return words.get(s) or _lib.strerror(s).decode(errors="replace")


def _managed_fields(d: dict, st: _lib.Stat, uri: bytes, objects: bool) -> None:
    ok = st.header_status == 0
    d["kind"] = "none" if st.kind == 0 else _lib.kind_name(st.kind).decode()
    d["kind_id"] = st.kind
    d["layout_version"] = st.layout_version
    # the flag is read only from a header that is neither corrupt nor of another
    # layout version, once published (as `shmkit stat --json`: null otherwise)
    known = st.layout_version != 0 and st.header_status not in (-errno.EBADMSG, -errno.EPROTO)
    d["persistent"] = bool(st.persistent) if known else None
    d["creator_alive"] = bool(st.creator_alive) if st.creator_alive >= 0 else None
    d["managed_creator_pid"] = st.managed_creator_pid
    d["header_status"] = _header_status(st)
    # Looks, as shmkit stat --json takes them: opening a queue, heap or map to use it
    # attaches to it (a write into the segment) and may wait on its lock.
    if objects and st.kind == KIND_QUEUE and ok:
        d["queue"] = _queue_fields(uri)
    d["attached_processes"] = _attachers(st, uri)
    if st.kind == KIND_TOPIC and ok:
        from .pubsub import topic_info
        d["topic"] = topic_info(uri)
    if objects and st.kind in (KIND_HEAP, KIND_MAP) and ok:
        _heap_fields(d, st.kind, uri)


def _attachers(st: _lib.Stat, uri: bytes) -> Optional["list[dict[str, Any]]"]:
    if st.header_status < 0 and st.header_status not in (-errno.EINPROGRESS, -errno.EOWNERDEAD):
        return None
    cap = 64
    table = (_lib.Attacher * cap)()
    n = _lib.managed_attachers(uri, table, cap)
    if n < 0:
        return None
    return [{"pid": a.pid, "alive": bool(a.alive) if a.alive >= 0 else None}
            for a in table[:min(n, cap)]]


def _queue_fields(uri: bytes) -> Optional[dict[str, Any]]:
    qs = _lib.QueueStats()
    if _lib.queue_stat(uri, ctypes.byref(qs)) < 0:
        return None
    d: dict[str, Any] = {"multi_producer": bool(qs.multi_producer),
                         "multi_consumer": bool(qs.multi_consumer)}
    for f in ("capacity", "max_msg", "depth", "sent", "received", "bytes_sent",
              "bytes_received", "skipped", "abandoned", "recv_waiters", "send_waiters"):
        d[f] = getattr(qs, f)
    return d


def _heap_fields(d: dict, kind: int, uri: bytes) -> None:
    hs = _lib.HeapStats()
    keys = -1
    if kind == KIND_MAP:
        h = ctypes.c_void_p()
        if _lib.map_open_flags(ctypes.byref(h), uri, _lib.RDONLY) < 0:
            d["heap"] = None
            return
        keys = _lib.map_count(h)
        _lib.map_close(h)
    if _lib.heap_stat(uri, ctypes.byref(hs)) < 0:
        d["heap"] = None
        return
    if keys >= 0:
        d["keys"] = keys
    d["heap"] = {f: getattr(hs, f) for f in ("arena_bytes", "used_bytes", "free_bytes",
                                             "largest_free", "n_used", "n_free", "n_named")}

__all__ = ["Segment", "remove", "stat", "list_segments"]
