"""File names on the folder sync writes into: which names that folder treats as one.

Names are bytes, and a snapshot may hold ``Hull.stl`` and ``hull.stl`` (or ``é`` in NFC and
in NFD) side by side, as a Linux folder can. A case-insensitive target (Windows, macOS by
default, a FAT or exFAT drive, many NAS shares) or a normalising one (macOS) would make the
second write replace the first. :func:`probe` asks the target folder itself how it compares
names, :func:`collisions` finds the entries it would take for one, and restores report them
instead of overwriting; :func:`write_new` is the last line of defence, creating a file only
if no file of that name (as the folder sees it) exists.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path
from typing import Iterable, TypeVar

import attrs

T = TypeVar("T")


@attrs.frozen
class Folding:
    """How a folder compares names: by case, by Unicode normalisation, or exactly."""

    case: bool = False
    normalization: bool = False

    def key(self, rel: str) -> str:
        """The form of ``rel`` under which the folder finds a file (equal keys: one file)."""
        if self.normalization:
            rel = unicodedata.normalize("NFC", rel)
        if self.case:
            rel = rel.casefold()
        return rel

    def describe(self) -> str:
        """Words for a message: what the folder ignores."""
        parts = (["case"] if self.case else []) + (["Unicode normalisation"] if self.normalization else [])
        return " and ".join(parts) or "nothing"


def _same(folder: Path, name: str, other: str) -> bool:
    try:
        return os.path.samefile(folder / name, folder / other)
    except OSError:
        return False


def _ask_existing(folder: Path) -> Folding | None:
    """Answer from names already in ``folder`` (writes nothing), or None if none can tell."""
    try:
        entries = os.listdir(folder)
    except OSError:
        return None
    case = normalization = None
    for name in entries:
        if case is None and name.swapcase() != name and name.swapcase() not in entries:
            case = _same(folder, name, name.swapcase())
        nfd = unicodedata.normalize("NFD", name)
        if normalization is None and nfd != name and nfd not in entries:
            normalization = _same(folder, name, nfd)
        if case is not None and normalization is not None:
            return Folding(case, normalization)
    return None


def probe(folder: Path) -> Folding:
    """Ask ``folder`` (created if missing) whether it ignores case or Unicode normalisation:
    look up a name already there under other spellings, else write a probe file and do so."""
    known = _ask_existing(folder)
    if known is not None:
        return known
    folder.mkdir(parents=True, exist_ok=True)
    stem = f".pm-probe-{os.urandom(4).hex()}-"
    name = stem + "Ab\u00e9"  # "é" precomposed (NFC)
    path = folder / name
    try:
        path.write_bytes(b"")
    except OSError:
        return Folding()  # cannot write here: the writes will say so
    try:
        case = (folder / (stem + "aB\u00c9")).exists()
        normalization = (folder / (stem + "Abe\u0301")).exists()  # "é" decomposed (NFD)
    finally:
        path.unlink(missing_ok=True)
    return Folding(case, normalization)


def collisions(items: Iterable[tuple[str, T]], folding: Folding) -> tuple[list[tuple[str, T]], list[tuple[str, str]]]:
    """Split ``(rel, item)`` pairs into those to write and those that would collide with one
    written before them (in the given order) on a folder that folds names like ``folding``.

    :returns: ``(keep, clashes)``; each clash is ``(rel skipped, rel it collides with)``.
    """
    keep: list[tuple[str, T]] = []
    clashes: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for rel, item in items:
        key = folding.key(rel)
        if key in seen and seen[key] != rel:
            clashes.append((rel, seen[key]))
            continue
        seen.setdefault(key, rel)
        keep.append((rel, item))
    return keep, clashes


class NameTaken(FileExistsError):
    """:func:`write_new` found a file of that name (as the folder compares names) already there."""


def write_new(tmp: Path, dest: Path) -> None:
    """Move the finished temporary file ``tmp`` to ``dest`` only if ``dest`` does not exist
    (as the folder sees names: on a case-insensitive folder ``Hull.stl`` is ``hull.stl``).

    A hard link fails rather than replace; where links are not supported, the name is
    reserved with ``O_CREAT | O_EXCL`` first.

    :raises NameTaken: a file of that name exists; ``tmp`` is left for the caller to remove.
    """
    try:
        os.link(tmp, dest)
    except FileExistsError:
        raise NameTaken(str(dest)) from None
    except OSError:  # no hard links here (FAT, some shares): reserve the name, then replace it
        try:
            os.close(os.open(dest, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            raise NameTaken(str(dest)) from None
        os.replace(tmp, dest)
        return
    os.unlink(tmp)

