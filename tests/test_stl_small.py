"""The small-STL path (readers/stl_small.py) gives the numpy path's figures bit for bit."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import attrs
import numpy as np
import pytest

from printmanager_core.readers.base import DEFAULT_LIMITS, ReadResult, Source
from printmanager_core.readers.mesh import measure_triangles
from printmanager_core.readers.stl import StlReader, read_stl_triangles
from printmanager_core.readers.stl_small import _EXACT_MAX, SMALL_TRIANGLES, _numpy_sum, read_small_binary_stl


def numpy_path(source: Source) -> ReadResult:
    """What StlReader.read returned before the small path (the numpy measurement)."""
    tris, meta, problems = read_stl_triangles(source)
    metrics = measure_triangles(tris, source.limits)
    return ReadResult(format="stl", problems=problems + metrics.problems(), meta=meta, **metrics.fields())


def exact(result: ReadResult) -> dict[str, object]:
    """The result's fields, floats as their bits (so -0.0 and the last digit count)."""

    def bits(v: object) -> object:
        if isinstance(v, float):
            return struct.pack("<d", v).hex()
        if isinstance(v, (tuple, list)):
            return [bits(x) for x in v]
        return v

    return {k: bits(v) for k, v in attrs.asdict(result).items()}


def binary_stl(tris: list[list[float]], header: bytes = b"generated") -> bytes:
    out = [header.ljust(80, b" "), struct.pack("<I", len(tris))]
    for t in tris:
        out.append(struct.pack("<12fH", 0.0, 0.0, 0.0, *t, 0))
    return b"".join(out)


def cube(size: float, at: tuple[float, float, float]) -> list[list[float]]:
    x, y, z = at
    c = [(x + dx * size, y + dy * size, z + dz * size) for dx in (0, 1) for dy in (0, 1) for dz in (0, 1)]
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    tris = []
    for a, b, cc, d in quads:
        tris.append([*c[a], *c[b], *c[cc]])
        tris.append([*c[a], *c[cc], *c[d]])
    return tris


def meshes() -> list[tuple[str, bytes]]:
    rng = random.Random(11)
    out = [("cube", binary_stl(cube(10.0, (0.0, 0.0, 0.0)))),
           ("cube at -0.0", binary_stl([[-0.0 if v == 0 else v for v in t] for t in cube(1.0, (0.0, 0.0, 0.0))])),
           ("open cube", binary_stl(cube(2.5, (-1.0, 3.0, 7.0))[:-1])),
           ("inside out", binary_stl([t[0:3] + t[6:9] + t[3:6] for t in cube(3.0, (1.0, 1.0, 1.0))])),
           ("degenerate", binary_stl(cube(1.0, (0.0, 0.0, 0.0)) + [[1.0, 1.0, 1.0] * 3, [0, 0, 0, 1, 1, 1, 2, 2, 2]]))]
    for n in (1, 7, 8, 9, 17, SMALL_TRIANGLES, 64, 129, 300, _EXACT_MAX):
        tris = [[rng.uniform(-100, 100) * 10 ** rng.randint(-3, 3) for _ in range(9)] for _ in range(n)]
        out.append((f"random {n}", binary_stl(tris)))
    many = [t for i in range(40) for t in cube(rng.uniform(0.1, 9), (rng.uniform(-50, 50), 0.5, rng.uniform(-5, 5)))]
    out.append(("40 cubes", binary_stl(many)))
    return out


@pytest.mark.parametrize("name,data", meshes(), ids=[n for n, _ in meshes()])
def test_generated_meshes_match_numpy(name: str, data: bytes) -> None:
    source = Source.from_bytes("part.stl", data)
    # every size the plain-Python sums reproduce, beyond what a scan sends this way
    small = read_small_binary_stl(source, max_triangles=_EXACT_MAX)
    assert small is not None, "the small path should take this file"
    assert exact(small) == exact(numpy_path(source))


def test_corpus_stls_match_numpy(corpus: Path) -> None:
    taken = 0
    for path in sorted(corpus.rglob("*.stl")):
        source = Source.from_path(path)
        small = read_small_binary_stl(source, max_triangles=_EXACT_MAX)
        if small is None:
            continue
        taken += 1
        assert exact(small) == exact(numpy_path(source)), path
        assert exact(StlReader().read(source)) == exact(small)
    assert taken >= 5


@pytest.mark.parametrize("data", [
    b"solid cube" + b" " * 70 + struct.pack("<I", 1) + b"\0" * 50,  # may be ASCII: the usual path decides
    binary_stl(cube(1.0, (0, 0, 0))) + b"\0",  # trailing bytes: the usual path notes them
    binary_stl([[float("nan")] * 9, [0.0] * 9]),  # not finite: the usual path words the error
    binary_stl([[0, 0, 0, 1, 0, 0, 0, 1, 0]]),  # flat: numpy picks the sign of the zero extent
    binary_stl(cube(1.0, (0, 0, 0)) * (SMALL_TRIANGLES // 12 + 1)),  # more than a scan sends this way
], ids=["solid header", "trailing bytes", "nan", "flat", "too many"])
def test_other_files_go_the_usual_way(data: bytes) -> None:
    assert read_small_binary_stl(Source.from_bytes("part.stl", data)) is None


def test_the_reader_takes_the_small_path_for_a_tiny_part(corpus: Path) -> None:
    source = Source.from_path(corpus / "uranium" / "simpleTestCubeBinary.stl")
    small = read_small_binary_stl(source)
    assert small is not None and small.watertight is True and small.triangles == 12
    assert exact(StlReader().read(source)) == exact(small) == exact(numpy_path(source))


def test_watertight_limit_is_kept() -> None:
    limits = attrs.evolve(DEFAULT_LIMITS, watertight_max_triangles=4)
    source = Source.from_bytes("part.stl", binary_stl(cube(1.0, (0, 0, 0))), limits)
    small = read_small_binary_stl(source)
    assert small is not None and small.watertight is None
    assert exact(small) == exact(numpy_path(source))


def test_sum_order_is_numpys() -> None:
    rng = random.Random(5)
    for n in list(range(1, 140)) + [255, 256, 257, 1000, 4099, 8192]:
        values = [rng.uniform(-1, 1) * 10 ** rng.randint(-9, 9) for _ in range(n)]
        assert _numpy_sum(values) == float(np.array(values).sum())
