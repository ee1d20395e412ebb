"""Paths: where a library lives, and file names as the bytes they are.

Where a library lives: ``--library DIR`` > ``$PRINTMANAGER_LIBRARY`` > the user
data dir (:func:`resolve_library_dir`).

File names are bytes (docs/guide.md, "File names"). A path in the API is the
``str`` exactly as :mod:`os` gives it: undecodable bytes are lone surrogates
(PEP 383, ``surrogateescape``), so ``os.fsencode(path)`` is the exact name on
disk. SQLite text must be valid UTF-8, so the store keeps two forms:

* the **display text** (:func:`display_path`): the path with every undecodable
  byte written ``\\xNN`` — valid UTF-8, what people and JSON see, what queries
  search;
* the **exact bytes** (:func:`stored_path`), kept in a ``path_bytes`` BLOB only
  when the display text is not the path itself.

:func:`path_from_store` turns the two columns back into the exact ``str``.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from typing import Any


ENV_LIBRARY = "PRINTMANAGER_LIBRARY"


def resolve_library_dir(directory: str | os.PathLike[str] | None = None) -> Path:
    """The library directory to use.

    :param directory: an explicit choice (``--library``); wins when given.
    :returns: an absolute path (not created here).
    """
    if directory:
        return Path(directory).expanduser().resolve()
    env = os.environ.get(ENV_LIBRARY)
    if env:
        return Path(env).expanduser().resolve()
    import platformdirs  # here: most commands name the library (``--library``, the environment)

    return Path(platformdirs.user_data_dir("printmanager", appauthor=False)).resolve()


# -- file names are bytes -------------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_surrogate(m: re.Match[str]) -> str:
    cp = ord(m.group())
    # U+DC80..U+DCFF stand for the undecodable bytes 0x80..0xFF (surrogateescape)
    return f"\\x{cp - 0xDC00:02x}" if 0xDC80 <= cp <= 0xDCFF else f"\\u{cp:04x}"


def is_exact_text(path: str) -> bool:
    """Whether ``path`` is valid Unicode text (so it is stored as is, no bytes needed)."""
    return path.isascii() or _SURROGATE.search(path) is None


def display_path(path: str) -> str:
    """The display text of ``path``: each undecodable byte written as ``\\xNN``.

    The identity for every name that is valid UTF-8; always valid UTF-8 itself.
    """
    if path.isascii():
        return path
    return _SURROGATE.sub(_escape_surrogate, path)


def stored_path(path: str) -> tuple[str, bytes | None]:
    """The two store columns of ``path``: (display text, exact bytes or None).

    The bytes are given only when the display text differs from the path.
    """
    if is_exact_text(path):
        return path, None
    return display_path(path), os.fsencode(path)


def path_from_store(text: str, exact: bytes | None) -> str:
    """The exact ``str`` of a stored path (inverse of :func:`stored_path`)."""
    return text if exact is None else os.fsdecode(exact)


def path_json(path: str, key: str = "path") -> dict[str, Any]:
    """The JSON fields of a path: ``{key: display text}``, plus ``{key}_bytes`` (base64
    of the exact bytes) when the name is not valid UTF-8. Lossless, valid UTF-8."""
    if is_exact_text(path):
        return {key: path}
    return {key: display_path(path), f"{key}_bytes": base64.b64encode(os.fsencode(path)).decode("ascii")}


def path_from_json(data: dict[str, Any], key: str = "path") -> str:
    """The exact ``str`` of a path given in the JSON shape of :func:`path_json`."""
    raw = data.get(f"{key}_bytes")
    return os.fsdecode(base64.b64decode(raw)) if raw else str(data[key])


# Control characters, line/paragraph separators, bidi overrides, surrogates: what
# would split a line or mislead a reader in a terminal.
_UNPRINTABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_unprintable(m: re.Match[str]) -> str:
    ch = m.group()
    cp = ord(ch)
    if ch in _NAMED:
        return _NAMED[ch]
    if 0xD800 <= cp <= 0xDFFF:
        return _escape_surrogate(m)
    return f"\\x{cp:02x}" if cp <= 0xFF else f"\\u{cp:04x}"


def printable(text: str | os.PathLike[str]) -> str:
    """``text`` (or a path) for one line of human output: control characters (``\\n``,
    ``\\t``, ``\\x1b``...), bidi controls and undecodable bytes escaped, the rest as is."""
    text = os.fspath(text)
    if text.isprintable():
        return text
    return _UNPRINTABLE.sub(_escape_unprintable, text)


def archive_of(path: str, path_text: str, archive_text: str) -> str:
    """The exact archive path of the member ``path`` (``<archive>!/<member>``), given
    the display texts of the member path and of the archive path.

    Member names come from the zip and are valid text, so only the archive's part
    of ``path`` can differ from its display text.
    """
    member_len = len(path_text) - len(archive_text) - 2
    return path[: len(path) - member_len - 2]


def is_within(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (both absolute, normalised)."""
    if path == folder:
        return True
    prefix = folder if folder.endswith(os.sep) else folder + os.sep
    return path.startswith(prefix)
