"""Reader for Bambu Studio / OrcaSlicer print archives (``.gcode.3mf``).

A ``.gcode.3mf`` is a 3MF package (:mod:`.threemf.package`) holding one G-code
file per plate (``Metadata/plate_N.gcode``), scanned like text G-code
(:mod:`.gcode_scan`), ``Metadata/slice_info.config`` (Bambu's XML with each
plate's prediction, weight and filaments) and the plate pictures
(:func:`.threemf.pictures.plate_pictures`). Several plates add up.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from typing import Any, Iterable, Mapping

import defusedxml
from defusedxml import ElementTree

from ..hookspecs import hookimpl
from . import ziputil
from .base import EmbeddedImage, Limits, ReadError, ReadResult, SlicerInfo, Source
from .gcode_scan import GcodeScan, scan_gcode
from .images import png_size
from .slicer_vocab import parse_duration, parse_number, slicer_facts
from .threemf.package import Package
from .threemf.pictures import plate_pictures

__all__ = ["Gcode3mfReader"]

_PLATE_GCODE = re.compile(r"^Metadata/plate_(\d+)\.gcode$")


def _slice_info(data: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Header items and plates from ``Metadata/slice_info.config`` (Bambu's XML)."""
    root = ElementTree.fromstring(data)
    header: dict[str, Any] = {}
    for item in root.iter("header_item"):
        if item.get("key"):
            header[item.get("key")] = item.get("value")
    plates = []
    for plate in root.iter("plate"):
        facts: dict[str, Any] = {}
        for md in plate.findall("metadata"):
            if md.get("key"):
                facts[md.get("key")] = md.get("value")
        filaments = []
        for fil in plate.findall("filament"):
            filaments.append({k: fil.get(k) for k in ("id", "type", "color", "used_m", "used_g")})
        facts["filaments"] = filaments
        plates.append(facts)
    return header, plates


def _plate_facts(plate: Mapping[str, Any]) -> dict[str, float | None]:
    used_m = [parse_number(f.get("used_m")) for f in plate.get("filaments", [])]
    used_g = [parse_number(f.get("used_g")) for f in plate.get("filaments", [])]
    grams = parse_number(plate.get("weight"))
    if grams is None and used_g and all(g is not None for g in used_g):
        grams = sum(g for g in used_g if g is not None)
    metres = sum(m for m in used_m if m is not None) if used_m and all(m is not None for m in used_m) else None
    return {
        "print_time_s": parse_duration(plate.get("prediction")),
        "filament_g": grams,
        "filament_mm": None if metres is None else round(metres * 1000.0, 6),
        "layer_height_mm": parse_number(plate.get("layer_height")),
    }


def _sum_or_none(values: Iterable[float | None]) -> float | None:
    values = list(values)
    if not values or any(v is None for v in values):
        return None
    return round(sum(v for v in values if v is not None), 6)


def _scan_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits) -> GcodeScan:
    """Scan a zip member's G-code head and tail, streaming (a plate's G-code can be huge).

    The same bounds as :func:`ziputil.read_member` apply, without reading it whole.
    """
    name = info.filename
    if info.flag_bits & 0x1:
        raise ReadError(f"zip member {name!r} is encrypted")
    if info.file_size > limits.max_member_bytes:
        raise ReadError(f"zip member {name!r} is {info.file_size} bytes uncompressed, "
                        f"more than the limit of {limits.max_member_bytes}")
    if info.file_size > 1024 * 1024 and info.file_size / max(info.compress_size, 1) > limits.max_compression_ratio:
        raise ReadError(f"zip member {name!r} has a compression ratio over "
                        f"{limits.max_compression_ratio:.0f}:1 (zip bomb?)")
    try:
        with zf.open(info) as fh:
            return scan_gcode(fh, info.file_size)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, zlib.error) as exc:
        raise ReadError(f"cannot extract zip member {name!r}: {exc}") from None


class Gcode3mfReader:
    """Bambu Studio / OrcaSlicer sliced archives (``.gcode.3mf``): a zip of plates.

    Metadata come from each plate's G-code header (``Metadata/plate_N.gcode``) and
    ``Metadata/slice_info.config``; several plates add up. Thumbnails are the
    plate pictures (``Metadata/plate_N.png``, ``plate_N_small.png``,
    ``plate_no_light_N.png``, ``top_N.png``; not ``pick_N.png``, an object mask).
    """

    name = "gcode.3mf"
    extensions = (".gcode.3mf",)

    def read(self, source: Source) -> ReadResult:
        """Slicer facts and picture count of a sliced 3MF."""
        problems: list[str] = []
        with ziputil.open_zip(source) as zf:
            pkg = Package(zf, source.limits, problems, relationships=False)
            plate_gcode = sorted(
                ((int(m.group(1)), info) for info in pkg.members.values() if (m := _PLATE_GCODE.match(info.filename))),
                key=lambda pair: pair[0],
            )
            if not plate_gcode:
                raise ReadError("not a sliced 3MF: no Metadata/plate_N.gcode inside")

            # 1. each plate's G-code header (and tail)
            scans: list[GcodeScan] = []
            for _, info in plate_gcode:
                scan = _scan_member(zf, info, source.limits)
                scans.append(scan)
                problems.extend(f"{info.filename}: {p}" for p in scan.problems)

            # 2. Metadata/slice_info.config
            header: dict[str, Any] = {}
            plates_info: list[dict[str, Any]] = []
            if pkg.info("Metadata/slice_info.config") is not None:
                try:
                    header, plates_info = _slice_info(pkg.read("Metadata/slice_info.config"))
                except (ElementTree.ParseError, defusedxml.DefusedXmlException, ValueError) as exc:
                    # malformed XML: note it, the G-code still counts
                    problems.append(f"Metadata/slice_info.config is unreadable: {type(exc).__name__}")

            # 3. the plate pictures
            pictures = _plate_pictures(pkg, problems)

        facts = [slicer_facts(s.kv, s.generator) for s in scans]
        meta: dict[str, Any] = dict(facts[0][1])
        meta["plates"] = len(plate_gcode)
        infos = [f[0] or SlicerInfo() for f in facts]
        per_plate = [_plate_facts(p) for p in plates_info]

        def total(field: str) -> float | None:
            from_gcode = _sum_or_none(getattr(i, field) for i in infos)
            if from_gcode is not None:
                return from_gcode
            return _sum_or_none(p[field] for p in per_plate) if per_plate else None

        slicer = next((i.slicer for i in infos if i.slicer), None)
        if slicer is None and header.get("X-BBL-Client-Version"):
            slicer = f"BambuStudio {header['X-BBL-Client-Version']}"
        layer = next((i.layer_height_mm for i in infos if i.layer_height_mm), None)
        if layer is None:
            layer = next((p["layer_height_mm"] for p in per_plate if p["layer_height_mm"]), None)
        printer = next((i.printer_model for i in infos if i.printer_model), None)
        if plates_info and plates_info[0].get("printer_model_id"):
            meta["printer_model_id"] = plates_info[0]["printer_model_id"]
        info = SlicerInfo(
            printer_model=printer,
            layer_height_mm=layer,
            print_time_s=total("print_time_s"),
            filament_g=total("filament_g"),
            filament_mm=total("filament_mm"),
            slicer=slicer,
        )
        return ReadResult(format=self.name, thumbnails=len(pictures), slicer=info if info.as_dict() else None,
                          problems=problems, meta=meta)

    def embedded_images(self, source: Source) -> list[EmbeddedImage]:
        """The plate pictures (PNG), the first plate's main picture first."""
        with ziputil.open_zip(source) as zf:
            return _plate_pictures(Package(zf, source.limits, [], relationships=False), [])


def _plate_pictures(pkg: Package, problems: list[str]) -> list[EmbeddedImage]:
    """The valid plate PNGs, ordered by plate then kind; bad ones noted in ``problems``."""
    images = []
    for name in plate_pictures(pkg):
        data = pkg.read(name)
        size = png_size(data)
        if size is None:
            problems.append(f"{name} is not a PNG image; skipped")
            continue
        images.append(EmbeddedImage(width=size[0], height=size[1], format="png", data=data,
                                    name=name.rsplit("/", 1)[-1]))
    return images


@hookimpl
def register_readers(register: Any) -> None:
    """The sliced-3MF reader."""
    register(Gcode3mfReader())
