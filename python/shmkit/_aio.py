# SPDX-License-Identifier: MIT
"""asyncio on a handle's pollable descriptor: no thread per queue or subscriber.

The descriptor (shmkit_queue_fd / shmkit_sub_fd) is readable whenever a receive with
timeout 0 would not return -EAGAIN; a spurious readiness is allowed, so after every wake-up
the caller tries a timeout-0 receive again and goes back to waiting if it finds nothing.
"""
from __future__ import annotations

import asyncio
from typing import Callable, Optional, TypeVar

T = TypeVar("T")


async def receive(try_now: Callable[[], Optional[T]], fd: Callable[[], int]) -> T:
    """try_now() until it returns something, waiting for fd() to be readable in between."""
    loop = asyncio.get_running_loop()
    while True:
        got = try_now()
        if got is not None:
            return got
        ready = loop.create_future()
        fileno = fd()
        loop.add_reader(fileno, _settle, ready)
        try:
            await ready
        finally:
            loop.remove_reader(fileno)


def _settle(fut: "asyncio.Future[None]") -> None:
    if not fut.done():
        fut.set_result(None)
