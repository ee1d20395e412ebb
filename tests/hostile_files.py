"""Hostile files for the hostile-run test and the fuzz bench (not fixtures): each writer
builds one kind of file in a folder and says what its error must mention."""

from __future__ import annotations

import io
import os
import struct
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

CT = ('<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
      '<Default Extension="model" ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/></Types>')
RELS = ('<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Target="/3D/3dmodel.model" Id="rel0" '
        'Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/></Relationships>')
NS = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"


def threemf_bytes(model_xml: bytes, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A 3MF package around one model part."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        zf.writestr("[Content_Types].xml", CT)
        zf.writestr("_rels/.rels", RELS)
        zf.writestr("3D/3dmodel.model", model_xml)
    return buf.getvalue()


def write_threemf_streamed(path: Path, pieces: Callable[[], "list[bytes] | object"],
                           compression: int = zipfile.ZIP_DEFLATED) -> None:
    """A 3MF whose model part is written piece by piece (for parts too big to build in memory)."""
    with zipfile.ZipFile(path, "w", compression, compresslevel=1) as zf:
        zf.writestr("[Content_Types].xml", CT)
        zf.writestr("_rels/.rels", RELS)
        with zf.open("3D/3dmodel.model", "w", force_zip64=True) as fh:
            for piece in pieces():  # type: ignore[attr-defined]
                fh.write(piece)


def big_attribute_3mf(path: Path, size: int, compression: int = zipfile.ZIP_DEFLATED) -> None:
    """A 3MF whose object has a ``name`` attribute of ``size`` bytes."""
    def pieces():  # type: ignore[no-untyped-def]
        yield f'<?xml version="1.0"?><model unit="millimeter" xmlns="{NS}"><resources><object id="1" name="'.encode()
        block = b"a" * (1 << 20)
        left = size
        while left > 0:
            yield block[: min(left, len(block))]
            left -= len(block)
        yield (b'"><mesh><vertices><vertex x="0" y="0" z="0"/><vertex x="1" y="0" z="0"/><vertex x="0" y="1" z="0"/>'
               b'</vertices><triangles><triangle v1="0" v2="1" v3="2"/></triangles></mesh></object></resources>'
               b'<build><item objectid="1"/></build></model>')
    write_threemf_streamed(path, pieces, compression)


def many_vertices_3mf(path: Path, count: int, triangles: int | None = None, layout: str = "reordered") -> None:
    """A 3MF with ``count`` random vertices (random, so they do not compress away) and
    ``triangles`` random triangles naming them (default: as many as vertices).

    :param layout: ``"plain"`` (x y z, as most writers do), ``"reordered"`` (z y x in every
        element) or ``"mixed"`` (orders alternate: only the element parser reads it).
    """
    rng = np.random.default_rng(7)
    triangles = count if triangles is None else triangles
    forms = {
        "plain": ['<vertex x="{0}" y="{1}" z="{2}"/>'],
        "reordered": ['<vertex z="{2}" y="{1}" x="{0}"/>'],
        "mixed": ['<vertex x="{0}" y="{1}" z="{2}"/>', '<vertex z="{2}" x="{0}" y="{1}"/>'],  # alternating per 100k block
    }[layout]

    def pieces():  # type: ignore[no-untyped-def]
        yield f'<?xml version="1.0"?><model unit="millimeter" xmlns="{NS}"><resources><object id="1"><mesh><vertices>'.encode()
        step = 100_000 if layout == "mixed" else 500_000
        for start in range(0, count, step):
            n = min(step, count - start)
            yield _random_rows(rng, forms[(start // step) % len(forms)] if layout == "mixed" else forms[0], n)
        yield b"</vertices><triangles>"
        for start in range(0, triangles, step):
            n = min(step, triangles - start)
            t = rng.integers(0, count, size=(n, 3))
            yield "".join(f'<triangle v3="{c}" v2="{b}" v1="{a}"/>' for a, b, c in t.tolist()).encode()
        yield b'</triangles></mesh></object></resources><build><item objectid="1"/></build></model>'
    write_threemf_streamed(path, pieces)


def _random_rows(rng: np.random.Generator, form: str, n: int) -> bytes:
    """``n`` vertex elements of ``form`` with random ``ddd.dd`` coordinates, built with numpy."""
    template = np.frombuffer(form.format("000.00", "000.00", "000.00").encode(), dtype=np.uint8)
    rows = np.tile(template, (n, 1))
    digits = np.flatnonzero(template == ord("0"))
    rows[:, digits] = rng.integers(ord("0"), ord("9") + 1, size=(n, len(digits)), dtype=np.uint8)
    return rows.tobytes()


def identical_triangles_obj(path: Path, count: int = 100_000) -> None:
    """An OBJ of ``count`` copies of one large triangle (about 9 bytes each)."""
    path.write_bytes(b"v 0 0 0\nv 100 0 0\nv 0 100 0\n" + b"f 1 2 3\n" * count)


def fan_face_obj(path: Path, corners: int = 3_000_000, kind: str = "cycle") -> None:
    """An OBJ with one polygon of ``corners`` corners (fan-triangulated into corners - 2 triangles).

    :param kind: ``"cycle"``: the corners go round a square's 4 vertices again and again
        (a small file: large triangles, mostly copies); ``"circle"``: a disc of ``corners``
        vertices (thin slivers); ``"random"``: random vertices (large overlapping triangles).
    """
    if kind == "cycle":
        path.write_bytes(b"v 0 0 0\nv 100 0 0\nv 100 100 0\nv 0 100 5\nf "
                         + b" ".join(b"%d" % (1 + i % 4) for i in range(corners)) + b"\n")
        return
    if kind == "circle":
        a = np.linspace(0, 2 * np.pi, corners, endpoint=False)
        v = np.stack([50 * np.cos(a), 50 * np.sin(a), np.zeros(corners)], axis=1)
    else:
        v = np.random.default_rng(3).uniform(0, 100, size=(corners, 3))
    with open(path, "wb") as fh:
        for start in range(0, corners, 500_000):
            block = v[start : start + 500_000]
            fh.write(b"".join(b"v %.3f %.3f %.3f\n" % tuple(row) for row in block.tolist()))
        fh.write(b"f " + " ".join(map(str, range(1, corners + 1))).encode() + b"\n")


def random_triangles_stl(path: Path, count: int = 20_000, seed: int = 0) -> None:
    """A binary STL of ``count`` random triangles spanning a 100 mm box (heavy overdraw)."""
    rng = np.random.default_rng(seed)
    rec = np.zeros(count, dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    rec["v"] = rng.uniform(0, 100, size=(count, 3, 3))
    path.write_bytes(b"\0" * 80 + struct.pack("<I", count) + rec.tobytes())


def write_all(root: Path, corpus: Path, *, scale: float = 1.0) -> dict[str, str]:
    """Every hostile case in ``root``; returns file name -> a word its error must hold, or
    ``"ok"`` (read without error: heavy but valid), ``"open mesh"`` (read, not watertight) or
    ``"plain"`` (declined by its reader: catalogued as a plain file, no error)."""
    root.mkdir(parents=True, exist_ok=True)
    cube = (corpus / "uranium" / "simpleTestCubeBinary.stl").read_bytes()
    expect: dict[str, str] = {}
    identical_triangles_obj(root / "identical.obj")
    expect["identical.obj"] = "ok"
    fan_face_obj(root / "fan.obj", int(3_000_000 * scale))
    expect["fan.obj"] = "ok"
    fan_face_obj(root / "fan-circle.obj", int(200_000 * scale), kind="circle")
    expect["fan-circle.obj"] = "ok"
    fan_face_obj(root / "fan-random.obj", int(100_000 * scale), kind="random")
    expect["fan-random.obj"] = "ok"
    soup = root / "soup"
    soup.mkdir()
    for i in range(int(300 * scale)):
        random_triangles_stl(soup / f"soup{i:03d}.stl", 20_000, seed=i)
    expect.update({f"soup{i:03d}.stl": "open mesh" for i in range(int(300 * scale))})
    big_attribute_3mf(root / "attr32.3mf", 32 * 1024**2, compression=zipfile.ZIP_STORED)
    expect["attr32.3mf"] = "bytes"
    big_attribute_3mf(root / "attr950.3mf", int(950 * 1024**2 * scale), compression=zipfile.ZIP_STORED)
    expect["attr950.3mf"] = "bytes"
    many_vertices_3mf(root / "vertices.3mf", int(10_000_000 * scale), triangles=1)
    expect["vertices.3mf"] = "ok"
    many_vertices_3mf(root / "vertices-mixed.3mf", int(300_000 * scale), layout="mixed")
    expect["vertices-mixed.3mf"] = "ok"
    # zip bomb: 1 GiB of zeros in a zip model
    with zipfile.ZipFile(root / "bomb.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("bomb/huge.stl", "w", force_zip64=True) as fh:
            block = b"\0" * (1 << 20)
            for _ in range(1024):
                fh.write(block)
    expect["huge.stl"] = "compress"
    # XML entity bomb in a 3MF and in an AMF
    laughs = b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10)
    ) + b']><model unit="millimeter" xmlns="' + NS.encode() + b'"><metadata name="Title">&lol9;</metadata><resources/><build/></model>'
    (root / "laughs.3mf").write_bytes(threemf_bytes(laughs))
    expect["laughs.3mf"] = "entit"
    (root / "laughs.amf").write_bytes(laughs.replace(b"<model", b"<amf").replace(b"</model>", b"</amf>"))
    expect["laughs.amf"] = "entit"
    # lying headers and huge counts
    (root / "billion.stl").write_bytes(b"\0" * 80 + struct.pack("<I", 10**9) + b"\0" * 150)
    expect["billion.stl"] = "1000000000"
    (root / "counts.ply").write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 4000000000\n"
                                      b"property float x\nproperty float y\nproperty float z\n"
                                      b"element face 1\nproperty list uchar int vertex_indices\nend_header\n" + b"\0" * 64)
    expect["counts.ply"] = "truncated"
    (root / "counts.off").write_bytes(b"OFF\n999999999 999999999 0\n0 0 0\n")
    expect["counts.off"] = "999999999"
    (root / "counts.glb").write_bytes(_glb_lying_count())
    expect["counts.glb"] = "1000000000"
    (root / "truncated.stl").write_bytes(cube[:300])
    expect["truncated.stl"] = "truncated"
    (root / "noise.3mf").write_bytes(os.urandom(4096))
    expect["noise.3mf"] = "zip"
    (root / "noise.glb").write_bytes(os.urandom(4096))
    expect["noise.glb"] = "plain"  # not a GLB at all: declined, catalogued as a plain file
    (root / "good.stl").write_bytes(cube)
    expect["good.stl"] = "ok"
    return expect


def _glb_lying_count() -> bytes:
    """A GLB whose POSITION accessor claims 10^9 vertices in a 36-byte buffer."""
    import json

    doc = {
        "asset": {"version": "2.0"},
        "buffers": [{"byteLength": 36}],
        "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": 36}],
        "accessors": [{"bufferView": 0, "componentType": 5126, "count": 10**9, "type": "VEC3"}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
        "nodes": [{"mesh": 0}],
        "scenes": [{"nodes": [0]}],
    }
    js = json.dumps(doc).encode()
    js += b" " * (-len(js) % 4)
    binary = b"\0" * 36
    body = struct.pack("<II", len(js), 0x4E4F534A) + js + struct.pack("<II", len(binary), 0x004E4942) + binary
    return struct.pack("<III", 0x46546C67, 2, 12 + len(body)) + body
