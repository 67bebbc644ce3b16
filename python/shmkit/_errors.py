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


def error(err: int, what: str, uri=None, detail: bool = False, hint: str = "",
          reason: str = "") -> OSError:
    """The exception for a negative errno returned by a shmkit call.

    detail: the call is one that records why it failed (opening, creating, stat, remove):
    shmkit_last_error_detail() is added to the message. hint: what the binding knows of
    the cause (this handle's own outstanding reservation, say), added the same way.
    reason: said instead of shmkit_strerror()'s text, where that is too general."""
    err = -err if err < 0 else err
    text = reason or _lib.strerror(err).decode(errors="replace")
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


def timed_out(timeout) -> str:
    """What a TimeoutError says instead of "Connection timed out": what timed out when."""
    try:
        return f"timed out after {float(timeout):g} s"
    except (TypeError, ValueError):
        return "timed out"


def message_error(err: int, what: str, uri, hint: str = "", timeout=None) -> OSError:
    """The exception for a send, receive, publish or reservation that failed, with what
    the shmkit CLI says of it. hint: the binding's own reason (a zero-copy operation this
    handle has outstanding, a message over the size). -EBUSY without one came from the
    role or peer claim, which records why (the live pid holding the producer or consumer
    role): shmkit_last_error_detail() is added. Other message calls record nothing, so an
    older detail is never read. -EPIPE from a subscriber is not the end: a new publisher
    may take the topic over."""
    if err == -_errno.EPIPE and not hint:
        return error(err, what, uri, reason="no publisher has the topic open now: it closed "
                     "the topic or died (a new publisher may take it over)")
    if err == -_errno.ETIMEDOUT:
        return error(err, what, uri, hint=hint, reason=timed_out(timeout))
    return error(err, what, uri, detail=err == -_errno.EBUSY and not hint, hint=hint)


def check(ret: int, what: str, uri=None, detail: bool = False) -> int:
    """ret if it is >= 0, else raise the exception for it."""
    if ret < 0:
        raise error(ret, what, uri, detail)
    return ret
