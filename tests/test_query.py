"""The query language: the parser, table-tested, and SQL and Python agreeing on a real catalogue."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from printmanager_core import Library, UsageError
from printmanager_core.query import (
    AndQuery,
    CompareQuery,
    FormatQuery,
    HasQuery,
    IsQuery,
    ProblemQuery,
    ModelIdQuery,
    ModelNameQuery,
    NotQuery,
    OrQuery,
    Query,
    SubstringQuery,
    TagQuery,
    TextQuery,
    parse_query,
    parse_value,
    tokenize,
)

# -- the parser: query text → term objects ------------------------------------------------

PARSES: list[tuple[str, Query]] = [
    ("", AndQuery(())),
    ("   ", AndQuery(())),
    ("benchy", TextQuery("benchy")),
    ("Benchy", TextQuery("Benchy")),
    ("3DBenchy.stl", TextQuery("3DBenchy.stl")),
    ("low-poly", TextQuery("low-poly")),
    ("benchy hull", AndQuery((TextQuery("benchy"), TextQuery("hull")))),
    ('"benchy hull"', TextQuery("benchy hull", phrase=True)),
    ('"benchy"', TextQuery("benchy", phrase=True)),
    ('"http://example.com/thing"', TextQuery("http://example.com/thing", phrase=True)),
    ('-"benchy hull"', NotQuery(TextQuery("benchy hull", phrase=True))),
    ("-benchy", NotQuery(TextQuery("benchy"))),
    ("or", TextQuery("or")),
    ("-OR", NotQuery(TextQuery("OR"))),
    ("café", TextQuery("café")),
    ("tag:boat", TagQuery("boat")),
    ("TAG:Boat", TagQuery("Boat")),
    ('tag:"sci-fi"', TagQuery("sci-fi")),
    ("-tag:draft", NotQuery(TagQuery("draft"))),
    ("format:stl", FormatQuery("stl")),
    ("format:STL", FormatQuery("stl")),
    ("format:.3mf", FormatQuery("3mf")),
    ("format:gcode.3mf", FormatQuery("gcode.3mf")),
    ("model:voron", ModelNameQuery("voron")),
    ('model:"Voron Stealthburner"', ModelNameQuery("Voron Stealthburner")),
    ("model:12", ModelIdQuery(12)),
    ("model:v2", ModelNameQuery("v2")),
    ("printer:MK4", SubstringQuery("printer", "MK4")),
    ('printer:"Prusa MK4"', SubstringQuery("printer", "Prusa MK4")),
    ("slicer:orca", SubstringQuery("slicer", "orca")),
    ("name:hull", SubstringQuery("name", "hull")),
    ("path:/prints/", SubstringQuery("path", "/prints/")),
    ("triangles>100000", CompareQuery("triangles", ">", 100000)),
    ("triangles>=100k", CompareQuery("triangles", ">=", 100000)),
    ("triangles<1.5M", CompareQuery("triangles", "<", 1500000)),
    ("triangles=12", CompareQuery("triangles", "=", 12)),
    ("triangles:12", CompareQuery("triangles", "=", 12)),
    ("triangles:10..100", AndQuery((CompareQuery("triangles", ">=", 10), CompareQuery("triangles", "<=", 100)))),
    ("triangles:10..", CompareQuery("triangles", ">=", 10)),
    ("triangles:..100", CompareQuery("triangles", "<=", 100)),
    ("size<10MB", CompareQuery("size", "<", 10_000_000)),
    ("size<10mb", CompareQuery("size", "<", 10_000_000)),
    ("size<=10MiB", CompareQuery("size", "<=", 10 * 1024 * 1024)),
    ("size>1.5GB", CompareQuery("size", ">", 1_500_000_000)),
    ("size>2KiB", CompareQuery("size", ">", 2048)),
    ("size>512KB", CompareQuery("size", ">", 512_000)),
    ("size>100B", CompareQuery("size", ">", 100)),
    ("size>100", CompareQuery("size", ">", 100)),
    ("size:1KB..1MB", AndQuery((CompareQuery("size", ">=", 1000), CompareQuery("size", "<=", 1_000_000)))),
    ("volume<50000", CompareQuery("volume", "<", 50000)),
    ("volume<50cm3", CompareQuery("volume", "<", 50000)),
    ("volume<50mm³", CompareQuery("volume", "<", 50)),
    ("area>2000", CompareQuery("area", ">", 2000)),
    ("area>20cm2", CompareQuery("area", ">", 2000)),
    ("layer=0.2", CompareQuery("layer", "=", 0.2)),
    ("layer<=0.15mm", CompareQuery("layer", "<=", 0.15)),
    ("layer>.1", CompareQuery("layer", ">", 0.1)),
    ("time<90m", CompareQuery("time", "<", 5400)),
    ("time<1h30m", CompareQuery("time", "<", 5400)),
    ("time<3600s", CompareQuery("time", "<", 3600)),
    ("time<3600", CompareQuery("time", "<", 3600)),
    ("time>1.5h", CompareQuery("time", ">", 5400)),
    ("time>2d", CompareQuery("time", ">", 172800)),
    ("time>45min", CompareQuery("time", ">", 2700)),
    ("time:1h..2h", AndQuery((CompareQuery("time", ">=", 3600), CompareQuery("time", "<=", 7200)))),
    ("filament>20", CompareQuery("filament", ">", 20)),
    ("filament>20g", CompareQuery("filament", ">", 20)),
    ("filament<1kg", CompareQuery("filament", "<", 1000)),
    ("-triangles>100000", NotQuery(CompareQuery("triangles", ">", 100000))),
    ("has:error", HasQuery("error")),
    ("has:errors", HasQuery("error")),
    ("has:thumbnail", HasQuery("thumbnail")),
    ("has:Thumbnails", HasQuery("thumbnail")),
    ("has:problem", HasQuery("problem")),
    ("problem:open-mesh", ProblemQuery("open-mesh")),
    ("kind:Missing_License", ProblemQuery("missing-licence")),
    ("has:tag", HasQuery("tag")),
    ("has:notes", HasQuery("notes")),
    ("-has:error", NotQuery(HasQuery("error"))),
    ("is:missing", IsQuery("missing")),
    ("is:watertight", IsQuery("watertight")),
    ("-is:watertight", NotQuery(IsQuery("watertight"))),
    ("tag:a OR tag:b", OrQuery((TagQuery("a"), TagQuery("b")))),
    ("tag:a OR tag:b OR format:stl", OrQuery((TagQuery("a"), TagQuery("b"), FormatQuery("stl")))),
    (
        "benchy tag:a OR tag:b -has:error",
        AndQuery((TextQuery("benchy"), OrQuery((TagQuery("a"), TagQuery("b"))), NotQuery(HasQuery("error")))),
    ),
    ("-tag:a OR benchy", OrQuery((NotQuery(TagQuery("a")), TextQuery("benchy")))),
    (
        'benchy format:stl triangles>100k -tag:printed "hull only"',
        AndQuery((
            TextQuery("benchy"),
            FormatQuery("stl"),
            CompareQuery("triangles", ">", 100000),
            NotQuery(TagQuery("printed")),
            TextQuery("hull only", phrase=True),
        )),
    ),
]


@pytest.mark.parametrize("text, expected", PARSES, ids=[p[0] or "<empty>" for p in PARSES])
def test_parse(text: str, expected: Query) -> None:
    assert parse_query(text) == expected


# -- the SQL each term builds -----------------------------------------------------------------

_FTS = "files.id in (select rowid from files_fts where files_fts match ?)"

SQLS: list[tuple[str, str, list[Any]]] = [
    ("", "1", []),
    ("benchy", _FTS, ['"benchy"*']),
    ('"benchy hull"', _FTS, ['"benchy hull"']),
    ("3DBenchy.stl", _FTS, ['"3DBenchy.stl"*']),
    ("format:stl", "+files.format = ?", ["stl"]),
    ("triangles>100k", "+files.triangles > ?", [100000]),
    ("size<=1KiB", "+files.size_bytes <= ?", [1024]),
    ("volume<50", "+files.volume_mm3 < ?", [50]),
    ("area>=3", "+files.area_mm2 >= ?", [3]),
    ("layer=0.2", "+files.layer_height_mm = ?", [0.2]),
    ("time<2h", "+files.print_time_s < ?", [7200]),
    ("filament>5", "+files.filament_g > ?", [5]),
    ("model:7", "files.model_id = ?", [7]),
    ("model:Vor_on", "files.model_id in (select models.id from models where models.id in "
     "(select rowid from models_name_trigrams where models_name_trigrams match ?) "
     "and models.name like ? escape '\\')", ['"Vor_on"', "%Vor\\_on%"]),
    ("model:Vo", "files.model_id in (select models.id from models where models.name like ? escape '\\')",
     ["%Vo%"]),
    ("printer:MK4", "files.printer_model like ? escape '\\'", ["%MK4%"]),
    ("slicer:50%", "files.slicer like ? escape '\\'", ["%50\\%%"]),
    ("is:missing", "coalesce(files.missing, 0) != 0", []),
    ("has:error", "coalesce(+files.error, '') != ''", []),
    ("-is:watertight", "not coalesce((coalesce(files.watertight, 0) != 0), 0)", []),
    ("format:stl format:obj", "(+files.format = ?) and (+files.format = ?)", ["stl", "obj"]),
    ("format:stl OR format:obj", "(+files.format = ?) or (+files.format = ?)", ["stl", "obj"]),
]  # fmt: skip


@pytest.mark.parametrize("text, sql, params", SQLS, ids=[s[0] or "<empty>" for s in SQLS])
def test_sql(text: str, sql: str, params: list[Any]) -> None:
    assert parse_query(text).sql() == (sql, params)


def test_tag_sql_is_case_insensitive_and_covers_model_tags() -> None:
    sql, params = parse_query("tag:Boat").sql()
    assert params == ["boat", "boat"]
    assert "file_tags" in sql and "model_tags" in sql and "lower(tags.name) = ?" in sql


def test_fts_text_is_one_quoted_string() -> None:
    # whatever the user types, FTS5 sees one quoted string: no operators, no column filters
    for text in ["NEAR", "AND", "name:x", "a*b", "x^y", "(a)", "a OR b"]:
        assert TextQuery(text).fts() == '"' + text + '"*'
        assert TextQuery(text, phrase=True).fts() == '"' + text + '"'


# -- bad queries: a one-line UsageError naming the problem ----------------------------------

ERRORS: list[tuple[str, str]] = [
    ("foo:bar", "unknown field 'foo'"),
    ("http://example.com", "unknown field 'http'"),
    ("colour=red", "unknown field 'colour'"),
    ('"benchy', "unbalanced quote"),
    ('tag:"boat', "unbalanced quote"),
    ('benchy "hull', "unbalanced quote"),
    ("triangles>lots", "triangles: cannot read 'lots'"),
    ("triangles>", "needs a number"),
    ("triangles:..", "a range needs a number"),
    ("triangles:5..x", "triangles: cannot read 'x'"),
    ("size<10M", "ambiguous"),
    ("size<10parsecs", "unknown unit 'parsecs'"),
    ("size<1.2.3MB", "size: cannot read"),
    ("size<-5MB", "size: cannot read"),
    ("volume<5l", "unknown unit 'l'"),
    ("time<1x", "time: cannot read '1x'"),
    ("time<h", "time: cannot read 'h'"),
    ("time<1h30", "time: cannot read '1h30'"),
    ("layer=thin", "layer: cannot read 'thin'"),
    ("filament>5m", "unknown unit 'm'"),
    ("tag:", "needs a value"),
    ('tag:""', "needs a value"),
    ("tag>5", "cannot use '>'"),
    ("format=stl", "cannot use '='"),
    ("has:bogus", "has: unknown 'bogus'"),
    ("is:sliced", "is: unknown 'sliced'"),
    ("problem:bogus", "problem: unknown kind 'bogus'"),
    ("OR benchy", "'OR' needs a term on each side"),
    ("benchy OR", "'OR' needs a term on each side"),
    ("a OR OR b", "'OR' needs a term on each side"),
    ("-", "'-' must be followed by a term"),
    ("benchy - hull", "'-' must be followed by a term"),
    ("+++", "no letters or digits"),
    ('""', "no letters or digits"),
]


@pytest.mark.parametrize("text, message", ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_query(text: str, message: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_query(text)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("size", "1KB", 1000), ("size", "1kib", 1024), ("size", "1MiB", 1048576), ("size", "1GiB", 1024**3),
        ("size", "1TB", 10**12), ("size", "0.5KB", 500), ("size", "1.5KiB", 1536), ("size", "7", 7),
        ("triangles", "2.5k", 2500), ("triangles", "3M", 3_000_000), ("volume", "1ml", 1000),
        ("area", "1cm²", 100), ("layer", "0.08", 0.08), ("filament", "0.25kg", 250),
        ("time", "1h30m", 5400), ("time", "1h30m15s", 5415), ("time", "0.5h", 1800), ("time", "1d2h", 93600),
        ("time", "120", 120), ("time", "2H", 7200),
    ],
)  # fmt: skip
def test_parse_value(field: str, value: str, expected: float) -> None:
    assert parse_value(field, value) == expected


# -- the Python tokenizer mirrors FTS5's unicode61 ------------------------------------------


def _fts5_tokens(text: str) -> list[str]:
    db = sqlite3.connect(":memory:")
    db.execute("create virtual table t using fts5(x, tokenize='unicode61')")
    db.execute("create virtual table v using fts5vocab(t, 'instance')")
    db.execute("insert into t(x) values (?)", [text])
    return [r[0] for r in db.execute("select term from v order by offset")]


@pytest.mark.parametrize(
    "text",
    [
        "3DBenchy.stl", "Voron_Stealthburner v2.4 (remix)", "/home/sam/Prints/Toys/dragon-articulated!/body.3mf",
        "Café Crème brûlée", "ÅNGSTRÖM Straße ẞ", "Łódź ǅemal İstanbul", "e\u0301te\u0301 x\u0301", "ǖ ǰ Å",
        "日本語テスト 🐉 dragon", "µm ς ſ", "don't  stop—now", "x² ½ ① ١٢٣", "ＡＢＣ", "", "   ",
    ],
)  # fmt: skip
def test_tokenize_matches_fts5(text: str) -> None:
    assert tokenize(text) == _fts5_tokens(text)


def test_tokenize_matches_fts5_across_latin() -> None:
    # every Latin-1 and Latin Extended-A/B letter, each inside a word
    chars = [chr(c) for c in range(0x80, 0x250)]
    text = " ".join(f"a{c}b" for c in chars)
    assert tokenize(text) == _fts5_tokens(text)


# -- SQL and Python agree on a real catalogue ---------------------------------------------------

NOW = "2026-01-01T00:00:00+00:00"
P = "/prints"

MODELS = [
    {"id": 1, "path": f"{P}/Boats/3DBenchy", "name": "3DBenchy", "kind": "folder", "creator": "CreativeTools",
     "licence": "CC-BY-ND-4.0", "source_url": "https://www.3dbenchy.com/"},
    {"id": 2, "path": f"{P}/Upgrades/Voron Stealthburner.zip", "name": "Voron Stealthburner", "kind": "archive"},
    {"id": 3, "path": f"{P}/Workshop/Gridfinity bins", "name": "Gridfinity bins", "kind": "folder",
     "notes": "Glue the hinge"},
    {"id": 4, "path": f"{P}/Kitchen/Café Ångström", "name": "Café Ångström", "kind": "folder"},
    {"id": 5, "path": f"{P}/Calibration/2024 remix", "name": "2024 remix", "kind": "folder"},
    {"id": 6, "path": f"{P}/Toys/dragon.ply", "name": "dragon", "kind": "file"},
    {"id": 7, "path": f"{P}/Old/lost model", "name": "lost model", "kind": "folder", "missing": 1},
]

_MESH = {"bbox_x": 60.0, "bbox_y": 31.0, "bbox_z": 48.0}
_SLICED = {"printer_model": "Original Prusa MK4", "slicer": "PrusaSlicer 2.7.1"}
SZ = "Voron Stealthburner.zip"
FILES: list[dict[str, Any]] = [
    # 3DBenchy
    {"model_id": 1, "name": "3DBenchy.stl", "format": "stl", "size_bytes": 11_285_384, "triangles": 225_706,
     "volume_mm3": 15_550.2, "area_mm2": 10_500.0, "watertight": 1, **_MESH},
    {"model_id": 1, "name": "3DBenchy.3mf", "format": "3mf", "size_bytes": 2_500_000, "triangles": 225_706,
     "volume_mm3": 15_550.2, "area_mm2": 10_500.0, "watertight": 1, "thumbnails": 1, **_MESH},
    {"model_id": 1, "name": "3DBenchy_0.2mm_PLA_MK4_1h12m.gcode", "format": "gcode", "size_bytes": 4_100_000,
     "layer_height_mm": 0.2, "print_time_s": 4320.0, "filament_g": 14.8, "thumbnails": 2, **_SLICED},
    {"model_id": 1, "name": "3DBenchy_0.2mm_PLA_MK4_1h12m.bgcode", "format": "bgcode", "size_bytes": 1_200_000,
     "layer_height_mm": 0.2, "print_time_s": 4320.0, "filament_g": 14.8, "thumbnails": 1, **_SLICED},
    {"model_id": 1, "name": "benchy_hull_only.obj", "format": "obj", "size_bytes": 900_000, "triangles": 40_000,
     "volume_mm3": None, "area_mm2": 8000.0, "watertight": 0, "notes": "hull only, printed fine at 0.15 mm"},
    # Voron Stealthburner (an archive)
    {"model_id": 2, "name": "main_body.stl", "path": f"{P}/Upgrades/{SZ}!/STLs/main_body.stl",
     "archive_path": f"{P}/Upgrades/{SZ}", "format": "stl", "size_bytes": 3_400_000, "triangles": 68_000,
     "volume_mm3": 41_000.0, "area_mm2": 23_000.0, "watertight": 1, "thumbnail_path": "/cache/thumbs/6.png"},
    {"model_id": 2, "name": "LED_carrier.stl", "path": f"{P}/Upgrades/{SZ}!/STLs/LED_carrier.stl",
     "archive_path": f"{P}/Upgrades/{SZ}", "format": "stl", "size_bytes": 512_000, "triangles": 10_240,
     "volume_mm3": 3_100.5, "area_mm2": 2_900.0, "watertight": None},
    {"model_id": 2, "name": "stealthburner.gcode.3mf", "path": f"{P}/Upgrades/{SZ}!/stealthburner.gcode.3mf",
     "archive_path": f"{P}/Upgrades/{SZ}", "format": "gcode.3mf", "size_bytes": 6_000_000,
     "printer_model": "Bambu Lab X1 Carbon", "slicer": "BambuStudio 01.09.00.70", "layer_height_mm": 0.16,
     "print_time_s": 19_800.0, "filament_g": 96.5, "thumbnails": 5},
    # Gridfinity bins
    {"model_id": 3, "name": "bin_1x1.stl", "format": "stl", "size_bytes": 180_000, "triangles": 3_600,
     "volume_mm3": 9_000.0, "area_mm2": 6_400.0, "watertight": 1},
    {"model_id": 3, "name": "bin_2x1.stl", "format": "stl", "size_bytes": 1024, "triangles": 20,
     "volume_mm3": 18_000.0, "area_mm2": 11_000.0, "watertight": 0, "problems": '["not watertight", "flipped normals"]',
     "problem_kinds": "inverted-normals open-mesh"},
    {"model_id": 3, "name": "bin_broken.stl", "format": "stl", "size_bytes": 84,
     "error": "header claims 1000000000 triangles, file has room for 0", "problems": "[]"},
    {"model_id": 3, "name": "baseplate_5x5.3mf", "format": "3mf", "size_bytes": 1_048_576, "triangles": 12_000,
     "volume_mm3": 120_000.0, "area_mm2": 52_000.0, "watertight": 1, "thumbnails": 0},
    {"model_id": 3, "name": "baseplate_5x5_orca.gcode", "format": "gcode", "size_bytes": 10_000_000,
     "printer_model": "Voron 2.4 350", "slicer": "OrcaSlicer 2.1.1", "layer_height_mm": 0.28,
     "print_time_s": 30_600.0, "filament_g": 210.0},
    # Café Ångström (non-ASCII names)
    {"model_id": 4, "name": "Crème brûlée dish.stl", "format": "stl", "size_bytes": 2_048_000, "triangles": 50_000,
     "volume_mm3": 60_000.0, "area_mm2": 20_000.0, "watertight": 1, "notes": "Für Oma — gift"},
    {"model_id": 4, "name": "Straße_Schild.ply", "format": "ply", "size_bytes": 300_000, "triangles": 6_000,
     "volume_mm3": 5_000.0, "area_mm2": 4_000.0, "watertight": 1},
    # 2024 remix (a numeric-looking model name)
    {"model_id": 5, "name": "calibration cube 20mm.stl", "format": "stl", "size_bytes": 684, "triangles": 12,
     "volume_mm3": 8_000.0, "area_mm2": 2_400.0, "watertight": 1},
    {"model_id": 5, "name": "calibration-cube_0.15mm_MK3S.gcode", "format": "gcode", "size_bytes": 350_000,
     "printer_model": "Original Prusa MK3S", "slicer": "PrusaSlicer 2.8.0", "layer_height_mm": 0.15,
     "print_time_s": 1_500.0, "filament_g": 3.2, "thumbnail_path": "/cache/thumbs/17.png"},
    # a lone file (its own model)
    {"model_id": 6, "name": "dragon.ply", "path": f"{P}/Toys/dragon.ply", "format": "ply", "size_bytes": 25_000_000,
     "triangles": 871_414, "volume_mm3": None, "area_mm2": None, "watertight": None},
    # missing files
    {"model_id": 7, "name": "lost_part.stl", "format": "stl", "size_bytes": 5_000, "triangles": 100,
     "missing": 1, "watertight": 1},
    {"model_id": 3, "name": "bin_3x1_deleted.stl", "format": "stl", "size_bytes": 200_000, "triangles": 4_000,
     "missing": 1, "watertight": 0},
    # a file with no model and nothing known
    {"model_id": None, "name": "mystery", "path": f"{P}/mystery", "format": None},
]  # fmt: skip

FILE_TAGS = {
    "3DBenchy.stl": ["printed"],
    "3DBenchy_0.2mm_PLA_MK4_1h12m.gcode": ["printed", "Draft"],
    "main_body.stl": ["sci-fi"],
    "bin_2x1.stl": ["draft"],
    "Crème brûlée dish.stl": ["gift", "Küche"],
    "dragon.ply": ["printed", "large"],
    "lost_part.stl": ["printed"],
}
MODEL_TAGS = {1: ["boat", "calibration"], 2: ["voron", "upgrade"], 5: ["calibration"], 7: ["gift"]}


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory):
    """A real library with the rows above inserted directly; tags set through the Library API."""
    lib = Library(tmp_path_factory.mktemp("query") / "lib")
    db = lib.store.db
    with db.conn:
        db["roots"].insert({"id": 1, "path": P, "added_at": NOW})
        db["models"].insert_all(
            [{"root_id": 1, "created_at": NOW, "updated_at": NOW, "missing": 0, **m} for m in MODELS]
        )
        rows = []
        for i, f in enumerate(FILES, 1):
            model = next((m for m in MODELS if m["id"] == f["model_id"]), None)
            path = f.get("path") or f"{model['path']}/{f['name']}"
            rows.append({
                "id": i, "root_id": 1, "path": path, "hash": f"sha256:{i:064x}", "mtime_ns": i,
                "missing": 0, "thumbnails": 0, "notes": "", "added_at": NOW, "scanned_at": NOW, **f,
            })  # fmt: skip
        db["files"].insert_all(rows)
    ids = {r["name"]: r["id"] for r in rows}
    for name, tags in FILE_TAGS.items():
        lib.tag(ids[name], *tags)
    for model_id, tags in MODEL_TAGS.items():
        lib.tag_model(model_id, *tags)
    yield lib
    lib.close()


def _python_ids(lib: Library, query: Query, include_missing: bool) -> set[int]:
    models = {m.id: m for m in lib.models(include_missing=True)}
    return {
        f.id
        for f in lib.files(include_missing=True)
        if (include_missing or not f.missing) and query.match(f, models.get(f.model_id))
    }


AGREE = [
    # free words and phrases
    "benchy", "BENCHY", "bench", "3DBenchy", "3DBenchy.stl", "3dbenchy stl", "hull", "hull only", '"hull only"',
    '"only hull"', "benchy -hull", '"benchy"', "bin", "bin_2x1", "bin 2x1", '"bin 2x1"', "stealthburner",
    "STLs", "prints", "Prints/Toys", "voron", "cafe", "café", "CAFÉ", "angstrom", "Ångström", "creme brulee",
    "Straße", "strasse", "schild", "oma", "gift", "für", "kuche", "küche", "printed", "printed fine",
    '"printed fine"', "3dbenchy -hull", "0.15", '"0.15 mm"', "mk4", "2024", "mystery", "-benchy", '-"hull only"', "remix",
    "sci", "sci-fi", "fi", "zzz",
    # tags (file tags and model tags)
    "tag:printed", "tag:PRINTED", "tag:draft", "tag:Draft", "tag:boat", "tag:calibration", "tag:gift",
    "tag:sci-fi", "tag:küche", "tag:Küche", "tag:upgrade", "tag:nope", "-tag:printed", "-tag:calibration",
    "tag:boat tag:printed", "tag:boat -tag:printed", "tag:gift OR tag:large", "has:tag", "-has:tag",
    # formats
    "format:stl", "format:3mf", "format:gcode", "format:bgcode", "format:gcode.3mf", "format:ply", "format:obj",
    "format:amf", "-format:stl", "format:stl OR format:ply", "-format:gcode -format:bgcode -format:gcode.3mf",
    # models
    "model:benchy", "model:3DBENCHY", "model:voron", "model:stealth", "model:bin", "model:café", "model:Café",
    "model:CAFÉ", "model:2024", "model:1", "model:2", "model:6", "model:99", "model:lost", "-model:voron",
    "model:remix",
    # model metadata: creator, licence (license), source, note
    "creator:creative", "creator:CREATIVETOOLS", "creator:nobody", "-creator:creative", "licence:cc-by",
    "license:CC-BY-ND", "licence:mit", "source:3dbenchy.com", "source:https", "-source:benchy", "note:hinge",
    "note:HINGE", "note:nothing-here", "-note:hinge", "creator:creative format:stl",
    # printer, slicer, name, path
    "printer:MK4", "printer:mk4", "printer:prusa", "printer:mk3", "printer:Bambu", "printer:x", "-printer:prusa",
    "slicer:prusaslicer", "slicer:orca", "slicer:2.7", "-slicer:prusa", "name:hull", "name:BIN_", "name:_",
    "name:ü", "name:Ü", "name:û", "name:Û", "path:.zip!/", "path:/Workshop/", "path:%",
    # numbers
    "triangles>100000", "triangles>100k", "triangles<=12", "triangles=12", "triangles:20", "triangles:12..20",
    "triangles:1k..100k", "triangles:1M..", "triangles:500k..", "-triangles>100000", "triangles>0", "-triangles>0",
    "size<1KB", "size<=1KiB", "size<1MB", "size<=1MiB", "size>10MB", "size>=10MB", "size:1KB..1MB",
    "-size>1MB", "volume<10000", "volume<10cm3", "volume>=50000", "-volume<10000", "area>10000", "area<30cm2",
    "layer=0.2", "layer<0.2", "layer>=0.16", "layer:0.15..0.2", "-layer=0.2",
    "time<2h", "time<=72m", "time<1h12m", "time>5h", "time:1h..6h", "time>=4320s", "-time<2h",
    "filament>20", "filament<15g", "filament>0.1kg", "-filament>20",
    # has / is
    "has:error", "-has:error", "has:thumbnail", "-has:thumbnail", "has:problem", "-has:problem", "has:notes",
    "-has:notes", "is:missing", "-is:missing", "is:watertight", "-is:watertight",
    "problem:open-mesh", "-problem:open-mesh", "kind:inverted-normals", "problem:duplicate", "-kind:duplicate",
    # combinations
    "benchy format:stl", "3dbenchy format:stl", "3dbenchy -format:stl", "format:stl triangles>10000 is:watertight",
    "format:stl triangles>10000 -is:watertight", "tag:printed -format:gcode size<20MB", "printer:MK4 time<2h",
    "has:thumbnail OR has:problem", "-has:thumbnail -has:problem -has:error", "bin OR dragon triangles>1000",
    "model:voron -tag:sci-fi", "tag:calibration format:gcode layer<=0.15", "gift OR tag:gift",
    "-tag:printed OR is:watertight", "voron OR benchy OR dragon -format:stl",
]  # fmt: skip


@pytest.mark.parametrize("text", AGREE)
def test_sql_and_match_agree(catalogue: Library, text: str) -> None:
    query = parse_query(text)
    for include_missing in (False, True):
        by_sql = {f.id for f in catalogue.files(text, include_missing=include_missing)}
        assert by_sql == _python_ids(catalogue, query, include_missing), (text, include_missing)


@pytest.mark.parametrize("text", [t for t in AGREE if " " not in t and not t.startswith("-")])
def test_negation_is_the_complement(catalogue: Library, text: str) -> None:
    # -term is exactly every file term does not match, also where values are unknown (NULL)
    every = {f.id for f in catalogue.files(include_missing=True)}
    yes = {f.id for f in catalogue.files(text, include_missing=True)}
    no = {f.id for f in catalogue.files(f"-{text}", include_missing=True)}
    assert yes | no == every and not yes & no


def test_models_agree(catalogue: Library) -> None:
    for text in ["tag:calibration", "format:gcode", "-format:stl", "benchy", "has:error", "tag:gift", "is:missing"]:
        query = parse_query(text)
        models = {m.id: m for m in catalogue.models(include_missing=True)}
        expected = {
            f.model_id for f in catalogue.files()
            if f.model_id is not None and not models[f.model_id].missing and query.match(f, models[f.model_id])
        }  # fmt: skip
        assert {m.id for m in catalogue.models(text)} == expected, text


def _names(lib: Library, text: str) -> set[str]:
    return {f.name for f in lib.files(text)}


EXPECTED = [
    # a word matches the start of a word: "bench" starts "benchy_hull_only" but not "3DBenchy"
    ("bench", {"benchy_hull_only.obj"}),
    ("3dbench", {"3DBenchy.stl", "3DBenchy.3mf", "3DBenchy_0.2mm_PLA_MK4_1h12m.gcode",
                 "3DBenchy_0.2mm_PLA_MK4_1h12m.bgcode", "benchy_hull_only.obj"}),  # all in the 3DBenchy folder
    ("name:bench", {"3DBenchy.stl", "3DBenchy.3mf", "3DBenchy_0.2mm_PLA_MK4_1h12m.gcode",
                    "3DBenchy_0.2mm_PLA_MK4_1h12m.bgcode", "benchy_hull_only.obj"}),
    ('"hull only"', {"benchy_hull_only.obj"}),
    ("creme brulee", {"Crème brûlée dish.stl"}),
    ("tag:boat -format:stl -format:3mf -format:obj", {"3DBenchy_0.2mm_PLA_MK4_1h12m.gcode",
                                                      "3DBenchy_0.2mm_PLA_MK4_1h12m.bgcode"}),
    ("tag:draft", {"3DBenchy_0.2mm_PLA_MK4_1h12m.gcode", "bin_2x1.stl"}),
    ("tag:calibration format:gcode", {"3DBenchy_0.2mm_PLA_MK4_1h12m.gcode", "calibration-cube_0.15mm_MK3S.gcode"}),
    ("triangles<=20", {"bin_2x1.stl", "calibration cube 20mm.stl"}),
    ("size<1KB", {"bin_broken.stl", "calibration cube 20mm.stl"}),
    ("size<=1KiB", {"bin_broken.stl", "calibration cube 20mm.stl", "bin_2x1.stl"}),
    ("time<2h", {"3DBenchy_0.2mm_PLA_MK4_1h12m.gcode", "3DBenchy_0.2mm_PLA_MK4_1h12m.bgcode",
                 "calibration-cube_0.15mm_MK3S.gcode"}),
    ("printer:MK4 time<2h", {"3DBenchy_0.2mm_PLA_MK4_1h12m.gcode", "3DBenchy_0.2mm_PLA_MK4_1h12m.bgcode"}),
    ("has:error", {"bin_broken.stl"}),
    ("has:problem", {"bin_2x1.stl"}),
    ("problem:open-mesh", {"bin_2x1.stl"}),
    ("kind:inverted", {"bin_2x1.stl"}),  # an alias of inverted-normals
    ("problem:duplicate", set()),
    ("has:notes", {"benchy_hull_only.obj", "Crème brûlée dish.stl"}),
    ("model:remix", {"calibration cube 20mm.stl", "calibration-cube_0.15mm_MK3S.gcode"}),
    ("model:2024", set()),  # digits: the model with id 2024, not a name
    ("2024", {"calibration cube 20mm.stl", "calibration-cube_0.15mm_MK3S.gcode"}),  # its folder's name
    ("model:6", {"dragon.ply"}),
    ("creator:creative", {"3DBenchy.stl", "3DBenchy.3mf", "3DBenchy_0.2mm_PLA_MK4_1h12m.gcode",
                          "3DBenchy_0.2mm_PLA_MK4_1h12m.bgcode", "benchy_hull_only.obj"}),
    ("license:cc-by format:stl", {"3DBenchy.stl"}),
    ("creator:nobody", set()),
    ("is:missing", set()),
    ("format:ply OR tag:large", {"Straße_Schild.ply", "dragon.ply"}),
]  # fmt: skip


@pytest.mark.parametrize("text, names", EXPECTED, ids=[e[0] for e in EXPECTED])
def test_expected_files(catalogue: Library, text: str, names: set[str]) -> None:
    assert _names(catalogue, text) == names


def test_is_missing_needs_include_missing(catalogue: Library) -> None:
    found = {f.name for f in catalogue.files("is:missing", include_missing=True)}
    assert found == {"lost_part.stl", "bin_3x1_deleted.stl"}


def test_unknown_values_never_match_a_comparison(catalogue: Library) -> None:
    # "mystery" knows nothing: no comparison matches it, every negated one does
    mystery = catalogue.files("mystery")[0]
    for text in ["triangles>0", "triangles<1", "size>=0", "volume>0", "time>0", "is:watertight", "has:thumbnail"]:
        assert not parse_query(text).match(mystery)
        assert parse_query(f"-{text}").match(mystery)


def test_model_tags_come_from_the_model_record(catalogue: Library) -> None:
    benchy = catalogue.files("3DBenchy.stl")[0]
    model = catalogue.model(benchy.model_id)
    query = parse_query("tag:boat")
    assert query.match(benchy, model)
    assert {f.id for f in catalogue.files("tag:boat")} >= {benchy.id}


def test_query_follows_tag_changes(catalogue: Library, tmp_path: Path) -> None:
    dragon = catalogue.files("dragon")[0]
    assert "dragon.ply" not in _names(catalogue, "tag:reviewed")
    catalogue.tag(dragon.id, "reviewed")
    try:
        assert _names(catalogue, "tag:reviewed") == {"dragon.ply"}
        assert _names(catalogue, "reviewed") == {"dragon.ply"}  # the FTS triggers follow files.tags
    finally:
        catalogue.untag(dragon.id, "reviewed")
    assert _names(catalogue, "tag:reviewed") == set()


def test_docs_examples_parse() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "query.md").read_text()
    examples = re.findall(r"printmanager (?:ls|models) '([^']+)'", doc)
    block = doc.split("Operators:", 1)[1].split("A range", 1)[0]
    examples += [e for line in block.splitlines() if line.startswith("    ") for e in line.split()]
    assert len(examples) >= 15
    for text in examples:
        assert isinstance(parse_query(text), Query), text
    for term in re.findall(r"^\| `([a-z]+:[a-z.]+)` \|", doc, re.M):  # has:…, is:…, format:FMT rows are upper-case
        assert parse_query(term).sql()[0], term
