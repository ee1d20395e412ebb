"""The print log and sliced ↔ source links (docs/printing.md), on real corpus files."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from cli_support import run
from printmanager_core import Library
from printmanager_core.errors import NotFound, UsageError
from printmanager_core.printing.links import names_in_gcode3mf, names_in_gcode_text, stem
from printmanager_core.privacy import retention
from printmanager_core.privacy.delete import delete_library
from printmanager_core.privacy.export import export_library
from printmanager_core.query import PrintedCountQuery, PrintedDateQuery, SlicedFromQuery, parse_query


@pytest.fixture
def prints_root(tmp_path: Path, corpus: Path) -> Path:
    """A folder laid out as a user's: Benchy-like models with sliced files beside their meshes."""
    root = tmp_path / "Prints"
    torus = root / "Torus"
    torus.mkdir(parents=True)
    shutil.copy(corpus / "prusaslicer-shapes" / "torus.stl", torus / "torus.stl")
    shutil.copy(corpus / "sliced" / "cura_torus.gcode", torus / "cura_torus.gcode")  # ;MESH:.../torus.stl
    box = root / "Box"
    box.mkdir()
    shutil.copy(corpus / "prusaslicer-shapes" / "box.stl", box / "box.stl")
    shutil.copy(corpus / "sliced" / "mini_cube_a.gcode", box / "mini_cube_a.gcode")  # "; printing object Shape-Box"
    bunny = root / "Bunny"
    bunny.mkdir()
    shutil.copy(corpus / "prusaslicer-shapes" / "bunny.stl", bunny / "bunny.stl")
    # binary G-code names nothing readable: linked by its file name
    shutil.copy(corpus / "sliced" / "mini_cube_b.bgcode", bunny / "bunny_0.2mm_PLA_MK4.bgcode")
    return root


@pytest.fixture
def lib(library: Library, prints_root: Path) -> Library:
    library.scan([prints_root], workers=1)
    return library


def _file(lib: Library, name: str):
    [rec] = [f for f in lib.files() if f.name == name]
    return rec


def test_scan_links_gcode_to_the_mesh_it_was_sliced_from(lib: Library) -> None:
    torus, cura = _file(lib, "torus.stl"), _file(lib, "cura_torus.gcode")
    assert [(f.id, how) for f, how in lib.sliced_from(cura.id)] == [(torus.id, "source")]
    assert [(f.id, how) for f, how in lib.sliced_gcodes(torus.id)] == [(cura.id, "source")]
    box, cube = _file(lib, "box.stl"), _file(lib, "mini_cube_a.gcode")
    assert [(f.id, how) for f, how in lib.sliced_from(cube.id)] == [(box.id, "object")]
    bunny, bgcode = _file(lib, "bunny.stl"), _file(lib, "bunny_0.2mm_PLA_MK4.bgcode")
    assert [(f.id, how) for f, how in lib.sliced_from(bgcode.id)] == [(bunny.id, "name")]
    # the records carry them too (ls --json)
    assert _file(lib, "torus.stl").gcodes == (cura.id,)
    assert _file(lib, "cura_torus.gcode").sliced_from == ("torus.stl",)
    assert lib.link_sliced() == 0  # nothing left to link; a rescan links nothing twice
    lib.scan(workers=1)
    assert len(lib.sliced_from(cura.id)) == 1


def test_a_name_elsewhere_in_the_root_links_only_when_it_is_the_only_one(tmp_path: Path, corpus: Path,
                                                                       library: Library) -> None:
    root = tmp_path / "root"
    for folder in ("Shapes", "More shapes"):
        (root / folder).mkdir(parents=True)
        shutil.copy(corpus / "prusaslicer-shapes" / "box.stl", root / folder / "box.stl")
    (root / "Sliced").mkdir()
    shutil.copy(corpus / "sliced" / "mini_cube_a.gcode", root / "Sliced" / "mini_cube_a.gcode")
    shutil.copy(corpus / "sliced" / "cura_torus.gcode", root / "Sliced" / "cura_torus.gcode")
    shutil.copy(corpus / "prusaslicer-shapes" / "torus.stl", root / "Shapes" / "torus.stl")
    library.scan([root], workers=1)
    assert library.sliced_from(_file(library, "mini_cube_a.gcode").id) == []  # two box.stl: ambiguous
    [(src, how)] = library.sliced_from(_file(library, "cura_torus.gcode").id)
    assert src.path.endswith("Shapes/torus.stl") and how == "source"
    # by hand, then
    a_box = library.files("name:box.stl")[0]
    assert library.link_sliced(_file(library, "mini_cube_a.gcode").id, a_box.id) == 1
    assert [f.id for f, _ in library.sliced_from(_file(library, "mini_cube_a.gcode").id)] == [a_box.id]
    with pytest.raises(UsageError):
        library.link_sliced(a_box.id, a_box.id)


#: the slicers' name lines as plain multi-line regexes: what the literal-first search must match
_REFERENCE = [re.compile(p, re.M) for p in (
    rb"^; printing object (.+?) id:\d+ copy \d+", rb"^;MESH:(.+?)\s*$", rb"^EXCLUDE_OBJECT_DEFINE NAME=(\S+)",
    rb'^M486 A\"?([^\"\r\n]+)\"?', rb"^; objects_info = (\{.*\})\s*$")]


def test_name_lines_are_found_as_the_plain_regexes_find_them(corpus: Path) -> None:
    from printmanager_core.printing import links

    pieces = [b"; printing object Box id:0 copy 0", b";MESH:Part A  ", b";MESH:", b"EXCLUDE_OBJECT_DEFINE NAME=x_1",
              b'M486 A"Wheel"', b"M486 Axle", b'; objects_info = {"objects":[]}', b" ;MESH:indented", b"G1 X1",
              b"; printing object Bad id:x copy 0", b"", b"  \t", b";MESH:a;MESH:b", b"\r"]
    rng = random.Random(5)
    texts = [(corpus / "sliced" / name).read_bytes() for name in ("mini_cube_a.gcode", "cura_torus.gcode")]
    texts += [rng.choice([b"\n", b"\r\n", b" "]).join(rng.choices(pieces, k=rng.randint(0, 30))) for _ in range(400)]
    pairs = list(zip(links._PATTERNS + (links._OBJECTS_INFO,), _REFERENCE))
    for text in texts:
        for (literal, pattern), reference in pairs:
            assert [m.span(1) for m in links._line_matches(text, literal, pattern)] == \
                [m.span(1) for m in reference.finditer(text)], text


def test_names_slicers_write(corpus: Path, tmp_path: Path) -> None:
    head = (corpus / "sliced" / "mini_cube_a.gcode").read_bytes()
    assert names_in_gcode_text(head) == ["Shape-Box"]
    assert names_in_gcode_text((corpus / "sliced" / "cura_torus.gcode").read_bytes()) == [
        "/tmp/deb/x/usr/share/PrusaSlicer/shapes/torus.stl"]
    assert names_in_gcode_text(b'EXCLUDE_OBJECT_DEFINE NAME=Benchy.stl_id_0_copy_0 CENTER=1,2\nM486 A"Wheel"\n'
                               b'; objects_info = {"objects":[{"name":"Deck surface.stl","polygon":[]}]}\n') == [
        "Benchy.stl_id_0_copy_0", "Wheel", "Deck surface.stl"]
    assert stem("Benchy.stl_id_0_copy_0") == stem("benchy.STL") == stem("C:\\models\\Benchy.stl") == "benchy"
    assert stem("Shape-Box") == "box"
    # a .gcode.3mf's metadata (Bambu Studio / Orca)
    sliced = tmp_path / "plate.gcode.3mf"
    with zipfile.ZipFile(sliced, "w") as zf:
        zf.writestr("Metadata/slice_info.config",
                    '<config><plate><object identify_id="1" name="Wheel.stl" skipped="false"/></plate></config>')
        zf.writestr("Metadata/model_settings.config",
                    '<config><object id="2"><metadata key="name" value="Wheel.stl"/>'
                    '<part id="1"><metadata key="source_file" value="Window.stl"/></part></object></config>')
        zf.writestr("Metadata/plate_1.gcode", "; nothing\n")
    with open(sliced, "rb") as fh:
        assert names_in_gcode3mf(fh) == ["Wheel.stl", "Window.stl"]


def test_print_log_and_history(lib: Library) -> None:
    cura = _file(lib, "cura_torus.gcode")
    first = lib.log_print(cura.id, printer="MK4", note="PETG", printed_at="2026-01-15T10:00")
    second = lib.log_print(cura.id, printer="MK4", result="failed")
    third = lib.log_print(cura.model_id, model=True, printed_at=dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc))
    assert first and second and third
    assert first.printed_at == "2026-01-15T10:00:00.000000+00:00" and first.file_id == cura.id
    model, prints = lib.print_history(_file(lib, "torus.stl").id)  # a file names its model
    assert model.id == cura.model_id
    assert [p.id for p in prints] == [second.id, first.id, third.id]  # newest first
    assert lib.model(model.id).prints == 2  # the failed one does not count
    assert lib.delete_print(second.id).id == second.id
    with pytest.raises(NotFound):
        lib.delete_print(second.id)
    with pytest.raises(UsageError):
        lib.log_print(cura.id, result="maybe")
    with pytest.raises(UsageError):
        lib.log_print(cura.id, printed_at="yesterday")
    # a printer's job is logged once
    job = dict(source="octoprint:mk3", external_id="job-1", printed_at="2026-02-01")
    assert lib.log_print(cura.id, **job) is not None
    assert lib.log_print(cura.id, **job) is None


PRINTED_TERMS = ["is:printed", "-is:printed", "printed:>=2", "printed:>=1", "printed:2", "printed:0", "printed:>2",
                 "printed:<2", "printed:1..2", "printed>=2", "printed:>2026-01-01", "printed:>=2026-01-15",
                 "printed:<2026-01-15", "printed:<=2026-01-15", "printed:2026-01", "printed:2026-01-15",
                 "printed:2025-06-01..2026-01-14", "printed:..2025-12", "-printed:2026",  # 2026: a count "has:gcode", "-has:gcode",
                 "sliced-from:torus", "sliced-from:TORUS", "-sliced-from:box", "is:printed has:gcode"]


@pytest.mark.parametrize("text", PRINTED_TERMS)
def test_printed_terms_sql_and_match_agree(lib: Library, text: str) -> None:
    cura, box = _file(lib, "cura_torus.gcode"), _file(lib, "box.stl")
    lib.log_print(cura.id, printed_at="2026-01-15T10:00")
    lib.log_print(cura.id, printed_at="2025-06-01")
    lib.log_print(cura.id, result="failed")
    lib.log_print(box.id, printed_at="2026-02-02")
    query = parse_query(text)
    models = {m.id: m for m in lib.models(include_missing=True)}
    by_sql = {f.id for f in lib.files(text)}
    assert by_sql == {f.id for f in lib.files() if query.match(f, models.get(f.model_id))}, text


def test_printed_terms_find_the_expected_files(lib: Library) -> None:
    cura, box = _file(lib, "cura_torus.gcode"), _file(lib, "box.stl")
    lib.log_print(cura.id, printed_at="2026-01-15T10:00")
    lib.log_print(cura.id, printed_at="2025-06-01")
    lib.log_print(box.id, printed_at="2026-02-02")

    def names(q: str) -> set[str]:
        return {f.name for f in lib.files(q)}

    assert names("is:printed") == {"torus.stl", "cura_torus.gcode", "box.stl", "mini_cube_a.gcode"}
    assert names("printed:>=2") == {"torus.stl", "cura_torus.gcode"}
    assert names("printed:2026-02") == {"box.stl", "mini_cube_a.gcode"}
    assert names("printed:<2026-01-01") == {"torus.stl", "cura_torus.gcode"}
    assert names("printed:>2026-01-15") == {"box.stl", "mini_cube_a.gcode"}
    assert names("-is:printed") == {"bunny.stl", "bunny_0.2mm_PLA_MK4.bgcode"}
    assert names("has:gcode") == {"torus.stl", "box.stl", "bunny.stl"}
    assert names("sliced-from:bunny") == {"bunny_0.2mm_PLA_MK4.bgcode"}
    assert {m.name for m in lib.models("printed:>=2")} == {"Torus"}


@pytest.mark.parametrize("text, term", [
    ("is:printed", PrintedCountQuery(">=", 1)),
    ("printed:>=2", PrintedCountQuery(">=", 2)),
    ("printed:3", PrintedCountQuery("=", 3)),
    ("printed:>2026-01-01", PrintedDateQuery("2026-01-02", None)),
    ("printed:2026-02", PrintedDateQuery("2026-02-01", "2026-03-01")),
    ("printed:2026-12", PrintedDateQuery("2026-12-01", "2027-01-01")),
    ("printed:<=2026-02-28", PrintedDateQuery(None, "2026-03-01")),
    ("printed:2026-01-01..2026-01-31", PrintedDateQuery("2026-01-01", "2026-02-01")),
    ("sliced-from:benchy", SlicedFromQuery("benchy")),
])
def test_printed_terms_parse(text: str, term: object) -> None:
    assert parse_query(text) == term


@pytest.mark.parametrize("text, message", [
    ("printed:soon", "printed: cannot read 'soon'"),
    ("printed:2026-02-30", "is not a date"),
    ("printed:", "needs a count or a date"),
    ("printed:..", "a range needs"),
    ("is:sliced", "is: unknown 'sliced' (is: missing, watertight, printed)"),
])
def test_bad_printed_terms(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_query(text)


def test_print_cli(lib: Library, capsys: pytest.CaptureFixture[str]) -> None:
    directory = lib.directory
    cura = _file(lib, "cura_torus.gcode")
    lib.close()
    code, out, err = run(capsys, directory, "print", "log", str(cura.id), "--printer", "MK4", "--note", "nice",
                         "--json")
    assert code == 0, err
    entry = json.loads(out)
    assert entry["printer"] == "MK4" and entry["note"] == "nice" and entry["result"] == "ok"
    code, out, err = run(capsys, directory, "print", "log", cura.path, "--result", "failed", "--at", "2026-01-02")
    assert code == 0 and out.startswith("logged print"), err
    code, out, _ = run(capsys, directory, "print", "history", str(cura.id), "--json")
    data = json.loads(out)
    assert data["model"]["id"] == cura.model_id and [p["result"] for p in data["prints"]] == ["ok", "failed"]
    code, out, _ = run(capsys, directory, "print", "history", str(cura.id))
    assert "printed 1 time" in out and "on MK4" in out and "— nice" in out
    code, out, _ = run(capsys, directory, "show", str(cura.id))
    assert "sliced from:" in out and "torus.stl (source)" in out and "print log: printed 1 time" in out
    code, out, _ = run(capsys, directory, "show", str(cura.id), "--json")
    shown = json.loads(out)
    assert shown["sliced_from"] == ["torus.stl"]
    code, out, _ = run(capsys, directory, "show", "--model", str(cura.model_id), "--json")
    assert json.loads(out)["prints"] == 1 and len(json.loads(out)["printed_at"]) == 1
    code, out, _ = run(capsys, directory, "show", _file(Library(directory), "torus.stl").path)
    assert "G-code sliced from it:" in out
    code, out, _ = run(capsys, directory, "ls", "is:printed", "--json")
    assert {f["name"] for f in json.loads(out)} == {"torus.stl", "cura_torus.gcode"}
    code, out, err = run(capsys, directory, "print", "rm", str(entry["id"]))
    assert code == 0 and out.strip() == f"deleted print {entry['id']}"
    code, _, err = run(capsys, directory, "print", "rm", "999")
    assert code != 0 and err.strip() == "Error: no print 999 in the print log"
    code, _, err = run(capsys, directory, "print", "log", "nope")
    assert code != 0 and err.count("\n") == 1 and "no file or model nope" in err


def test_print_log_is_exported_deleted_and_retained(lib: Library, tmp_path: Path) -> None:
    cura = _file(lib, "cura_torus.gcode")
    old = lib.log_print(cura.id, printed_at="2020-01-01", note="long ago")
    new = lib.log_print(cura.id, note="recent")
    assert old and new
    result = export_library(lib, tmp_path / "export.zip")
    with zipfile.ZipFile(result.path) as zf:
        log = json.loads(zf.read("print_log.json"))
        links = json.loads(zf.read("slice_links.json"))
        manifest = json.loads(zf.read("manifest.json"))
    assert [p["note"] for p in log] == ["long ago", "recent"]
    assert (cura.id, _file(lib, "torus.stl").id, "source") in {(k["gcode_id"], k["source_id"], k["how"]) for k in links}
    assert any(f["name"] == "print_log.json" for f in manifest["files"])
    # retention: keep a year of prints
    lib.settings.set("retention.print_log_days", 365)
    report = retention.apply(lib.store.db)
    assert report.removed["prints"] == 1
    assert [p.id for p in lib.print_history(cura.id)[1]] == [new.id]
    db_path = lib.db_path
    report = delete_library(lib)
    assert report.total("print log entries") == 1 and report.total("sliced ↔ source links") == 3
    assert not db_path.exists()
