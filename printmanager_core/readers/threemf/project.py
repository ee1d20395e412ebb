"""Slicer project facts in a 3MF: PrusaSlicer, Bambu Studio and OrcaSlicer projects.

PrusaSlicer keeps its settings in ``Metadata/Slic3r_PE.config`` (``; key = value``
lines, read by :func:`..slicer_vocab.prusa_config`); Bambu Studio and OrcaSlicer
in ``Metadata/project_settings.config`` (JSON) and their plates in
``Metadata/model_settings.config`` (XML). Either gives the printer model and
layer height; the slicer name and version come from the config, else from the
model's ``Application`` metadata; the plate count goes to ``meta['plates']``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..base import ReadError, SlicerInfo
from ..slicer_vocab import first, positive_first, prusa_config
from ..xmlsafe import local_name
from .model import ModelPart
from .package import Package, parse_xml

__all__ = ["application", "slicer_project"]

_APPLICATION = re.compile(r"^\s*([A-Za-z][\w .]*?)[- ]v?(\d[\w.+-]*)\s*$")


def application(metadata: dict[str, str]) -> str | None:
    """The model's ``Application`` metadata as ``"Name version"`` (or as written), or None."""
    app = metadata.get("Application") or metadata.get("application")
    if not app:
        return None
    m = _APPLICATION.match(app)
    return f"{m.group(1).strip()} {m.group(2)}" if m else app.strip()


def slicer_project(pkg: Package, root: ModelPart) -> tuple[SlicerInfo | None, dict[str, Any]]:
    """The slicer facts of a 3MF project and ``meta`` (``project``, ``plates``, ``application``)."""
    meta: dict[str, Any] = {}
    kv: dict[str, Any] = {}
    slicer = None
    if pkg.info("Metadata/Slic3r_PE.config") is not None:
        slicer, kv = prusa_config(pkg.read("Metadata/Slic3r_PE.config").decode("utf-8", errors="replace"))
        meta["project"] = "prusaslicer"
    if pkg.info("Metadata/project_settings.config") is not None:
        try:
            settings = json.loads(pkg.read("Metadata/project_settings.config"))
        except (ValueError, RecursionError) as exc:
            pkg.problems.append(f"Metadata/project_settings.config is not valid JSON: {type(exc).__name__}")
            settings = None
        if isinstance(settings, dict):
            for key, value in settings.items():
                kv.setdefault(key, value)
            meta["project"] = "bambu"
    if pkg.info("Metadata/model_settings.config") is not None:
        try:
            config = parse_xml(pkg.read("Metadata/model_settings.config"), "/Metadata/model_settings.config",
                               pkg.limits)
            plates = [p for p in config if local_name(p.tag) == "plate"]
            if plates:
                meta["plates"] = len(plates)
        except ReadError as exc:
            if "entity" in str(exc):
                raise
            pkg.problems.append(str(exc))
    app = application(root.metadata)
    if app:
        meta["application"] = app
    slicer = slicer or app
    if slicer and meta.get("project") == "bambu" and "Orca" in slicer:
        meta["project"] = "orcaslicer"
    info = SlicerInfo(
        printer_model=first(kv, "printer_model", "printer_settings_id"),
        layer_height_mm=positive_first(first(kv, "layer_height")),
        slicer=slicer,
    )
    return (info if info.as_dict() else None), meta
