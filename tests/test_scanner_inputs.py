"""The Scanner on its own: given a store, limits, resolved roots, a reader table and an
event callback, it scans and returns a report, with no Library around it."""

from __future__ import annotations

import shutil
from pathlib import Path

from printmanager_core.readers import DEFAULT_LIMITS, ReaderTable
from printmanager_core.readers.stl import StlReader
from printmanager_core.records import FileRecord
from printmanager_core.scan import Scanner, Target
from printmanager_core.store import Store, open_database


def _store(tmp_path: Path) -> Store:
    (tmp_path / "library").mkdir()
    return Store(open_database(tmp_path / "library" / "printmanager.db"))


def test_scanner_scans_into_a_store_with_the_readers_it_is_given(tmp_path: Path, corpus: Path) -> None:
    prints = tmp_path / "prints"
    prints.mkdir()
    shutil.copy(corpus / "prusaslicer-shapes" / "box.stl", prints / "box.stl")
    shutil.copy(corpus / "sliced" / "mini_cube_a.gcode", prints / "cube.gcode")  # directly in the root
    (prints / "Cube").mkdir()
    shutil.copy(corpus / "sliced" / "mini_cube_a.gcode", prints / "Cube" / "cube.gcode")  # in a model folder
    store = _store(tmp_path)
    with store.transaction():
        root_id = store.roots.insert(str(prints))
    events: list[tuple[str, FileRecord]] = []

    scanner = Scanner(store, limits=DEFAULT_LIMITS, library_dir=tmp_path / "library", workers=1,
                      on_event=lambda hook, file: events.append((hook, file)),
                      readers=ReaderTable.from_readers([StlReader()]))
    report = scanner.scan([Target(root_id, prints, prints)])

    # only STL is known to this table: a lone .gcode in the root is no model; in a model
    # folder it is catalogued as a plain file, read by no reader
    assert report.added == 2 and report.errors == 0
    files = {Path(f.path).relative_to(prints).as_posix(): f for f in store.files.iterate(_everything())}
    assert sorted(files) == ["Cube/cube.gcode", "box.stl"]
    assert files["box.stl"].triangles and files["box.stl"].format == "stl"
    assert files["Cube/cube.gcode"].format == "gcode" and not files["Cube/cube.gcode"].slicer.keys()
    assert sorted((hook, Path(f.path).name) for hook, f in events) == [("file_added", "box.stl"),
                                                                      ("file_added", "cube.gcode")]
    assert {f.id for _, f in events} == set(report.changed_ids)

    # the registered readers (no table given) read the G-code's slicer facts
    again = Scanner(store, limits=DEFAULT_LIMITS, library_dir=tmp_path / "library", workers=1)
    (prints / "Cube" / "cube.gcode").touch()
    second = again.scan([Target(root_id, prints, prints)])
    assert second.added == 1 and second.updated == 1  # the root's cube.gcode is now a model of its own
    assert store.files.by_path([str(prints / "Cube" / "cube.gcode")]).slicer["printer_model"] == "MINI"


class _Everything:
    def sql(self) -> tuple[str, list[object]]:
        return "1", []


def _everything() -> _Everything:
    return _Everything()


def test_files_are_iterated_a_page_at_a_time_in_path_order(tmp_path: Path, corpus: Path) -> None:
    from printmanager_core import Library

    prints = tmp_path / "prints"
    shutil.copytree(corpus / "prusaslicer-shapes", prints)
    with Library(tmp_path / "library") as lib:
        lib.scan([prints], workers=1, thumbnails=False)
        whole = lib.files()
        assert len(whole) == 5
        for page in (1, 2, 5, 6):
            assert [f.id for f in lib.iter_files(page=page)] == [f.id for f in whole]
        assert [f.path for f in lib.iter_files("format:stl torus", page=1)] == [str(prints / "torus.stl")]
        assert [r.path for r in lib.root_records()] == lib.roots() == [str(prints)]
        lib.add_to_collection("hardware", *(f.model_id for f in whole[:2]))
        (hardware,) = lib.collection_records()
        assert hardware.name == "hardware" and len(hardware.models) == 2
        assert lib.collections() == [hardware.as_json()]
