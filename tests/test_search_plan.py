"""The fast search paths (issue 11) give exactly what a plain evaluation gives.

A seeded random catalogue of 2,500 files (bench/search.py's generator:
names, paths, tags on files and models, formats, geometry, missing files) and a
few hundred seeded random queries. For each, the first page read by walking the
path index, the one read from the shortest list, and ``Library.files(q, limit=…)``
are the same rows in the same order as the query's matches picked out in Python
(``Query.match`` over every file, sorted by path); counts agree, and a
remembered count follows a change of the catalogue.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import pytest

from printmanager_core import Library
from printmanager_core.query import parse_query, plan_first_page

REPO = Path(__file__).resolve().parents[1]


def _bench_search():
    spec = importlib.util.spec_from_file_location("bench_search", REPO / "bench" / "search.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(REPO / "bench"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(REPO / "bench"))
    return module


BENCH = _bench_search()

WORDS = ["benchy", "dragon", "articulated", "cable", "clip", "gridfinity", "bin", "body", "base", "lid", "stl",
         "voron", "prints", "calibration", "sam", "gift", "supports", "Benchy", "DRAGON", "orc", "zzzz", "3mf"]
TAGS = ["calibration", "printed", "gift", "favourite", "t042", "t001", "TODO", "draft", "nosuchtag"]
OTHER = ["format:stl", "format:3mf", "format:gcode", "triangles>100000", "size<1MB", "has:error", "has:tag",
         "is:watertight", "volume<5000", "printer:MK4", "time<2h", "model:voron", "model:VORON", "model:vo", "model:dragon",
         'model:"n Stealth"', "name:clip",
         "has:notes", "path:Toys"]


def _term(rnd: random.Random) -> str:
    kind = rnd.random()
    if kind < 0.4:
        term = rnd.choice(WORDS)
    elif kind < 0.5:
        term = '"' + " ".join(rnd.sample(["cable", "clip", "articulated", "dragon", "gridfinity", "bin"], 2)) + '"'
    elif kind < 0.75:
        term = "tag:" + rnd.choice(TAGS)
    else:
        term = rnd.choice(OTHER)
    return ("-" if rnd.random() < 0.15 else "") + term


def _queries(n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rnd.randint(1, 4)):
            parts.append(_term(rnd))
            if rnd.random() < 0.2:
                parts.append("OR")
        if parts[-1] == "OR":
            parts.pop()
        out.append(" ".join(p for i, p in enumerate(parts) if not (p == "OR" and parts[i - 1] == "OR")))
    return out + list(BENCH.QUERIES)


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory):
    lib = Library(tmp_path_factory.mktemp("plan") / "lib")
    BENCH.generate(lib, 2500, seed=7)
    everything = sorted(lib.files(include_missing=True), key=lambda f: f.path)  # the unlimited read: no plan
    yield lib, everything
    lib.close()


def _reference(query: str, everything) -> tuple[list[int], list[int]]:
    """The ids of the present files ``query`` matches, and of all it matches, in path order."""
    q = parse_query(query)
    matched = [f for f in everything if q.match(f)]
    return [f.id for f in matched if not f.missing], [f.id for f in matched]


def test_first_pages_and_counts_match_a_plain_evaluation(catalogue) -> None:
    lib, everything = catalogue
    search = lib.store.search
    walked = gave_way = narrowed = listed = 0
    for query in _queries(90, seed=11):
        want, missing = _reference(query, everything)
        q = parse_query(query)
        assert lib.count_files(query) == len(want), query
        assert lib.count_files(query) == len(want), query  # remembered
        for limit in (1, 50, 300):
            assert [f.id for f in lib.files(query, limit=limit)] == want[:limit], (query, limit)
            plan = plan_first_page(q, lambda members: True)  # every list long: the walking form
            drive = [f.id for f in lib.store.files.select(plan.drive, limit=limit)]
            assert drive == want[:limit], (query, limit)
            ids_first = [f.id for f in lib.store.files.select(plan.drive, limit=limit, ids_first=True)]
            assert ids_first == want[:limit], (query, limit)
            if plan.walk is not None:
                walked += 1
                got = search.first_page(plan, limit=limit, budget=10**12)
                assert search.last_plan == "walk"
                assert [f.id for f in got] == want[:limit], (query, limit)
                spent = search.first_page(plan, limit=limit, budget=1)  # the walk gives way at its first check
                gave_way += search.last_plan == "drive"
                assert [f.id for f in spent] == want[:limit], (query, limit)
                assert [f.id for f in search.first_page(plan, include_missing=True, limit=limit, budget=10**12)] == \
                    missing[:limit], query
            if plan.narrow is not None:
                narrowed += 1
                got = search.first_page(plan, limit=limit, budget=1)  # no walk: listed when few
                listed += search.last_plan == "narrow"
                assert [f.id for f in got] == want[:limit], (query, limit)
                assert [f.id for f in search.first_page(plan, include_missing=True, limit=limit, budget=1)] == \
                    missing[:limit], query
                assert [f.id for f in search.first_page(plan, limit=limit)] == want[:limit], (query, limit)
    assert walked > 100  # most queries had a list to walk past
    assert gave_way > 30  # and most walks past a few thousand steps gave way to the list
    assert narrowed > 15 and listed > 3  # filters alone: listed off their narrow index when few


def test_a_short_list_drives_and_a_long_one_walks(catalogue) -> None:
    lib, _ = catalogue
    search = lib.store.search
    lib.files("stl", limit=10)  # a word in half the paths
    assert search.last_plan == "walk"
    lib.files("tag:t042", limit=10)  # a handful of files
    assert search.last_plan == "drive"
    lib.files("format:stl", limit=10)  # no list of its own: the path index is walked as before
    assert search.last_plan == "drive"


def test_a_remembered_count_follows_the_catalogue(catalogue) -> None:
    lib, everything = catalogue
    victim = next(f for f in everything if not f.missing and "gift" not in f.tags)
    before = lib.count_files("tag:gift")
    lib.tag(victim.id, "gift")
    assert lib.count_files("tag:gift") == before + 1
    # a write by another connection (another process, as a scan is) is seen too
    other = Library(lib.directory)
    try:
        with other.store.transaction():
            other.store.files.mark_missing(victim.id)
    finally:
        other.close()
    assert lib.count_files("tag:gift") == before



# -- counts (plan_count: words off the full-text index, filters off the count indexes of m035) --

COUNT_SHAPES = [
    "", "benchy", "bench", "Benchy", "dragon articulated", "articulated dragon stl", '"cable clip"', '"clip cable"',
    "zzzz", "clip OR gridfinity", "benchy -dragon", "-benchy", "benchy format:stl", "gridfinity -tag:printed",
    "format:stl", "format:3mf", "format:stl triangles>100000", "format:3mf size<1MB",
    "format:stl size>=1MB triangles<5k",
    "triangles>100000", "size<1MB", "triangles>100000 size<1MB", "-format:gcode", "-format:stl -format:3mf",
    "-format:gcode -format:bgcode -format:gcode.3mf", "-format:gcode -triangles>1000", "-format:stl -tag:gift",
    "format:stl OR format:obj", "format:stl OR triangles>100000", "-(format:stl OR format:obj)",
    "printer:MK4 time<2h", "time<2h", "printer:MK4", "time>1h printer:Bambu", "-time<2h",
    "volume<5000 is:watertight", "volume<5000", "is:watertight", "-is:watertight volume>1000",
    "has:error", "-has:error", "has:error format:stl", "has:error OR format:obj", "is:missing", "-is:missing",
    "tag:calibration", "tag:gift OR tag:favourite", "model:voron format:stl", "has:notes", "path:Toys format:stl",
]


def test_counts_match_the_plain_count_for_every_shape(catalogue) -> None:
    from printmanager_core.query import plan_count

    lib, _ = catalogue
    search = lib.store.search
    everything = sorted(lib.files(include_missing=True), key=lambda f: f.path)  # as it is now (tests change it)
    assert any(f.missing for f in everything)  # the counts leave some out
    kinds: set[tuple[str, str | None, str | None, bool]] = set()
    for i, query in enumerate(COUNT_SHAPES + _queries(60, seed=23)):
        q = parse_query(query)
        plan = plan_count(q)
        want = lib.store.files.count(q)  # the straightforward SQL
        if i < len(COUNT_SHAPES):  # and the shapes' matches picked out in Python
            assert want == len(_reference(query, everything)[0]), query
        assert search.count_now(plan) == want, (query, plan)
        assert lib.count_files(query) == want, query
        kinds |= {(p.kind, p.index, p.seek, p.where is not None) for p in plan.parts}
    # every path was taken
    assert {("text", None, None, False), ("text", None, None, True), ("present", None, None, False),
            ("where", None, None, True), ("where", "files_by_format", "format", True),
            ("where", "files_by_format", None, True), ("where", "files_by_print_time_printer", "print_time_s", True),
            ("where", "files_by_volume", "volume_mm3", True), ("where", "files_with_error", None, True)} <= kinds


@pytest.mark.parametrize("query, parts, seeks", [
    ("benchy", [("text", 1)], []),
    ("dragon articulated", [("text", 1)], []),
    ('"cable clip"', [("text", 1)], []),
    ("format:stl triangles>100000", [("where", 1)], ["files_by_format (format=? AND triangles>?)"]),
    ("format:3mf size<1MB", [("where", 1)], ["files_by_format (format=?)"]),
    ("-format:gcode -format:bgcode -format:gcode.3mf", [("present", 1), ("where", -1)], ["files_by_format (format=?)"]),
    ("printer:MK4 time<2h", [("where", 1)], ["files_by_print_time_printer (print_time_s<?)"]),
    ("volume<5000 is:watertight", [("where", 1)], ["files_by_volume (volume_mm3<?)"]),
    ("has:error", [("where", 1)], ["files_with_error"]),
    ("gridfinity -tag:printed", [("text", 1)], []),  # a tag tests the index's ids alone
    ("benchy tag:gift OR tag:favourite", [("text", 1)], []),
    ("benchy has:tag", [("where", 1)], []),  # a test reading more than the id: counted as before
    ("benchy format:stl", [("where", 1)], []),  # a column to read: counted as before
])
def test_count_plans_read_their_indexes(catalogue, query: str, parts, seeks) -> None:
    from printmanager_core.query import plan_count

    lib, _ = catalogue
    plan = plan_count(parse_query(query))
    assert [(p.kind, p.sign) for p in plan.parts] == parts
    explained = []
    for part in plan.parts:
        sql, params = lib.store.search.count_statement(part)
        explained += [r[-1] for r in lib.store.db.execute(f"explain query plan {sql}", params)]
    for seek in seeks:  # the index sought, not scanned, and no file row read
        assert any(line.startswith("SEARCH files USING") and seek in line for line in explained), explained
    if parts[0][0] == "text":  # the full-text index and the absent files only, the MATCH run once
        assert sum("VIRTUAL TABLE INDEX 0:M" in line for line in explained) == 1, explained
        scans = [line for line in explained if "SCAN files " in line]
        assert scans == ["SCAN files USING INDEX files_absent"], explained
        assert any("files_absent" in line for line in explained), explained


def test_a_sparse_filter_is_listed_off_its_narrow_index(catalogue) -> None:
    lib, everything = catalogue
    search = lib.store.search
    query = "printer:MK4 time<2h"  # a few dozen of 2,500 files, scattered along the paths
    want, _ = _reference(query, everything)
    assert 0 < len(want) <= 200
    plan = plan_first_page(parse_query(query), search.long_list)
    assert plan.walk is None and plan.narrow == "files_by_print_time_printer"
    # a walk this small catalogue finishes inside its budget; one spent at once lists
    assert [f.id for f in search.first_page(plan, limit=10, budget=1)] == want[:10]
    assert search.last_plan == "narrow"
    with lib.store.db.conn:  # inside a transaction too (no walk is tried there)
        lib.store.db.execute("update files set notes = notes where id = ?", [want[0]])
        assert [f.id for f in lib.files(query, limit=10)] == want[:10]
        assert search.last_plan == "narrow"
    explained = [r[-1] for r in lib.store.db.execute(
        "explain query plan select files.id from files indexed by files_by_print_time_printer where "
        "(files.print_time_s < ?) and (files.printer_model like ? escape '\\') and files.missing = 0",
        [7200, "%MK4%"])]
    assert all("files_by_print_time_printer" in line for line in explained), explained


def test_a_dense_filter_walks_the_path_index(catalogue) -> None:
    lib, _ = catalogue
    search = lib.store.search
    for query in ("format:stl triangles>100000", "volume<5000 is:watertight"):  # hundreds of matches
        lib.files(query, limit=10)
        assert search.last_plan == "drive", query
        sql, params = parse_query(query).sql()
        lines = [r[-1] for r in lib.store.db.execute(
            f"explain query plan select files.id from files where ({sql}) and files.missing = 0 "
            "order by files.path limit 10", params)]
        assert lines == ["SCAN files USING COVERING INDEX files_search"], (query, lines)


# -- whole words (a prefix no longer word extends, asked as the whole word) --------

WORD_SHAPES = ["benchy", "bench", "Benchy", "dragon articulated", "articulated dragon stl", "gridfinity -tag:printed",
               "gridfinity", "grid", "clip", "cable clip", '"cable clip"', "clip OR gridfinity", "benchy -dragon",
               "-benchy", "benchy format:stl", "voron", "vo", "b", "zzzz", "t042", "t04", "stl", "3mf", "sam",
               "benchy OR tag:gift", "dragon_articulated", "Bénchy"]


def test_whole_words_read_what_the_prefixes_do(catalogue) -> None:
    from printmanager_core.query import AllTextQuery, AndQuery, TextQuery, plan_count, whole_words

    lib, _ = catalogue
    search = lib.store.search
    everything = sorted(lib.files(include_missing=True), key=lambda f: f.path)
    rewritten = kept = 0
    for query in WORD_SHAPES + list(BENCH.QUERIES) + _queries(12, seed=31):
        old = parse_query(query)
        new = whole_words(old, search.extended)
        rewritten += new != old
        kept += new == old
        for limit in (1, 50):
            # the old form and the new, each walked in full and each read off its list
            old_plan = plan_first_page(old, lambda members: True)
            new_plan = plan_first_page(new, lambda members: True)
            want = [f.id for f in lib.store.files.select(old_plan.drive, limit=limit)]
            assert [f.id for f in lib.store.files.select(new_plan.drive, limit=limit)] == want, (query, limit)
            if old_plan.walk is not None:
                assert [f.id for f in search.first_page(old_plan, limit=limit, budget=10**12)] == want, query
                assert [f.id for f in search.first_page(new_plan, limit=limit, budget=10**12)] == want, query
            assert [f.id for f in lib.files(query, limit=limit)] == want, (query, limit)
        assert search.count_now(plan_count(new)) == search.count_now(plan_count(old)) == lib.store.files.count(old)
        if query in WORD_SHAPES[:24]:
            assert lib.count_files(query) == len(_reference(query, everything)[0]), query
    assert rewritten > 15 and kept > 15
    # which words became whole: a word of the index that no longer one starts ("benchy"), not
    # one that does ("bench": "benchy"), nor a word of other characters (folded by the index)
    assert whole_words(parse_query("benchy"), search.extended) == TextQuery("benchy", phrase=True)
    assert whole_words(parse_query("Benchy"), search.extended) == TextQuery("Benchy", phrase=True)
    assert whole_words(parse_query("bench"), search.extended) == TextQuery("bench")
    assert whole_words(parse_query("Bénchy"), search.extended) == TextQuery("Bénchy")
    assert whole_words(parse_query("zzzz"), search.extended) == TextQuery("zzzz", phrase=True)  # nothing either way
    merged = plan_first_page(parse_query("dragon articulated bench"), lambda members: True).drive
    assert whole_words(merged, search.extended) == AndQuery([AllTextQuery(
        [TextQuery("dragon", phrase=True), TextQuery("articulated", phrase=True), TextQuery("bench")])])
    assert isinstance(whole_words(parse_query("benchy format:stl"), search.extended), AndQuery)


def test_a_longer_word_added_keeps_the_prefix(catalogue) -> None:
    lib, _ = catalogue
    search = lib.store.search
    before = lib.count_files("benchy")
    assert not search.extended("benchy")
    victim = next(f for f in lib.files() if "benchy" not in f.path.lower())  # present now
    lib.tag(victim.id, "benchyfan")  # a tag is indexed: the index now holds a longer word
    assert search.extended("benchy")
    assert lib.count_files("benchy") == before + 1
    assert victim.id in [f.id for f in lib.files("benchy", limit=10**6)]
    assert lib.count_files('"benchy"') == before
    lib.untag(victim.id, "benchyfan")
    assert lib.count_files("benchy") == before
    with pytest.raises(ValueError):
        search.extended("Benchy")
