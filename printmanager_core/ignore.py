"""What a scan leaves out: hidden files, junk other tools leave behind, and the
user's ignore files (gitignore syntax, matched by :mod:`pathspec`).

* Hidden names (starting with ``.``) are never catalogued: ``.DS_Store``,
  ``.git/``, ``._AppleDouble`` files, ``.Trashes``...
* :data:`JUNK_NAMES` (any case): ``Thumbs.db``, ``desktop.ini``, ``__MACOSX/``,
  ``$RECYCLE.BIN/``, NAS thumbnail folders (``@eaDir``)...
* ``<root>/.printmanagerignore`` and ``<library>/ignore``: gitignore patterns,
  relative to the root (``*.blend1``, ``renders/``, ``/scratch``, ``!keep.stl``).

docs/guide.md ("Ignore file") is the user reference.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs
import pathspec

#: the per-root ignore file, at the top of the root
ROOT_IGNORE_FILE = ".printmanagerignore"
#: the library-wide ignore file, in the library directory (applies to every root)
LIBRARY_IGNORE_FILE = "ignore"

#: file and folder names (lower-cased) that are junk wherever they are
JUNK_NAMES = frozenset({
    "thumbs.db", "ehthumbs.db", "ehthumbs_vista.db", "desktop.ini",  # Windows Explorer
    "__macosx",  # resource forks in zips made on macOS
    "$recycle.bin", "system volume information", "recycler",  # Windows drives
    "@eadir", "#recycle", "#snapshot",  # Synology NAS
    "@recycle", "@recently-snapshot",  # QNAP NAS
})  # fmt: skip


def is_junk(name: str) -> bool:
    """Whether a file or folder name is never catalogued (hidden, or junk)."""
    return not name or name[0] == "." or name.lower() in JUNK_NAMES


def is_junk_member(member: str) -> bool:
    """Whether an archive member path (``a/b/c.stl``) lies in or is junk."""
    return any(is_junk(part) for part in member.split("/") if part)


@attrs.frozen
class IgnoreProblem:
    """A line of an ignore file that could not be used."""

    path: str
    message: str


class IgnoreRules:
    """The user's ignore patterns for one root (gitignore semantics).

    :param lines: pattern lines, in order (later lines win, ``!`` re-includes).
    """

    def __init__(self, lines: list[str]):
        self.spec = pathspec.GitIgnoreSpec.from_lines(lines)

    def __bool__(self) -> bool:
        """Whether there is any pattern (comments and blank lines are none)."""
        return any(p.include is not None for p in self.spec.patterns)

    def ignores(self, relative: str) -> bool:
        """Whether a path relative to the root is ignored; a folder ends with ``/``."""
        return bool(self.spec.match_file(relative))


def _read_lines(path: Path, problems: list[IgnoreProblem]) -> list[str]:
    try:
        text = path.read_bytes().decode("utf-8", "surrogateescape")
    except FileNotFoundError:
        return []
    except OSError as exc:
        problems.append(IgnoreProblem(str(path), f"cannot read ignore file: {exc.strerror or exc}"))
        return []
    good = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            pathspec.GitIgnoreSpec.from_lines([line])
        except ValueError as exc:
            problems.append(IgnoreProblem(str(path), f"line {number}: {exc}; line not used"))
            continue
        good.append(line)
    return good


def load_rules(root: str | os.PathLike[str], library_dir: str | os.PathLike[str]) -> tuple[IgnoreRules | None, list[IgnoreProblem]]:
    """The ignore rules of ``root``: the library's ``ignore`` file, then the root's
    ``.printmanagerignore`` (whose lines win). None when neither has a pattern.

    :returns: (rules or None, problems with lines that were not used)
    """
    problems: list[IgnoreProblem] = []
    lines = _read_lines(Path(library_dir) / LIBRARY_IGNORE_FILE, problems)
    lines += _read_lines(Path(root) / ROOT_IGNORE_FILE, problems)
    rules = IgnoreRules(lines) if lines else None
    return (rules if rules else None), problems
