"""Every query string either works or is refused with one UsageError: limits, huge numbers, any text.

The parser is fed arbitrary text and query-shaped text (hypothesis, bounded);
whatever it accepts must run against a real catalogue (scanned from
examples/models) and SQL and Python must agree on it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from printmanager_core import Library, UsageError
from printmanager_core.query import (
    INT64_MAX,
    MAX_QUERY_CHARS,
    MAX_TERMS,
    CompareQuery,
    ModelIdQuery,
    parse_query,
)

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "examples" / "models"


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory):
    lib = Library(tmp_path_factory.mktemp("qlimits") / "library")
    lib.scan([MODELS], workers=1, thumbnails=False)
    lib.tag(lib.files("format:stl")[0].id, "printed", "sci-fi")
    yield lib
    lib.close()


def _agree(lib: Library, text: str) -> None:
    query = parse_query(text)
    models = {m.id: m for m in lib.models(include_missing=True)}
    everything = lib.files(include_missing=True)
    by_python = {f.id for f in everything if query.match(f, models.get(f.model_id))}
    assert {f.id for f in lib.files(text, include_missing=True)} == by_python, text


# -- numbers beyond SQLite's integers --------------------------------------------------


def test_a_model_id_beyond_sqlite_integers_matches_nothing(catalogue: Library) -> None:
    assert parse_query("model:99999999999999999999999") == ModelIdQuery(99999999999999999999999)
    assert catalogue.files("model:99999999999999999999999") == []
    assert catalogue.files(f"model:{INT64_MAX}") == []
    assert len(catalogue.files("-model:99999999999999999999999")) == len(catalogue.files())
    # past the 4300 digits int() takes
    assert catalogue.files("model:" + "9" * 5000) == []
    for text in ("model:99999999999999999999999", f"model:{INT64_MAX}", f"model:{INT64_MAX + 1}",
                 "-model:99999999999999999999999"):
        _agree(catalogue, text)


def test_huge_numbers_compare_as_real(catalogue: Library) -> None:
    q = parse_query("time<99999999999999999999h")
    assert isinstance(q, CompareQuery) and isinstance(q.value, float) and q.value == pytest.approx(99999999999999999999 * 3600)
    assert parse_query(f"triangles<{INT64_MAX}") == CompareQuery("triangles", "<", INT64_MAX)
    assert isinstance(parse_query(f"triangles<{INT64_MAX + 1}").value, float)
    everything = {f.id for f in catalogue.files()}
    assert {f.id for f in catalogue.files("size<99999999999999999999TiB")} == everything
    assert catalogue.files("triangles>99999999999999999999999M") == []
    for text in ("time<99999999999999999999h", "size<99999999999999999999TiB", "-triangles>9999999999999999999999",
                 f"size:..{INT64_MAX + 1}", "area>1" + "0" * 300):
        _agree(catalogue, text)


def test_a_number_no_float_holds_is_refused() -> None:
    with pytest.raises(UsageError, match="too large a number"):
        parse_query("triangles>" + "9" * 400)
    with pytest.raises(UsageError, match="too large a number"):
        parse_query("time<" + "9" * 400 + "d")


# -- length and term limits ----------------------------------------------------------------


def test_the_longest_query_allowed_runs(catalogue: Library) -> None:
    # the worst shape at the term limit: every term negated and OR-joined ranges with parameters
    terms = [f"-size:{i}..{i + 10}" if i % 2 else f"tag:t{i}" for i in range(MAX_TERMS)]
    text = " OR ".join(terms)
    assert len(text) <= MAX_QUERY_CHARS
    _agree(catalogue, text)
    _agree(catalogue, " ".join(f"-triangles:{i}..{i + 1}" for i in range(MAX_TERMS)))
    _agree(catalogue, " ".join(f"-w{i}" for i in range(MAX_TERMS)))


def test_too_many_terms_is_one_usage_error(catalogue: Library) -> None:
    with pytest.raises(UsageError, match=f"too many terms: {MAX_TERMS + 1} .at most {MAX_TERMS}"):
        catalogue.files(" ".join("a" for _ in range(MAX_TERMS + 1)))
    # OR between terms is not a term
    parse_query(" OR ".join("a" for _ in range(MAX_TERMS)))


def test_a_20000_word_query_is_one_usage_error(catalogue: Library) -> None:
    words = " ".join(f"w{i}" for i in range(20_000))
    with pytest.raises(UsageError, match="query too long") as err:
        catalogue.files(words)
    assert "\n" not in str(err.value)
    with pytest.raises(UsageError, match="query too long"):
        parse_query("x" * (MAX_QUERY_CHARS + 1))
    parse_query("x" * MAX_QUERY_CHARS)


def test_a_nul_is_refused() -> None:
    for text in ("a\x00b", '"\x00"', "name:\x00", "tag:a\x00"):
        with pytest.raises(UsageError, match="NUL"):
            parse_query(text)


# -- any string ----------------------------------------------------------------------------

FIELDS = ["tag", "format", "model", "has", "is", "printer", "slicer", "name", "path", "triangles", "size",
          "volume", "area", "layer", "time", "filament", "nope", "TAG", "Model",
          "creator", "licence", "license", "source", "note", "collection"]
OPS = [":", ">", "<", ">=", "<=", "=", "=>", "::"]
NUMBERS = st.one_of(
    st.integers(min_value=0, max_value=10**30).map(str),
    st.floats(min_value=0, allow_nan=False, allow_infinity=False).map(lambda f: f"{f:f}"),
    st.sampled_from(["", ".", "..", "1..", "..2", "1..2..3", "9" * 25, "9" * 400, "1e5", "-1", "0x10", "١٢"]),
)
UNITS = st.sampled_from(["", "k", "M", "KB", "MiB", "tb", "cm3", "ml", "mm²", "g", "kg", "h", "m", "min", "s",
                         "d", "1h30m", "xyz", "µ"])
WORDS = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


@st.composite
def query_terms(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 4))
    if kind == 0:
        term = f"{draw(st.sampled_from(FIELDS))}{draw(st.sampled_from(OPS))}{draw(NUMBERS)}{draw(UNITS)}"
    elif kind == 1:
        term = f"{draw(st.sampled_from(FIELDS))}{draw(st.sampled_from(OPS))}{draw(WORDS)}"
    elif kind == 2:
        term = '"' + draw(WORDS) + draw(st.sampled_from(['"', "", '""']))
    elif kind == 3:
        term = draw(st.sampled_from(["OR", "-", "--", "-OR", '-"', "*", "NEAR(a b)", "a*", "^a", ":", "a:b"]))
    else:
        term = draw(WORDS)
    return draw(st.sampled_from(["", "-"])) + term


QUERIES = st.lists(query_terms(), max_size=8).map(" ".join)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=60), QUERIES))
def test_the_parser_raises_only_usage_errors(text: str) -> None:
    try:
        query = parse_query(text)
    except UsageError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    query.sql()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(st.characters(exclude_categories=("Cs",)), max_size=40), QUERIES))
def test_every_accepted_query_runs_and_sql_agrees_with_python(catalogue: Library, text: str) -> None:
    # lone surrogates (undecodable bytes in a file name) are the library's to map: see docs/guide.md
    try:
        parse_query(text)
    except UsageError:
        with pytest.raises(UsageError):
            catalogue.files(text)
        return
    _agree(catalogue, text)
