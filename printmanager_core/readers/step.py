"""STEP (ISO 10303-21) reader: the header only, no geometry.

The header section's ``FILE_DESCRIPTION`` and ``FILE_NAME`` give the name,
timestamp, author, organisation, preprocessor and originating system, and
``FILE_SCHEMA`` the schema (e.g. ``AUTOMOTIVE_DESIGN``, AP214); they go to
``meta``. Only the first :data:`HEAD_BYTES` of the file are read. A ``.step``
/``.stp`` that does not start with ``ISO-10303-21;`` is declined
(:class:`~.base.NotThisFormat`): it is catalogued as a plain file.

Strings are decoded as the standard says: ``''`` is a quote, ``\\X2\\…\\X0\\``
and ``\\X4\\…\\X0\\`` are UTF-16/UTF-32 hex, ``\\X\\hh`` a Latin-1 byte,
``\\S\\c`` a character from the upper half of Latin-1.
"""

from __future__ import annotations

import re
from typing import Any

from ..hookspecs import hookimpl
from .base import NotThisFormat, ReadError, ReadResult, Source

__all__ = ["StepReader", "parse_step_header"]

#: the header is read from at most this many bytes at the start of the file
HEAD_BYTES = 256 * 1024
MAX_TEXT = 500
_MAGIC = re.compile(rb"^\s*ISO-10303-21\s*;", re.IGNORECASE)
_HEADER = re.compile(rb"\bHEADER\s*;(.*?)\bENDSEC\s*;", re.IGNORECASE | re.DOTALL)
_ENTITY = re.compile(rb"\b(FILE_DESCRIPTION|FILE_NAME|FILE_SCHEMA)\s*\(", re.IGNORECASE)
_TOKEN = re.compile(rb"\s*(?:('(?:[^']|'')*')|(\()|(\))|(,)|(\$|\*)|([^\s,()']+))", re.DOTALL)
_X2 = re.compile(r"\\X2\\((?:[0-9A-Fa-f]{4})*)\\X0\\")
_X4 = re.compile(r"\\X4\\((?:[0-9A-Fa-f]{8})*)\\X0\\")
_X = re.compile(r"\\X\\([0-9A-Fa-f]{2})")
_S = re.compile(r"\\S\\(.)")


def _decode(raw: bytes) -> str:
    text = raw[1:-1].replace(b"''", b"'").decode("latin-1")
    text = _X2.sub(lambda m: bytes.fromhex(m.group(1)).decode("utf-16-be", errors="replace"), text)
    text = _X4.sub(lambda m: bytes.fromhex(m.group(1)).decode("utf-32-be", errors="replace"), text)
    text = _X.sub(lambda m: bytes.fromhex(m.group(1)).decode("latin-1"), text)
    text = _S.sub(lambda m: chr(min(ord(m.group(1)) + 128, 255)), text)
    return text.replace("\\\\", "\\")


def _parameters(text: bytes, start: int) -> list[Any]:
    """The parameter list that opens at ``text[start - 1] == '('``: strings, None, nested lists."""
    stack: list[list[Any]] = [[]]
    pos = start
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ReadError("STEP header has a malformed parameter list")
        pos = m.end()
        string, opening, closing, _, null, word = m.groups()
        if string is not None:
            stack[-1].append(_decode(string))
        elif opening:
            if len(stack) > 32:
                raise ReadError("STEP header parameters are nested too deeply")
            stack.append([])
        elif closing:
            done = stack.pop()
            if not stack:
                return done
            stack[-1].append(done)
        elif null:
            stack[-1].append(None)
        elif word:
            stack[-1].append(word.decode("latin-1"))
    raise ReadError("STEP header ends inside a parameter list")


def _texts(value: Any) -> list[str]:
    """The non-empty strings of a parameter (a string or a list of them)."""
    items = value if isinstance(value, list) else [value]
    return [str(v).strip()[:MAX_TEXT] for v in items if isinstance(v, str) and v.strip()]


def parse_step_header(head: bytes) -> dict[str, Any]:
    """The header facts of a STEP file's first bytes (see the module docstring).

    :raises NotThisFormat: it does not start with ``ISO-10303-21;``.
    :raises ReadError: no complete header section, or a malformed one.
    """
    if not _MAGIC.match(head):
        raise NotThisFormat("not a STEP file: it does not start with 'ISO-10303-21;'")
    section = _HEADER.search(head)
    if section is None:
        raise ReadError(f"STEP file has no complete HEADER section in its first {HEAD_BYTES} bytes")
    body = section.group(1)
    meta: dict[str, Any] = {}
    for m in _ENTITY.finditer(body):
        params = _parameters(body, m.end())
        entity = m.group(1).upper()
        if entity == b"FILE_DESCRIPTION":
            description = _texts(params[0] if params else None)
            if description:
                meta["description"] = "; ".join(description)[:MAX_TEXT]
        elif entity == b"FILE_NAME":
            fields = ("name", "timestamp", "author", "organization", "preprocessor", "originating_system",
                      "authorization")
            for key, value in zip(fields, params):
                texts = _texts(value)
                if texts:
                    meta[key] = "; ".join(texts)[:MAX_TEXT]
        else:
            schema = _texts(params[0] if params else None)
            if schema:
                meta["schema"] = "; ".join(schema)[:MAX_TEXT]
    return meta


class StepReader:
    """STEP (ISO 10303-21) files: header facts only."""

    name = "step"
    extensions = (".step", ".stp")

    def read(self, source: Source) -> ReadResult:
        """Name, author, organisation, originating system, timestamp and schema from the header."""
        with source.open() as fh:
            head = fh.read(HEAD_BYTES)
        if not head.strip():
            raise ReadError("empty file")
        return ReadResult(format=self.name, meta=parse_step_header(head))


@hookimpl
def register_readers(register: Any) -> None:
    """The STEP header reader."""
    register(StepReader())
