"""Mesh readers (STL, OBJ, PLY, 3MF): every corpus file against an independent reader
(trimesh, process=False), every broken file refused or flagged, hostile inputs refused fast."""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
import trimesh

from read_support import refused

from printmanager_core.readers import get_readers, read_source, reader_for
from printmanager_core.readers.base import Limits, ReadError, ReadResult, Source
from printmanager_core.readers.mesh import (
    OPEN_MESH,
    MeshMetrics,
    is_watertight,
    measure_indexed,
    measure_triangles,
    metrics_from_indexed,
)

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
MESH_EXTENSIONS = (".stl", ".obj", ".ply", ".3mf")
BAD_FOLDERS = ("broken", "3mf-invalid")


def _mesh_files(bad_folders: bool) -> list[str]:
    if not CORPUS.is_dir():
        return []
    out = []
    for path in sorted(CORPUS.rglob("*")):
        rel = path.relative_to(CORPUS).as_posix()
        if not path.is_file() or not rel.lower().endswith(MESH_EXTENSIONS):
            continue
        bad = rel.split("/", 1)[0] in BAD_FOLDERS
        if bad == bad_folders:
            out.append(rel)
    return out


GOOD_FILES = _mesh_files(bad_folders=False)
BAD_FILES = _mesh_files(bad_folders=True)

#: files trimesh cannot measure, and why (each still checked for sane values)
TRIMESH_CANNOT: dict[str, str] = {
    "3mf-samples/pyramid (beam lattice).3mf": "beam lattice only: trimesh sees 0 faces and calls the empty mesh "
    "watertight; ours has 0 triangles and sizes unknown (None)",
}
#: what each broken / invalid file must give: ReadError matching the text, or a problem matching it
BAD_EXPECTED: dict[str, tuple[str, str]] = {
    "broken/empty.obj": ("error", "empty file"),
    "broken/empty.ply": ("error", "empty file"),
    "broken/empty.stl": ("error", "empty file"),
    "broken/empty2.stl": ("error", "no triangles"),
    "broken/invalidvertex.stl": ("error", "not a number: 'blah'"),
    "broken/malformed.obj": ("error", "vertex 0"),
    "broken/not-a-zip.3mf": ("error", "not a zip archive"),
    "broken/toomanyvertices.stl": ("error", "malformed ASCII STL at line 86"),
    "broken/unparseable.stl": ("error", "malformed ASCII STL at line 2"),
    "3mf-invalid/NonExist3DModelPart.3mf": ("problem", "no 3D model relationship"),
    "3mf-invalid/NonExistThumbnailPart.3mf": ("problem", "/Metadata/nothumbnailfile.png does not exist"),
    "3mf-invalid/NonUTF_Encoding.3mf": ("error", "not UTF-8"),
    "3mf-invalid/NotMatchingObjectIdInBuildItem.3mf": ("problem", "names object 14, which does not exist"),
}
#: in broken/ but a valid mesh: OpenSCAD keeps it because an old CGAL failed to triangulate it
#: (its test file says "This has been fixed"); it is a clean, watertight binary STL.
VALID_IN_BROKEN = {"broken/bad-stl-tardis.stl"}


def _read(path: Path, limits: Limits | None = None) -> ReadResult:
    return read_source(Source.from_path(path, limits=limits) if limits else Source.from_path(path))


def _trimesh_mesh(path: Path, process: bool) -> trimesh.Trimesh:
    if path.suffix.lower() == ".3mf":
        scene = trimesh.load(str(path), process=process)
        assert isinstance(scene, trimesh.Scene)
        return scene.to_mesh()  # every geometry placed by the scene graph, concatenated
    mesh = trimesh.load(str(path), process=process, force="mesh")
    assert isinstance(mesh, trimesh.Trimesh)
    return mesh


def _trimesh_watertight(path: Path) -> bool:
    if path.suffix.lower() == ".3mf":
        scene = trimesh.load(str(path), process=True)
        return all(g.is_watertight for g in scene.dump())
    return bool(trimesh.load(str(path), process=True, force="mesh").is_watertight)


def _close(ours: float, ref: float, scale: float, rel: float = 1e-3) -> bool:
    return abs(ours - ref) <= rel * max(abs(ref), scale * 1e-3, 1e-9)


def _assert_sane(res: ReadResult) -> None:
    assert res.triangles is not None and res.triangles >= 0
    if res.triangles:
        assert res.bbox_mm is not None and all(math.isfinite(v) and v >= 0 for v in res.bbox_mm)
        assert res.area_mm2 is not None and res.area_mm2 > 0
        assert res.watertight in (True, False)
        # an open mesh encloses no volume: unknown (None), and a problem says "open mesh"
        if res.watertight:
            assert res.volume_mm3 is not None and math.isfinite(res.volume_mm3) and res.volume_mm3 >= 0
        else:
            assert res.volume_mm3 is None and OPEN_MESH in res.problems


def test_corpus_has_mesh_files(corpus: Path) -> None:
    assert len(GOOD_FILES) >= 30 and len(BAD_FILES) >= 14
    assert {"stl", "obj", "ply", "3mf"} <= set(get_readers().names())
    for rel in GOOD_FILES + BAD_FILES:
        reader = reader_for(rel)
        assert reader is not None and reader.name in {"stl", "obj", "ply", "3mf"}, rel


@pytest.mark.parametrize("rel", GOOD_FILES)
def test_corpus_file_matches_trimesh(corpus: Path, rel: str) -> None:
    path = corpus / rel
    res = _read(path)
    assert res.format == reader_for(rel).name
    _assert_sane(res)
    ref = _trimesh_mesh(path, process=False)
    assert res.triangles == len(ref.faces), "triangle count"
    if rel in TRIMESH_CANNOT:
        assert res.triangles == 0 and res.bbox_mm is None and res.volume_mm3 is None
        assert res.problems, TRIMESH_CANNOT[rel]
        return
    extents = ref.extents
    scale = float(max(extents))
    assert res.bbox_mm is not None
    for ours, theirs in zip(res.bbox_mm, extents):
        assert _close(ours, float(theirs), scale), f"bbox {res.bbox_mm} vs {extents}"
    assert _close(res.area_mm2, float(ref.area), scale**2), f"area {res.area_mm2} vs {ref.area}"
    if res.watertight:
        assert _close(res.volume_mm3, abs(float(ref.volume)), scale**3), f"volume {res.volume_mm3} vs {ref.volume}"
    else:
        # An open mesh has no enclosed volume: unknown, never an origin-dependent sum.
        assert res.volume_mm3 is None
    assert not [p for p in res.problems if p != OPEN_MESH], res.problems


@pytest.mark.parametrize("rel", GOOD_FILES)
def test_corpus_watertight_matches_trimesh(corpus: Path, rel: str) -> None:
    path = corpus / rel
    res = _read(path)
    if rel in TRIMESH_CANNOT:
        assert res.watertight is None, TRIMESH_CANNOT[rel]
        return
    assert res.watertight == _trimesh_watertight(path)


def test_corpus_watertight_facts(corpus: Path) -> None:
    for rel in ("assimp/Spider_ascii.stl", "assimp/Spider_binary.stl", "printer-beds/UltimakerRobot_support.stl"):
        assert _read(corpus / rel).watertight is False, rel
    for rel in ("prusaslicer-shapes/box.stl", "Benchy multi-part/Wheel.stl", "3mf-samples/torus.3mf",
                "assimp/cube_binary.ply", "printer-beds/FlashForge_DreamerNX.obj"):
        assert _read(corpus / rel).watertight is True, rel


def test_ascii_and_binary_spider_agree(corpus: Path) -> None:
    a = _read(corpus / "assimp" / "Spider_ascii.stl")
    b = _read(corpus / "assimp" / "Spider_binary.stl")
    assert a.meta["encoding"] == "ascii" and b.meta["encoding"] == "binary"
    assert a.triangles == b.triangles == 1368
    assert np.allclose(a.bbox_mm, b.bbox_mm, rtol=1e-6) and math.isclose(a.area_mm2, b.area_mm2, rel_tol=1e-6)


@pytest.mark.parametrize("rel", BAD_FILES)
def test_broken_and_invalid_files_are_refused_or_flagged(corpus: Path, rel: str) -> None:
    path = corpus / rel
    if rel in VALID_IN_BROKEN:
        res = _read(path)
        assert res.triangles == 3636 and res.watertight is True and not res.problems
        assert res.watertight == _trimesh_watertight(path)
        return
    kind, text = BAD_EXPECTED[rel]
    if kind == "error":
        with pytest.raises(ReadError) as err:
            _read(path)
        assert text in str(err.value)
        assert "\n" not in str(err.value)
    else:
        res = _read(path)
        assert any(text in p for p in res.problems), res.problems


def test_every_bad_file_has_an_expectation() -> None:
    assert set(BAD_FILES) == set(BAD_EXPECTED) | VALID_IN_BROKEN


# --- hostile input: refused fast, in bounded memory ------------------------------


def _write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return path


RELS = (b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        b'2006/relationships"><Relationship Target="/3D/3dmodel.model" Id="rel0" '
        b'Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/></Relationships>')
CONTENT_TYPES = (b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/'
                 b'2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-'
                 b'package.relationships+xml"/><Default Extension="model" ContentType="application/vnd.ms-'
                 b'package.3dmanufacturing-3dmodel+xml"/></Types>')


def test_stl_header_claiming_a_billion_triangles(tmp_path: Path) -> None:
    path = tmp_path / "liar.stl"
    path.write_bytes(b"\0" * 80 + (10**9).to_bytes(4, "little") + b"\0" * 500)
    message = refused(lambda: _read(path), max_bytes=1024**2)
    assert "1000000000 triangles" in message


def test_stl_header_over_the_triangle_limit(tmp_path: Path) -> None:
    path = tmp_path / "many.stl"
    count = 1000
    path.write_bytes(b"\0" * 80 + count.to_bytes(4, "little") + b"\0" * (50 * count))
    assert _read(path).triangles == count  # readable at the default limit (degenerate all-zero triangles)
    message = refused(lambda: _read(path, Limits(max_triangles=999)))
    assert "more than the limit of 999" in message


def test_truncated_binary_stl(tmp_path: Path, corpus: Path) -> None:
    data = (corpus / "prusaslicer-shapes" / "torus.stl").read_bytes()
    path = tmp_path / "cut.stl"
    path.write_bytes(data[: len(data) // 2])
    message = refused(lambda: _read(path))
    assert "truncated binary STL" in message and "3072 triangles" in message


def test_zip_bomb_3mf(tmp_path: Path) -> None:
    model = b'<?xml version="1.0"?><model unit="millimeter">' + b" " * (60 * 1024**2) + b"</model>"
    path = _write_zip(tmp_path / "bomb.3mf", {"_rels/.rels": RELS, "[Content_Types].xml": CONTENT_TYPES,
                                              "3D/3dmodel.model": model})
    del model
    assert path.stat().st_size < 200_000
    message = refused(lambda: _read(path), max_bytes=4 * 1024**2)
    assert "compression ratio" in message and "3D/3dmodel.model" in message


def test_billion_laughs_3mf(tmp_path: Path) -> None:
    lol = (b'<?xml version="1.0"?><!DOCTYPE model [<!ENTITY lol "lol">'
           + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                      for i in range(1, 10))
           + b']><model unit="millimeter"><metadata name="Title">&lol9;</metadata></model>')
    path = _write_zip(tmp_path / "lol.3mf", {"_rels/.rels": RELS, "3D/3dmodel.model": lol})
    message = refused(lambda: _read(path))
    assert "entity declarations are not allowed" in message


def test_xml_bomb_in_relationships_part(tmp_path: Path) -> None:
    rels = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><Relationships>&a;</Relationships>'
    path = _write_zip(tmp_path / "lol.3mf", {"_rels/.rels": rels, "3D/3dmodel.model": b"<model/>"})
    assert "entity declarations are not allowed" in refused(lambda: _read(path))


@pytest.mark.parametrize("name", ["../../evil.model", "3D/../../evil.model", "/etc/evil.model", "C:\\evil.model"])
def test_path_traversal_member_in_3mf(tmp_path: Path, name: str) -> None:
    path = _write_zip(tmp_path / "trav.3mf", {"_rels/.rels": RELS, "3D/3dmodel.model": b"<model/>", name: b"x"})
    message = refused(lambda: _read(path))
    assert repr(name) in message


def test_not_a_zip_3mf_is_fast(tmp_path: Path) -> None:
    path = tmp_path / "x.3mf"
    path.write_bytes(b"PK\x03\x04" + b"\0" * 1000)
    assert "not a zip archive" in refused(lambda: _read(path))


def test_ply_header_claiming_a_billion_vertices(tmp_path: Path) -> None:
    path = tmp_path / "liar.ply"
    path.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 1000000000\nproperty float x\n"
                     b"property float y\nproperty float z\nelement face 1\nproperty list uchar int vertex_indices\n"
                     b"end_header\n" + b"\0" * 100)
    assert "truncated PLY" in refused(lambda: _read(path), max_bytes=1024**2)


def test_obj_with_out_of_range_index(tmp_path: Path) -> None:
    path = tmp_path / "bad.obj"
    path.write_bytes(b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n")
    assert "refers to vertex 4, but the file defines 3 vertices" in refused(lambda: _read(path))


# --- format features --------------------------------------------------------------

CUBE_V = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]], float)
CUBE_QUADS = [[0, 3, 2, 1], [4, 5, 6, 7], [0, 1, 5, 4], [1, 2, 6, 5], [2, 3, 7, 6], [3, 0, 4, 7]]
CUBE_TRIS = np.array([[q[0], q[i], q[i + 1]] for q in CUBE_QUADS for i in (1, 2)])


def _ascii_stl(tris: np.ndarray, name: str = "x", upper: bool = False) -> str:
    lines = [f"solid {name}"]
    for t in tris:
        lines += ["  facet normal 0 0 0", "    outer loop"] + [f"      vertex {x:.6g} {y:.6g} {z:.6g}" for x, y, z in t]
        lines += ["    endloop", "  endfacet"]
    lines.append(f"endsolid {name}")
    text = "\n".join(lines) + "\n"
    return text.upper() if upper else text


def _binary_stl(tris: np.ndarray, header: bytes = b"binary") -> bytes:
    rec = np.zeros(len(tris), dtype=[("n", "<f4", (3,)), ("v", "<f4", (3, 3)), ("a", "<u2")])
    rec["v"] = tris
    return header.ljust(80, b" ") + len(tris).to_bytes(4, "little") + rec.tobytes()


def _check_cube(res: ReadResult, scale: float = 1.0) -> None:
    assert res.triangles == 12
    assert np.allclose(res.bbox_mm, (scale,) * 3)
    assert math.isclose(res.volume_mm3, scale**3, rel_tol=1e-9)
    assert math.isclose(res.area_mm2, 6 * scale**2, rel_tol=1e-9)
    assert res.watertight is True


def test_stl_ascii_upper_case_and_several_solids() -> None:
    tris = CUBE_V[CUBE_TRIS]
    text = _ascii_stl(tris[:5], "first", upper=True) + "\r\n" + _ascii_stl(tris[5:], "second part")
    res = read_source(Source.from_bytes("cube.STL", text.encode()))
    _check_cube(res)
    assert res.meta == {"encoding": "ascii", "solids": 2}


def test_stl_binary_with_solid_header() -> None:
    data = _binary_stl(CUBE_V[CUBE_TRIS], header=b"solid exported by SolidWorks")
    res = read_source(Source.from_bytes("cube.stl", data))
    _check_cube(res)
    assert res.meta["encoding"] == "binary"


def test_stl_binary_trailing_bytes_is_a_problem() -> None:
    data = _binary_stl(CUBE_V[CUBE_TRIS]) + b"\0\0\0"
    res = read_source(Source.from_bytes("cube.stl", data))
    _check_cube(res)
    assert res.problems == ["binary STL has 3 bytes after its 12 triangles"]


def test_stl_ascii_without_endsolid_is_a_problem() -> None:
    text = _ascii_stl(CUBE_V[CUBE_TRIS]).replace("endsolid x\n", "")
    res = read_source(Source.from_bytes("cube.stl", text.encode()))
    _check_cube(res)
    assert "without 'endsolid'" in res.problems[0]


def test_stl_ascii_truncated_inside_a_facet() -> None:
    text = _ascii_stl(CUBE_V[CUBE_TRIS])
    cut = text.index("vertex", len(text) // 2) + 10  # inside a vertex line
    with pytest.raises(ReadError, match="malformed ASCII STL"):
        read_source(Source.from_bytes("cube.stl", text[:cut].encode()))
    # cut between two facets: every facet read is whole, the missing end is flagged
    cut = text.index("endfacet", len(text) // 2) + len("endfacet\n")
    res = read_source(Source.from_bytes("cube.stl", text[:cut].encode()))
    assert 0 < res.triangles < 12 and "without 'endsolid'" in res.problems[0]


def test_stl_nan_coordinates() -> None:
    tris = CUBE_V[CUBE_TRIS].copy()
    tris[3, 1, 2] = np.nan
    with pytest.raises(ReadError, match="not finite"):
        read_source(Source.from_bytes("nan.stl", _binary_stl(tris)))


OBJ_CUBE = """\
# corners in every form the format allows
mtllib cube.mtl
o first
v 0 0 0
v 1 0 0
v 1 1 0
v 0 1 0
vt 0 0
vt 1 0
vt 1 1
vn 0 0 -1
usemtl a
f 1/1/1 4/2/1 3/3/1 2/1/1
g side
f 1//1 2//1 6//1 5//1
o second
v 0 0 1
v 1 0 1
v 1 1 1
v 0 1 1
f -4/1 -3/2 -2/3 -1/1
f 2/1 3/2 7/3
f 2 7 6
g back
f -6 -5 -1 -2
f 4 1 5 8
"""


def test_obj_corner_forms_negative_indices_polygons_objects(tmp_path: Path) -> None:
    path = tmp_path / "cube.obj"
    path.write_text(OBJ_CUBE)
    res = _read(path)
    _check_cube(res)
    assert res.meta == {"vertices": 8, "objects": 2, "groups": 2, "faces": 7}
    ref = trimesh.load(str(path), process=False, force="mesh")
    assert len(ref.faces) == res.triangles and math.isclose(ref.volume, res.volume_mm3)


def test_obj_short_face_is_a_problem() -> None:
    text = OBJ_CUBE + "f 1 2\n"
    res = read_source(Source.from_bytes("cube.obj", text.encode()))
    _check_cube(res)
    assert res.problems == ["1 OBJ faces with fewer than 3 corners were skipped"]


@pytest.mark.parametrize("bad, message", [("v 1 2\n", "needs x, y and z"), ("v 1 2 x\n", "not a number"),
                                          ("f 1 a 2\n", "not a vertex index"), ("f 1 2 -99\n", "vertex -99")])
def test_obj_malformed_lines(bad: str, message: str) -> None:
    with pytest.raises(ReadError, match=message):
        read_source(Source.from_bytes("bad.obj", (OBJ_CUBE + bad).encode()))


def _ply(fmt: str, faces: list[list[int]], extra_element: bool = False) -> bytes:
    header = [
        "ply", f"format {fmt} 1.0", "comment made by the test",
        f"element vertex {len(CUBE_V)}", "property double x", "property double y", "property double z",
        "property uchar red",
    ]
    if extra_element:
        header += ["element edge 2", "property int vertex1", "property int vertex2"]
    header += [f"element face {len(faces)}", "property list uchar int vertex_indices", "property float quality"]
    header.append("end_header")
    head = ("\n".join(header) + "\n").encode()
    if fmt == "ascii":
        body = [f"{x} {y} {z} 7" for x, y, z in CUBE_V]
        if extra_element:
            body += ["0 1", "1 2"]
        body += [" ".join([str(len(f))] + [str(i) for i in f] + ["0.5"]) for f in faces]
        return head + ("\n".join(body) + "\n").encode()
    order = "<" if fmt == "binary_little_endian" else ">"
    out = io.BytesIO()
    out.write(head)
    for x, y, z in CUBE_V:
        out.write(np.array([x, y, z], dtype=order + "f8").tobytes() + b"\x07")
    if extra_element:
        out.write(np.array([0, 1, 1, 2], dtype=order + "i4").tobytes())
    for f in faces:
        out.write(bytes([len(f)]) + np.array(f, dtype=order + "i4").tobytes() + np.array([0.5], order + "f4").tobytes())
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["ascii", "binary_little_endian", "binary_big_endian"])
@pytest.mark.parametrize("shape", ["quads", "triangles", "mixed"])
def test_ply_formats_and_polygons(tmp_path: Path, fmt: str, shape: str) -> None:
    faces = {"quads": CUBE_QUADS, "triangles": CUBE_TRIS.tolist(),
             "mixed": CUBE_QUADS[:3] + CUBE_TRIS[6:].tolist()}[shape]
    path = tmp_path / "cube.ply"
    path.write_bytes(_ply(fmt, faces, extra_element=(shape == "mixed")))
    res = _read(path)
    _check_cube(res)
    assert res.meta["encoding"] == fmt and not res.problems
    if shape != "mixed":  # trimesh needs scipy (not installed) to triangulate mixed polygons
        ref = trimesh.load(str(path), process=False, force="mesh")
        assert len(ref.faces) == 12 and math.isclose(ref.volume, res.volume_mm3)


def test_ply_without_faces_and_truncated(tmp_path: Path) -> None:
    cloud = b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\nproperty float z\nend_header\n1 2 3\n"
    with pytest.raises(ReadError, match="no 'face' element"):
        read_source(Source.from_bytes("cloud.ply", cloud))
    data = _ply("binary_little_endian", CUBE_QUADS)
    with pytest.raises(ReadError, match="truncated PLY"):
        read_source(Source.from_bytes("cut.ply", data[:-20]))
    with pytest.raises(ReadError, match="not a PLY file"):
        read_source(Source.from_bytes("x.ply", b"solid x\n"))


# --- 3MF ------------------------------------------------------------------------

CORE = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"
PROD = "http://schemas.microsoft.com/3dmanufacturing/production/2015/06"


def _mesh_xml(vertices: np.ndarray, tris: np.ndarray) -> str:
    vs = "".join(f'<vertex x="{x}" y="{y}" z="{z}"/>' for x, y, z in vertices)
    ts = "".join(f'<triangle v1="{a}" v2="{b}" v3="{c}"/>' for a, b, c in tris)
    return f"<mesh><vertices>{vs}</vertices><triangles>{ts}</triangles></mesh>"


def _png(width: int, height: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(buf, "PNG")
    return buf.getvalue()


def _production_3mf(path: Path, unit: str = "millimeter") -> Path:
    """A root model whose build places, twice, an assembly of two parts kept in another model part."""
    box = CUBE_V * [10, 20, 30]
    part = (f'<?xml version="1.0" encoding="UTF-8"?><model unit="{unit}" xmlns="{CORE}"><resources>'
            f'<object id="1" type="model">{_mesh_xml(box, CUBE_TRIS)}</object>'
            f'<object id="2" type="model" thumbnail="/Thumbnails/part2.png">{_mesh_xml(CUBE_V * 5, CUBE_TRIS)}</object>'
            f"</resources><build/></model>")
    root = (f'<?xml version="1.0" encoding="UTF-8"?><model unit="{unit}" xmlns="{CORE}" xmlns:p="{PROD}" '
            f'requiredextensions="p"><metadata name="Application">BambuStudio-01.09.00.70</metadata>'
            f'<resources><object id="10" type="model"><components>'
            f'<component p:path="/3D/Objects/parts.model" objectid="1"/>'
            f'<component p:path="/3D/Objects/parts.model" objectid="2" transform="1 0 0 0 1 0 0 0 1 0 0 30"/>'
            f"</components></object></resources><build>"
            f'<item objectid="10"/>'
            f'<item objectid="10" transform="-1 0 0 0 1 0 0 0 1 100 0 0"/>'
            f"</build></model>")
    rels = RELS.replace(b"</Relationships>", b'<Relationship Target="/Metadata/plate_1.png" Id="t" Type="http://'
                        b'schemas.openxmlformats.org/package/2006/relationships/metadata/thumbnail"/></Relationships>')
    model_rels = (b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                  b'relationships"><Relationship Target="/3D/Objects/parts.model" Id="r1" Type="http://schemas.'
                  b'microsoft.com/3dmanufacturing/2013/01/3dmodel"/></Relationships>')
    settings = {"printer_model": "Bambu Lab X1 Carbon", "layer_height": "0.16", "printer_settings_id": "X1C 0.4"}
    model_settings = (b'<?xml version="1.0"?><config><object id="10"><metadata key="name" value="a"/></object>'
                      b'<plate><metadata key="plater_id" value="1"/></plate>'
                      b'<plate><metadata key="plater_id" value="2"/></plate></config>')
    return _write_zip(path, {
        "[Content_Types].xml": CONTENT_TYPES, "_rels/.rels": rels, "3D/3dmodel.model": root.encode(),
        "3D/_rels/3dmodel.model.rels": model_rels, "3D/Objects/parts.model": part.encode(),
        "Metadata/project_settings.config": json.dumps(settings).encode(),
        "Metadata/model_settings.config": model_settings,
        "Metadata/plate_1.png": _png(64, 48), "Metadata/plate_1_small.png": _png(16, 12),
        "Metadata/plate_2.png": _png(64, 48), "Metadata/pick_1.png": _png(64, 48),
        "Thumbnails/part2.png": _png(8, 8),
    })


def test_3mf_production_components_transforms_and_bambu_project(tmp_path: Path) -> None:
    path = _production_3mf(tmp_path / "project.3mf")
    res = _read(path)
    # each placement: a 10x20x30 box and a 5 mm cube on top of it (z 30..35); the second mirrored to x 90..100
    assert res.triangles == 4 * 12
    assert np.allclose(res.bbox_mm, (100, 20, 35))
    assert math.isclose(res.volume_mm3, 2 * (6000 + 125))
    assert math.isclose(res.area_mm2, 2 * (2200 + 150))
    assert res.watertight is True
    assert res.slicer is not None
    assert res.slicer.printer_model == "Bambu Lab X1 Carbon"
    assert res.slicer.layer_height_mm == 0.16
    assert res.slicer.slicer == "BambuStudio 01.09.00.70"
    assert res.meta["plates"] == 2 and res.meta["placed_objects"] == 4 and res.meta["build_items"] == 2
    # plate_1, plate_1_small, plate_2 and the per-object thumbnail; not the pick mask
    assert res.thumbnails == 4
    assert not res.problems
    images = reader_for("project.3mf").embedded_images(Source.from_path(path))
    assert [i.name for i in images] == ["plate_1.png", "plate_1_small.png", "plate_2.png", "part2.png"]
    assert (images[0].width, images[0].height, images[0].format) == (64, 48, "png")
    # independent check: the same placements built with trimesh. (trimesh 5.2's own 3MF loader
    # puts both objects of the other model part into each geometry here: 96 faces, not 48.)
    box = trimesh.creation.box(bounds=[[0, 0, 0], [10, 20, 30]])
    cube = trimesh.creation.box(bounds=[[0, 0, 30], [5, 5, 35]])
    mirror = np.diag([-1.0, 1.0, 1.0, 1.0])
    mirror[0, 3] = 100
    placed = [box, cube, box.copy().apply_transform(mirror), cube.copy().apply_transform(mirror)]
    ref = trimesh.util.concatenate(placed)
    assert len(ref.faces) == res.triangles
    assert np.allclose(ref.extents, res.bbox_mm) and math.isclose(ref.area, res.area_mm2)
    assert math.isclose(sum(abs(m.volume) for m in placed), res.volume_mm3)


def test_3mf_units_scale_to_millimetres(tmp_path: Path) -> None:
    mm = _read(_production_3mf(tmp_path / "mm.3mf"))
    cm = _read(_production_3mf(tmp_path / "cm.3mf", unit="centimeter"))
    assert np.allclose(np.array(cm.bbox_mm), 10 * np.array(mm.bbox_mm))
    assert math.isclose(cm.volume_mm3, 1000 * mm.volume_mm3) and math.isclose(cm.area_mm2, 100 * mm.area_mm2)
    assert cm.meta["unit"] == "centimeter"


def test_3mf_prusaslicer_project(tmp_path: Path) -> None:
    model = (f'<?xml version="1.0" encoding="UTF-8"?><model unit="millimeter" xmlns="{CORE}">'
             f'<metadata name="slic3rpe:Version3mf">1</metadata><metadata name="Application">PrusaSlicer-2.6.1'
             f'</metadata><resources><object id="1" type="model">{_mesh_xml(CUBE_V * 25, CUBE_TRIS)}</object>'
             f'</resources><build><item objectid="1" transform="1 0 0 0 1 0 0 0 1 100 100 0"/></build></model>')
    config = ("; generated by PrusaSlicer 2.6.1+linux-x64-GTK3 on 2023-09-01 at 10:00:00 UTC\n"
              "; layer_height = 0.2\n; printer_model = MK4\n; printer_settings_id = Original Prusa MK4 0.4 nozzle\n")
    rels = RELS.replace(b"</Relationships>", b'<Relationship Target="/Metadata/thumbnail.png" Id="t" Type="http://'
                        b'schemas.openxmlformats.org/package/2006/relationships/metadata/thumbnail"/></Relationships>')
    path = _write_zip(tmp_path / "prusa.3mf", {
        "[Content_Types].xml": CONTENT_TYPES, "_rels/.rels": rels, "3D/3dmodel.model": model.encode(),
        "Metadata/Slic3r_PE.config": config.encode(), "Metadata/thumbnail.png": _png(32, 32)})
    res = _read(path)
    _check_cube(res, 25.0)
    assert res.slicer.as_dict() == {"printer_model": "MK4", "layer_height_mm": 0.2,
                                    "slicer": "PrusaSlicer 2.6.1+linux-x64-GTK3"}
    assert res.meta["project"] == "prusaslicer" and res.meta["application"] == "PrusaSlicer 2.6.1"
    assert res.thumbnails == 1 and not res.problems


def test_3mf_component_cycle_and_bad_index(tmp_path: Path) -> None:
    cyc = (f'<model unit="millimeter" xmlns="{CORE}"><resources>'
           f'<object id="1"><components><component objectid="2"/></components></object>'
           f'<object id="2"><components><component objectid="1"/></components></object>'
           f'</resources><build><item objectid="1"/></build></model>')
    path = _write_zip(tmp_path / "cycle.3mf", {"_rels/.rels": RELS, "3D/3dmodel.model": cyc.encode()})
    assert "component cycle" in refused(lambda: _read(path))
    bad = (f'<model unit="millimeter" xmlns="{CORE}"><resources><object id="1">'
           f'{_mesh_xml(CUBE_V, CUBE_TRIS + 5)}</object></resources><build><item objectid="1"/></build></model>')
    path = _write_zip(tmp_path / "index.3mf", {"_rels/.rels": RELS, "3D/3dmodel.model": bad.encode()})
    assert "naming vertex 12, but it has 8 vertices" in refused(lambda: _read(path))


def test_3mf_corpus_thumbnails(corpus: Path) -> None:
    prod = corpus / "3mf-samples" / "cube_gears_prod.3mf"
    res = _read(prod)
    assert res.thumbnails == 18  # package thumbnail + 17 per-object thumbnails via the model's relationships
    images = reader_for(prod.name).embedded_images(Source.from_path(prod))
    assert len(images) == 18 and images[0].name == "thumbnail.png"
    assert all(i.format == "png" and i.width and i.height for i in images)
    assert _read(corpus / "3mf-samples" / "box_sliced.3mf").thumbnails == 2
    assert _read(corpus / "3mf-samples" / "box.3mf").thumbnails == 0


def test_3mf_beam_lattice_is_noted(corpus: Path) -> None:
    res = _read(corpus / "3mf-samples" / "pyramid (beam lattice).3mf")
    assert res.triangles == 0 and res.meta["beams"] > 0
    assert res.volume_mm3 is None and res.bbox_mm is None and res.area_mm2 is None
    assert any("beam lattice" in p for p in res.problems)


# --- mesh metrics -------------------------------------------------------------------


def test_metrics_against_trimesh_for_a_transformed_torus() -> None:
    ref = trimesh.creation.torus(major_radius=20, minor_radius=5)
    ref.apply_transform(trimesh.transformations.random_rotation_matrix(np.random.default_rng(1).random(3)))
    ref.apply_translation([100, -50, 7])
    m = measure_indexed(ref.vertices, ref.faces)
    assert m.triangles == len(ref.faces)
    assert np.allclose(m.bbox_mm, ref.extents) and np.allclose(m.bbox_min, ref.bounds[0])
    assert math.isclose(m.volume_mm3, ref.volume, rel_tol=1e-9)
    assert math.isclose(m.area_mm2, ref.area, rel_tol=1e-12)
    assert m.watertight is ref.is_watertight is True
    soup = measure_triangles(ref.triangles)
    assert soup.triangles == m.triangles and soup.watertight is True
    assert math.isclose(soup.volume_mm3, m.volume_mm3, rel_tol=1e-12)


def test_watertight_definition() -> None:
    tris = CUBE_V[CUBE_TRIS]
    assert measure_triangles(tris).watertight is True
    assert measure_triangles(tris[:-1]).watertight is False  # a hole: edges used once
    doubled = np.concatenate([tris, tris + [0, 0, 1]])  # two cubes sharing a face: edges used 4 times
    assert measure_triangles(doubled).watertight is False
    signed_zero = tris.copy()
    signed_zero[signed_zero == 0] = -0.0  # -0.0 and 0.0 are the same coordinate
    signed_zero[0, 0] = 0.0
    assert measure_triangles(signed_zero).watertight is True
    nudged = tris.copy()
    nudged[0, 0, 0] = np.nextafter(0.0, 1.0)  # one ulp apart: not the same vertex (no tolerance)
    assert measure_triangles(nudged).watertight is False
    assert measure_triangles(tris, Limits(watertight_max_triangles=11)).watertight is None
    assert is_watertight(CUBE_V, CUBE_TRIS, Limits(watertight_max_triangles=11)) is None
    assert is_watertight(np.vstack([CUBE_V, CUBE_V]), CUBE_TRIS + 8) is True  # unused vertices don't matter


def test_metrics_empty_and_limits() -> None:
    empty = measure_triangles(np.empty((0, 3, 3)))
    assert empty.fields() == {"triangles": 0, "bbox_mm": None, "volume_mm3": None, "area_mm2": None,
                              "watertight": False, "degenerate_triangles": 0, "inverted": None,
                              "geometry_hash": None}  # an empty mesh has no fingerprint: never a duplicate
    with pytest.raises(ReadError, match="more than the limit of 11"):
        measure_triangles(CUBE_V[CUBE_TRIS], Limits(max_triangles=11))
    with pytest.raises(ReadError, match="refers to vertex 8"):
        metrics_from_indexed(CUBE_V, CUBE_TRIS + 1)


def test_combine_mirrored_parts() -> None:
    a = measure_indexed(CUBE_V, CUBE_TRIS)
    mirrored = measure_indexed(CUBE_V * [-1, 1, 1] + [5, 0, 0], CUBE_TRIS)
    assert mirrored.signed_volume_mm3 == -a.signed_volume_mm3
    both = MeshMetrics.combine([a, mirrored])
    assert both.triangles == 24 and both.volume_mm3 == 2.0 and both.area_mm2 == 12.0
    assert both.bbox_mm == (5.0, 1.0, 1.0) and both.watertight is True


def _single_object_3mf(tmp_path: Path, name: str, model: bytes) -> Path:
    return _write_zip(tmp_path / name, {"[Content_Types].xml": CONTENT_TYPES, "_rels/.rels": RELS,
                                        "3D/3dmodel.model": model})


def test_3mf_doctype_without_entities_and_utf16(tmp_path: Path) -> None:
    body = (f'<model unit="millimeter" xmlns="{CORE}"><resources><object id="1">{_mesh_xml(CUBE_V, CUBE_TRIS)}'
            f'</object></resources><build><item objectid="1"/></build></model>')
    with_doctype = _single_object_3mf(tmp_path, "dt.3mf", ('<?xml version="1.0"?><!DOCTYPE model>' + body).encode())
    res = _read(with_doctype)
    _check_cube(res)
    assert not res.problems
    utf16 = _single_object_3mf(tmp_path, "u16.3mf", ('<?xml version="1.0" encoding="UTF-16"?>' + body).encode("utf-16"))
    res = _read(utf16)
    _check_cube(res)
    assert any("not UTF-8 encoded" in p for p in res.problems)
    lol16 = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE m [<!ENTITY a "b">]>' + body).encode("utf-16")
    path = _single_object_3mf(tmp_path, "lol16.3mf", lol16)
    assert "entity declarations are not allowed" in refused(lambda: _read(path))


def test_3mf_missing_object_in_other_part_and_empty_build(tmp_path: Path) -> None:
    root = (f'<model unit="millimeter" xmlns="{CORE}" xmlns:p="{PROD}"><resources><object id="1"><components>'
            f'<component objectid="1" p:path="/3D/missing.model"/></components></object>'
            f'<object id="2">{_mesh_xml(CUBE_V, CUBE_TRIS)}</object></resources>'
            f'<build><item objectid="1"/><item objectid="2"/></build></model>')
    res = _read(_single_object_3mf(tmp_path, "miss.3mf", root.encode()))
    _check_cube(res)
    assert any("/3D/missing.model, which does not exist" in p for p in res.problems)
    empty = f'<model unit="millimeter" xmlns="{CORE}"><resources/><build/></model>'
    res = _read(_single_object_3mf(tmp_path, "empty.3mf", empty.encode()))
    assert res.triangles == 0 and any("empty build" in p for p in res.problems)


def test_3mf_component_expansion_bomb(tmp_path: Path) -> None:
    """40 levels of objects that each hold the next one twice: 2**40 placements if expanded."""
    levels = "".join(f'<object id="{i}"><components><component objectid="{i + 1}"/><component objectid="{i + 1}"/>'
                     f"</components></object>" for i in range(1, 41))
    model = (f'<model unit="millimeter" xmlns="{CORE}"><resources>{levels}<object id="41">'
             f'{_mesh_xml(CUBE_V, CUBE_TRIS)}</object></resources><build><item objectid="1"/></build></model>')
    path = _single_object_3mf(tmp_path, "expand.3mf", model.encode())
    message = refused(lambda: _read(path))
    assert f"places {12 * 2**40} triangles, more than the limit" in message
