"""The search gateway: how a query's first page and its count are read (issue 11, "speed").

:func:`printmanager_core.query.plan_first_page` gives two forms of a query; this
gateway asks the catalogue how long a term's own list is (a bounded count),
reads the path-walking form under a budget of SQLite steps, and falls back to
the list-driven form when the budget runs out. A query of filters alone whose
columns a narrow count index (m035) holds lists its matches off that index when
they are few (about √size), then reads and sorts only those rows; the list-driven
form selects the page's ids before building their rows. Every form selects the
same rows in the same order, so which one answers is a matter of speed only.

A count follows a plan (:func:`printmanager_core.query.plan_count`): words alone
off the full-text index, a filter off a narrow index (m035), a negation as every
file less the matches. Counts are remembered per query until the catalogue
changes: SQLite's ``data_version`` (commits by other connections) and the connection's own
``total_changes`` are the catalogue's generation, read per call for nothing.
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
import threading
from typing import Any, Iterator, Protocol, Sequence

from ..records import FileRecord
from .plain import PlainDatabase
from .files import FilesGateway, Where
from .query_sql import ABSENT_IDS, COUNT_INDEXES, FTS_ROW_ID, PARTIAL_COUNT_INDEXES
from .rows import Rows

#: SQLite virtual-machine steps a path walk may take before it gives way (about 10 ms of
#: walking on the machine the figures were made on); checked every :data:`_STEP` steps
WALK_BUDGET = 1_500_000
_STEP = 2_000
#: the steps a query of filters alone may walk before its matches are listed off its
#: narrow index: dense filters fill a page in 7,800–9,100 steps at 100,000 and at
#: 1,000,000 files, the sparse ``printer:MK4 time<2h`` took 173,500 at 100,000
NARROW_AFTER = 12_000
#: the most ids a first page lists off a narrow index before sorting them
NARROW_MOST = 5_000
#: counts remembered per connection (the oldest is forgotten first)
COUNT_CACHE = 256
#: the full-text index's words, one row per instance (a temporary table: no schema change)
_WORDS_TABLE = "create virtual table if not exists temp.files_fts_words using fts5vocab(main, files_fts, instance)"
#: a word of the index at or past the first bound and below the second, if any
_LONGER_WORD = "select term from temp.files_fts_words where term >= ? and term < ? limit 1"


class FirstPage(Protocol):
    """What :meth:`SearchGateway.first_page` reads (a :class:`printmanager_core.query.FirstPagePlan`)."""

    @property
    def drive(self) -> Where: ...

    @property
    def walk(self) -> Where | None: ...

    @property
    def narrow(self) -> str | None: ...


class CountPartLike(Protocol):
    """One count of a plan (a :class:`printmanager_core.query.CountPart`)."""

    @property
    def sign(self) -> int: ...

    @property
    def kind(self) -> str: ...

    @property
    def where(self) -> Any: ...

    @property
    def fts(self) -> str | None: ...

    @property
    def index(self) -> str | None: ...

    @property
    def seek(self) -> str | None: ...


class CountPlanLike(Protocol):
    """What :meth:`SearchGateway.count` reads (a :class:`printmanager_core.query.CountPlan`)."""

    @property
    def parts(self) -> Sequence[CountPartLike]: ...


class _BudgetSpent(Exception):
    pass


class SearchGateway(Rows):
    """Reading a query's first page and its count quickly (over ``files``)."""

    def __init__(self, db: PlainDatabase, files: FilesGateway):
        super().__init__(db)
        self.files = files
        self._local = threading.local()
        #: how each first page was read, for tests and benchmarks: "walk", "narrow" or "drive"
        self.last_plan = ""

    # -- the catalogue's generation --------------------------------------------

    def generation(self) -> tuple[int, int]:
        """A value that changes whenever the catalogue may have: another connection's
        commit (``data_version``) or a row this connection wrote (``total_changes``)."""
        conn = self.db.conn
        return int(conn.execute("pragma data_version").fetchone()[0]), conn.total_changes

    def _cache(self) -> dict[Any, Any]:
        cache: dict[Any, Any] | None = getattr(self._local, "cache", None)
        generation = self.generation()
        if cache is None or getattr(self._local, "generation", None) != generation:
            cache = self._local.cache = {}
            self._local.generation = generation
        return cache

    # -- how long a list is ----------------------------------------------------

    def size(self) -> int:
        """The highest file id: the catalogue's size, near enough, read off the table's end."""
        cache = self._cache()
        if "size" not in cache:
            cache["size"] = int(self.db.execute("select coalesce(max(id), 0) from files").fetchone()[0])
        return int(cache["size"])

    def long_list(self, members: Sequence[tuple[str, Sequence[Any]]]) -> bool:
        """Whether SELECTs of file ids hold, between them, so many rows that walking the
        path index finds a page sooner than fetching and sorting them all.

        Walking finds 50 matches after about ``50 × size / n`` files; fetching costs
        ``n`` row reads, each some times dearer: the two meet near ``3·√size``. Only
        that many rows are counted.
        """
        k = max(200, int(3 * math.sqrt(self.size())))
        found = 0
        for sql, params in members:
            found += int(self.db.execute(f"select count(*) from ({sql} limit {k - found})",
                                         list(params)).fetchone()[0])
            if found >= k:
                return True
        return False

    # -- words of the full-text index -------------------------------------------

    def extended(self, word: str) -> bool:
        """Whether the full-text index holds a word longer than ``word`` (lower-case
        ASCII letters and digits, as the index folds them) that starts with it:
        when not, the prefix ``"word"*`` matches what the whole word does
        (:func:`printmanager_core.query.whole_words`). Remembered until the catalogue changes.

        Read off an ``fts5vocab`` table of the index's instances (a temporary one, per
        connection): the first instance of the first word past ``word`` and below the
        next prefix, about 0.1 ms at 1,000,000 files (a ``row`` table would count that
        word's every match first).
        """
        if not word or not (word.isascii() and word.isalnum()) or word != word.lower():
            raise ValueError(f"not a folded ASCII word: {word!r}")
        key = ("extended", word)
        cache = self._cache()
        if key not in cache:
            # every longer word starting with ``word`` sorts in [word + NUL, the next prefix)
            bounds = [word + "\x00", word[:-1] + chr(ord(word[-1]) + 1)]
            longer = self._longer_word(bounds)
            if len(cache) >= COUNT_CACHE:
                del cache[next(iter(cache))]
            cache[key] = longer
        return bool(cache[key])

    def _longer_word(self, bounds: list[str]) -> bool:
        try:
            return self.db.execute(_LONGER_WORD, bounds).fetchone() is not None
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
        try:
            self.db.execute(_WORDS_TABLE)
        except sqlite3.OperationalError:
            return True  # no table to ask (a connection that may not write): keep the prefix, as asked
        return self.db.execute(_LONGER_WORD, bounds).fetchone() is not None

    # -- reading ---------------------------------------------------------------

    @contextlib.contextmanager
    def _budget(self, steps: int) -> Iterator[None]:
        conn = self.db.conn
        left = [max(1, steps // _STEP)]
        raised: list[BaseException] = []

        def tick() -> int:
            try:
                left[0] -= 1
                return 1 if left[0] < 0 else 0
            except BaseException as exc:  # Ctrl-C arrives here: SQLite would swallow it
                raised.append(exc)
                return 1

        conn.set_progress_handler(tick, _STEP)
        try:
            yield
        except sqlite3.OperationalError as exc:
            if raised:
                raise raised[0] from None
            if left[0] < 0 and (getattr(exc, "sqlite_errorname", "") == "SQLITE_INTERRUPT" or "interrupt" in str(exc)):
                raise _BudgetSpent from exc
            raise
        finally:
            conn.set_progress_handler(None, 0)

    def first_page(self, plan: FirstPage, *, include_missing: bool = False, limit: int,
                   budget: int = WALK_BUDGET) -> list[FileRecord]:
        """The first ``limit`` files of ``plan`` in path order: walked when that is quick
        (within ``budget`` SQLite steps), else listed off a narrow index when the matches
        are few, else read from the shortest list of matches."""
        if plan.walk is not None and not self.db.conn.in_transaction:
            try:
                with self._budget(budget):
                    rows = self.files.select(plan.walk, include_missing=include_missing, limit=limit)
                self.last_plan = "walk"
                return rows
            except _BudgetSpent:
                pass
        if plan.narrow is not None:
            if not self.db.conn.in_transaction:
                try:
                    with self._budget(min(budget, NARROW_AFTER)):
                        rows = self.files.select(plan.drive, include_missing=include_missing, limit=limit)
                    self.last_plan = "drive"
                    return rows
                except _BudgetSpent:
                    pass
            ids = self._narrow_ids(plan.drive, plan.narrow, include_missing)
            if ids is not None:
                self.last_plan = "narrow"
                return self.files.first_of(ids, limit=limit)
        self.last_plan = "drive"
        return self.files.select(plan.drive, include_missing=include_missing, limit=limit, ids_first=True)

    def _narrow_ids(self, where: Any, index: str, include_missing: bool) -> list[int] | None:
        """The ids of the files ``where`` matches, listed off the narrow index ``index``
        alone, when they are at most about ``√size``; else None.

        A path walk finds 50 of ``n`` scattered matches after about ``50 × size / n``
        entries of the wide path index; listing costs one narrow index scan and ``n``
        row reads (for their paths), each some 30 walked entries dear here. The two
        meet near ``n = √size`` (1,326 matches of 1,000,000 files: listed 6–29 ms,
        walked 9–10 ms; 142 of 100,000: listed 1.7 ms, walked 9.4 ms)."""
        if index not in COUNT_INDEXES and index not in PARTIAL_COUNT_INDEXES:
            raise ValueError(f"not a count index: {index!r}")
        k = min(NARROW_MOST, self.files.max_params(), max(200, int(math.sqrt(self.size()))))
        sql, params = where.count_sql()
        present = "" if include_missing else " and files.missing = 0"
        ids = [r[0] for r in self.db.execute(
            f"select files.id from files indexed by {index} where ({sql}){present} limit {k + 1}", list(params))]
        return ids if len(ids) <= k else None

    def count(self, plan: CountPlanLike) -> int:
        """How many present files a query matches (:meth:`count_now`), remembered until
        the catalogue changes."""
        key = ("count", plan)
        cache = self._cache()
        if key not in cache:
            if len(cache) >= COUNT_CACHE:
                del cache[next(iter(cache))]
            cache[key] = self.count_now(plan)
        return int(cache[key])

    def count_now(self, plan: CountPlanLike) -> int:
        """How many present files a query matches, counted now by ``plan``
        (:func:`printmanager_core.query.plan_count`): the same number as
        :meth:`FilesGateway.count` of the query, read off narrower indexes."""
        return sum(part.sign * self._count_part(part) for part in plan.parts)

    def count_statement(self, part: CountPartLike) -> tuple[str, list[Any]]:
        """The SELECT (and its parameters) counting one part of a count plan (for
        :meth:`count_now`; tests read its EXPLAIN QUERY PLAN)."""
        if part.kind == "present":
            return f"select (select count(*) from files) - (select count(*) from ({ABSENT_IDS}))", []
        if part.kind == "text":
            # the index's own list, less the absent files (a short list, read off files_absent)
            sql = f"select count(*) from files_fts where files_fts match ? and rowid not in ({ABSENT_IDS})"
            params: list[Any] = [part.fts]
            if part.where is not None:
                also = part.where.id_sql(FTS_ROW_ID)
                if also is None:
                    raise ValueError(f"not a test of a file's id alone: {part.where!r}")
                sql, params = f"{sql} and ({also[0]})", [*params, *also[1]]
            return sql, params
        if part.kind != "where" or part.where is None:
            raise ValueError(f"not a count part: {part!r}")
        if part.index is None:
            sql, params = part.where.sql()
            return f"select count(*) from files where ({sql}) and files.missing = 0", list(params)
        if part.index not in COUNT_INDEXES and part.index not in PARTIAL_COUNT_INDEXES:
            raise ValueError(f"not a count index: {part.index!r}")
        sql, params = part.where.count_sql()
        return f"select count(*) from files indexed by {part.index} where ({sql}) and files.missing = 0", list(params)

    def _count_part(self, part: CountPartLike) -> int:
        if part.kind == "where" and part.index is None and part.where is not None:
            return self.files.count(part.where)
        sql, params = self.count_statement(part)
        return int(self.db.execute(sql, params).fetchone()[0])
