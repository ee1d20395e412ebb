"""3MF reader: the build as placed, package checks, slicer project facts, thumbnails.

What is measured is the build (:mod:`.build`); slicer facts come from the
project settings (:mod:`.project`); thumbnails are counted as :mod:`.pictures`
finds them.

Package checks that do not stop reading become ``problems``: no 3D-model
relationship (the reader then falls back to ``3D/3dmodel.model``), a
relationship whose target part does not exist (e.g. a missing thumbnail), a
build item or component naming an object that does not exist, a model part
not encoded as UTF-8, required extensions the reader does not interpret, a
beam lattice (not measured). Fatal ones are a :class:`~..base.ReadError`: not a
zip, no model part at all, malformed XML, XML entity declarations
(entity-expansion bombs), a triangle naming a vertex that does not exist, a
component cycle, zip bombs (see :mod:`..ziputil`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...hookspecs import hookimpl
from .. import ziputil
from ..base import EmbeddedImage, ReadError, ReadResult, Source
from .beams import BEAMLATTICE_NS
from .build import ModelParts, build_triangles, measure_build, placements
from .model import PROD_NS
from .package import Package
from .pictures import object_thumbnails_known, pictures
from .project import slicer_project

__all__ = ["ThreeMfReader"]

#: extension namespaces whose content this reader interprets (or can safely ignore for metrics)
KNOWN_EXTENSIONS = {
    "http://schemas.microsoft.com/3dmanufacturing/material/2015/02",
    PROD_NS,
    BEAMLATTICE_NS,
    "http://schemas.microsoft.com/3dmanufacturing/slice/2015/07",
}
#: the model metadata kept in ``meta['metadata']``: the core spec's names, then Bambu Studio's
#: project fields (``License``, and the print profile's ``ProfileTitle``/``ProfileDescription``)
_META_NAMES = ("Title", "Designer", "Description", "Copyright", "LicenseTerms", "Application", "CreationDate",
               "ModificationDate", "License", "ProfileTitle", "ProfileDescription")


class ThreeMfReader:
    """3MF packages (core, production, beam lattice, slicer projects)."""

    name = "3mf"
    extensions = (".3mf",)

    def read(self, source: Source) -> ReadResult:
        """Metrics of the build as placed, package problems, slicer facts, thumbnail count."""
        problems: list[str] = []
        with ziputil.open_zip(source) as zf:
            pkg = Package(zf, source.limits, problems)
            parts = ModelParts(pkg)
            root_part = pkg.root_part()
            root = parts.get(root_part)
            assert root is not None
            metrics, meta = measure_build(parts, root, source.limits)
            problems.extend(metrics.problems())
            if not root.items:
                problems.append(f"/{root_part} has an empty build: nothing is placed to print")
            unknown = [ns for ns in root.required if ns not in KNOWN_EXTENSIONS]
            if unknown:
                problems.append("the model requires extensions this reader does not interpret: " + ", ".join(unknown))
            slicer, project_meta = slicer_project(pkg, root)
            meta.update(project_meta)
            meta["unit"] = root.unit
            kept = {k: v for k, v in root.metadata.items() if k in _META_NAMES and v}
            if kept:
                meta["metadata"] = kept
            thumbnails = len(pictures(pkg, parts.parsed.values()))
        return ReadResult(
            format=self.name,
            thumbnails=thumbnails,
            slicer=slicer,
            problems=problems,
            meta=meta,
            **metrics.fields(),
        )

    def triangles(self, source: Source) -> np.ndarray:
        """The build's triangles as placed (transforms and units applied): ``(n, 3, 3)`` in mm."""
        with ziputil.open_zip(source) as zf:
            pkg = Package(zf, source.limits, [])
            parts = ModelParts(pkg)
            root = parts.get(pkg.root_part())
            assert root is not None
            return build_triangles(parts, root, source.limits)

    def embedded_images(self, source: Source) -> list[EmbeddedImage]:
        """The thumbnails: package thumbnail first, then plate pictures, then per-object ones.

        When the thumbnails that objects name are all named by relationships too (as a
        conforming package has them; see :func:`.pictures.object_thumbnails_known`), the
        model parts are only searched, not parsed. Otherwise they are parsed for their
        structure only (objects, components, build items): the numbers of plainly
        written mesh blocks are not read.
        """
        with ziputil.open_zip(source) as zf:
            pkg = Package(zf, source.limits, [])
            try:
                root_part: str | None = pkg.root_part()
            except ReadError:
                root_part = None
            if root_part is None or object_thumbnails_known(pkg, root_part):
                return pictures(pkg)
            parts = ModelParts(pkg, geometry=False)
            try:
                root = parts.get(root_part)
            except ReadError:
                root = None
            if root is not None:  # object thumbnails may sit in other model parts
                try:
                    for _ in placements(parts, root):
                        pass
                except ReadError:
                    pass
            return pictures(pkg, parts.parsed.values())


@hookimpl
def register_readers(register: Any) -> None:
    """The 3MF reader."""
    register(ThreeMfReader())
