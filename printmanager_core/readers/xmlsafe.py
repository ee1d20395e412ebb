"""Streaming XML parsing that hostile input cannot make slow, deep or large.

- **No entity tricks.** A document without ``<!DOCTYPE``/``<!ENTITY`` (checked on
  ASCII-compatible encodings) goes to the C parser; anything else goes through
  defusedxml, which refuses entity declarations and external references.
- **No quadratic re-parsing.** expat before 2.6 (no reparse deferral) re-scans
  an unfinished token from its start each time more input is fed, so a token
  spread over many feeds costs time quadratic in its length (a 32 MiB attribute
  took 24 s). :func:`iter_events` feeds the parser in pieces that end just
  before a ``<`` that starts markup outside any comment, CDATA section or
  processing instruction: every token is whole inside one piece.
- **Bounded tokens.** A tag, attribute value or text run longer than
  ``Limits.max_xml_token_bytes`` is refused before parsing (it has no place in
  a model file, and would be handed to Python as one string).

Every refusal is a :class:`~.base.ReadError` with a one-line message naming the part.
"""

from __future__ import annotations

from typing import Any, Iterator
from xml.etree import ElementTree

import defusedxml
import defusedxml.ElementTree as SafeET

from .. import budget
from .base import ReadError

__all__ = ["XmlSyntaxError", "check_tokens", "iter_events", "local_name", "xml_error"]

#: the parser is fed pieces of about this size (each ends before a '<')
FEED_BYTES = 1024 * 1024
_NON_ASCII_STARTS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00", b"\x00<", b"<\x00")


def local_name(tag: str) -> str:
    """An element's tag without its namespace: ``"{http://...}model"`` gives ``"model"``."""
    return tag.rsplit("}", 1)[-1]


def check_tokens(data: bytes, part: str, max_token: int) -> None:
    """Refuse ``data`` when it has a run of more than ``max_token`` bytes without a ``<``
    (a tag with its attributes, or a text run, longer than the limit).

    Linear and cheap: only aligned blocks of ``max_token // 2`` bytes are searched,
    since any longer run holds a whole one of them.
    """
    n = len(data)
    if n <= max_token:
        return
    step = max(1, max_token // 2)
    pos = 0
    while pos < n:
        end = min(pos + step, n)
        if end - pos == step and data.find(b"<", pos, end) < 0:
            before = data.rfind(b"<", 0, pos)
            after = data.find(b"<", end)
            run = (n if after < 0 else after) - before - 1
            if run > max_token:
                raise ReadError(
                    f"{part} has an XML tag, attribute or text of {run} bytes, more than the limit of "
                    f"{max_token} bytes"
                )
            pos = n if after < 0 else after
            continue
        pos = end


class XmlSyntaxError(ReadError):
    """The document is not well-formed XML."""


def xml_error(part: str, exc: BaseException) -> ReadError:
    """A one-line ReadError for a parser exception (entity tricks named as such)."""
    if isinstance(exc, defusedxml.EntitiesForbidden):
        return ReadError(f"{part}: XML entity declarations are not allowed (entity expansion attack?)")
    if isinstance(exc, defusedxml.DTDForbidden):
        return ReadError(f"{part}: XML document type declarations are not allowed")
    if isinstance(exc, defusedxml.ExternalReferenceForbidden):
        return ReadError(f"{part}: XML external references are not allowed")
    if isinstance(exc, defusedxml.NotSupportedError):
        return ReadError(f"{part}: unsupported XML construct")
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return XmlSyntaxError(f"{part} is not well-formed XML: {text}")


def _pieces(data: bytes) -> Iterator[bytes]:
    """``data`` cut before a markup-starting ``<`` about every :data:`FEED_BYTES` bytes."""
    n = len(data)
    pos = 0
    while pos < n:
        target = pos + FEED_BYTES
        if target >= n:
            yield data[pos:]
            return
        cut = data.find(b"<", target)
        # do not cut inside a comment, CDATA section or processing instruction
        while cut >= 0:
            inside = _inside_special(data, pos, cut)
            if inside is None:
                break
            close = data.find(inside, cut)
            cut = -1 if close < 0 else data.find(b"<", close + len(inside))
        if cut < 0:
            yield data[pos:]
            return
        yield data[pos:cut]
        pos = cut


_SPECIAL = ((b"<!--", b"-->"), (b"<![CDATA[", b"]]>"), (b"<?", b"?>"))


def _inside_special(data: bytes, start: int, cut: int) -> bytes | None:
    """The closing string when ``cut`` lies inside a comment, CDATA section or PI opened in
    ``data[start:cut]`` (or earlier but not closed there), else None."""
    for opener, closer in _SPECIAL:
        opened = data.rfind(opener, start, cut)
        if opened >= 0 and data.find(closer, opened + len(opener), cut) < 0:
            return closer
    return None


def iter_events(
    data: bytes, part: str, max_token: int, events: tuple[str, ...] = ("start", "end")
) -> Iterator[tuple[str, Any]]:
    """Parse events of ``data`` (as ``XMLPullParser`` gives them), safely and in linear time.

    :param part: names the document in error messages.
    :param max_token: see :func:`check_tokens`.
    :raises ReadError: too long a token, malformed XML, entity declarations,
        external references.
    """
    check_tokens(data, part, max_token)
    plain = not data.startswith(_NON_ASCII_STARTS) and b"<!DOCTYPE" not in data and b"<!ENTITY" not in data
    if plain:
        parser = ElementTree.XMLPullParser(events)
    else:
        safe = SafeET.DefusedXMLParser(
            target=ElementTree.TreeBuilder(), forbid_dtd=False, forbid_entities=True, forbid_external=True
        )
        parser = ElementTree.XMLPullParser(events, _parser=safe)
    try:
        for piece in _pieces(data):
            parser.feed(piece)
            yield from parser.read_events()
            budget.check()
        parser.close()
        yield from parser.read_events()
    except (ElementTree.ParseError, defusedxml.DefusedXmlException, ValueError, LookupError) as exc:
        raise xml_error(part, exc) from None
