"""Which reader reads a file: by its name, then by its first bytes.

A :class:`ReaderTable` is a plain value built from the registered readers. It
chooses a reader for a file name by the longest matching extension
(:meth:`~ReaderTable.for_name`), and, given the first bytes of the content,
lets a reader that recognises them take the file instead
(:meth:`~ReaderTable.for_content`): a ``.gcode`` file that is really binary
G-code goes to the binary G-code reader by its ``GCDE`` magic. Readers never
call each other; the table is the only place that picks between them.

A reader recognises content through either of two optional attributes:

- ``magic``: a tuple of byte strings the content may start with;
- ``sniff(head: bytes) -> bool``: for a signature a prefix cannot say.

``head`` holds the first :data:`SNIFF_BYTES` bytes (fewer for a shorter file).
The reader the name selects keeps a file it recognises, or that no reader
recognises; otherwise the first reader in the table that recognises it reads
it (the default table lists readers in the registry's order: a plugin
registered later comes first), and the result notes the mismatch
(:meth:`~ReaderTable.note`).

The table holds the reader objects themselves and pickles with them, so a
scan can hand it to worker processes instead of each one asking the plugin
manager; :meth:`ReaderTable.from_readers` rebuilds one cheaply.
"""

from __future__ import annotations

from typing import Any, Iterable

import attrs

from .base import Reader, ReadError, ReadResult, Source

__all__ = ["SNIFF_BYTES", "ReaderTable", "recognises", "title_of"]

#: how many bytes of the start of a file readers are shown to recognise it
SNIFF_BYTES = 64


def recognises(reader: Any, head: bytes) -> bool | None:
    """Whether ``reader`` recognises content starting with ``head``; None if it cannot tell
    (it has neither ``sniff`` nor ``magic``)."""
    sniff = getattr(reader, "sniff", None)
    if callable(sniff):
        return bool(sniff(head))
    magic = getattr(reader, "magic", None)
    if magic:
        return head.startswith(tuple(magic))
    return None


def title_of(reader: Any) -> str:
    """How a reader's format is named to people: its ``title``, else its ``name``."""
    title = getattr(reader, "title", None)
    return title if isinstance(title, str) and title else str(reader.name)


def _by_extension(readers: tuple[Reader, ...]) -> dict[str, Reader]:
    table: dict[str, Reader] = {}
    for reader in readers:
        for ext in reader.extensions:
            table.setdefault(ext.lower(), reader)
    return table


@attrs.frozen
class ReaderTable:
    """The readers, looked up by file name and by content.

    :ivar readers: in priority order: when two claim the same extension, or both
        recognise a file's content, the earlier one wins.
    """

    readers: tuple[Reader, ...] = attrs.field(converter=tuple)
    _by_ext: dict[str, Reader] = attrs.field(init=False, repr=False, eq=False)
    _sniffers: tuple[Reader, ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_by_ext", _by_extension(self.readers))
        sniffers = tuple(r for r in self.readers if callable(getattr(r, "sniff", None)) or getattr(r, "magic", None))
        object.__setattr__(self, "_sniffers", sniffers)

    @classmethod
    def from_readers(cls, readers: Iterable[Reader]) -> "ReaderTable":
        """A table of ``readers``, in priority order."""
        return cls(tuple(readers))

    @property
    def extensions(self) -> frozenset[str]:
        """Every file-name ending some reader reads (lower-case, with the dot)."""
        return frozenset(self._by_ext)

    def for_name(self, name: str) -> Reader | None:
        """The reader for a file name (longest matching extension wins), or None."""
        lower = name.lower()
        by_ext = self._by_ext
        pos = lower.find(".")
        while pos != -1:
            reader = by_ext.get(lower[pos:])
            if reader is not None:
                return reader
            pos = lower.find(".", pos + 1)
        return None

    def for_content(self, name: str, head: bytes) -> Reader | None:
        """The reader for a file called ``name`` whose content starts with ``head``.

        None when no reader takes the name (content alone never makes a file a
        model). See the module docstring for the rule.
        """
        named = self.for_name(name)
        if named is None or not self._sniffers or recognises(named, head):
            return named
        for reader in self._sniffers:
            if reader is not named and recognises(reader, head):
                return reader
        return named

    def for_source(self, source: Source) -> Reader | None:
        """:meth:`for_content` for a source (its head is read only when some reader sniffs)."""
        named = self.for_name(source.name)
        if named is None or not self._sniffers:
            return named
        with source.open() as fh:
            head = fh.read(SNIFF_BYTES)
        return self.for_content(source.name, head)

    def note(self, name: str, reader: Reader) -> str | None:
        """The problem to note when ``reader`` is not the one the file name selects, else None."""
        named = self.for_name(name)
        if named is None or named is reader:
            return None
        return f"{title_of(reader)} under a {title_of(named)} name"

    def read(self, source: Source, reader: Reader | None = None) -> ReadResult:
        """Read ``source`` with ``reader`` (default: :meth:`for_source`), noting a name mismatch.

        :raises ReadError: no reader takes the file, or the reader cannot read it.
        """
        if reader is None:
            reader = self.for_source(source)
        if reader is None:
            raise ReadError(f"no reader for {source.name!r}")
        result = reader.read(source)
        note = self.note(source.name, reader)
        if note is not None:
            result.problems.append(note)
        return result
