# SPDX-License-Identifier: MIT
"""shmkit: shared-memory IPC for Linux, from Python.

Segments you can put numpy arrays in, message queues, broadcast topics and a hash map, all
in shared memory and shared with C, Go or any other program using libshmkit -- on the
standard library's ctypes, no compiler needed.

    import shmkit
    with shmkit.Queue.create("posix:/jobs", capacity=1024, max_msg=256) as q:
        q.send(b"hello")
        print(q.recv())                     # b'hello'
    shmkit.remove("posix:/jobs")

Segment     shared memory by URI; .buf is a writable memoryview (numpy.frombuffer works)
Queue       bounded queue: whole messages, in order, exactly once; zero-copy reserve/peek
Publisher, Subscriber   one-to-many topic, lossy or reliable
Map         MutableMapping of bytes to bytes living in a segment
remove, stat, list      manage segments (dicts with the fields of ``shmkit stat --json``)

Timeouts are seconds (None waits without limit, 0 never waits) and Ctrl-C interrupts any
wait. Errors are OSError subclasses with errno set (FileNotFoundError, FileExistsError,
PermissionError, TimeoutError, BlockingIOError, BrokenPipeError, ...) and CorruptError
for a segment that is not a valid shmkit object of the kind asked for.

The C library is loaded from $SHMKIT_LIBRARY if set, else the build tree beside this
package, else where it was installed, else the system's (``library_path`` says which).
"""
from . import _lib
from ._errors import CorruptError
from ._lib import path as library_path
from .map import Map
from .pubsub import Publisher, Subscriber
from .queue import Queue
from .segment import Segment, list_segments as list, remove, stat  # noqa: A004

FOREVER = None
"""Pass as a timeout to wait without limit (the same as None)."""

__version__ = _lib.version().decode()

__all__ = ["Segment", "Queue", "Publisher", "Subscriber", "Map", "CorruptError", "remove",
           "stat", "list", "library_path", "FOREVER"]
