# SPDX-License-Identifier: MIT
"""Finding libshmkit and declaring its C functions for ctypes.

The library is looked up, in order: ``$SHMKIT_LIBRARY`` (a path to
libshmkit.so), the build tree beside this package (``<source>/build`` when
the package is used from a checkout with ``PYTHONPATH=python``), the library
directory recorded when the package was installed, and finally the system's
dynamic linker (``libshmkit.so.0``).
"""
from __future__ import annotations

import ctypes
import mmap
import operator
import os
from ctypes import (POINTER, Structure, c_char, c_char_p, c_int, c_int64, c_size_t, c_ssize_t,
                    c_uint, c_uint32, c_uint64, c_void_p)

URI_MAX = 4200
STAT_MAPPERS = 16
HEAP_CLASSES = 64          # SHMKIT_HEAP_CLASSES: room only, Python reads the totals

CREATE, EXCL, RDONLY, POPULATE, HUGE = 1, 2, 4, 8, 16
PAGES_HUGETLB, PAGES_THP = 2, 3
PERSIST = 0x1000000          # OR into a managed create's mode: gc never removes it
FOREVER = -1

_HERE = os.path.dirname(os.path.abspath(__file__))


def _candidates() -> list[str]:
    env = os.environ.get("SHMKIT_LIBRARY")
    if env:
        return [env]      # an explicit choice is never second-guessed
    found = []
    tree = os.path.normpath(os.path.join(_HERE, "..", "..", "build", "libshmkit.so"))
    if os.path.exists(tree):
        found.append(tree)
    try:
        from . import _install  # written by CMake's install step
        found.append(os.path.join(_install.LIBDIR, "libshmkit.so.0"))
    except ImportError:
        pass
    found.append("libshmkit.so.0")
    return found


def _load() -> ctypes.CDLL:
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path, use_errno=False)
        except OSError as e:
            errors.append(f"{path}: {e}")
    raise ImportError("shmkit: cannot load libshmkit (set SHMKIT_LIBRARY to its path): "
                      + "; ".join(errors))


lib = _load()
path = lib._name


# The public structs as include/shmkit/*.h declare them, reserved[] tails included (they
# grow into those: shmkit(3), STRUCTS THAT GROW). tests/python/test_abi.py compares sizes.


class Mapper(Structure):
    _fields_ = [("pid", c_int), ("comm", c_char * 16)]


class Stat(Structure):
    """struct shmkit_stat (include/shmkit/seg.h)."""
    _fields_ = [
        ("uri", c_char * URI_MAX), ("backend", c_int), ("lifetime", c_int),
        ("size", c_uint64), ("real_size", c_uint64), ("mode", c_uint), ("uid", c_uint),
        ("gid", c_uint), ("creator_pid", c_int), ("last_pid", c_int),
        ("attach_count", c_int64), ("marked_for_removal", c_int), ("sysv_key", c_int64),
        ("sysv_id", c_int), ("atime", c_int64), ("dtime", c_int64), ("ctime", c_int64),
        ("mtime", c_int64), ("dev", c_uint64), ("inode", c_uint64), ("deleted", c_int),
        ("n_mappers", c_int), ("mappers", Mapper * STAT_MAPPERS), ("managed", c_int),
        ("kind", c_uint32), ("layout_version", c_uint32), ("creator_alive", c_int),
        ("managed_creator_pid", c_int), ("header_status", c_int),
        ("page_size", c_uint64), ("pages", c_int), ("persistent", c_int),
        ("reserved1", c_int), ("header_detail", c_char * 112), ("reserved", c_uint64 * 1),
    ]


class QueueOpts(Structure):
    _fields_ = [("capacity", c_size_t), ("max_msg", c_size_t), ("multi_producer", c_int),
                ("multi_consumer", c_int), ("mode", c_uint), ("reserved", c_uint64 * 6)]


class QueueStats(Structure):
    _fields_ = [("capacity", c_uint64), ("max_msg", c_uint64), ("depth", c_uint64),
                ("sent", c_uint64), ("received", c_uint64), ("skipped", c_uint64),
                ("abandoned", c_uint64), ("waiters", c_uint32), ("recv_waiters", c_uint32),
                ("send_waiters", c_uint32), ("multi_producer", c_int), ("multi_consumer", c_int),
                ("bytes_sent", c_uint64), ("bytes_received", c_uint64),
                ("reserved", c_uint64 * 6)]


class TopicOpts(Structure):
    _fields_ = [("slot_size", c_size_t), ("slots", c_size_t), ("reliable", c_int),
                ("mode", c_uint), ("max_subs", c_uint), ("reserved", c_uint64 * 6)]


class TopicSubInfo(Structure):
    _fields_ = [("pid", c_int), ("alive", c_int), ("position", c_uint64),
                ("dropped", c_uint64), ("sleeping", c_int), ("bytes_received", c_uint64),
                ("reserved", c_uint64 * 3)]


class TopicInfo(Structure):
    _fields_ = [("slot_size", c_size_t), ("slots", c_size_t), ("reliable", c_int),
                ("max_subs", c_uint), ("published", c_uint64), ("pub_state", c_int),
                ("pub_pid", c_int), ("pub_alive", c_int), ("n_subs", c_uint),
                ("bytes_published", c_uint64), ("reserved", c_uint64 * 7)]


class Attacher(Structure):
    _fields_ = [("pid", c_int), ("alive", c_int), ("claiming", c_int), ("reserved", c_uint64 * 2)]


class HeapStats(Structure):
    """struct shmkit_heap_stats; the per-class arrays are not read."""
    _fields_ = [("arena_bytes", c_uint64), ("used_bytes", c_uint64), ("free_bytes", c_uint64),
                ("largest_free", c_uint64), ("n_used", c_uint64), ("n_free", c_uint64),
                ("n_named", c_uint64), ("_classes", c_uint64 * (3 * HEAP_CLASSES)), ("reserved", c_uint64 * 8)]


MAP_ITER_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_size_t, c_void_p, c_size_t, c_void_p)
_pp = POINTER(c_void_p)

# name: (restype, argtypes). Handles are opaque pointers (c_void_p).
_PROTOS = {
    "shmkit_strerror": (c_char_p, [c_int]),
    "shmkit_version": (c_char_p, []),
    "shmkit_last_error_detail": (c_char_p, []),
    "shmkit_kind_name": (c_char_p, [c_uint32]),
    "shmkit_seg_open": (c_int, [_pp, c_char_p, c_size_t, c_int, c_uint]),
    "shmkit_seg_addr": (c_void_p, [c_void_p]),
    "shmkit_seg_size": (c_size_t, [c_void_p]),
    "shmkit_seg_fd": (c_int, [c_void_p]),
    "shmkit_seg_uri": (c_char_p, [c_void_p]),
    "shmkit_seg_flush": (c_int, [c_void_p]),
    "shmkit_seg_close": (c_int, [c_void_p]),
    "shmkit_remove": (c_int, [c_char_p]),
    "shmkit_stat": (c_int, [c_char_p, c_void_p]),
    "shmkit_list": (c_int, [c_void_p, c_void_p]),
    "shmkit_managed_attachers": (c_int, [c_char_p, POINTER(Attacher), c_int]),
    "shmkit_queue_create": (c_int, [_pp, c_char_p, POINTER(QueueOpts)]),
    "shmkit_queue_open": (c_int, [_pp, c_char_p]),
    "shmkit_queue_send": (c_int, [c_void_p, c_void_p, c_size_t, c_int64]),
    "shmkit_queue_recv": (c_ssize_t, [c_void_p, c_void_p, c_size_t, c_int64]),
    "shmkit_queue_recv_many": (c_ssize_t, [c_void_p, c_void_p, c_size_t, c_int64]),
    "shmkit_queue_reserve": (c_int, [c_void_p, c_size_t, _pp, c_int64]),
    "shmkit_queue_commit": (c_int, [c_void_p, c_void_p, c_size_t]),
    "shmkit_queue_peek": (c_ssize_t, [c_void_p, _pp, c_int64]),
    "shmkit_queue_consume": (c_int, [c_void_p]),
    "shmkit_queue_close": (c_int, [c_void_p]),
    "shmkit_queue_stats": (c_int, [c_void_p, POINTER(QueueStats)]),
    "shmkit_queue_seg": (c_void_p, [c_void_p]),
    "shmkit_pub_create": (c_int, [_pp, c_char_p, POINTER(TopicOpts)]),
    "shmkit_pub_open": (c_int, [_pp, c_char_p]),
    "shmkit_pub_loan": (c_int, [c_void_p, c_size_t, _pp, c_int64]),
    "shmkit_pub_publish": (c_int, [c_void_p, c_void_p, c_size_t]),
    "shmkit_pub_send": (c_int, [c_void_p, c_void_p, c_size_t, c_int64]),
    "shmkit_pub_published": (c_uint64, [c_void_p]),
    "shmkit_pub_close": (c_int, [c_void_p]),
    "shmkit_topic_stat": (c_int, [c_char_p, POINTER(TopicInfo), POINTER(TopicSubInfo),
                                  c_size_t]),
    "shmkit_sub_open": (c_int, [_pp, c_char_p]),
    "shmkit_sub_recv": (c_ssize_t, [c_void_p, c_void_p, c_size_t, c_int64]),
    "shmkit_sub_dropped": (c_uint64, [c_void_p]),
    "shmkit_sub_position": (c_uint64, [c_void_p]),
    "shmkit_sub_close": (c_int, [c_void_p]),
    "shmkit_map_create": (c_int, [_pp, c_char_p, c_size_t, c_uint]),
    "shmkit_map_open": (c_int, [_pp, c_char_p]),
    "shmkit_map_put": (c_int, [c_void_p, c_char_p, c_size_t, c_void_p, c_size_t]),
    "shmkit_map_get": (c_ssize_t, [c_void_p, c_char_p, c_size_t, c_void_p, c_size_t]),
    "shmkit_map_del": (c_int, [c_void_p, c_char_p, c_size_t]),
    "shmkit_map_take": (c_ssize_t, [c_void_p, c_char_p, c_size_t, c_void_p, c_size_t]),
    "shmkit_map_len": (c_ssize_t, [c_void_p, c_char_p, c_size_t]),
    "shmkit_map_count": (c_ssize_t, [c_void_p]),
    "shmkit_map_iter": (c_int, [c_void_p, MAP_ITER_FN, c_void_p]),
    "shmkit_map_flush": (c_int, [c_void_p]),
    "shmkit_map_heap": (c_void_p, [c_void_p]),
    "shmkit_map_set_lock_timeout": (c_int, [c_void_p, c_int64]),
    "shmkit_map_close": (c_int, [c_void_p]),
    "shmkit_heap_open": (c_int, [_pp, c_char_p]),
    "shmkit_heap_stats": (c_int, [c_void_p, POINTER(HeapStats)]),
    "shmkit_heap_close": (c_int, [c_void_p]),
    # Looks (read-only, no attach slot, no lock): what shmkit stat --json reads.
    "shmkit_queue_stat": (c_int, [c_char_p, POINTER(QueueStats)]),
    "shmkit_heap_stat": (c_int, [c_char_p, POINTER(HeapStats)]),
    "shmkit_map_open_flags": (c_int, [_pp, c_char_p, c_int]),
    # Pollable descriptors (DESIGN §9); absent from older libraries.
    "shmkit_queue_fd": (c_int, [c_void_p]),
    "shmkit_sub_fd": (c_int, [c_void_p]),
}


class _Missing:
    """Stands in for a C function this libshmkit does not have."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, *args):
        import errno
        return -errno.ENOSYS


def _declare() -> None:
    for name, (res, args) in _PROTOS.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            globals()[name[len("shmkit_"):]] = _Missing(name)
            continue
        fn.restype, fn.argtypes = res, args
        globals()[name[len("shmkit_"):]] = fn


_declare()

# The hot paths with timeout 0 never block: they are called through PyDLL (keeping the GIL,
# which costs less than releasing it) with ctypes objects made once, so no argument is
# converted per call. Waiting calls go through the CDLL functions above, GIL released.
_fast = ctypes.PyDLL(path)
_ZERO = c_int64(0)


def _fast_fn(name: str, res):
    fn = _fast[name]
    fn.restype = res
    return fn


fast_queue_send = _fast_fn("shmkit_queue_send", c_int)
fast_queue_recv = _fast_fn("shmkit_queue_recv", c_ssize_t)
fast_queue_recv_many = _fast_fn("shmkit_queue_recv_many", c_ssize_t)
fast_pub_send = _fast_fn("shmkit_pub_send", c_int)
fast_sub_recv = _fast_fn("shmkit_sub_recv", c_ssize_t)
NOWAIT = _ZERO


def recording_fn(name: str, record, fast: bool):
    """A new function object for C function name (returning a small int or ssize_t) whose
    result is passed to record, a C callable (collections.deque(maxlen=1).append), inside
    the call: ctypes calls a restype that is not a ctypes type with the result as a C int.
    No Python code runs between the C return and the recording, so the result survives an
    exception a signal handler raises as the call returns (the call itself returns None).
    fast: through PyDLL, keeping the GIL (timeout 0 only), else GIL released."""
    dll = _fast if fast else lib
    fn = dll._FuncPtr((name, dll))
    if not fast:      # the fast one is given ctypes objects only: nothing to convert
        fn.argtypes = [c_void_p, c_void_p, c_size_t, c_int64]
    fn.restype = record
    return fn
_sizes: dict[int, c_size_t] = {}


def contiguous_view(data, what: str) -> memoryview:
    """data (any bytes-like object: bytes, bytearray, memoryview, array, a numpy array) as
    a memoryview of one contiguous run of bytes; TypeError or BufferError naming `what`."""
    try:
        mv = memoryview(data)
    except TypeError:
        hint = "; encode the str first" if isinstance(data, str) else ""
        raise TypeError(f"{what} is a bytes-like object (bytes, bytearray, memoryview, "
                        f"array, numpy array), not {type(data).__name__}{hint}") from None
    if not mv.c_contiguous:
        raise BufferError(f"{what} must be a contiguous buffer")
    return mv


def receive_buffer(n: int):
    """A zeroed buffer of n (>= 1) bytes that messages are received into: (owner, address,
    memoryview of unsigned bytes). A large one is an anonymous mapping, whose pages cost
    memory only once a message reaches them: a handle of a queue whose max_msg is 256 MiB
    that only sends (or receives small messages) does not hold 256 MiB of zeros."""
    n = max(1, n)
    if n <= 65536:
        b = ctypes.create_string_buffer(n)
        return b, ctypes.addressof(b), memoryview(b).cast("B")
    m = mmap.mmap(-1, n)
    c = (c_char * n).from_buffer(m)
    return (m, c), ctypes.addressof(c), memoryview(m)


def size_arg(n: int) -> c_size_t:
    """n as a size_t argument, the usual small ones made once."""
    c = _sizes.get(n)
    if c is None:
        c = c_size_t(n)
        if n <= 65536:
            _sizes[n] = c
    return c


def has(name: str) -> bool:
    """True if the loaded libshmkit exports shmkit_<name>."""
    return not isinstance(globals().get(name), _Missing)


def create_mode(mode: int, persist: bool) -> int:
    """The mode argument of a managed create: permission bits, and SHMKIT_PERSIST if asked."""
    if not isinstance(mode, int):            # int subclasses (IntFlag, bool) pass
        try:
            mode = operator.index(mode)      # numpy.int64 and other integer types
        except TypeError:
            raise TypeError(f"mode must be an int (permission bits such as 0o600), not "
                            f"{type(mode).__name__} {mode!r}") from None
    if not 0 <= mode <= 0o777:
        raise ValueError(f"mode must be permission bits (0 to 0o777), not {mode:#o}")
    return mode | (PERSIST if persist else 0)


def uri_of(uri):
    """A URI as given (str or bytes), or a path (os.PathLike: pathlib.Path) as the file:
    URI of that file, made absolute."""
    if isinstance(uri, (str, bytes)) or not isinstance(uri, os.PathLike):
        return uri
    p = os.path.abspath(os.fspath(uri))
    return (b"file:" + p) if isinstance(p, bytes) else "file:" + p


def encode(uri) -> bytes:
    """A URI as the bytes the C library takes (str, bytes, or os.PathLike: a file: segment
    at that path). A NUL byte in it is refused, as os.open refuses one: C would read only
    the part before it, and name another object."""
    uri = uri_of(uri)
    b = uri if isinstance(uri, bytes) else os.fsencode(uri)
    if b"\0" in b:
        raise ValueError(f"embedded null byte in URI {uri!r}")
    return b


SIZE_MAX = (1 << (8 * ctypes.sizeof(c_size_t))) - 1
UINT_MAX = (1 << (8 * ctypes.sizeof(c_uint))) - 1


def size(n, what: str, limit: "int | None" = SIZE_MAX) -> int:
    """n as a C size_t (or another unsigned type up to limit): ctypes would take any int
    modulo 2**64, so -1 became SIZE_MAX and 2**64 + 8 became 8."""
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"{what} must be an int, not {type(n).__name__}") from None
    if n < 0:
        raise ValueError(f"{what} must be >= 0, not {n}")
    if limit is not None and n > limit:
        raise OverflowError(f"{what} {n} is larger than the largest the library takes ({limit})")
    return n
