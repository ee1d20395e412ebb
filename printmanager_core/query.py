"""The query language: small term objects that build SQL and match records.

    q = parse_query('benchy tag:boat -format:gcode triangles>100k size<10MB')
    where, params = q.sql()      # a WHERE expression over the ``files`` table
    q.match(file_record)         # the same decision, made in Python

As in beets (``dbcore/query.py``), every term is a small object: ``sql()`` gives
an expression and its parameters (written by :mod:`printmanager_core.store.query_sql`,
where all SQL lives), ``match()`` decides the same for one
:class:`~printmanager_core.records.FileRecord`. Terms are ANDed; ``-term`` negates
one; ``a OR b`` joins neighbours. The user reference is docs/query.md.

Every term's SQL may be NULL where the Python side says False (an unknown value
compared with a number); :class:`NotQuery` turns NULL into False before negating,
so a negated term matches exactly the records the term does not.
"""

from __future__ import annotations

import math
import operator
import re
import threading
from typing import TYPE_CHECKING, Any, Callable, Sequence

import attrs

from .errors import UsageError
from .store import query_sql
from .store.query_sql import SQL, HAS_SQL, IS_SQL, TokenProbe

if TYPE_CHECKING:  # pragma: no cover
    from .records import FileRecord, ModelRecord

__all__ = [
    "AllTextQuery",
    "AndQuery",
    "CompareQuery",
    "FormatQuery",
    "HasQuery",
    "IsQuery",
    "ModelIdQuery",
    "ModelNameQuery",
    "NotQuery",
    "OrQuery",
    "FirstPagePlan",
    "PrintedCountQuery",
    "PrintedDateQuery",
    "ProblemQuery",
    "Query",
    "SlicedFromQuery",
    "SubstringQuery",
    "TagQuery",
    "TextQuery",
    "parse_query",
    "plan_first_page",
    "plan_count",
    "whole_words",
    "CountPlan",
    "CountPart",
    "parse_value",
    "tokenize",
]

#: the longest query accepted, in characters
MAX_QUERY_CHARS = 10_000
#: the most terms in one query (each becomes part of one SQL expression)
MAX_TERMS = 256
#: SQLite's INTEGER range: larger whole numbers are compared as REAL
INT64_MAX = 2**63 - 1

# -- text helpers ---------------------------------------------------------------

_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def ascii_lower(text: str) -> str:
    """Lower-case A-Z only: what SQLite's built-in ``lower()`` does."""
    return text.translate(_ASCII_LOWER)


def like_contains(text: str) -> str:
    """A LIKE pattern (with ``escape '\\'``) matching values that contain ``text``."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


#: what FTS5's unicode61 tokenizer makes of a character: its folded text inside a
#: token ("" for a diacritic it drops), or None for a separator
_TOKEN_CHARS: dict[str, str | None] = {
    **{chr(c): None for c in range(128)},
    **{c: c.lower() for c in "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"},
}
_probe_lock = threading.Lock()
_probe = TokenProbe()


def _learn(chars: set[str]) -> None:
    """Ask SQLite's own unicode61 tokenizer about each of ``chars`` (once each; see TokenProbe)."""
    with _probe_lock:
        todo = sorted(ch for ch in chars if ch not in _TOKEN_CHARS)
        if todo:
            _TOKEN_CHARS.update(_probe.fold(todo))


def tokenize(text: str | None) -> list[str]:
    """Split ``text`` into search tokens exactly as FTS5's ``unicode61`` tokenizer does.

    Letters, digits and private-use characters make tokens; everything else
    separates them. Tokens are case-folded, and a Latin letter with one accent
    loses it ("Café" → "cafe"). ASCII is known here; any other character is looked
    up once in SQLite's own tokenizer, so the decision is SQLite's, whatever
    Unicode version each side knows.
    """
    text = text or ""
    classes = _TOKEN_CHARS
    if not all(ch in classes for ch in text):
        _learn(set(text))
    tokens: list[str] = []
    current: list[str] = []
    inside = False
    for ch in text:
        folded = classes[ch]
        if folded is not None:
            current.append(folded)
            inside = True
        elif inside:
            tokens.append("".join(current))
            current, inside = [], False
    if inside:
        tokens.append("".join(current))
    return [t for t in tokens if t]


def _contains_run(haystack: list[str], needle: list[str], prefix: bool) -> bool:
    k = len(needle)
    head, last = needle[:-1], needle[-1]
    for i in range(len(haystack) - k + 1):
        if haystack[i : i + k - 1] == head:
            tail = haystack[i + k - 1]
            if tail.startswith(last) if prefix else tail == last:
                return True
    return False


def _model_tags(file: "FileRecord", model: "ModelRecord | None") -> Sequence[str]:
    if model is not None:
        return model.tags
    return getattr(file, "model_tags", None) or ()


def _columns(terms: Sequence["Query"]) -> frozenset[str] | None:
    """The columns all of ``terms`` read (None when one reads more than columns)."""
    out: set[str] = set()
    for t in terms:
        cols = t.columns()
        if cols is None:
            return None
        out |= cols
    return frozenset(out)


# -- terms ------------------------------------------------------------------------


class Query:
    """A query term: builds SQL over ``files`` and matches a file in Python."""

    def sql(self) -> SQL:
        """A WHERE expression over the ``files`` table and its parameters."""
        raise NotImplementedError

    def match(self, file: "FileRecord", model: "ModelRecord | None" = None) -> bool:
        """Whether ``file`` matches. ``model`` (the file's model) supplies model tags."""
        raise NotImplementedError

    def members_sql(self) -> list[SQL] | None:
        """SELECTs of the ids of the files this term matches (all of them between them),
        for a term that is a list of its own (full text, tags); None for the rest
        (see :func:`plan_first_page`)."""
        return None

    def probe_sql(self) -> SQL:
        """:meth:`sql` written as a test of each file met in path order (see :func:`plan_first_page`)."""
        return self.sql()

    def columns(self) -> frozenset[str] | None:
        """The ``files`` columns :meth:`sql` reads, when it reads nothing else (no other
        table, no subquery); None otherwise (see :func:`plan_count`)."""
        return None

    def id_sql(self, file_id: str) -> SQL | None:
        """:meth:`sql` written over the file's id alone, named by the expression ``file_id``
        (a term that reads no column of ``files`` but the id); None for the rest."""
        return None

    def count_sql(self) -> SQL:
        """:meth:`sql` for a count through one index named by INDEXED BY: comparisons
        written so that the index may serve them (same rows, same NULLs; see :func:`plan_count`)."""
        return self.sql()


class _Combined(Query):
    """Terms joined by one SQL connective (``_join``: AND or OR), the SQL forms built alike."""

    terms: tuple[Query, ...]
    _join: Callable[[list[SQL]], SQL]

    def sql(self) -> SQL:
        return self._join([t.sql() for t in self.terms])

    def columns(self) -> frozenset[str] | None:
        return _columns(self.terms)

    def count_sql(self) -> SQL:
        return self._join([t.count_sql() for t in self.terms])

    def id_sql(self, file_id: str) -> SQL | None:
        parts = [t.id_sql(file_id) for t in self.terms]
        return None if any(p is None for p in parts) else self._join([p for p in parts if p is not None])


@attrs.frozen
class AndQuery(_Combined):
    """All of ``terms``; no terms matches everything."""

    terms: tuple[Query, ...] = attrs.field(default=(), converter=tuple)
    _join = staticmethod(query_sql.and_sql)

    def match(self, file: "FileRecord", model: "ModelRecord | None" = None) -> bool:
        return all(t.match(file, model) for t in self.terms)


@attrs.frozen
class OrQuery(_Combined):
    """Any of ``terms``."""

    terms: tuple[Query, ...] = attrs.field(converter=tuple)
    _join = staticmethod(query_sql.or_sql)

    def match(self, file: "FileRecord", model: "ModelRecord | None" = None) -> bool:
        return any(t.match(file, model) for t in self.terms)


@attrs.frozen
class NotQuery(Query):
    """Everything ``term`` does not match (an unknown value counts as no match)."""

    term: Query

    def sql(self) -> SQL:
        return query_sql.not_sql(self.term.sql())

    def columns(self) -> frozenset[str] | None:
        return self.term.columns()

    def count_sql(self) -> SQL:
        return query_sql.not_sql(self.term.count_sql())

    def id_sql(self, file_id: str) -> SQL | None:
        part = self.term.id_sql(file_id)
        return None if part is None else query_sql.not_sql(part)

    def match(self, file: "FileRecord", model: "ModelRecord | None" = None) -> bool:
        return not self.term.match(file, model)


class _FullTextTerm(Query):
    """A query answered by the full-text index alone: its SQL follows from :meth:`fts`."""

    def fts(self) -> str:
        """The FTS5 expression."""
        raise NotImplementedError

    def sql(self) -> SQL:
        return query_sql.fts_sql(self.fts())

    def id_sql(self, file_id: str) -> SQL | None:
        return query_sql.fts_sql(self.fts(), file_id)

    def exact_fts(self) -> str:
        """:meth:`fts` with its words whole (no prefix): a subset of its matches."""
        return self.fts()

    def members_sql(self) -> list[SQL] | None:
        # the whole words' matches (a subset) first: the index streams them, so judging a
        # list long mostly stops early (a prefix's terms are all merged before its first
        # row is read); the lists overlap, as a tag's do, which a judge of length allows
        full, exact = self.fts(), self.exact_fts()
        if full == exact:
            return [(query_sql.FTS_IDS, [full])]
        return [(query_sql.FTS_IDS, [exact]), (query_sql.FTS_IDS, [full])]

    def probe_sql(self) -> SQL:
        return query_sql.fts_probe_sql(self.fts())


@attrs.frozen
class TextQuery(_FullTextTerm):
    """Full-text search over a file's name, path, tags and notes.

    A word matches tokens that start with it (``bench`` finds "Benchy"); a phrase
    (``phrase=True``, from double quotes) matches its whole words in a row.
    """

    text: str
    phrase: bool = False

    def fts(self) -> str:
        """The FTS5 expression: the text as one quoted string, ``*`` for prefix."""
        quoted = '"' + self.text.replace('"', '""') + '"'
        return quoted if self.phrase else quoted + "*"

    def exact_fts(self) -> str:
        return '"' + self.text.replace('"', '""') + '"'

    def match(self, file: "FileRecord", model: "ModelRecord | None" = None) -> bool:
        needle = tokenize(self.text)
        if not needle:
            return False
        columns = (file.name, file.path, " ".join(file.tags), file.notes)
        return any(_contains_run(tokenize(col), needle, not self.phrase) for col in columns)


@attrs.frozen
class AllTextQuery(_FullTextTerm):
    """Every one of ``terms`` (text terms), asked of the full-text index in one MATCH.

    What :func:`plan_first_page` makes of the words of a query: the index joins
    their lists itself, so a page does not build one list per word.
    """

    terms: tuple[TextQuery, ...] = attrs.field(converter=tuple)

    def fts(self) -> str:
        """The FTS5 expression: the terms' expressions joined with AND."""
        return " AND ".join(t.fts() for t in self.terms)

    def exact_fts(self) -> str:
        return " AND ".join(t.exact_fts() for t in self.terms)

    def match(self, file: "FileRecord", model: "ModelRecord | None" = None) -> bool:
        return all(t.match(file, model) for t in self.terms)


@attrs.frozen
class TagQuery(Query):
    """Files tagged ``name``, or whose model is (A-Z case-insensitive)."""

    name: str

    def sql(self) -> SQL:
        return query_sql.tag_sql(ascii_lower(self.name))

    def id_sql(self, file_id: str) -> SQL | None:
        return query_sql.tag_sql(ascii_lower(self.name), file_id)

    def members_sql(self) -> list[SQL] | None:
        return query_sql.tag_ids_sql(ascii_lower(self.name))

    def probe_sql(self) -> SQL:
        return query_sql.tag_probe_sql(ascii_lower(self.name))

    def match(self, file: "FileRecord", model: "ModelRecord | None" = None) -> bool:
        key = ascii_lower(self.name)
        return any(ascii_lower(t) == key for t in (*file.tags, *_model_tags(file, model)))


@attrs.frozen
class FormatQuery(Query):
    """Files of one format ("stl", "3mf", "gcode.3mf", ...)."""

    format: str

    def sql(self) -> SQL:
        return query_sql.format_sql(self.format)

    def columns(self) -> frozenset[str] | None:
        return frozenset({"format"})

    def count_sql(self) -> SQL:
        return query_sql.format_sql(self.format, seek=True)

    def match(self, file: "FileRecord", model: "ModelRecord | None" = None) -> bool:
        return file.format == self.format


def _slicer_value(key: str) -> Callable[["FileRecord"], Any]:
    return lambda f: getattr(f.slicer, key)


#: text fields: query field → (column, value of a FileRecord)
TEXT_FIELDS: dict[str, tuple[str, Callable[["FileRecord"], Any]]] = {
    "printer": ("printer_model", _slicer_value("printer_model")),
    "slicer": ("slicer", _slicer_value("slicer")),
    "name": ("name", lambda f: f.name),
    "path": ("path", lambda f: f.path),
}


@attrs.frozen
class SubstringQuery(Query):
    """A text field contains ``text`` (A-Z case-insensitive)."""

    field: str
    text: str

    def sql(self) -> SQL:
        column = TEXT_FIELDS[self.field][0]
        # LIKE ignores case for A-Z only, as ascii_lower does in match()
        return query_sql.like_sql(column, like_contains(self.text))

    def columns(self) -> frozenset[str] | None:
        return frozenset({TEXT_FIELDS[self.field][0]})

    def match(self, file: "FileRecord", model: "ModelRecord | None" = None) -> bool:
        value = TEXT_FIELDS[self.field][1](file)
        return value is not None and ascii_lower(str(value)).find(ascii_lower(self.text)) >= 0


@attrs.frozen
class ModelIdQuery(Query):
    """Files of the model with this id (an id beyond SQLite's integers matches nothing)."""

    id: int

    def sql(self) -> SQL:
        if not 0 <= self.id <= INT64_MAX:
            return query_sql.FALSE  # no model can have it
        return query_sql.model_id_sql(self.id)

    def match(self, file: "FileRecord", model: "ModelRecord | None" = None) -> bool:
        return file.model_id == self.id


@attrs.frozen
class ModelNameQuery(Query):
    """Files whose model's name contains ``text`` (A-Z case-insensitive)."""

    text: str

    def sql(self) -> SQL:
        return query_sql.model_name_sql(like_contains(self.text), self.text)

    def members_sql(self) -> list[SQL] | None:
        return query_sql.model_name_ids_sql(like_contains(self.text), self.text)

    def probe_sql(self) -> SQL:
        return query_sql.model_name_probe_sql(like_contains(self.text), self.text)

    def match(self, file: "FileRecord", model: "ModelRecord | None" = None) -> bool:
        return file.model is not None and ascii_lower(self.text) in ascii_lower(file.model)


@attrs.frozen
class CollectionQuery(Query):
    """Files whose model is in the collection ``name`` (the whole name, A-Z case-insensitive)."""

    name: str

    def sql(self) -> SQL:
        return query_sql.collection_sql(self.name)

    def match(self, file: "FileRecord", model: "ModelRecord | None" = None) -> bool:
        key = ascii_lower(self.name)
        return model is not None and any(ascii_lower(c) == key for c in model.collections)


#: model text fields: query field → (models column, value of a ModelRecord)
MODEL_FIELDS: dict[str, tuple[str, Callable[["ModelRecord"], Any]]] = {
    "creator": ("creator", lambda m: m.creator),
    "licence": ("licence", lambda m: m.licence),
    "source": ("source_url", lambda m: m.source_url),
}
#: other spellings of a model field
MODEL_FIELD_ALIASES = {"license": "licence"}


@attrs.frozen
class ModelFieldQuery(Query):
    """Files whose model's creator, licence or source URL contains ``text`` (A-Z case-insensitive)."""

    field: str
    text: str

    def sql(self) -> SQL:
        return query_sql.model_column_sql(MODEL_FIELDS[self.field][0], like_contains(self.text))

    def match(self, file: "FileRecord", model: "ModelRecord | None" = None) -> bool:
        if model is None:
            return False
        value = MODEL_FIELDS[self.field][1](model)
        return value is not None and ascii_lower(str(value)).find(ascii_lower(self.text)) >= 0


@attrs.frozen
class NoteQuery(Query):
    """Files whose own notes or whose model's notes contain ``text`` (A-Z case-insensitive)."""

    text: str

    def sql(self) -> SQL:
        return query_sql.note_sql(like_contains(self.text))

    def match(self, file: "FileRecord", model: "ModelRecord | None" = None) -> bool:
        key = ascii_lower(self.text)
        notes = [file.notes or "", model.notes if model is not None else ""]
        return any(ascii_lower(n).find(key) >= 0 for n in notes)


#: numeric fields: query field → (column, value of a FileRecord)
NUMERIC_FIELDS: dict[str, tuple[str, Callable[["FileRecord"], Any]]] = {
    "triangles": ("triangles", lambda f: f.triangles),
    "size": ("size_bytes", lambda f: f.size_bytes),
    "volume": ("volume_mm3", lambda f: f.volume_mm3),
    "area": ("area_mm2", lambda f: f.area_mm2),
    "layer": ("layer_height_mm", _slicer_value("layer_height_mm")),
    "time": ("print_time_s", _slicer_value("print_time_s")),
    "filament": ("filament_g", _slicer_value("filament_g")),
}

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "=": operator.eq,
}


@attrs.frozen
class CompareQuery(Query):
    """A numeric field compared with a number; an unknown value never matches."""

    field: str
    op: str = attrs.field(validator=attrs.validators.in_(_OPS))
    value: float | int

    def sql(self) -> SQL:
        column = NUMERIC_FIELDS[self.field][0]
        return query_sql.compare_sql(column, self.op, self.value)

    def columns(self) -> frozenset[str] | None:
        return frozenset({NUMERIC_FIELDS[self.field][0]})

    def count_sql(self) -> SQL:
        return query_sql.compare_sql(NUMERIC_FIELDS[self.field][0], self.op, self.value, seek=True)

    def match(self, file: "FileRecord", model: "ModelRecord | None" = None) -> bool:
        value = NUMERIC_FIELDS[self.field][1](file)
        return value is not None and _OPS[self.op](value, self.value)


#: has:WHAT → test of a file and its model tags (the SQL: store.query_sql.HAS_SQL)
HAS: dict[str, Callable[["FileRecord", Sequence[str]], bool]] = {
    "error": lambda f, mt: bool(f.error),
    "thumbnail": lambda f, mt: bool(f.thumbnail) or (f.thumbnails or 0) > 0,
    "problem": lambda f, mt: bool(f.problem_kinds),
    "tag": lambda f, mt: bool(f.tags) or bool(mt),
    "notes": lambda f, mt: bool(f.notes),
    "gcode": lambda f, mt: bool(f.gcodes),
}
#: has:WHAT → the files columns its SQL reads (absent: it reads other tables too)
_HAS_COLUMNS: dict[str, frozenset[str]] = {
    "error": frozenset({"error"}), "thumbnail": frozenset({"thumbnail_path", "thumbnails"}),
    "problem": frozenset({"problem_kinds"}), "notes": frozenset({"notes"}),
}
HAS_ALIASES = {"errors": "error", "thumbnails": "thumbnail", "problems": "problem", "tags": "tag", "note": "notes",
               "gcodes": "gcode"}


@attrs.frozen
class HasQuery(Query):
    """``has:error``, ``has:thumbnail``, ``has:problem``, ``has:tag``, ``has:notes``, ``has:gcode``."""

    what: str = attrs.field(validator=attrs.validators.in_(HAS))

    def sql(self) -> SQL:
        return HAS_SQL[self.what], []

    def columns(self) -> frozenset[str] | None:
        return _HAS_COLUMNS.get(self.what)

    def count_sql(self) -> SQL:
        return query_sql.HAS_COUNT_SQL.get(self.what, HAS_SQL[self.what]), []

    def match(self, file: "FileRecord", model: "ModelRecord | None" = None) -> bool:
        return HAS[self.what](file, _model_tags(file, model))


@attrs.frozen
class ProblemQuery(Query):
    """``problem:KIND`` (or ``kind:KIND``): files with a problem of that kind, their own or
    their model's, that is not silenced (docs/problems.md)."""

    kind: str

    def sql(self) -> SQL:
        return query_sql.problem_kind_sql(self.kind)

    def match(self, file: "FileRecord", model: "ModelRecord | None" = None) -> bool:
        return self.kind in file.problem_kinds


#: is:WHAT → test of a file (the SQL: store.query_sql.IS_SQL)
IS: dict[str, Callable[["FileRecord"], bool]] = {
    "missing": lambda f: bool(f.missing),
    "watertight": lambda f: f.watertight is True,
}


@attrs.frozen
class IsQuery(Query):
    """``is:missing``, ``is:watertight``."""

    what: str = attrs.field(validator=attrs.validators.in_(IS))

    def sql(self) -> SQL:
        return IS_SQL[self.what], []

    def columns(self) -> frozenset[str] | None:
        return frozenset({self.what})

    def match(self, file: "FileRecord", model: "ModelRecord | None" = None) -> bool:
        return IS[self.what](file)


@attrs.frozen
class PrintedCountQuery(Query):
    """Files whose model's successful prints (the print log), counted, compare with ``value``.

    ``is:printed`` is ``PrintedCountQuery(">=", 1)``.
    """

    op: str = attrs.field(validator=attrs.validators.in_(_OPS))
    value: int

    def sql(self) -> SQL:
        return query_sql.printed_count_sql(self.op, self.value)

    def match(self, file: "FileRecord", model: "ModelRecord | None" = None) -> bool:
        return _OPS[self.op](model.prints if model is not None else 0, self.value)


@attrs.frozen
class PrintedDateQuery(Query):
    """Files whose model was printed (successfully) at or after ``start`` and before ``end``.

    Both are ISO dates (``YYYY-MM-DD``, UTC); None leaves a side open.
    """

    start: str | None = None
    end: str | None = None

    def sql(self) -> SQL:
        return query_sql.printed_between_sql(self.start, self.end)

    def match(self, file: "FileRecord", model: "ModelRecord | None" = None) -> bool:
        if model is None:
            return False
        return any((self.start is None or t >= self.start) and (self.end is None or t < self.end)
                   for t in model.printed_at)


@attrs.frozen
class SlicedFromQuery(Query):
    """G-code files sliced from a file whose name contains ``text`` (A-Z case-insensitive)."""

    text: str

    def sql(self) -> SQL:
        return query_sql.sliced_from_sql(like_contains(self.text))

    def match(self, file: "FileRecord", model: "ModelRecord | None" = None) -> bool:
        key = ascii_lower(self.text)
        return any(ascii_lower(name).find(key) >= 0 for name in file.sliced_from)


# -- planning a first page ---------------------------------------------------------


@attrs.frozen
class _Probe(Query):
    """``term`` written as a test of each file met in path order (its :meth:`Query.probe_sql`)."""

    term: Query

    def sql(self) -> SQL:
        return self.term.probe_sql()

    def match(self, file: "FileRecord", model: "ModelRecord | None" = None) -> bool:
        return self.term.match(file, model)


@attrs.frozen
class FirstPagePlan:
    """Two ways to read the first files of a query in path order (same rows, same order).

    ``walk`` (None when it cannot help) walks the path index and tests each file;
    it is quick when matches are many, and is to be abandoned past a budget.
    ``drive`` starts from the shortest list of matches and sorts what it finds.
    ``narrow`` (None when no such index holds every column ``drive`` reads) names a
    narrow count index (m035) the matches can be listed off: when they are few,
    fetching and sorting them beats walking the path index to its end.
    """

    drive: Query
    walk: Query | None
    narrow: str | None = None


#: terms SQLite decides from the path index's own columns, cheapest first (tested first)
_CHEAP = (CompareQuery, FormatQuery, IsQuery)


def _merged_words(query: Query) -> Query:
    """``query`` with the words ANDed at its top level asked in one MATCH (:class:`AllTextQuery`),
    and the terms the path index answers by a number put first (SQLite tests ANDed terms in order)."""
    if not isinstance(query, AndQuery):
        return query
    words = [t for t in query.terms if isinstance(t, TextQuery)]
    rest = [t for t in query.terms if not isinstance(t, TextQuery)]
    cheap = [t for t in rest if isinstance(t, _CHEAP)]
    rest = [t for t in rest if not isinstance(t, _CHEAP)]
    if len(words) >= 2:
        words = [AllTextQuery(words)]
    return AndQuery([*cheap, *words, *rest])


def _probed(query: Query) -> Query:
    if isinstance(query, AndQuery):
        return AndQuery([_probed(t) for t in query.terms])
    if isinstance(query, OrQuery):
        return OrQuery([_probed(t) for t in query.terms])
    if isinstance(query, NotQuery):
        return NotQuery(_probed(query.term))
    return _Probe(query) if query.members_sql() is not None else query


def plan_first_page(query: Query, many: Callable[[list[SQL]], bool]) -> FirstPagePlan:
    """How to read the first files of ``query`` in path order.

    A term that is a list of its own (words, tags) is where SQLite starts by
    default: it fetches every match and sorts them all to keep the first few.
    When every such list the query must start from is long (``many`` says
    whether a SELECT of file ids holds many rows), walking the path index and
    testing each file stops sooner; :attr:`FirstPagePlan.walk` is that form.
    ``many`` is given a term's :meth:`Query.members_sql`. A query of filters alone
    (no list to start from) whose columns a narrow count index holds gets that
    index as :attr:`FirstPagePlan.narrow`, to list its matches off when they are few.
    """
    drive = _merged_words(query)
    terms = drive.terms if isinstance(drive, AndQuery) else (drive,)
    lists: list[list[Query]] = []  # the lists SQLite could start from: a term, or an OR of them
    for term in terms:
        if term.members_sql() is not None:
            lists.append([term])
        elif isinstance(term, OrQuery) and all(t.members_sql() is not None for t in term.terms):
            lists.append(list(term.terms))
    if not lists:
        index = _count_index(drive)
        return FirstPagePlan(drive, None, index[0] if index is not None else None)
    for options in lists:  # an OR's list: its terms' lists together
        if not many([m for t in options for m in t.members_sql() or ()]):
            return FirstPagePlan(drive, None)
    return FirstPagePlan(drive, _probed(drive))


# -- whole words ---------------------------------------------------------------------


def _whole_word(term: TextQuery, extended: Callable[[str], bool]) -> TextQuery:
    if term.phrase or not (term.text.isascii() and term.text.isalnum()):
        return term  # a phrase already, or a word the index may fold or split otherwise
    return term if extended(ascii_lower(term.text)) else TextQuery(term.text, phrase=True)


def whole_words(query: Query, extended: Callable[[str], bool]) -> Query:
    """``query`` with each prefix word that no longer word of the catalogue extends
    asked as the whole word: the same files, for less work (issue 11).

    FTS5 merges the lists of every word a prefix (``"benchy"*``) starts before it
    hands out a row, even when the prefix's only word is itself; the whole word's
    list is read as it lies (at 1,000,000 files, 24,000 matches: 1.6 → 0.95 ms to
    count, 4.5 → 3.8 ms as a first page's list). ``extended`` says whether the
    full-text index holds a word longer than the given one (lower-cased ASCII
    letters and digits, folded as the index folds them) that starts with it;
    words of other characters are left as they are.
    """
    if isinstance(query, TextQuery):
        return _whole_word(query, extended)
    if isinstance(query, AllTextQuery):
        return AllTextQuery([_whole_word(t, extended) for t in query.terms])
    if isinstance(query, AndQuery):
        return AndQuery([whole_words(t, extended) for t in query.terms])
    if isinstance(query, OrQuery):
        return OrQuery([whole_words(t, extended) for t in query.terms])
    if isinstance(query, NotQuery):
        return NotQuery(whole_words(query.term, extended))
    return query


# -- planning a count --------------------------------------------------------------


@attrs.frozen
class CountPart:
    """One count of a :class:`CountPlan`, added (``sign`` 1) or taken away (-1).

    ``kind`` is ``"present"`` (every present file), ``"text"`` (the present files the
    FTS5 expression ``fts`` matches and ``where``, when not None, too: counted off the
    full-text index, ``where`` by :meth:`Query.id_sql`) or ``"where"``
    (the present files ``where`` matches, read through the index ``index`` alone
    when it is not None, by :meth:`Query.count_sql`, seeking its first column ``seek``
    when that is not None).
    """

    sign: int
    kind: str
    where: Query | None = None
    fts: str | None = None
    index: str | None = None
    seek: str | None = None


@attrs.frozen
class CountPlan:
    """How to count the present files a query matches: the sum of its parts' counts."""

    parts: tuple[CountPart, ...] = attrs.field(converter=tuple)


def _count_index(query: Query) -> tuple[str, str | None] | None:
    """The count index (:data:`query_sql.COUNT_INDEXES`) holding every column ``query``
    reads, and the column to seek (a column a term ANDed at its top level compares
    alone), preferring an index it can seek; None when no index holds them all."""
    columns = query.columns()
    if columns is None:
        return None
    columns = columns - {"missing"}  # every count index holds it
    terms = query.terms if isinstance(query, AndQuery) else (query,)
    alone = {next(iter(c)) for c in (t.columns() for t in terms) if c is not None and len(c) == 1}
    for name, column in query_sql.PARTIAL_COUNT_INDEXES.items():
        # the partial index's condition is the has: term itself, ANDed at the top
        if columns <= {column} and any(isinstance(t, HasQuery) and t.columns() == {column} for t in terms):
            return name, None
    found: tuple[str, str | None] | None = None
    for name, held in query_sql.COUNT_INDEXES.items():
        if columns <= set(held):
            if held[0] in alone:
                return name, held[0]
            found = found or (name, None)
    return found


def _where(sign: int, query: Query) -> CountPart:
    index = _count_index(query)
    if index is None:
        return CountPart(sign, "where", where=query)
    return CountPart(sign, "where", where=query, index=index[0], seek=index[1])


def plan_count(query: Query) -> CountPlan:
    """How to count the present files ``query`` matches, touching as little as possible.

    Words alone, or with terms of a file's id alone (tags), are counted off the
    full-text index (no file read); a query of
    columns one narrow index holds is counted off that index, seeking the range
    of its first column when it can; files matching none of some terms
    (``-format:gcode -format:bgcode``) are every present file less those matching
    any (a NOT is two-valued: an unknown value counts as no match). Anything else
    is counted as :meth:`FilesGateway.count` would. Same count every way.
    """
    merged = _merged_words(query)
    terms = merged.terms if isinstance(merged, AndQuery) else (merged,)
    if not terms:
        return CountPlan([CountPart(1, "present")])
    text = next((t for t in terms if isinstance(t, _FullTextTerm)), None)
    if text is not None:
        rest = [t for t in terms if t is not text]
        if not rest:
            return CountPlan([CountPart(1, "text", fts=text.fts())])
        if all(t.id_sql(query_sql.FTS_ROW_ID) is not None for t in rest):  # tags: ids alone
            return CountPlan([CountPart(1, "text", fts=text.fts(), where=AndQuery(rest))])
    if all(isinstance(t, NotQuery) for t in terms):
        inner = [t.term for t in terms if isinstance(t, NotQuery)]
        union = inner[0] if len(inner) == 1 else OrQuery(inner)
        part = _where(-1, union)
        if part.index is not None:  # the union is quick to count: every file less it
            return CountPlan([CountPart(1, "present"), part])
    return CountPlan([_where(1, query)])


# -- values ------------------------------------------------------------------------

_NUMBER = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*((?:[^\d\s.]\S*)?)")

SIZE_UNITS = {
    "": 1, "b": 1,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}  # fmt: skip
#: units per numeric field (lower-case) → factor to the stored unit
UNITS: dict[str, dict[str, float]] = {
    "triangles": {"": 1, "k": 1000, "m": 1000**2},
    "size": SIZE_UNITS,
    "volume": {"": 1, "mm3": 1, "mm³": 1, "cm3": 1000, "cm³": 1000, "ml": 1000},
    "area": {"": 1, "mm2": 1, "mm²": 1, "cm2": 100, "cm²": 100},
    "layer": {"": 1, "mm": 1},
    "filament": {"": 1, "g": 1, "kg": 1000},
}
_EXAMPLES = {
    "triangles": "100000 or 100k",
    "size": "10MB, 512KiB",
    "volume": "50000 (mm³) or 50cm3",
    "area": "2000 (mm²) or 20cm2",
    "layer": "0.2 (mm)",
    "time": "90m, 1h30m, 3600s",
    "filament": "25 (g) or 1kg",
}
_DURATION = re.compile(
    r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?:in)?)?(?:(\d+(?:\.\d+)?)s)?$"
)


def _bad_value(field: str, value: str) -> UsageError:
    return UsageError(f"{field}: cannot read {value!r} (try {_EXAMPLES[field]})")


def _scaled(number: str, factor: float) -> float | int:
    """``number`` (digits, maybe a decimal point) times ``factor``: exact for whole numbers."""
    if number.isdigit() and len(number) <= 100 and float(factor).is_integer():
        return int(number) * int(factor)  # float() would round past 2**53
    return float(number) * factor


def _tidy(field: str, value: str, number: float | int) -> float | int:
    """An int where SQLite's INTEGER holds the number, else a float; refuses what no float holds."""
    if isinstance(number, int):
        return number if abs(number) <= INT64_MAX else float(number)
    if not math.isfinite(number):
        raise UsageError(f"{field}: {value!r} is too large a number")
    return int(number) if number.is_integer() and abs(number) <= INT64_MAX else number


def parse_value(field: str, value: str) -> float | int:
    """A numeric field's value with its unit, in the stored unit (bytes, mm³, s...)."""
    text = value.strip()
    if field == "time":
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            return _tidy(field, value, _scaled(text, 1))
        m = _DURATION.fullmatch(text.lower())
        if not text or not m or not any(m.groups()):
            raise _bad_value(field, value)
        parts = [_scaled(g, f) for g, f in zip(m.groups(), (86400, 3600, 60, 1)) if g]
        return _tidy(field, value, sum(parts))
    m = _NUMBER.fullmatch(text)
    if not m:
        raise _bad_value(field, value)
    unit = m.group(2).lower()
    units = UNITS[field]
    if unit not in units:
        if field == "size" and unit in ("k", "m", "g", "t"):
            raise UsageError(
                f"size: {value!r} is ambiguous; write {m.group(1)}{unit.upper()}B (×1000) "
                f"or {m.group(1)}{unit.upper()}iB (×1024)"
            )
        raise UsageError(
            f"{field}: unknown unit {m.group(2)!r} in {value!r} (units: {', '.join(u for u in units if u)})"
        )
    return _tidy(field, value, _scaled(m.group(1), units[unit]))


# -- parser --------------------------------------------------------------------------


@attrs.frozen
class _Token:
    raw: str
    negate: bool
    parts: tuple[tuple[str, bool], ...]  # (text, was quoted)

    @property
    def quoted(self) -> bool:
        return any(q for _, q in self.parts)

    @property
    def text(self) -> str:
        return "".join(t for t, _ in self.parts)


def _lex(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        negate = False
        if text[i] == "-":
            if i + 1 >= n or text[i + 1].isspace():
                raise UsageError("'-' must be followed by a term with no space, as in -tag:draft")
            negate, i = True, i + 1
        parts: list[tuple[str, bool]] = []
        buf: list[str] = []
        while i < n and not text[i].isspace():
            if text[i] == '"':
                end = text.find('"', i + 1)
                if end < 0:
                    raise UsageError(f"unbalanced quote in query: {text[start:]!r}")
                if buf:
                    parts.append(("".join(buf), False))
                    buf = []
                parts.append((text[i + 1 : end], True))
                i = end + 1
            else:
                buf.append(text[i])
                i += 1
        if buf:
            parts.append(("".join(buf), False))
        tokens.append(_Token(text[start:i], negate, tuple(parts)))
    return tokens


_FIELD = re.compile(r"(sliced-from|[A-Za-z_]+)(>=|<=|>|<|=|:)(.*)", re.S)
FIELDS = sorted(
    ["tag", "format", "model", "collection", "has", "is", "note", "printed", "sliced-from", "problem", "kind",
     *TEXT_FIELDS, *NUMERIC_FIELDS, *MODEL_FIELDS]
    + list(MODEL_FIELD_ALIASES)
)
#: is:WHAT values beyond :data:`IS` (terms of their own)
IS_MORE = ("printed",)

_DATE = re.compile(r"(\d{4})-(\d{1,2})(?:-(\d{1,2}))?")


def _date_span(value: str) -> tuple[str, str]:
    """A day ``YYYY-MM-DD`` or a month ``YYYY-MM``: its first day and the day after its last (ISO)."""
    import datetime as dt

    m = _DATE.fullmatch(value.strip())
    if not m:
        raise UsageError(f"printed: cannot read {value!r} (try printed:>2026-01-01, printed:2026-03, printed:>=2)")
    year, month, day = int(m.group(1)), int(m.group(2)), m.group(3)
    try:
        if day is None:
            start = dt.date(year, month, 1)
            end = dt.date(year + month // 12, month % 12 + 1, 1)
        else:
            start = dt.date(year, month, int(day))
            end = start + dt.timedelta(days=1)
    except (ValueError, OverflowError):
        raise UsageError(f"printed: {value!r} is not a date") from None
    return start.isoformat(), end.isoformat()


def _printed_term(op: str, value: str, raw: str) -> Query:
    """``printed:`` — a count (a whole number) or a date (``YYYY-MM-DD``/``YYYY-MM``, UTC), with ranges."""
    if op == ":":  # printed:>2026-01-01, printed:>=2
        m = re.match(r"(>=|<=|>|<|=)", value)
        if m:
            op, value = m.group(1), value[m.end():]
    if not value.strip():
        raise UsageError(f"printed: {raw!r} needs a count or a date after {op!r}")
    if "-" not in value:  # a count
        if op == ":" and ".." in value:
            low, high = value.split("..", 1)
            terms: list[Query] = []
            for side, cmp in ((low, ">="), (high, "<=")):
                if side:
                    terms.append(PrintedCountQuery(cmp, _count(side)))
            if not terms:
                raise UsageError("printed: a range needs a number on at least one side of '..'")
            return terms[0] if len(terms) == 1 else AndQuery(terms)
        return PrintedCountQuery("=" if op == ":" else op, _count(value))
    if op == ":" and ".." in value:
        low, high = value.split("..", 1)
        if not low and not high:
            raise UsageError("printed: a range needs a date on at least one side of '..'")
        return PrintedDateQuery(_date_span(low)[0] if low else None, _date_span(high)[1] if high else None)
    start, end = _date_span(value)
    return {
        ">": PrintedDateQuery(end, None),
        ">=": PrintedDateQuery(start, None),
        "<": PrintedDateQuery(None, start),
        "<=": PrintedDateQuery(None, end),
    }.get(op, PrintedDateQuery(start, end))


def _count(value: str) -> int:
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise UsageError(f"printed: cannot read {value!r} (a count such as 2, or a date such as 2026-01-01)")
    return int(text)


def _numeric_term(field: str, op: str, value: str) -> Query:
    if op != ":":
        return CompareQuery(field, op, parse_value(field, value))
    if ".." not in value:
        return CompareQuery(field, "=", parse_value(field, value))
    low, high = value.split("..", 1)
    if not low and not high:
        raise UsageError(f"{field}: a range needs a number on at least one side of '..'")
    terms = []
    if low:
        terms.append(CompareQuery(field, ">=", parse_value(field, low)))
    if high:
        terms.append(CompareQuery(field, "<=", parse_value(field, high)))
    return terms[0] if len(terms) == 1 else AndQuery(terms)


def _field_term(field: str, op: str, value: str, raw: str) -> Query:
    if field not in FIELDS:
        raise UsageError(
            f"unknown field {field!r} in {raw!r} (fields: {', '.join(FIELDS)}); "
            "put a word containing ':', '<', '>' or '=' in double quotes"
        )
    if field == "printed":
        return _printed_term(op, value, raw)
    if field in NUMERIC_FIELDS:
        if not value:
            raise UsageError(f"{field}: {raw!r} needs a number after {op!r}")
        return _numeric_term(field, op, value)
    if op != ":":
        raise UsageError(f"{field}: {raw!r} cannot use {op!r}; write {field}:VALUE")
    if not value.strip():
        raise UsageError(f"{field}: {raw!r} needs a value after ':'")
    if field == "tag":
        return TagQuery(value)
    if field == "format":
        return FormatQuery(value.lower().lstrip("."))
    if field == "model":
        if value.isascii() and value.isdigit():
            # int() refuses 4300+ digits; any id this long is past SQLite's integers and matches nothing
            return ModelIdQuery(int(value) if len(value) <= 100 else INT64_MAX + 1)
        return ModelNameQuery(value)
    if field == "collection":
        return CollectionQuery(value)
    if field in MODEL_FIELDS or field in MODEL_FIELD_ALIASES:
        return ModelFieldQuery(MODEL_FIELD_ALIASES.get(field, field), value)
    if field == "note":
        return NoteQuery(value)
    if field == "has":
        what = HAS_ALIASES.get(value.lower(), value.lower())
        if what not in HAS:
            raise UsageError(f"has: unknown {value!r} (has: {', '.join(HAS)})")
        return HasQuery(what)
    if field in ("problem", "kind"):
        from .problems import KINDS, kind_name

        kind = kind_name(value)
        if kind is None:
            raise UsageError(f"{field}: unknown kind {value!r} (kinds: {', '.join(KINDS)})")
        return ProblemQuery(kind)
    if field == "is":
        if value.lower() == "printed":
            return PrintedCountQuery(">=", 1)
        if value.lower() not in IS:
            raise UsageError(f"is: unknown {value!r} (is: {', '.join([*IS, *IS_MORE])})")
        return IsQuery(value.lower())
    if field == "sliced-from":
        return SlicedFromQuery(value)
    return SubstringQuery(field, value)


def _term(token: _Token) -> Query:
    first, first_quoted = token.parts[0]
    m = None if first_quoted else _FIELD.fullmatch(first)
    if m:
        rest = m.group(3) + "".join(t for t, _ in token.parts[1:])
        term = _field_term(m.group(1).lower(), m.group(2), rest, token.raw)
    else:
        if not tokenize(token.text):
            raise UsageError(f"{token.raw!r} has no letters or digits to search for")
        term = TextQuery(token.text, phrase=token.quoted)
    return NotQuery(term) if token.negate else term


def parse_query(text: str | None) -> Query:
    """Parse a query string into a term object (see docs/query.md).

    The empty query matches every file. Raises
    :class:`~printmanager_core.errors.UsageError` naming the problem (an unknown
    field, a bad number or unit, an unbalanced quote, a dangling ``OR``, a query
    longer than :data:`MAX_QUERY_CHARS` characters or :data:`MAX_TERMS` terms, a
    NUL character) and never raises anything else, whatever the string.
    """
    text = text or ""
    if len(text) > MAX_QUERY_CHARS:
        raise UsageError(f"query too long: {len(text):,} characters (at most {MAX_QUERY_CHARS:,})")
    if "\x00" in text:
        raise UsageError("a query cannot hold a NUL character")
    tokens = _lex(text)
    terms_given = sum(1 for token in tokens if token.raw != "OR")
    if terms_given > MAX_TERMS:
        raise UsageError(f"query has too many terms: {terms_given:,} (at most {MAX_TERMS})")
    groups: list[list[Query]] = []
    join_next = False
    for token in tokens:
        if token.raw == "OR":
            if not groups or join_next:
                raise UsageError("'OR' needs a term on each side")
            join_next = True
            continue
        term = _term(token)
        if join_next:
            groups[-1].append(term)
            join_next = False
        else:
            groups.append([term])
    if join_next:
        raise UsageError("'OR' needs a term on each side")
    terms = [g[0] if len(g) == 1 else OrQuery(g) for g in groups]
    return terms[0] if len(terms) == 1 else AndQuery(terms)
