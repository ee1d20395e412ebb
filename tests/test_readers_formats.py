"""The OFF, AMF, glTF/GLB and STEP readers against real files (trimesh, process=False, as the
reference where it reads them), readers that decline, lenient PLY headers, open-mesh volume."""

from __future__ import annotations

import io
import json
import math
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import trimesh

from read_support import refused

from printmanager_core import Library
from printmanager_core.readers import format_from_name, read_source, reader_for
from printmanager_core.readers.base import NotThisFormat, ReadError, Source
from printmanager_core.readers.mesh import OPEN_MESH

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
MORE = CORPUS / "more-formats"


def _read(path: Path):  # type: ignore[no-untyped-def]
    return read_source(Source.from_path(path))


def _close(ours: float, ref: float, rel: float = 1e-4) -> bool:
    return abs(ours - ref) <= rel * max(abs(ref), 1e-9)


@pytest.mark.parametrize("name", ["Cube.off", "BoxTextured.glb", "2CylinderEngine.glb"])
def test_corpus_file_matches_trimesh(corpus: Path, name: str) -> None:
    path = MORE / name
    res = _read(path)
    ref = trimesh.load(str(path), process=False)
    mesh = ref.to_mesh() if isinstance(ref, trimesh.Scene) else ref
    assert res.triangles == len(mesh.faces)
    for ours, theirs in zip(res.bbox_mm, mesh.extents):
        assert _close(ours, float(theirs)), (res.bbox_mm, mesh.extents)
    assert _close(res.area_mm2, float(mesh.area))
    # watertight as trimesh sees it once vertices at one position are merged (texture
    # seams keep glTF vertices apart otherwise), placed part by part
    parts = ref.dump() if isinstance(ref, trimesh.Scene) else [ref]
    assert res.watertight == all(trimesh.Trimesh(p.vertices, p.faces, process=True).is_watertight for p in parts)
    if res.watertight:
        assert _close(res.volume_mm3, abs(float(mesh.volume)))
        assert not res.problems
    else:
        assert res.volume_mm3 is None and res.problems == [OPEN_MESH]


def test_corpus_facts(corpus: Path) -> None:
    cube = _read(MORE / "Cube.off")
    assert (cube.format, cube.triangles, cube.bbox_mm, cube.volume_mm3) == ("off", 12, (1.0, 1.0, 1.0), 1.0)
    engine = _read(MORE / "2CylinderEngine.glb")
    assert engine.triangles == 121_496 and engine.meta["placed_primitives"] == 115
    assert [round(v, 1) for v in engine.bbox_mm] == [743.4, 273.0, 268.0]


def test_amf_plain_and_zipped(corpus: Path, tmp_path: Path) -> None:
    # trimesh has no AMF reader: the tetrahedron's figures by hand (base 0.75 mm2, height 4 mm)
    one = _read(MORE / "test1.amf")
    assert (one.format, one.triangles, one.bbox_mm, one.watertight) == ("amf", 4, (1.5, 1.0, 4.0), True)
    assert math.isclose(one.volume_mm3, 0.75 * 4 / 3)
    tetra = trimesh.Trimesh([(-0.5, -0.5, 0), (-0.5, 0.5, 0), (1, 0, 0), (0, 0, 4)],
                            [(0, 1, 2), (0, 3, 1), (1, 3, 2), (0, 2, 3)], process=False)
    assert math.isclose(one.area_mm2, tetra.area) and math.isclose(one.volume_mm3, tetra.volume)
    # two volumes over shared vertices: each closed, together 2 tetrahedra; constellations noted
    nine = _read(MORE / "test9.amf")
    assert nine.triangles == 8 and nine.watertight is True and math.isclose(nine.volume_mm3, 2.0)
    assert nine.meta["volumes"] == 2 and nine.meta["constellations"] == 2
    assert any("constellation" in p for p in nine.problems)
    # zipped (as PrusaSlicer writes it), and in inches
    data = (MORE / "test1.amf").read_bytes().replace(b"<amf>", b'<amf unit="inch">')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("part.amf", data)
    (tmp_path / "part.amf").write_bytes(buf.getvalue())
    zipped = _read(tmp_path / "part.amf")
    assert zipped.meta["compressed"] is True and zipped.meta["unit"] == "inch"
    assert math.isclose(zipped.volume_mm3, 25.4**3)
    assert zipped.bbox_mm == pytest.approx((1.5 * 25.4, 25.4, 4 * 25.4))
    assert reader_for("part.amf").triangles(Source.from_path(tmp_path / "part.amf")).shape == (4, 3, 3)


def test_amf_hostile(tmp_path: Path) -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            b"<amf><metadata type=\"name\">&b;</metadata></amf>")
    assert "entit" in refused(lambda: read_source(Source.from_bytes("x.amf", bomb)))
    bad_index = (MORE / "test1.amf").read_bytes().replace(b"<v3>3</v3>", b"<v3>99</v3>")
    assert "vertex 99" in refused(lambda: read_source(Source.from_bytes("x.amf", bad_index)))
    assert "not well-formed" in refused(lambda: read_source(Source.from_bytes("x.amf", b"<amf><object>")))
    with pytest.raises(NotThisFormat):
        read_source(Source.from_bytes("x.amf", b"<html><body>not a model</body></html>"))


def test_broken_files_get_one_line_errors(corpus: Path) -> None:
    msg = refused(lambda: _read(MORE / "broken-gltf" / "IndexOutOfRange.gltf"))
    assert "refers to vertex 255" in msg and "24 vertices" in msg
    assert "declares 3 vertices and 4 faces" in refused(lambda: _read(MORE / "invalid.off"))


def _glb(doc: dict, binary: bytes) -> bytes:
    js = json.dumps(doc).encode()
    js += b" " * (-len(js) % 4)
    binary += b"\0" * (-len(binary) % 4)
    body = struct.pack("<II", len(js), 0x4E4F534A) + js + struct.pack("<II", len(binary), 0x004E4942) + binary
    return struct.pack("<III", 0x46546C67, 2, 12 + len(body)) + body


def _box_doc(uri: str | None, length: int) -> dict:
    buffer = {"byteLength": length} if uri is None else {"byteLength": length, "uri": uri}
    return {
        "asset": {"version": "2.0"},
        "buffers": [buffer],
        "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": 8 * 12},
                        {"buffer": 0, "byteOffset": 8 * 12, "byteLength": 36 * 4}],
        "accessors": [{"bufferView": 0, "componentType": 5126, "count": 8, "type": "VEC3"},
                      {"bufferView": 1, "componentType": 5125, "count": 36, "type": "SCALAR"}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1}]}],
        # the node doubles the box and moves it: 2 x 2 x 2 at (10, 0, 0)
        "nodes": [{"mesh": 0, "scale": [2, 2, 2], "translation": [10, 0, 0]}],
        "scenes": [{"nodes": [0]}],
    }


def _box_bytes() -> bytes:
    box = trimesh.creation.box()
    return box.vertices.astype("<f4").tobytes() + box.faces.astype("<u4").tobytes()


def test_gltf_external_buffer_beside_the_file_only(tmp_path: Path) -> None:
    binary = _box_bytes()
    (tmp_path / "box.bin").write_bytes(binary)
    (tmp_path / "box.gltf").write_text(json.dumps(_box_doc("box.bin", len(binary))))
    res = _read(tmp_path / "box.gltf")
    assert res.triangles == 12 and res.bbox_mm == (2.0, 2.0, 2.0) and math.isclose(res.volume_mm3, 8.0)
    ref = trimesh.load(str(tmp_path / "box.gltf"), process=False).to_mesh()
    assert np.allclose(ref.bounds, [[9, -1, -1], [11, 1, 1]])
    # a buffer outside the folder is not read, however it is named
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.bin").write_bytes(binary)
    inner = tmp_path / "models"
    inner.mkdir()
    (inner / "link.bin").symlink_to(outside / "secret.bin")
    for uri in ("../outside/secret.bin", str(outside / "secret.bin"), "link.bin", "%2e%2e/outside/secret.bin"):
        (inner / "box.gltf").write_text(json.dumps(_box_doc(uri, len(binary))))
        msg = refused(lambda: _read(inner / "box.gltf"))
        assert "folder" in msg or "beside" in msg, (uri, msg)
    # a data: URI works; an archive member cannot reach external files
    import base64

    doc = _box_doc("data:application/octet-stream;base64," + base64.b64encode(binary).decode(), len(binary))
    assert read_source(Source.from_bytes("box.gltf", json.dumps(doc).encode())).triangles == 12
    assert "not available" in refused(
        lambda: read_source(Source.from_bytes("box.gltf", json.dumps(_box_doc("box.bin", len(binary))).encode())))


def test_glb_lying_counts_and_cycles_are_refused_fast() -> None:
    binary = _box_bytes()
    doc = _box_doc(None, len(binary))
    assert _glb_result(doc, binary).triangles == 12
    lying = json.loads(json.dumps(doc))
    lying["accessors"][0]["count"] = 10**9
    assert "1000000000 elements" in refused(lambda: _glb_result(lying, binary))
    cycle = json.loads(json.dumps(doc))
    cycle["nodes"] = [{"children": [1]}, {"children": [0], "mesh": 0}]
    assert "cycle" in refused(lambda: _glb_result(cycle, binary))
    view = json.loads(json.dumps(doc))
    view["bufferViews"][1]["byteLength"] = 10**12
    assert "past the end" in refused(lambda: _glb_result(view, binary))
    truncated = _glb(doc, binary)[:-100]
    assert "truncated" in refused(lambda: read_source(Source.from_bytes("x.glb", truncated)))


def _glb_result(doc: dict, binary: bytes):  # type: ignore[no-untyped-def]
    return read_source(Source.from_bytes("x.glb", _glb(doc, binary)))


def test_step_header() -> None:
    text = (b"ISO-10303-21;\nHEADER;\nFILE_DESCRIPTION(('Bracket, rev B'),'2;1');\n"
            b"FILE_NAME('bracket.step','2024-03-01T10:00:00',('Ren\\X2\\00E9\\X0\\ O''Neil'),('ACME Ltd'),"
            b"'ST-DEVELOPER v18','SolidWorks 2023','');\nFILE_SCHEMA(('AUTOMOTIVE_DESIGN'));\nENDSEC;\n"
            b"DATA;\n#1=CARTESIAN_POINT('',(0.,0.,0.));\nENDSEC;\nEND-ISO-10303-21;\n")
    res = read_source(Source.from_bytes("bracket.stp", text))
    assert res.format == "step" and res.triangles is None and res.volume_mm3 is None
    assert res.meta == {
        "description": "Bracket, rev B", "name": "bracket.step", "timestamp": "2024-03-01T10:00:00",
        "author": "René O'Neil", "organization": "ACME Ltd", "preprocessor": "ST-DEVELOPER v18",
        "originating_system": "SolidWorks 2023", "schema": "AUTOMOTIVE_DESIGN",
    }
    assert "HEADER" in refused(lambda: read_source(Source.from_bytes("x.step", b"ISO-10303-21;\nDATA;\n")))
    with pytest.raises(NotThisFormat):
        read_source(Source.from_bytes("x.stp", b"solid not a step file\n"))


def test_declined_files_are_catalogued_as_plain_files(tmp_path: Path, corpus: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "notes.stp").write_text("Stepper motor wiring notes, not a STEP file\n")
    (models / "page.gltf").write_text("<html>a saved web page</html>")
    (models / "random.glb").write_bytes(b"\x01\x02" * 64)
    shutil.copy(MORE / "Cube.off", models / "cube.off")
    with Library(tmp_path / "lib") as lib:
        report = lib.scan([models], workers=1)
        assert report.errors == 0
        for name, fmt in (("notes.stp", "stp"), ("page.gltf", "gltf"), ("random.glb", "glb")):
            f = lib.file(models / name)
            assert (f.format, f.error, f.triangles) == (fmt, None, None), name
            assert f.hash and f.hash.startswith("sha256:")
        assert lib.file(models / "cube.off").triangles == 12
    assert format_from_name("Photo.JPEG") == "jpg" and format_from_name("README") is None


BLENDER_PLY = b"""ply
format ascii 1.0
Created by Blender3D 2.79 - www.blender.org, source file: 'cube.blend'
element vertex 4
property float x
property float y
property float z
element face 4
property list uchar uint vertex_indices
end_header
0 0 0
1 0 0
0 1 0
0 0 1
3 0 2 1
3 0 1 3
3 0 3 2
3 1 2 3
"""


def test_ply_unknown_header_lines_are_a_problem_not_an_error() -> None:
    res = read_source(Source.from_bytes("cube.ply", BLENDER_PLY))
    assert res.triangles == 4 and res.watertight is True and math.isclose(res.volume_mm3, 1 / 6)
    assert res.problems == ["PLY header lines with an unknown keyword were skipped: line 3 ('Created')"]
    # a malformed known line is still an error
    bad = BLENDER_PLY.replace(b"element vertex 4", b"element vertex four")
    assert "bad element line" in refused(lambda: read_source(Source.from_bytes("cube.ply", bad)))


def test_open_mesh_has_no_volume(corpus: Path) -> None:
    # one face of a closed tetrahedron removed: the old origin-dependent sum is gone
    res = read_source(Source.from_bytes("open.ply", BLENDER_PLY.replace(b"element face 4", b"element face 3")
                                        .replace(b"3 1 2 3\n", b"")))
    assert res.watertight is False and res.volume_mm3 is None and OPEN_MESH in res.problems
    spider = _read(CORPUS / "assimp" / "Spider_binary.stl")
    assert spider.watertight is False and spider.volume_mm3 is None and OPEN_MESH in spider.problems
    with pytest.raises(ReadError):
        read_source(Source.from_bytes("x.off", b"OFF\n1 1 0\n0 0 0\n3 0 0 5\n"))


def test_off_face_index_past_64_bits_is_a_read_error() -> None:
    # found by bench/fuzz.py: an OverflowError before
    data = b"OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n4 0 1 2 184467440737095516161\n"
    assert "vertex" in refused(lambda: read_source(Source.from_bytes("x.off", data)))
    slow = b"OFF\n3 2 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n4 0 1 2 184467440737095516161\n"  # mixed: row by row
    assert "does not exist" in refused(lambda: read_source(Source.from_bytes("x.off", slow)))
