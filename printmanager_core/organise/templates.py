"""Path templates of ``organise``: ``{creator|Unknown}/{collection}/{model}``, chosen by query.

A template is text with ``{field}`` or ``{field|fallback}`` places (the fallback
is used when the model has no value; it may be empty). ``/`` separates folders;
a folder whose text comes out empty is left out. Each value is made safe for
every filesystem — Windows, macOS and Linux alike (``pathvalidate``, platform
"universal"): ``< > : " / \\ | ? *`` and control characters become ``_``, a
trailing dot or space goes, reserved names (``CON``, ``NUL``, ``COM1``...) get a
``_``, a name is at most :data:`MAX_NAME_BYTES` bytes of UTF-8, and a leading dot
(a hidden name) becomes ``_``.

The setting ``organise.paths`` is a list of ``"QUERY: TEMPLATE"`` lines, tried in
order (the first whose query matches a model's files wins, as beets' path
formats), with ``"default: TEMPLATE"`` for every other model.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit

import attrs

from ..errors import UsageError
from ..records import ModelRecord

#: the template when the user set none
DEFAULT_TEMPLATE = "{creator|Unknown}/{collection}/{model}"
#: the longest folder or file name written (bytes of UTF-8; filesystems allow 255, a suffix needs room)
MAX_NAME_BYTES = 200

_PLACE = re.compile(r"\{([a-z_]+)(?:\|([^{}]*))?\}")


def _first(values: Sequence[str]) -> str:
    return values[0] if values else ""


def _host(url: str | None) -> str:
    if not url:
        return ""
    host = urlsplit(url).hostname or ""
    return host[4:] if host.startswith("www.") else host


#: the fields a template can name, and how each is read off a model
FIELDS: dict[str, Callable[[ModelRecord], Any]] = {
    "model": lambda m: m.name,
    "creator": lambda m: m.creator,
    "collection": lambda m: _first(m.collections),
    "licence": lambda m: m.licence,
    "license": lambda m: m.licence,
    "source": lambda m: _host(m.source_url),
    "tag": lambda m: _first(m.tags),
    "kind": lambda m: m.kind,
    "id": lambda m: m.id,
}


def safe_name(text: str) -> str:
    """One folder or file name, safe on Windows, macOS and Linux (see the module's text); may be ""."""
    from pathvalidate import sanitize_filename

    name = sanitize_filename(str(text).replace("/", "_").replace("\\", "_"), platform="universal",
                             replacement_text="_", max_len=MAX_NAME_BYTES)
    name = name.strip()
    if name in (".", ".."):
        return "_" * len(name)
    if name.startswith("."):
        name = "_" + name[1:]
    return name


@attrs.frozen
class Template:
    """One parsed template."""

    text: str

    def __attrs_post_init__(self) -> None:
        rest = _PLACE.sub("", self.text)
        if "{" in rest or "}" in rest:
            raise UsageError(f"template {self.text!r}: a brace without its pair (places are {{field}} or "
                             "{field|fallback})")
        for m in _PLACE.finditer(self.text):
            if m.group(1) not in FIELDS:
                raise UsageError(f"template {self.text!r}: unknown field {{{m.group(1)}}} "
                                 f"(fields: {', '.join(sorted(FIELDS))})")
        if self.text.startswith("/") or "\\" in _PLACE.sub("", self.text):
            raise UsageError(f"template {self.text!r}: folders are separated by / and the path is relative")

    def render(self, model: ModelRecord) -> list[str]:
        """The folder names for ``model`` (safe, empty ones left out)."""
        names = []
        for part in self.text.split("/"):
            def fill(m: re.Match[str]) -> str:
                value = FIELDS[m.group(1)](model)
                text = "" if value is None else str(value).strip()
                if not text and m.group(2) is not None:
                    text = m.group(2)
                return text.replace("/", "_").replace("\\", "_")

            name = safe_name(_PLACE.sub(fill, part))
            if name:
                names.append(name)
        return names


@attrs.frozen
class PathFormat:
    """A template with the query choosing the models it is for (``""``: every model)."""

    query: str
    template: Template


def parse_paths(value: Any) -> list[PathFormat]:
    """The path formats of the setting ``organise.paths``: a list of ``"QUERY: TEMPLATE"``
    (``default: TEMPLATE`` for the rest), or a ``{QUERY: TEMPLATE}`` object.

    The default comes last whatever its place; without one, :data:`DEFAULT_TEMPLATE`.

    :raises UsageError: a line without ``": "``, a bad template, or a bad query.
    """
    from ..query import parse_query

    if isinstance(value, dict):
        items = [(str(k), str(v)) for k, v in value.items()]
    elif isinstance(value, (list, tuple)):
        items = []
        for line in value:
            if not isinstance(line, str) or ": " not in line:
                raise UsageError(f"organise.paths: {line!r} is not 'QUERY: TEMPLATE'")
            query, template = line.split(": ", 1)
            items.append((query.strip(), template.strip()))
    elif isinstance(value, str):
        return parse_paths([value] if ": " in value else [f"default: {value}"])
    else:
        raise UsageError("organise.paths takes a list of 'QUERY: TEMPLATE' lines")
    formats, default = [], None
    for query, template in items:
        if query == "default":
            default = PathFormat("", Template(template))
            continue
        parse_query(query)  # refuses a bad query now, not halfway through a plan
        formats.append(PathFormat(query, Template(template)))
    formats.append(default or PathFormat("", Template(DEFAULT_TEMPLATE)))
    return formats


def check_paths_setting(value: Any) -> None:
    """Refuse a value of ``organise.paths`` that :func:`parse_paths` cannot use (one line)."""
    parse_paths(value)
