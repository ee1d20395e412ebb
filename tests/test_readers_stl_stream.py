"""Binary STLs measured in pieces straight from the file (low memory) give exactly
the figures of the whole-array path: read_stl_triangles + measure_triangles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from printmanager_core.readers import mesh, mesh_stream, watertight
from printmanager_core.readers.base import Limits, ReadError, Source
from printmanager_core.readers.stl import (
    RECORD,
    STREAM_MIN_BYTES,
    StlReader,
    _looks_ascii,
    measure_binary_stl,
    read_stl_triangles,
)


def _torus(n: int) -> np.ndarray:
    """A closed torus grid of 2 * n * n float32 triangles (shared corners are bit-identical)."""
    u = np.linspace(0, 2 * np.pi, n, endpoint=False)
    uu, vv = np.meshgrid(u, u, indexing="ij")
    pts = np.stack([(60 + 20 * np.cos(vv)) * np.cos(uu), (60 + 20 * np.cos(vv)) * np.sin(uu), 20 * np.sin(vv)],
                   axis=-1).astype(np.float32)  # fmt: skip
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    a, b, c, d = pts[i, j], pts[(i + 1) % n, j], pts[(i + 1) % n, (j + 1) % n], pts[i, (j + 1) % n]
    return np.concatenate([np.stack([a, b, c], axis=2).reshape(-1, 3, 3), np.stack([a, c, d], axis=2).reshape(-1, 3, 3)])


def _write(path: Path, tris: np.ndarray, tail: bytes = b"") -> Path:
    rec = np.zeros(len(tris), dtype=RECORD)
    rec["corners"] = tris
    path.write_bytes(b"\0" * 80 + np.uint32(len(tris)).tobytes() + rec.tobytes() + tail)
    return path


def _both(path: Path, limits: Limits = Limits()) -> tuple[str, str]:
    source = Source.from_path(path, limits=limits)
    try:
        tris, _, problems = read_stl_triangles(source)
        whole = repr((mesh.measure_triangles(tris, limits), problems))
    except ReadError as exc:
        whole = f"ReadError({exc})"
    try:
        streamed = measure_binary_stl(source, min_bytes=0)
        assert streamed is not None
        piece = repr(streamed)
    except ReadError as exc:
        piece = f"ReadError({exc})"
    return whole, piece


@pytest.fixture(scope="module")
def torus() -> np.ndarray:
    return _torus(300)  # 180,000 triangles: several pairwise-sum leaves


def test_streamed_binary_stl_is_bit_identical(tmp_path: Path, torus: np.ndarray) -> None:
    rng = np.random.default_rng(7)
    shifted = (torus + np.float32(0.1)) * rng.choice(np.array([1, -1], np.float32), 3)  # mirrored: inverted
    open_ = np.delete(torus, [5, 77_000], axis=0)
    soup = rng.normal(scale=30.0, size=(70_001, 3, 3)).astype(np.float32)
    for name, tris in [("torus", torus), ("shifted", shifted), ("open", open_), ("soup", soup)]:
        whole, piece = _both(_write(tmp_path / f"{name}.stl", tris))
        assert whole == piece, name
    result = StlReader().read(Source.from_path(tmp_path / "torus.stl"))  # 9 MB: streamed by the reader
    assert (tmp_path / "torus.stl").stat().st_size >= STREAM_MIN_BYTES
    assert result.watertight is True and result.triangles == len(torus) and result.meta == {"encoding": "binary"}
    assert measure_binary_stl(Source.from_path(tmp_path / "open.stl"), min_bytes=10**9) is None


def test_streamed_binary_stl_problems_and_errors(tmp_path: Path, torus: np.ndarray) -> None:
    small = torus[:1000]
    assert "bytes after" in _both(_write(tmp_path / "tail.stl", small, b"xyz"))[1]
    nan = small.copy()
    nan[999, 2, 1] = np.nan
    cases = [_write(tmp_path / "tail.stl", small, b"xyz"), _write(tmp_path / "nan.stl", nan)]
    (tmp_path / "short.stl").write_bytes((tmp_path / "nan.stl").read_bytes()[:-7])
    (tmp_path / "empty.stl").write_bytes(b"\0" * 84)
    cases += [tmp_path / "short.stl", tmp_path / "empty.stl"]
    for path in cases:
        whole, piece = _both(path)
        assert whole == piece, path.name
    whole, piece = _both(cases[0], Limits(max_triangles=999))
    assert whole == piece and "more than the limit" in piece
    whole, piece = _both(cases[0], Limits(watertight_max_triangles=10))
    assert whole == piece and "watertight=None" in piece


@pytest.mark.parametrize("weak", ["all equal", "x only"])
def test_streamed_watertight_exact_under_hash_collisions(
    tmp_path: Path, torus: np.ndarray, weak: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "torus.stl", torus[:20_000])
    closed = _write(tmp_path / "closed.stl", _torus(60))
    expected = [_both(p)[0] for p in (path, closed)]
    weak_hash = {
        "all equal": lambda bits, scratch: np.zeros(len(bits), dtype=np.uint64),
        "x only": lambda bits, scratch: bits[:, 0].astype(np.uint64) << np.uint64(32),
    }[weak]
    monkeypatch.setattr(watertight, "_row_hashes", weak_hash)
    assert [_both(p)[1] for p in (path, closed)] == expected
    assert "watertight=True" in expected[1] and "watertight=False" in expected[0]


@pytest.mark.parametrize("n", [1, 8, 129, 65_536, 65_537, 300_001])
def test_pairwise_leaves_rebuild_numpy_sum(n: int) -> None:
    rng = np.random.default_rng(n)
    x = rng.normal(size=n) * 10.0 ** rng.uniform(-6, 6, size=n)
    leaves = mesh_stream.pairwise_leaves(n, 1000)
    assert leaves[0][0] == 0 and leaves[-1][1] == n and all(a[1] == b[0] for a, b in zip(leaves, leaves[1:]))
    total = mesh_stream._tree_sum(n, 1000, iter(np.sum(x[s:e]) for s, e in leaves))
    assert float(total).hex() == float(np.sum(x)).hex()


def test_binary_under_a_solid_header_is_streamed_and_ascii_is_not(tmp_path: Path, torus: np.ndarray) -> None:
    tris = torus[:2000]
    path = _write(tmp_path / "solid.stl", tris)
    data = bytearray(path.read_bytes())
    data[:80] = b"solid exported by some CAD".ljust(80, b" ")
    # the first records all printable bytes: the head looks like ASCII text
    data[84 : 84 + 50 * 9] = np.random.default_rng(1).integers(0x30, 0x7F, 50 * 9, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    assert _looks_ascii(data[:512]) and measure_binary_stl(Source.from_path(path), 0) is not None
    whole, piece = _both(path)
    assert whole == piece and "triangles=2000" in piece
    ascii_path = tmp_path / "ascii.stl"
    facets = "".join(
        "facet normal 0 0 0\n outer loop\n" + "".join(f"  vertex {x:.9g} {y:.9g} {z:.9g}\n" for x, y, z in t)
        + " endloop\nendfacet\n" for t in tris[:10].astype(float))  # fmt: skip
    ascii_path.write_text(f"solid a\n{facets}endsolid a\n")
    assert measure_binary_stl(Source.from_path(ascii_path), 0) is None
    assert StlReader().read(Source.from_path(ascii_path)).meta["encoding"] == "ascii"
