# SPDX-License-Identifier: MIT
"""What every shmkit handle shares: a closed flag, a context manager, close on collection."""

from typing import Self


class Handle:
    """Base of Segment, Queue, Publisher, Subscriber and Map: ``self._h`` is the library's
    handle (None once closed); subclasses define ``close()``."""

    _h = None

    def close(self) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        return self._h is None

    def _handle(self) -> int:
        if self._h is None:
            raise ValueError(f"operation on a closed shmkit.{type(self).__name__}")
        return self._h

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # views still alive: keep the mapping rather than crash
            pass
