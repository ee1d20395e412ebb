"""How lines for people look: human sizes and durations, plurals, aligned columns, colour.

Colour only when the output is a terminal and ``NO_COLOR`` is not set
(https://no-color.org); ``--json`` never goes through here. Plain click, no rich:
the commands that print tables stay as light to start as ``--help``.
"""

from __future__ import annotations

import os
import sys
from typing import IO, Sequence

import click


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 file``, ``2 files`` (``many`` for an irregular plural)."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def human_size(n: int | None) -> str:
    """Bytes as people read them: ``812 B``, ``4.2 kB``, ``9.4 MB`` (powers of 1000, as query sizes)."""
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover


def human_duration(seconds: float | None) -> str:
    """Seconds as ``45s``, ``12m``, ``1h12m``, ``2d3h``."""
    if seconds is None:
        return ""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m" if not s or m >= 10 else f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{m:02d}m" if m else f"{h}h"
    d, h = divmod(h, 24)
    return f"{d}d{h}h" if h else f"{d}d"


def colour_on(stream: IO[str] | None = None) -> bool:
    """Whether to colour what goes to ``stream`` (standard output by default)."""
    stream = stream or sys.stdout
    if "NO_COLOR" in os.environ and os.environ["NO_COLOR"] != "":
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def paint(text: str, colour: str | None, on: bool, *, bold: bool = False, dim: bool = False) -> str:
    """``text`` in ``colour`` when ``on``, else as it is."""
    if not on or (colour is None and not bold and not dim):
        return text
    return click.style(text, fg=colour, bold=bold, dim=dim)


def table(rows: Sequence[Sequence[str]], *, right: Sequence[int] = (), colours: Sequence[str | None] = (),
          on: bool = False) -> list[str]:
    """Rows of cells as aligned lines (two spaces apart; columns in ``right`` right-aligned;
    the last column is not padded). ``colours`` per column, used when ``on``."""
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    last = len(widths) - 1
    for r in rows:
        cells = []
        for i, cell in enumerate(r):
            text = cell.rjust(widths[i]) if i in right else (cell if i == last else cell.ljust(widths[i]))
            colour = colours[i] if i < len(colours) else None
            cells.append(paint(text, colour, on and bool(cell.strip())))
        out.append("  ".join(cells).rstrip())
    return out
