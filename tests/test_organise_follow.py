"""What follows the files when ``organise`` moves them: sync's own state (over a real S3
server), the ``file_moved``/``file_changed`` events a plugin sees, and a case-only rename
on a real case-insensitive filesystem."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Iterator

import pytest
from casefold_fs import mounted
from sync_support import FaultProxy, MotoS3, make_prints, tree

from printmanager_core import Library, plugins
from printmanager_core.hookspecs import hookimpl
from printmanager_core.organise import parse_paths


MiB = 1024 * 1024


class Listener:
    """A third-party plugin that records the file events it is given."""

    def __init__(self) -> None:
        self.moved: list[tuple[int, str, str]] = []
        self.changed: list[int] = []

    @hookimpl
    def file_moved(self, library: Any, file: Any, old_path: str) -> None:
        self.moved.append((file.id, old_path, file.path))

    @hookimpl
    def file_changed(self, library: Any, file: Any) -> None:
        self.changed.append(file.id)

    def take(self) -> tuple[set[tuple[int, str, str]], list[int]]:
        moved, changed = set(self.moved), sorted(self.changed)
        assert len(moved) == len(self.moved)  # each file told once
        self.moved, self.changed = [], []
        return moved, changed


@pytest.fixture
def listener() -> Iterator[Listener]:
    plugins.reset_plugin_manager()
    heard = Listener()
    plugins.register_plugin(heard, name="listener")
    yield heard
    plugins.reset_plugin_manager()


def _places(lib: Library) -> dict[int, str]:
    return {f.id: f.path for f in lib.files()}


def _moves(before: dict[int, str], after: dict[int, str]) -> set[tuple[int, str, str]]:
    return {(i, before[i], after[i]) for i in before if before[i] != after[i]}


def _data_objects(s3: MotoS3, bucket: str) -> set[str]:
    return {k for k in s3.raw_objects(bucket) if "/data/" in k}


def _assert_only_metadata_uploaded(lib: Library, report: Any, new_objects: set[str]) -> None:
    """The sync uploaded the database backup (one blob, in chunks) and snapshot pages, no file."""
    from printmanager_sync.sync_store import StateTables

    file_objects = {blob for _, _, blob in StateTables(lib.store.db).file_ids().values()}
    assert report.uploaded_blobs == 1 and report.uploaded_metadata >= 1
    assert len(new_objects) == report.uploaded_metadata
    assert not {key.rsplit("/", 1)[-1] for key in new_objects} & file_objects


def test_file_moved_carries_sync_state_through_organise_and_undo(
    s3_env: MotoS3, passphrase_env: str, tmp_path: Path, corpus: Path, listener: Listener
) -> None:
    from printmanager_sync import enable, restore, sync_now

    prints = make_prints(tmp_path / "A" / "Prints", corpus)
    with zipfile.ZipFile(prints / "Benchy parts.zip", "w") as zf:  # an archive model: one file on disk
        for name in ("Wheel.stl", "Window.stl"):
            zf.write(corpus / "Benchy multi-part" / name, name)
    before_tree = tree(prints)
    bucket = s3_env.new_bucket()
    config = {"backend": "s3", "endpoint": s3_env.endpoint, "bucket": bucket, "region": "us-east-1",
              "retry_base_delay": 0.01}  # fmt: skip
    lib = Library(tmp_path / "A" / "library")
    try:
        lib.scan([prints], workers=1, thumbnails=False)
        lib.update_model(lib.model(str(prints / "Benchy")).id, creator="Creative Tools")
        assert any(f.archive_path for f in lib.files())
        enable(lib, config, consent_given=True)
        first = sync_now(lib)
        assert first.pushed and first.hashed_files == first.files
        uploaded = _data_objects(s3_env, bucket)
        listener.take()

        before = _places(lib)
        _, report = lib.organise(to=prints)
        after = _places(lib)
        assert report.files > 10 and len(_moves(before, after)) > report.files  # archive members too
        moved, changed = listener.take()
        assert moved == _moves(before, after)  # every file moved, told once, with both paths
        assert changed == sorted(i for i, _, _ in moved)

        again = sync_now(lib)
        # a new snapshot (the paths changed), but no file read again and none uploaded again:
        # the only new objects are the snapshot's pages and the database backup's chunks
        assert again.pushed and again.hashed_files == 0 and again.files == first.files
        _assert_only_metadata_uploaded(lib, again, _data_objects(s3_env, bucket) - uploaded)
        uploaded = _data_objects(s3_env, bucket)

        # the carried ids are the files' own: another device restores the organised tree exactly
        lib_b = Library(tmp_path / "B" / "library")
        try:
            restore(lib_b, config, tmp_path / "B" / "files")
            assert tree(tmp_path / "B" / "files" / "Prints") == tree(prints) != before_tree
        finally:
            lib_b.close()

        lib.organise_undo()
        assert tree(prints) == before_tree and _places(lib) == before
        moved, changed = listener.take()
        assert moved == _moves(after, before)
        assert changed == sorted(i for i, _, _ in moved)
        back = sync_now(lib)
        assert back.pushed and back.hashed_files == 0
        _assert_only_metadata_uploaded(lib, back, _data_objects(s3_env, bucket) - uploaded)
    finally:
        lib.close()


def test_file_moved_after_a_crash_lets_an_interrupted_upload_resume_at_the_new_path(
    s3_env: MotoS3, fault_proxy: FaultProxy, passphrase_env: str, tmp_path: Path
) -> None:
    """A sync cut during a multipart upload, then an organise killed after the file's source
    name went (before its move was announced): the resume announces it, and the next sync
    goes on with the upload from the new path, reading nothing again."""
    from printmanager_sync import enable, status, sync_now
    from printmanager_sync.errors import BackendError

    prints = tmp_path / "Prints"
    (prints / "Plates").mkdir(parents=True)
    data = b"; generated by PrusaSlicer 2.6.0\n" + os.urandom(7 * MiB)  # two parts of a multipart upload
    (prints / "Plates" / "large.gcode").write_bytes(data)
    config = {"backend": "s3", "endpoint": fault_proxy.endpoint, "bucket": s3_env.new_bucket(),
              "region": "us-east-1", "retry_base_delay": 0.01, "retries": 1, "multipart_threshold": 6 * MiB,
              "part_size": 5 * MiB}  # fmt: skip
    with Library(tmp_path / "library") as lib:
        lib.scan([prints], workers=1, thumbnails=False)
        enable(lib, config, consent_given=True)
        fault_proxy.add("PUT", r"partNumber=2&", "cut_request", after=MiB, times=100)
        with pytest.raises(BackendError):
            sync_now(lib)
        assert status(lib)["pending_uploads"] == 1 and fault_proxy.count("PUT", r"partNumber=1&") == 1
        fault_proxy.clear()
        cli = [sys.executable, "-m", "printmanager_core", "--library", str(lib.directory), "organise"]
        killed = subprocess.run([*cli, "--to", str(prints), "--yes"], capture_output=True, text=True,
                                env={**os.environ, "PRINTMANAGER_TEST_KILL_AT": "removed:1"})  # fmt: skip
        assert killed.returncode == -9, killed.stderr
        assert lib.organise_resume().files == 1
        assert (prints / "Unknown" / "Plates" / "large.gcode").read_bytes() == data
        assert not (prints / "Plates").exists()
        report = sync_now(lib)
        # the upload went on from its journal at the file's new path: part 1 was not sent again
        assert report.pushed and report.hashed_files == 0
        assert fault_proxy.count("PUT", r"partNumber=1&") == 1 and fault_proxy.count("PUT", r"partNumber=2&") == 1
        assert status(lib)["pending_uploads"] == 0


def _sha(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}  # fmt: skip


def test_case_only_rename_on_a_case_insensitive_filesystem(tmp_path: Path, corpus: Path) -> None:
    with mounted(tmp_path / "backing", tmp_path / "mnt") as mnt:
        prints = mnt / "prints"
        (prints / "Box").mkdir(parents=True)
        shutil.copyfile(corpus / "prusaslicer-shapes" / "box.stl", prints / "Box" / "Box.stl")
        shutil.copyfile(corpus / "prusaslicer-shapes" / "bunny.stl", prints / "Box" / "lid.stl")
        with zipfile.ZipFile(prints / "Cubes.zip", "w") as zf:  # an archive model: renamed as one file
            zf.write(corpus / "Benchy multi-part" / "Wheel.stl", "Wheel.stl")
        shutil.copyfile(corpus / "3mf-samples" / "cube_gears.3mf", prints / "Gears.3mf")  # a lone file
        for folder, name in (("Prusa/Nut", "M3_hex_nut.stl"), ("Screw", "M3x10_screw.stl")):
            (prints / folder).mkdir(parents=True)
            shutil.copyfile(corpus / "prusaslicer-shapes" / name, prints / folder / name)
        assert (prints / "box").is_dir()  # the filesystem ignores case
        before = _sha(prints)
        with Library(tmp_path / "lib") as lib:
            lib.scan([prints], workers=1, thumbnails=False)
            box = lib.model(str(prints / "Box"))
            cubes = lib.model(str(prints / "Cubes.zip"))
            gears = lib.model(str(prints / "Gears.3mf"))
            lib.update_model(box.id, name="box")
            lib.update_model(cubes.id, name="cubes")
            lib.update_model(gears.id, name="gears")
            lib.tag_model(box.id, "boxes")
            nut, screw = lib.model(str(prints / "Prusa" / "Nut")), lib.model(str(prints / "Screw"))
            lib.update_model(nut.id, creator="prusa")
            lib.update_model(screw.id, creator="PRUSA")
            ids = _places(lib)

            # the names change only in case; a creator's folder that exists is used as it is spelled
            templates = parse_paths(["creator:prusa: {creator}/{model}", "default: {model}"])
            plan = lib.organise_plan(to=prints, templates=templates)
            assert {m.name: m.action for m in plan.moves} == {"box": "case", "cubes": "case", "gears": "move",
                                                              "Nut": "same", "Screw": "move"}
            _, report = lib.organise(to=prints, templates=templates)
            assert (report.models, report.files, report.renamed) == (4, 2, 4)  # two case steps, two links
            # the new spellings, as the folder lists them; the lone file into a folder of its own
            # whose name differs from the file's only in case and extension
            assert sorted(p.name for p in prints.iterdir()) == ["Prusa", "box", "cubes.zip", "gears"]
            assert sorted(p.name for p in (prints / "Prusa").iterdir()) == ["Nut", "Screw"]
            assert sorted(p.name for p in (prints / "box").iterdir()) == ["Box.stl", "lid.stl"]
            assert [p.name for p in (prints / "gears").iterdir()] == ["Gears.3mf"]
            assert not list(prints.rglob(".pm-organise-*"))
            renamed = {"Box": "box", "Box/Box.stl": "box/Box.stl", "Box/lid.stl": "box/lid.stl",
                       "Cubes.zip": "cubes.zip", "Gears.3mf": "gears/Gears.3mf", "Screw": "Prusa/Screw",
                       "Screw/M3x10_screw.stl": "Prusa/Screw/M3x10_screw.stl"}
            assert _sha(prints) == {renamed.get(k, k): v for k, v in before.items()} | {"gears": "dir"}
            after = _places(lib)
            assert after.keys() == ids.keys()  # the same files, ids kept
            assert sorted(after.values()) == sorted([str(prints / "box" / "Box.stl"), str(prints / "box" / "lid.stl"),
                                                     str(prints / "cubes.zip!/Wheel.stl"),
                                                     str(prints / "gears" / "Gears.3mf"),
                                                     str(prints / "Prusa" / "Nut" / "M3_hex_nut.stl"),
                                                     str(prints / "Prusa" / "Screw" / "M3x10_screw.stl")])
            assert lib.model(box.id).path == str(prints / "box") and lib.model(box.id).tags == ("boxes",)
            assert lib.model(cubes.id).path == str(prints / "cubes.zip")
            assert lib.model(gears.id).path == str(prints / "gears")
            assert lib.scan(workers=1, thumbnails=False).added == 0

            lib.organise_undo()
            assert sorted(p.name for p in prints.iterdir()) == ["Box", "Cubes.zip", "Gears.3mf", "Prusa", "Screw"]
            assert _sha(prints) == before and _places(lib) == ids
            assert lib.model(box.id).path == str(prints / "Box")


@pytest.mark.parametrize("then", ["resume", "undo"])
def test_case_only_rename_killed_halfway_on_a_case_insensitive_filesystem(tmp_path: Path, corpus: Path,
                                                                          then: str) -> None:
    with mounted(tmp_path / "backing", tmp_path / "mnt") as mnt:
        prints = mnt / "prints"
        (prints / "Box").mkdir(parents=True)
        shutil.copyfile(corpus / "prusaslicer-shapes" / "box.stl", prints / "Box" / "Box.stl")
        before = _sha(prints)
        lib_dir = tmp_path / "lib"
        with Library(lib_dir) as lib:
            lib.scan([prints], workers=1, thumbnails=False)
            lib.update_model(lib.model(str(prints / "Box")).id, name="box")
            lib.settings.set("organise.paths", ["default: {model}"])
        # killed between the two renames: the folder has only its temporary name
        killed = subprocess.run([sys.executable, "-m", "printmanager_core", "--library", str(lib_dir), "organise",
                                 "--to", str(prints), "--yes"], capture_output=True, text=True,
                                env={**os.environ, "PRINTMANAGER_TEST_KILL_AT": "case:1"})  # fmt: skip
        assert killed.returncode == -9, killed.stderr
        [hidden] = [p.name for p in prints.iterdir()]
        assert hidden.startswith(".pm-organise-") and hidden.endswith(".case")
        with Library(lib_dir) as lib:
            if then == "undo":  # the interrupted rename is finished, then reversed
                lib.organise_undo()
                assert [p.name for p in prints.iterdir()] == ["Box"] and _sha(prints) == before
                assert [f.path for f in lib.files()] == [str(prints / "Box" / "Box.stl")]
                assert lib.model(str(prints / "Box")).name == "box"
                return
            assert lib.organise_resume().renamed == 1
            assert [p.name for p in prints.iterdir()] == ["box"]
            assert _sha(prints) == {"box": "dir", "box/Box.stl": before["Box/Box.stl"]}
            assert [f.path for f in lib.files()] == [str(prints / "box" / "Box.stl")]
            lib.organise_undo()
            assert [p.name for p in prints.iterdir()] == ["Box"] and _sha(prints) == before
            assert [f.path for f in lib.files()] == [str(prints / "Box" / "Box.stl")]
