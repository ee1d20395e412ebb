"""Figures in human units for the pages: sizes, lengths, volumes, times, filament."""

from __future__ import annotations

from typing import Any


def size(value: int | None) -> str:
    """Bytes as ``1.2 MB`` (1 kB = 1000 bytes, as the query language counts), as the CLI shows them."""
    from printmanager_core.cli.look import human_size

    return "–" if value is None else human_size(value)


def count(value: int | None) -> str:
    """A count with thousands separators."""
    return "–" if value is None else f"{value:,}"


def dimensions(bbox: Any) -> str:
    """A bounding box as ``20.0 × 10.0 × 5.0 mm``."""
    if not bbox:
        return "–"
    return " × ".join(f"{v:.1f}" for v in bbox) + " mm"


def volume(mm3: float | None) -> str:
    """A volume in cm³ (mm³ below 1 cm³)."""
    if mm3 is None:
        return "–"
    return f"{mm3 / 1000:.2f} cm³" if mm3 >= 1000 else f"{mm3:.1f} mm³"


def area(mm2: float | None) -> str:
    """An area in cm² (mm² below 1 cm²)."""
    if mm2 is None:
        return "–"
    return f"{mm2 / 100:.1f} cm²" if mm2 >= 100 else f"{mm2:.1f} mm²"


def duration(seconds: float | None) -> str:
    """Seconds as ``1 h 25 min`` (``45 s`` under a minute)."""
    if seconds is None:
        return "–"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes = s // 60
    parts = ([f"{days} d"] if days else []) + ([f"{hours} h"] if hours else []) + [f"{minutes} min"]
    return " ".join(parts)


def grams(value: float | None) -> str:
    """Filament mass as ``12.3 g`` (kg from 1000 g)."""
    if value is None:
        return "–"
    return f"{value / 1000:.2f} kg" if value >= 1000 else f"{value:.1f} g"


def metres(mm: float | None) -> str:
    """Filament length in millimetres as metres."""
    return "–" if mm is None else f"{mm / 1000:.2f} m"


def millimetres(value: float | None) -> str:
    """A length such as the layer height: ``0.20 mm``."""
    return "–" if value is None else f"{value:.2f} mm"


def yes_no(value: bool | None) -> str:
    """True/False/None as yes/no/unknown."""
    return "unknown" if value is None else ("yes" if value else "no")


FILTERS = {
    "size": size,
    "count": count,
    "dimensions": dimensions,
    "volume": volume,
    "area": area,
    "duration": duration,
    "grams": grams,
    "metres": metres,
    "millimetres": millimetres,
    "yes_no": yes_no,
}
