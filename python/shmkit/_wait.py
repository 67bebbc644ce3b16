# SPDX-License-Identifier: MIT
"""Timeouts in seconds, and waiting in slices so that Ctrl-C is seen promptly.

A call blocked inside libshmkit holds no Python frame that a signal could interrupt: the
Python handler for SIGINT runs only once the C call returns. So a long wait is made of
short C waits (SLICE_NS each); between two of them the interpreter runs pending signal
handlers, and KeyboardInterrupt surfaces within one slice.
"""
from __future__ import annotations

import errno
import math
import numbers
import operator
import time
from typing import Callable, Optional

SLICE_NS = 50_000_000        # the longest Ctrl-C can take to be seen: 50 ms
FOREVER = -1
_LONGEST_S = (1 << 63) // 1_000_000_000   # seconds


def to_ns(timeout: Optional[float]) -> int:
    """Seconds (None = forever, 0 = do not wait) as the library's nanoseconds."""
    if timeout is None:
        return FOREVER
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
        raise TypeError(f"timeout must be a number of seconds or None, not "
                        f"{type(timeout).__name__} {timeout!r}")
    # numpy.int64(1), Fraction(1, 2): numbers, if not int or float
    timeout = operator.index(timeout) if isinstance(timeout, numbers.Integral) else float(timeout)
    if timeout != timeout or timeout < 0:          # NaN, or negative
        raise ValueError(f"timeout must be >= 0 seconds or None, not {timeout!r}")
    # Past what int64 nanoseconds hold (292 years) is waiting without limit; compared
    # before converting, as 1e300 * 1e9 is inf and 10**400 is no float at all.
    if timeout >= _LONGEST_S:
        return FOREVER
    if isinstance(timeout, int):
        return timeout * 1_000_000_000
    return int(math.ceil(timeout * 1e9))


def attempt(call: Callable[[int], int], timeout: Optional[float], owner=None) -> int:
    """call(0), and where that would block (-EAGAIN) and timeout (seconds, None: without
    limit) is not 0, call(slice_ns) again as sliced() does until it does not time out."""
    r = call(0)
    if r == -errno.EAGAIN and timeout != 0:
        r = sliced(call, to_ns(timeout), owner)
    return r


def sliced(call: Callable[[int], int], timeout_ns: int, owner=None) -> int:
    """call(slice_ns) repeatedly until it returns something other than -ETIMEDOUT, or the
    whole timeout has passed (then -ETIMEDOUT, never earlier than asked). The caller has
    already tried with timeout 0. owner: the handle waited on; once another thread (or a
    signal handler) closes it, ValueError between two slices (see _handle)."""
    if timeout_ns == 0:
        return -errno.EAGAIN
    deadline = None if timeout_ns < 0 else time.monotonic_ns() + timeout_ns
    while True:
        if owner is not None and owner._closing:
            raise ValueError(f"shmkit.{type(owner).__name__} closed while waiting")
        if deadline is None:
            step = SLICE_NS
        else:
            step = min(SLICE_NS, deadline - time.monotonic_ns())
            if step <= 0:
                return -errno.ETIMEDOUT
        r = call(step)
        if r != -errno.ETIMEDOUT:
            return r
