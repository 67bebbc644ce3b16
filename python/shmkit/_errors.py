# SPDX-License-Identifier: MIT
"""Negative errno values from libshmkit as Python exceptions.

``OSError(errno, text)`` already picks the builtin subclass that fits
(FileNotFoundError, FileExistsError, PermissionError, TimeoutError,
BlockingIOError, BrokenPipeError, ...); -EBADMSG and -EPROTO become
:class:`CorruptError`.
"""
from __future__ import annotations

import errno as _errno

from . import _lib


class CorruptError(OSError):
    """The segment is not a valid shmkit object of this kind, its header or an index in it
    is corrupt (errno EBADMSG), or it has a layout version this library does not read
    (errno EPROTO)."""


def error(err: int, what: str, uri=None, detail: bool = False, hint: str = "") -> OSError:
    """The exception for a negative errno returned by a shmkit call.

    detail: the call is one that records why it failed (opening, creating, stat, remove):
    shmkit_last_error_detail() is added to the message. hint: what the binding knows of
    the cause (this handle's own outstanding reservation, say), added the same way."""
    err = -err if err < 0 else err
    text = _lib.strerror(err).decode(errors="replace")
    if detail:
        why = _lib.last_error_detail()
        why = why.decode(errors="replace")
        if text in why:           # the detail already names the error: say it once
            text = why
        elif why:
            text = f"{text} ({why})"
    if hint:
        text = f"{text} ({hint})"
    text = f"{what}: {text}"
    name = None if uri is None else (uri.decode(errors="replace") if isinstance(uri, bytes)
                                     else str(uri))
    if err in (_errno.EBADMSG, _errno.EPROTO):
        return CorruptError(err, text, name)
    return OSError(err, text, name)


def check(ret: int, what: str, uri=None, detail: bool = False) -> int:
    """ret if it is >= 0, else raise the exception for it."""
    if ret < 0:
        raise error(ret, what, uri, detail)
    return ret
