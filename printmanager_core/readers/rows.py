"""Rows of numbers read as attribute text, turned into arrays block by block.

The XML mesh formats (3MF, AMF) give every vertex and triangle as an element
with three attributes. An element parser collects those strings here; every
:data:`ROWS_PER_BLOCK` rows they become one numpy block, so memory holds the
arrays plus one block of strings, however long the mesh.
"""

from __future__ import annotations

import numpy as np

from .. import budget
from .base import ReadError

__all__ = ["ROWS_PER_BLOCK", "Rows"]

#: rows are converted to an array this many at a time
ROWS_PER_BLOCK = 65_536


class Rows:
    """Rows of three attribute strings (None where missing), converted block by block.

    :param dtype: the array's type (``np.float64`` coordinates, ``np.int64`` indices).
    :param error: the one-line :class:`~.base.ReadError` message for a missing or bad value.
    """

    def __init__(self, dtype: type, error: str) -> None:
        self.dtype = dtype
        self.error = error
        self.pending: list[tuple[str | None, str | None, str | None]] = []
        self.blocks: list[np.ndarray] = []
        #: rows added so far
        self.count = 0

    def add(self, row: tuple[str | None, str | None, str | None]) -> None:
        """Add one row (converted with the next block)."""
        self.pending.append(row)
        self.count += 1
        if len(self.pending) >= ROWS_PER_BLOCK:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            try:
                self.blocks.append(np.array(self.pending, dtype=self.dtype).reshape(-1, 3))
            except (TypeError, ValueError, OverflowError):
                raise ReadError(self.error) from None
            self.pending = []
        budget.check()

    def array(self) -> np.ndarray:
        """Every row as one ``(n, 3)`` array (``(0, 3)`` when there is none)."""
        self._flush()
        if not self.blocks:
            return np.empty((0, 3), dtype=self.dtype)
        return self.blocks[0] if len(self.blocks) == 1 else np.concatenate(self.blocks)
