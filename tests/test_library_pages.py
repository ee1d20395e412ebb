"""Library.files_page and count_files (the pages a gallery shows) and the collection: query term."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from printmanager_core.errors import NotFound, UsageError
from printmanager_core.query import parse_query
from web_support import make_prints, scanned


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> Iterator[Any]:
    base = tmp_path_factory.mktemp("pages")
    library = scanned(base / "library", make_prints(base / "Prints", corpus))
    yield library
    library.close()


def test_count_files_counts_what_files_lists(lib: Any) -> None:
    for query in ("", "format:stl", "has:error", "benchy -format:3mf", "triangles>1000"):
        assert lib.count_files(query) == len(lib.files(query)), query
    with pytest.raises(UsageError, match="unknown field"):
        lib.count_files("colour:red")


@pytest.mark.parametrize("descending", [False, True])
def test_files_page_keyset_equals_offset_for_every_sort(lib: Any, descending: bool) -> None:
    for sort in lib.FILE_SORTS:
        everything = lib.files_page("", sort=sort, descending=descending, limit=10_000)
        assert sorted(f.id for f in everything) == sorted(f.id for f in lib.files(""))
        known = [getattr(f, "slicer").get("print_time_s") if sort == "time" else None for f in everything]
        if sort == "time":  # unknown values last, either way
            assert all(v is None for v in known[known.index(None):]) if None in known else True
        pages, after = [], None
        while True:
            page = lib.files_page("", sort=sort, descending=descending, limit=4, after=after)
            if not page:
                break
            pages.append(page)
            after = page[-1].id
        assert [f.id for p in pages for f in p] == [f.id for f in everything], sort
        by_offset = [lib.files_page("", sort=sort, descending=descending, limit=4, offset=4 * i) for i in range(len(pages))]
        assert [[f.id for f in p] for p in by_offset] == [[f.id for f in p] for p in pages], sort
        for i in range(1, len(pages)):  # walking back from each page gives the one before
            back = lib.files_page("", sort=sort, descending=descending, limit=4, before=pages[i][0].id)
            assert [f.id for f in back] == [f.id for f in pages[i - 1]], (sort, i)
    with pytest.raises(UsageError, match="cannot sort by 'colour'"):
        lib.files_page("", sort="colour")


def test_files_page_refuses_an_unknown_cursor(lib: Any) -> None:
    with pytest.raises(NotFound):
        lib.files_page("", sort="name", after=10**9)


def test_collection_query_term(lib: Any) -> None:
    rec = next(f for f in lib.files("format:stl") if not f.archive_path)
    lib.add_to_collection("Harbour", rec.model_id)
    found = lib.files("collection:harbour")
    assert sorted(f.id for f in found) == sorted(f.id for f in lib.model_files(rec.model_id))
    query = parse_query("collection:Harbour")
    for f in lib.files(""):
        model = lib.model(f.model_id)
        assert query.match(f, model) == (f.model_id == rec.model_id)
    assert lib.files("collection:nowhere") == []


def test_models_page_is_a_page_of_models(lib: Any) -> None:
    for query in ("", "format:stl", "benchy"):
        everything = lib.models(query)
        pages = [lib.models_page(query, offset=i, limit=3) for i in range(0, len(everything) + 3, 3)]
        assert all(total == len(everything) for _, total in pages)
        assert [m.id for page, _ in pages for m in page] == [m.id for m in everything], query
