"""The fast paths of the mesh readers give exactly what the plain paths give.

- vertex merging for watertightness (hash + one sort, checked) against an
  independent grouping (np.unique over the coordinate bits), including forced
  hash collisions, which must fall back to the exact sort;
- the blocked mesh measurement against the same formulas over whole arrays
  (bit for bit);
- 3MF mesh blocks read in bulk against the element-by-element parser, for every
  corpus model part and for hand-made parts that must or must not take the fast
  path (same arrays, same problems, same error message);
- 3MF embedded pictures found without reading mesh numbers, against the pictures
  found with them.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from printmanager_core.readers import mesh, watertight
from printmanager_core.readers.threemf import build, package, pictures
from printmanager_core.readers.threemf import model as threemf_model
from printmanager_core.readers.threemf.reader import ThreeMfReader
from printmanager_core.readers.base import DEFAULT_LIMITS, ReadError, Source
from printmanager_core.readers.stl import read_stl_triangles

CORE = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"


# --- vertex merging ------------------------------------------------------------------


def _reference_groups(coords: np.ndarray) -> np.ndarray:
    """Group ids by np.unique over the rows' bits (-0.0 made 0.0): an independent grouping."""
    c = np.asarray(coords)
    c = c + c.dtype.type(0.0)
    bits = c.view(np.uint32 if c.dtype == np.float32 else np.uint64).reshape(len(c), 3)
    return np.unique(bits, axis=0, return_inverse=True)[1].ravel()


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Two labelings describe the same grouping (ids may be numbered differently)."""
    if a.shape != b.shape:
        return False
    pairs = np.unique(np.stack([a, b], axis=1), axis=0)
    return len(pairs) == len(np.unique(a)) == len(np.unique(b))


def _grid_points(rng: np.random.Generator, m: int, dtype: type) -> np.ndarray:
    """m rows drawn from a small set of points, with signed zeros and one-ulp neighbours."""
    base = rng.integers(-3, 4, size=(max(m // 4, 1), 3)).astype(dtype) * dtype(0.5)
    rows = base[rng.integers(0, len(base), size=m)].copy()
    zero = rows == 0
    rows[zero & (rng.random(rows.shape) < 0.5)] = dtype(-0.0)
    nudge = rng.random(m) < 0.05
    rows[nudge, 0] = np.nextafter(rows[nudge, 0], dtype(np.inf))
    return rows


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m", [1, 2, 7, 1000, 50_000])
def test_vertex_ids_group_bit_identical_rows(dtype: type, m: int) -> None:
    rows = _grid_points(np.random.default_rng(m), m, dtype)
    ids = watertight._vertex_ids(rows)
    assert ids.dtype == np.int64 and ids.min() == 0 and ids.max() == len(np.unique(ids)) - 1  # dense
    assert _same_partition(ids, _reference_groups(rows))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weak", ["all equal", "x only", "x and y"])
def test_vertex_ids_with_hash_collisions_stay_exact(dtype: type, weak: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _grid_points(np.random.default_rng(5), 5000, dtype)
    # weak hashes: every row, or every row sharing x (and y), collides
    weak_hash = {
        "all equal": lambda bits, scratch: np.zeros(len(bits), dtype=np.uint64),
        "x only": lambda bits, scratch: bits[:, 0].astype(np.uint64) << np.uint64(32),
        "x and y": lambda bits, scratch: (bits[:, 0].astype(np.uint64) << np.uint64(32)) ^ bits[:, 1].astype(np.uint64),
    }[weak]
    monkeypatch.setattr(watertight, "_row_hashes", weak_hash)
    ids = watertight._vertex_ids(rows)
    assert ids.max() == len(np.unique(ids)) - 1  # still dense
    assert _same_partition(ids, _reference_groups(rows))
    # and the watertight verdict is still exact
    cube = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]], dtype)
    quads = [[0, 3, 2, 1], [4, 5, 6, 7], [0, 1, 5, 4], [1, 2, 6, 5], [2, 3, 7, 6], [3, 0, 4, 7]]
    tris = cube[np.array([[q[0], q[i], q[i + 1]] for q in quads for i in (1, 2)])]
    assert mesh.measure_triangles(tris).watertight is True
    assert mesh.measure_triangles(tris[:-1]).watertight is False


def test_watertight_fast_and_exact_paths_agree_on_corpus_meshes(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    soups = []
    for path in sorted(corpus.rglob("*.stl")):
        try:
            tris = read_stl_triangles(Source.from_path(path))[0]
        except ReadError:
            continue
        soups.append((path.name, tris))
    assert len(soups) >= 15
    fast = {name: watertight.watertight_soup(tris, DEFAULT_LIMITS) for name, tris in soups}
    assert fast["UltimakerRobot_support.stl"] is False and fast["box.stl"] is True
    # one hash for every row: the grouping is then the exact sort of all coordinates
    monkeypatch.setattr(watertight, "_row_hashes", lambda bits, scratch: np.zeros(len(bits), dtype=np.uint64))
    exact = {name: watertight.watertight_soup(tris, DEFAULT_LIMITS) for name, tris in soups}
    assert fast == exact


def _reference_edges_twice(ids: np.ndarray) -> bool:
    """Every undirected edge of the id triangles used exactly twice, by np.unique counts (the reference)."""
    f = ids.reshape(-1, 3)
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    return len(f) > 0 and bool((np.unique(edges, axis=0, return_counts=True)[1] == 2).all())


@pytest.mark.parametrize("bound", [3, 65_535, 65_536, 65_537, 200_000])
def test_edge_pairing_with_32_and_64_bit_keys_matches_the_reference(bound: int) -> None:
    """Ids up to 65,536 distinct vertices pair edges with 32-bit keys, above with 64-bit: same answers."""
    rng = np.random.default_rng(bound)
    # a closed two-sided triangle (every edge twice) whose ids reach the bound, then broken ones
    top = bound - 1
    closed = np.array([[0, 1, top], [1, 0, top]], dtype=np.int64)
    cases = [closed, closed[:1], np.concatenate([closed, closed]), rng.integers(0, bound, size=(400, 3))]
    cases.append(np.concatenate([closed, closed[:1], closed[:1]]))
    assert [_reference_edges_twice(c) for c in cases[:3]] == [True, False, False]
    for ids in cases:
        assert watertight._edges_twice(ids) == _reference_edges_twice(ids), (bound, ids[:4])


def test_watertight_answers_on_corpus_meshes_match_the_reference(corpus: Path) -> None:
    """The fast check (hash merge + edge pairing, in memory and streamed) against np.unique over the bits."""
    checked = 0
    for path in sorted(corpus.rglob("*.stl")):
        try:
            tris = read_stl_triangles(Source.from_path(path))[0]
        except ReadError:
            continue
        if len(tris) > 50_000:
            continue  # the reference's np.unique(axis=0) is slow; the big ones are covered above
        ids = _reference_groups(np.asarray(tris).reshape(-1, 3))
        expected = _reference_edges_twice(ids)
        assert watertight.watertight_soup(tris, DEFAULT_LIMITS) is expected, path.name
        blocks = lambda t=np.asarray(tris, dtype=np.float32): iter([t[i : i + 97] for i in range(0, len(t), 97)])
        assert watertight.watertight_blocks(blocks, len(tris), DEFAULT_LIMITS) is expected, path.name
        checked += 1
    assert checked >= 10


# --- blocked measurement ------------------------------------------------------------


def _whole_array_corners(cols: np.ndarray) -> tuple:
    """The metrics by the same formulas over whole arrays, no blocks (the reference)."""
    x0, y0, z0, x1, y1, z1, x2, y2, z2 = cols
    lo = tuple(float(np.min((a.min(), b.min(), c.min()))) for a, b, c in ((x0, x1, x2), (y0, y1, y2), (z0, z1, z2)))
    hi = tuple(float(np.max((a.max(), b.max(), c.max()))) for a, b, c in ((x0, x1, x2), (y0, y1, y2), (z0, z1, z2)))
    cx = y1 * z2 - z1 * y2
    cy = z1 * x2 - x1 * z2
    cz = x1 * y2 - y1 * x2
    six_volume = float((x0 * cx).sum() + (y0 * cy).sum() + (z0 * cz).sum())
    ax, ay, az, bx, by, bz = x1 - x0, y1 - y0, z1 - z0, x2 - x0, y2 - y0, z2 - z0
    nx = ay * bz - az * by
    ny = az * bx - ax * bz
    nz = ax * by - ay * bx
    area = float(np.sqrt(nx * nx + ny * ny + nz * nz).sum()) / 2.0
    return lo, hi, six_volume / 6.0, area


@pytest.mark.parametrize("n", [1, 3, mesh._BLOCK - 1, mesh._BLOCK, mesh._BLOCK + 1, 3 * mesh._BLOCK + 17])
def test_blocked_measurement_is_bit_identical(n: int) -> None:
    rng = np.random.default_rng(n)
    cols = np.ascontiguousarray(rng.normal(scale=50.0, size=(9, n)) + 100.0)
    assert repr(mesh._measure_corners(cols)[:4]) == repr(_whole_array_corners(cols))  # repr tells -0.0 from 0.0
    # a mesh flat in x whose corners' x are 0.0 or -0.0: which zero the box keeps is unchanged
    for signs in [(1, -1, 1), (-1, 1, 1), (1, 1, -1), (-1, -1, 1), (1, -1, -1)]:
        flat = cols.copy()
        for corner, sign in enumerate(signs):
            flat[3 * corner] = 0.0 * sign
        assert repr(mesh._measure_corners(flat)[:4]) == repr(_whole_array_corners(flat))


def test_indexed_and_soup_measurements_agree_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    vertices = rng.normal(size=(3000, 3)) * 20
    faces = rng.integers(0, 3000, size=(20_000, 3))
    indexed = mesh.measure_indexed(vertices, faces, watertight=False)
    soup = mesh.measure_triangles(vertices[faces], watertight=False)
    assert indexed == soup


def test_non_finite_coordinates_still_refused() -> None:
    tris = np.zeros((mesh._BLOCK + 5, 3, 3))
    tris[:, 1, 0] = 1.0
    tris[:, 2, 1] = 1.0
    tris[-1, 2, 2] = np.nan
    with pytest.raises(ReadError, match="not finite"):
        mesh.measure_triangles(tris)
    tris[-1, 2, 2] = -np.inf
    with pytest.raises(ReadError, match="not finite"):
        mesh.measure_triangles(tris)


# --- 3MF mesh blocks -----------------------------------------------------------------


def _model_summary(model: threemf_model.ModelPart) -> dict:
    objects = {}
    for oid, obj in model.objects.items():
        objects[oid] = (
            obj.type, obj.name, obj.thumbnail, obj.beams,
            None if obj.vertices is None else (obj.vertices.dtype.str, obj.vertices.shape, obj.vertices.tobytes()),
            None if obj.faces is None else (obj.faces.dtype.str, obj.faces.shape, obj.faces.tobytes()),
            [(c, p, None if m is None else m.tobytes()) for c, p, m in obj.components],
        )
    items = [(i, p, None if m is None else m.tobytes()) for i, p, m in model.items]
    return {"unit": model.unit, "objects": objects, "items": items, "metadata": model.metadata,
            "required": model.required}


def _both_ways(data: bytes) -> tuple[object, object, bool]:
    """(fast-path outcome, element-parser outcome, whether the fast path was taken)."""
    def run(fn):
        problems: list[str] = ["earlier problem"]
        try:
            return _model_summary(fn(problems)), problems
        except ReadError as exc:
            return "ReadError: " + str(exc), problems

    taken = threemf_model.parse_cut(data, "/3D/3dmodel.model", [], True) is not None
    fast = run(lambda problems: threemf_model.parse_model(data, "/3D/3dmodel.model", problems))
    plain = run(lambda problems: threemf_model.parse_elements(data, "/3D/3dmodel.model", problems, None))
    return fast, plain, taken


def test_corpus_model_parts_read_the_same_in_bulk(corpus: Path) -> None:
    taken = 0
    parts = 0
    for path in sorted(corpus.rglob("*.3mf")):
        if not zipfile.is_zipfile(path):
            continue
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                if not name.endswith(".model"):
                    continue
                parts += 1
                fast, plain, was_taken = _both_ways(zf.read(name))
                assert fast == plain, f"{path.name}:{name}"
                taken += was_taken
    assert parts >= 14 and taken >= 12  # the bulk path is what the corpus takes


def _part(body: str, *, prolog: str = "", vertices: str | None = None, triangles: str | None = None) -> bytes:
    if vertices is None:
        vertices = "".join(f'<vertex x="{x}" y="{y}" z="{z}"/>' for x, y, z in
                           [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)])
    if triangles is None:
        triangles = "".join(f'<triangle v1="{a}" v2="{b}" v3="{c}"/>' for a, b, c in
                            [(0, 2, 1), (0, 1, 3), (0, 3, 2), (1, 2, 3)])
    mesh_xml = f"<mesh><vertices>{vertices}</vertices><triangles>{triangles}</triangles></mesh>"
    return (f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<model unit="millimeter" xmlns="{CORE}">'
            f'<resources><object id="1" type="model">{mesh_xml}</object>{body}</resources>'
            f'<build><item objectid="1"/></build></model>').encode()


V = '<vertex x="{}" y="{}" z="{}"/>'
FOUR_TRIS = '<triangle v1="0" v2="2" v3="1"/><triangle v1="0" v2="1" v3="3"/><triangle v1="0" v2="3" v3="2"/>'


@pytest.mark.parametrize(
    ("label", "data", "fast_expected"),
    [
        ("plain", _part(""), True),
        ("whitespace and newlines", _part("", vertices="\r\n\t " + " \n ".join(
            f'<vertex\n x="{i}"\t y="0.5"  z="-{i}.25" />' for i in range(4)) + "\n"), True),
        ("number forms", _part("", vertices="".join(V.format(*v) for v in [
            ("1e3", "-0", "+.5"), ("5.", "007.50", "1E-310"), ("-1.5e+2", "0.1", "123456789012345678901234567890"),
            ("2.2250738585072014e-308", "4.9e-324", "1.7976931348623157e308")])), True),
        ("properties pid first", _part("", triangles=" ".join(
            f'<triangle v1="{a}" v2="{b}" v3="{c}" pid="1" p1="0" p2="1" p3="0"/>'
            for a, b, c in [(0, 2, 1), (0, 1, 3), (0, 3, 2), (1, 2, 3)])), True),
        ("properties pid last", _part("", triangles="".join(
            f'<triangle v1="{a}" v2="{b}" v3="{c}" p1="2" pid="7"/>' for a, b, c in [(0, 2, 1), (1, 2, 3)])), True),
        ("leading zeros in indices", _part("", triangles='<triangle v1="000" v2="02" v3="1"/>'), True),
        ("empty blocks", _part("", vertices="", triangles=""), True),
        # not the usual form: the element parser reads them (same result)
        ("attributes in another order", _part("", vertices="".join(V.format(i, 0, 0) for i in range(3))
                                              .replace('x="0" y="0"', 'y="0" x="0"')), None),
        ("single quotes", _part("", triangles="<triangle v1='0' v2='1' v3='2'/>"), None),
        ("a value reading as two numbers", _part("", vertices="".join(
            V.format(*v) for v in [("1-2", 0, 0), (0, 0, 0), (0, 1, 0), (0, 0, 1)])), None),
        ("a value reading as no number", _part("", vertices=V.format("1e", 0, 0) * 4), None),
        ("not a number at all", _part("", vertices=V.format("nan", 0, 0) * 4), None),
        ("infinity written out", _part("", vertices=V.format("inf", 0, 0) * 4), None),
        ("an index too long for int64", _part("", triangles='<triangle v1="99999999999999999999" v2="1" v3="2"/>'),
         None),
        ("a negative index", _part("", triangles='<triangle v1="-1" v2="1" v3="2"/>'), None),
        ("an index out of range", _part("", triangles='<triangle v1="9" v2="1" v3="2"/>'), None),
        ("a duplicated property attribute", _part("", triangles='<triangle v1="0" v2="1" v3="2" pid="1" pid="2"/>'),
         None),
        ("text inside the block", _part("", vertices="text" + V.format(0, 0, 0)), None),
        ("a comment inside the block", _part("", vertices=V.format(0, 0, 0) + "<!-- x -->"), None),
        ("a form feed (not XML whitespace)", _part("", vertices=V.format(0, 0, 0) + "\f"), None),
        ("a block in a comment", _part("<!-- <vertices><vertex x=\"1\" y=\"1\" z=\"1\"/></vertices> -->"), None),
        ("a block in CDATA", _part('<metadata name="x"><![CDATA[<triangles><triangle v1="0" v2="1" v3="2"/>'
                                   "</triangles>]]></metadata>"), None),
        ("a stand-in lookalike", _part('<object id="2"><mesh><vertices printmanager-block="0"/></mesh></object>'),
         None),
        ("a document type declaration", _part("", prolog="<!DOCTYPE model>"), None),
        ("an entity declaration", _part("", prolog='<!DOCTYPE model [<!ENTITY e "x">]>'), None),
        ("malformed after a block", _part("<object id='2'><oops></object>"), None),
        ("a missing object id", _part("<object><mesh><vertices></vertices></mesh></object>"), None),
    ],
)
def test_handmade_model_parts_read_the_same(label: str, data: bytes, fast_expected: bool | None) -> None:
    fast, plain, taken = _both_ways(data)
    assert fast == plain, label
    if fast_expected:
        assert taken, f"{label}: the bulk path should apply"


def test_error_positions_are_those_of_the_original_part() -> None:
    vertices = "\n".join(V.format(i, i, i) for i in range(200))
    data = _part("<object id='2'>\n<broken attr=></object>", vertices=vertices)
    with pytest.raises(ReadError) as fast:
        threemf_model.parse_model(data, "/3D/3dmodel.model", [])
    with pytest.raises(ReadError) as plain:
        threemf_model.parse_elements(data, "/3D/3dmodel.model", [], None)
    assert str(fast.value) == str(plain.value) and "line 201," in str(fast.value)


def test_embedded_images_without_mesh_numbers_match_a_full_parse(corpus: Path) -> None:
    reader = ThreeMfReader()
    checked = 0
    for path in sorted(corpus.rglob("*.3mf")):
        if not zipfile.is_zipfile(path):
            continue
        images = reader.embedded_images(Source.from_path(path))
        # the same walk over fully parsed model parts
        with zipfile.ZipFile(path) as zf:
            pkg = package.Package(zf, DEFAULT_LIMITS, [])
            parts = build.ModelParts(pkg, geometry=True)
            try:
                root = parts.get(pkg.root_part())
                for _ in build.placements(parts, root):
                    pass
            except ReadError:
                pass
            full = pictures.pictures(pkg, parts.parsed.values())
        assert [(i.name, i.width, i.height, i.data) for i in images] == \
            [(i.name, i.width, i.height, i.data) for i in full], path.name
        checked += 1
    assert checked >= 14


# --- G-code: lines without a ';' skipped past the leading comments ---------------------


def _line_by_line(scan, pending: bytes, chunk: bytes) -> bytes:
    """Every complete line fed one by one (the plain way; the reference)."""
    from printmanager_core.readers import gcode_scan

    data = pending + chunk if pending else chunk
    lines = data.split(b"\n")
    rest = lines.pop()
    for line in lines:
        scan.feed(line)
    if len(rest) > gcode_scan.MAX_LINE_BYTES:
        scan.seen_command = True
        rest = b""
    return rest


def _gcode_outcome(name: str, data: bytes) -> tuple:
    from printmanager_core.readers import reader_for

    reader = reader_for(name)
    try:
        result = reader.read(Source.from_bytes(name, data))
        images = reader.embedded_images(Source.from_bytes(name, data))
    except ReadError as exc:
        return ("ReadError", str(exc))
    return (repr(result), [(i.name, i.width, i.height, i.data) for i in images])


def _gcode_cases(corpus: Path) -> list[tuple[str, bytes]]:
    import base64

    from PIL import Image

    buf = __import__("io").BytesIO()
    Image.new("RGB", (4, 4), (200, 10, 10)).save(buf, "PNG")
    b64 = base64.b64encode(buf.getvalue()).decode()
    thumb = f"; thumbnail begin 4x4 {len(b64)}\n; {b64}\n; thumbnail end\n"
    code = "".join(f"G1 X{i} Y{i} E{i / 10}\n" for i in range(40_000))  # > one 64 KiB chunk
    cases = [(p.name, p.read_bytes()) for p in sorted((corpus / "sliced").glob("*.gcode"))]
    cases += [
        ("after.gcode", ("; generated by PrusaSlicer 2.6.0\nG28\n" + code + thumb + "; layer_height = 0.2\n"
                         + code + "; filament used [g] = 1.5\n").encode()),
        ("interrupted.gcode", ("G28\n" + code[:5000] + thumb.replace("; thumbnail end\n", "G1 X0\n")
                               + code[:9000] + "; printer_model = MK4\n").encode()),
        ("crlf.gcode", ("; generated by Cura\r\n;LAYER_HEIGHT:0.2\r\nG28\r\n" + code.replace("\n", "\r\n")
                        + "  ;TIME:120\r\nG1 X1 ;trailing comment\r\n;Filament used: 1.2m").encode()),
        ("blank.gcode", ("\n\n   \n;a=1\n" + code[:3000] + "\n\n;b=2\n   ;c = 3\n").encode()),
        ("long-line.gcode", ("G28\n" + "G1 X1" * 250_000 + "\n; printer_model = X\n").encode()),
        ("no-newline.gcode", b"G28\n;layer_height = 0.3"),
    ]
    return cases


def test_gcode_lines_skipped_give_the_same_results(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from printmanager_core.readers import gcode_scan

    cases = _gcode_cases(corpus)
    fast = [_gcode_outcome(name, data) for name, data in cases]
    monkeypatch.setattr(gcode_scan, "_feed_lines", _line_by_line)
    plain = [_gcode_outcome(name, data) for name, data in cases]
    for (name, _), a, b in zip(cases, fast, plain):
        assert a == b, name
    assert any(images for _, images in fast)  # thumbnails were found both ways
