# SPDX-License-Identifier: MIT
"""fork(): a message held by a receiving handle (taken by an interrupted receive, see
queue.py "Receiving without losing a message") is the parent's. The child's copy of the
handle would give it out again (one message received twice), so the child forgets it."""
from __future__ import annotations

import os
import weakref

_holders: "weakref.WeakSet" = weakref.WeakSet()


def watch(handle) -> None:
    """handle (a Queue or Subscriber) has _forget_held(), called in every child forked
    while it is alive."""
    _holders.add(handle)


def _after_in_child() -> None:
    for h in list(_holders):
        try:
            h._forget_held()
        except Exception:  # noqa: S110 - a half-made handle: nothing held
            pass


os.register_at_fork(after_in_child=_after_in_child)
