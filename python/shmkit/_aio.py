# SPDX-License-Identifier: MIT
"""asyncio on a handle's pollable descriptor: no thread per queue or subscriber.

The descriptor (shmkit_queue_fd / shmkit_sub_fd) is readable whenever a receive with
timeout 0 would not return -EAGAIN; a spurious readiness is allowed, so after every wake-up
the caller tries a timeout-0 receive again and goes back to waiting if it finds nothing.

Each waiting coroutine watches its own duplicate of the descriptor, never the handle's:
the loop keeps one reader per descriptor number, so two coroutines on one handle would
replace each other's reader, and once close() has closed the handle's descriptor its
number may be reused (by the next handle opened) before the coroutine removes its reader.
Handle.close() wakes the coroutines waiting on the handle (wake() below); their next
try_now() raises ValueError, as for any call on a closed handle.
"""
from __future__ import annotations

import asyncio
import os
from typing import Callable, Optional, TypeVar

T = TypeVar("T")


async def receive(owner, try_now: Callable[[], Optional[T]]) -> T:
    """try_now() until it returns something, waiting for owner.fileno() to be readable in
    between.

    Nothing that can run a signal handler (a C call: os.close) comes between a try_now()
    that took a message and the return: the duplicate descriptor is closed before each
    try. A KeyboardInterrupt raised as os.close returned, in a finally after the try,
    replaced the return of the message already taken out of the handle: it was lost."""
    got = try_now()
    if got is not None:
        return got
    loop = asyncio.get_running_loop()
    waiting = owner._async_waiters()
    while True:
        fd = os.dup(owner.fileno())
        try:
            ready = loop.create_future()
            try:
                waiting.add(ready)
                loop.add_reader(fd, _settle, ready)
                if not owner.closed:          # closed meanwhile: try_now() says so
                    await ready
            finally:
                loop.remove_reader(fd)
                waiting.discard(ready)
        finally:
            os.close(fd)
        got = try_now()
        if got is not None:
            return got


def _settle(fut: "asyncio.Future[None]") -> None:
    if not fut.done():
        fut.set_result(None)


def wake(waiting) -> None:
    """Wake every coroutine in waiting (from any thread)."""
    for fut in list(waiting):
        try:
            fut.get_loop().call_soon_threadsafe(_settle, fut)
        except RuntimeError:     # its loop is closed: nothing waits there any more
            pass
