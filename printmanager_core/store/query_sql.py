"""The SQL of the query language: what each term of :mod:`printmanager_core.query` becomes.

The query module parses text into term objects and matches records in Python;
each term's ``sql()`` asks this module for its WHERE expression over the
``files`` table (as beets' ``dbcore`` keeps the SQL beside the storage). Every
builder returns ``(expression, parameters)``.

Every expression may be NULL where the Python side says False (an unknown value
compared with a number); :func:`not_sql` turns NULL into False before negating.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Sequence

SQL = tuple[str, list[Any]]

#: matches everything / nothing
TRUE: SQL = ("1", [])
FALSE: SQL = ("0", [])


def _joined(word: str, parts: Sequence[SQL], empty: SQL) -> SQL:
    if not parts:
        return empty[0], list(empty[1])
    texts, params = [], []
    for s, p in parts:
        texts.append(f"({s})")
        params.extend(p)
    return f" {word} ".join(texts), params


def and_sql(parts: Sequence[SQL]) -> SQL:
    """All of ``parts`` (no parts: everything)."""
    return _joined("and", parts, TRUE)


def or_sql(parts: Sequence[SQL]) -> SQL:
    """Any of ``parts`` (no parts: nothing)."""
    return _joined("or", parts, FALSE)


def not_sql(part: SQL) -> SQL:
    """Everything ``part`` does not match (an unknown value counts as no match)."""
    s, p = part
    return f"not coalesce(({s}), 0)", p


#: the ids of the files whose name, path, tags or notes match an FTS5 expression (one parameter)
FTS_IDS = "select rowid from files_fts where files_fts match ?"


def fts_sql(expression: str, file_id: str = "files.id") -> SQL:
    """Files whose name, path, tags or notes match an FTS5 ``expression`` (``file_id``:
    the expression naming the file's id)."""
    return f"{file_id} in ({FTS_IDS})", [expression]


# -- the probe forms (a first page in path order; see query.plan_first_page) ------------
#
# A term whose matches are many reads best as a test of each file met while the
# path-ordered files_search index (m006) is walked, so that LIMIT stops the walk
# early: the unary + keeps the planner from driving the search from the term's own
# list (fetching and sorting every match to keep 50). Same rows, same NULLs.


def fts_probe_sql(expression: str) -> SQL:
    """:func:`fts_sql`, as a test of each file met in path order."""
    return f"+files.id in ({FTS_IDS})", [expression]


# ids of files carrying a tag themselves or through their model; ``{tag_ids}`` is
# "" (any tag) or an IN filter. Written so the planner starts from the small tags
# table and the tag_id indexes even without ANALYZE statistics.
_TAGGED = (
    "select file_tags.file_id from file_tags{tag_ids} "
    "union select tagged_files.id from files as tagged_files where tagged_files.model_id in "
    "(select model_tags.model_id from model_tags{tag_ids})"
)
_TAG_IDS = " where tag_id in (select tags.id from tags where lower(tags.name) = ?)"


def tag_sql(key: str, file_id: str = "files.id") -> SQL:
    """Files tagged ``key`` (already A-Z lower-cased), or whose model is (``file_id``:
    the expression naming the file's id)."""
    return f"{file_id} in ({_TAGGED.format(tag_ids=_TAG_IDS)})", [key, key]


def tag_ids_sql(key: str) -> list[SQL]:
    """SELECTs of the ids of the files :func:`tag_sql` matches, between them: the files
    tagged themselves, and the files of the models tagged."""
    return [
        (f"select file_tags.file_id from file_tags{_TAG_IDS}", [key]),
        (f"select files.id from files where files.model_id in (select model_tags.model_id from model_tags{_TAG_IDS})",
         [key]),
    ]


def tag_probe_sql(key: str) -> SQL:
    """:func:`tag_sql`, as a test of each file met in path order: two short lists (the
    files tagged themselves, the models tagged) instead of their union over files."""
    return (
        f"(+files.id in (select file_tags.file_id from file_tags{_TAG_IDS}) "
        f"or +files.model_id in (select model_tags.model_id from model_tags{_TAG_IDS}))",
        [key, key],
    )


def format_sql(fmt: str, seek: bool = False) -> SQL:
    """Files of one format (``seek``: written so an index on ``format`` may be sought, for a count)."""
    # Unary + keeps the planner off single-column indexes: a format or a range
    # usually matches thousands of files, and walking the files_search index in
    # path order (m006) beats fetching and sorting them all.
    return f"{'' if seek else '+'}files.format = ?", [fmt]


def like_sql(column: str, pattern: str) -> SQL:
    """A ``files`` column LIKE ``pattern`` (escaped with ``\\``; A-Z case-insensitive)."""
    return f"files.{column} like ? escape '\\'", [pattern]


def model_id_sql(model_id: int) -> SQL:
    """Files of one model."""
    return "files.model_id = ?", [model_id]


#: the ids of the models whose names hold an FTS5 trigram phrase (one parameter), case folded beyond A-Z
_TRIGRAM_IDS = "select rowid from models_name_trigrams where models_name_trigrams match ?"


def _trigram_phrase(text: str) -> str:
    """``text`` as one FTS5 phrase: its trigrams in a row."""
    return '"' + text.replace('"', '""') + '"'


def _models_named(pattern: str, text: str | None) -> SQL:
    """The ids of the models whose name is LIKE ``pattern``; ``text`` (the substring it
    looks for, when known) lets the trigram index of m034 name the candidates first."""
    if text is None or len(text) < 3:  # no whole trigram to look up
        return "select models.id from models where models.name like ? escape '\\'", [pattern]
    # the text's trigrams in a row: the names holding it, case folded beyond A-Z (a superset), checked by LIKE
    return (
        f"select models.id from models where models.id in ({_TRIGRAM_IDS}) and models.name like ? escape '\\'",
        [_trigram_phrase(text), pattern],
    )


def model_name_sql(pattern: str, text: str | None = None) -> SQL:
    """Files whose model's name is LIKE ``pattern`` (``text``: the substring it looks for)."""
    sql, params = _models_named(pattern, text)
    return f"files.model_id in ({sql})", params


def model_name_ids_sql(pattern: str, text: str | None = None) -> list[SQL]:
    """A SELECT of the ids of the files :func:`model_name_sql` matches, for judging how
    many they are: with a whole trigram, the files of the candidate models (a superset,
    read off the trigram index without reading the models)."""
    if text is None or len(text) < 3:
        sql, params = _models_named(pattern, text)
        return [(f"select files.id from files where files.model_id in ({sql})", params)]
    return [(f"select files.id from files where files.model_id in ({_TRIGRAM_IDS})", [_trigram_phrase(text)])]


def model_name_probe_sql(pattern: str, text: str | None = None) -> SQL:
    """:func:`model_name_sql`, as a test of each file met in path order: with a whole
    trigram, the candidate models' ids (off the trigram index), then the name of the
    model of each file among them checked by LIKE (a few models read, not every candidate)."""
    if text is None or len(text) < 3:
        sql, params = _models_named(pattern, text)
        return f"+files.model_id in ({sql})", params
    return (
        f"(+files.model_id in ({_TRIGRAM_IDS}) and "
        "(select models.name from models where models.id = files.model_id) like ? escape '\\')",
        [_trigram_phrase(text), pattern],
    )


#: model columns a query may match by substring (``creator:``, ``licence:``, ``source:``, ``note:``)
MODEL_TEXT_COLUMNS = ("name", "creator", "licence", "source_url", "notes")


def model_column_sql(column: str, pattern: str) -> SQL:
    """Files whose model's ``column`` (one of MODEL_TEXT_COLUMNS) is LIKE ``pattern``."""
    if column not in MODEL_TEXT_COLUMNS:
        raise ValueError(f"not a model text column: {column!r}")
    return (
        f"files.model_id in (select models.id from models where models.{column} like ? escape '\\')",
        [pattern],
    )


def note_sql(pattern: str) -> SQL:
    """Files whose own notes, or whose model's notes, are LIKE ``pattern``."""
    model_part, args = model_column_sql("notes", pattern)
    return f"(files.notes like ? escape '\\' or {model_part})", [pattern, *args]


def collection_sql(name: str) -> SQL:
    """Files whose model is in the collection ``name`` (A-Z case-insensitive)."""
    return (
        "files.model_id in (select collection_models.model_id from collection_models "
        "join collections on collections.id = collection_models.collection_id "
        "where collections.name = ? collate nocase)",
        [name],
    )


def compare_sql(column: str, op: str, value: float | int, seek: bool = False) -> SQL:
    """A numeric ``files`` column compared with ``value`` (``op`` one of > >= < <= =);
    ``seek``: written so an index on ``column`` may be sought, for a count."""
    if op not in (">", ">=", "<", "<=", "="):
        raise ValueError(f"unknown comparison {op!r}")
    return f"{'' if seek else '+'}files.{column} {op} ?", [value]  # unary +: see format_sql


# -- counting (m035) ----------------------------------------------------------------
#
# A count touches every match. A query that reads only columns one narrow index
# holds (with ``missing``) is counted off that index alone (INDEXED BY), seeking
# its first column when the query compares it at its top level.

#: count indexes (m035) → the files columns each holds besides ``missing``, the first sought
COUNT_INDEXES: dict[str, tuple[str, ...]] = {
    "files_by_format": ("format", "triangles", "size_bytes"),
    "files_by_print_time_printer": ("print_time_s", "printer_model"),
    "files_by_volume": ("volume_mm3", "watertight"),
}
#: partial count indexes (m035) → the one column their condition reads: usable only when
#: a term reading it (the condition itself) is ANDed at the query's top level
PARTIAL_COUNT_INDEXES: dict[str, str] = {"files_with_error": "error"}
#: a file's id in a count read off the full-text index alone: the unary + keeps SQLite
#: from handing an IN list to FTS5 (which would run the MATCH once per id in the list)
FTS_ROW_ID = "+files_fts.rowid"
#: the files the count of present ones leaves out (``files_absent``, m035)
ABSENT_IDS = "select files.id from files indexed by files_absent where files.missing is not 0"

#: has:WHAT → its expression
HAS_SQL: dict[str, str] = {
    # unary +: a first page walks the path index (1 file in 100 has an error) rather than
    # fetching and sorting every one through files_with_error (m035), which counts them
    "error": "coalesce(+files.error, '') != ''",
    "thumbnail": "(coalesce(files.thumbnail_path, '') != '' or coalesce(files.thumbnails, 0) > 0)",
    "problem": "coalesce(files.problem_kinds, '') != ''",
    "tag": f"files.id in ({_TAGGED.format(tag_ids='')})",
    "notes": "coalesce(files.notes, '') != ''",
    "gcode": "files.id in (select slice_links.source_id from slice_links)",
}

#: has:WHAT → its expression for a count, where it differs (an index may serve it)
HAS_COUNT_SQL: dict[str, str] = {"error": "coalesce(files.error, '') != ''"}

# -- the print log (m028) and sliced ↔ source links (m029) ------------------------

#: a model's successful prints
_PRINTS_OF_FILE = "from prints where prints.model_id = files.model_id and prints.result = 'ok'"


def printed_count_sql(op: str, value: float | int) -> SQL:
    """Files whose model's successful prints, counted, compare with ``value``."""
    if op not in (">", ">=", "<", "<=", "="):
        raise ValueError(f"unknown comparison {op!r}")
    if op == ">=" and value == 1 or op == ">" and value == 0:
        # is:printed: read off the prints_by_model index, not counted per file
        return "files.model_id in (select prints.model_id from prints where prints.result = 'ok')", []
    return f"(select count(*) {_PRINTS_OF_FILE}) {op} ?", [value]


def printed_between_sql(start: str | None, end: str | None) -> SQL:
    """Files whose model was printed (successfully) at or after ``start`` and before ``end``
    (ISO dates or times; None leaves that side open)."""
    where, params = [], []
    if start is not None:
        where.append("prints.printed_at >= ?")
        params.append(start)
    if end is not None:
        where.append("prints.printed_at < ?")
        params.append(end)
    extra = "".join(f" and {w}" for w in where)
    return f"exists (select 1 {_PRINTS_OF_FILE}{extra})", params


def sliced_from_sql(pattern: str) -> SQL:
    """G-code files linked to a source file whose name is LIKE ``pattern``."""
    return (
        "files.id in (select slice_links.gcode_id from slice_links join files as sources "
        "on sources.id = slice_links.source_id where sources.name like ? escape '\\')",
        [pattern],
    )


def problem_kind_sql(kind: str) -> SQL:
    """Files whose ``problem_kinds`` (space separated) hold ``kind``."""
    return "(' ' || coalesce(files.problem_kinds, '') || ' ') like ?", [f"% {kind} %"]


#: is:WHAT → its expression
IS_SQL: dict[str, str] = {
    "missing": "coalesce(files.missing, 0) != 0",
    "watertight": "coalesce(files.watertight, 0) != 0",
}


class TokenProbe:
    """SQLite's own unicode61 tokenizer, asked what it makes of single characters.

    Python's Unicode tables are newer than SQLite's, so categories and case folds
    of recent characters differ; the tokenizer itself is the only exact answer.
    Not thread-safe: the caller holds a lock.
    """

    def __init__(self) -> None:
        self._db: sqlite3.Connection | None = None

    def fold(self, chars: Sequence[str]) -> dict[str, str | None]:
        """Each character's folded text inside a token ("" for a dropped diacritic),
        or None when it separates tokens. Lone surrogates are separators."""
        if self._db is None:
            db = sqlite3.connect(":memory:", check_same_thread=False)
            db.execute("create virtual table t using fts5(x, tokenize='unicode61')")
            db.execute("create virtual table v using fts5vocab(t, 'instance')")
            self._db = db
        db = self._db
        found: dict[str, str | None] = {}
        with db:
            for ch in chars:
                if "\ud800" <= ch <= "\udfff":  # a lone surrogate (an undecodable byte) is no text
                    found[ch] = None
                    continue
                # "q<ch>q": one token "q…q" when ch is part of words, two "q" when it separates them
                db.execute("insert into t(rowid, x) values (?, ?)", [ord(ch), f"q{ch}q"])
            rows = db.execute("select doc, term from v order by doc, offset").fetchall()
            db.execute("delete from t")
        terms: dict[int, list[str]] = {}
        for doc, term in rows:
            terms.setdefault(doc, []).append(term)
        for ch in chars:
            if ch in found:
                continue
            got = terms.get(ord(ch), [])
            found[ch] = got[0][1:-1] if len(got) == 1 else None
        return found
