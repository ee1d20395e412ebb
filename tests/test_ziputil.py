"""Safe zip access: hostile archives are refused with a clear message, fast, in bounded memory."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest

from read_support import refused

from printmanager_core.readers.base import Limits, ReadError, Source
from printmanager_core.readers.ziputil import (
    RATIO_CHECK_MIN_BYTES,
    check_member_name,
    open_zip,
    read_member,
    read_member_named,
    safe_members,
)


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buf.getvalue()


def test_open_zip_reads_members_and_closes_stream(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(_zip({"dir/part.stl": b"solid x\nendsolid x\n", "readme.txt": b"hi"}))
    with open_zip(Source.from_path(path)) as zf:
        names = [i.filename for i in safe_members(zf)]
        assert names == ["dir/part.stl", "readme.txt"]
        assert read_member_named(zf, "readme.txt") == b"hi"
        stream = zf.fp
    assert zf.fp is None and stream is not None


def test_open_zip_unseekable_stream_is_read_into_memory() -> None:
    data = _zip({"a.txt": b"abc"})

    class OneWay(io.RawIOBase):
        def __init__(self) -> None:
            self._inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

        def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
            chunk = self._inner.read(len(b))
            b[: len(chunk)] = chunk
            return len(chunk)

    source = Source(name="a.zip", size=len(data), opener=OneWay)
    with open_zip(source) as zf:
        assert read_member_named(zf, "a.txt") == b"abc"


def test_not_a_zip_is_a_read_error(corpus: Path) -> None:
    with pytest.raises(ReadError, match="not a zip archive"):
        open_zip(Source.from_path(corpus / "broken" / "not-a-zip.3mf"))
    with pytest.raises(ReadError, match="not a zip archive"):
        open_zip(Source.from_bytes("x.zip", b""))


@pytest.mark.parametrize(
    "name, why",
    [
        ("../evil.stl", "climbs out"),
        ("models/../../evil.stl", "climbs out"),
        ("..\\evil.stl", "climbs out"),
        ("models\\..\\..\\evil.stl", "climbs out"),
        ("/etc/passwd", "absolute"),
        ("\\windows\\evil.dll", "absolute"),
        ("C:/evil.stl", "drive letter"),
        ("c:evil.stl", "drive letter"),
        ("evil\x1b[2J.stl", "control characters"),  # a terminal escape in a name
    ],
)
def test_unsafe_member_names_are_refused(name: str, why: str) -> None:
    with pytest.raises(ReadError, match=why):
        check_member_name(name)
    data = _zip({"ok.txt": b"x", name: b"payload"})
    with pytest.raises(ReadError, match=why):
        with open_zip(Source.from_bytes("a.zip", data)) as zf:
            safe_members(zf)


@pytest.mark.parametrize("name", ["a/b/c.stl", "x..y.stl", "..hidden/a.stl", "Metadata/plate_1.png", "a b.3mf"])
def test_ordinary_member_names_pass(name: str) -> None:
    check_member_name(name)


def test_nul_in_a_name_is_refused() -> None:
    with pytest.raises(ReadError, match="control characters"):
        check_member_name("evil\x00.stl")


def test_too_many_members() -> None:
    data = _zip({f"f{i}.txt": b"" for i in range(12)})
    with open_zip(Source.from_bytes("a.zip", data)) as zf:
        assert len(safe_members(zf, Limits(max_members=12))) == 12
        with pytest.raises(ReadError, match="13|12 members, more than the limit of 11"):
            safe_members(zf, Limits(max_members=11))


def test_duplicate_member_names_are_refused() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.txt", b"one")
        with pytest.warns(UserWarning):
            zf.writestr("a.txt", b"two")
    with open_zip(Source.from_bytes("a.zip", buf.getvalue())) as zf:
        with pytest.raises(ReadError, match="two members named 'a.txt'"):
            safe_members(zf)


def test_zip_bomb_by_compression_ratio_is_refused_before_inflating() -> None:
    data = _zip({"bomb.model": b"\0" * (40 * 1024**2)})  # ~40 KB compressed: ratio ~1000:1
    assert len(data) < 100_000
    with open_zip(Source.from_bytes("bomb.3mf", data)) as zf:
        (info,) = safe_members(zf)
        message = refused(lambda: read_member(zf, info), max_bytes=2 * 1024**2)
    assert "compression ratio" in message and "bomb.model" in message


def test_small_members_are_not_ratio_checked() -> None:
    payload = b" " * (RATIO_CHECK_MIN_BYTES // 2)  # ratio ~1000:1 but only 512 KiB
    data = _zip({"blank.txt": payload})
    with open_zip(Source.from_bytes("a.zip", data)) as zf:
        assert read_member_named(zf, "blank.txt") == payload


def test_member_over_size_limit_is_refused() -> None:
    data = _zip({"big.bin": bytes(range(256)) * 40_000}, method=zipfile.ZIP_STORED)
    with open_zip(Source.from_bytes("a.zip", data)) as zf:
        (info,) = safe_members(zf)
        with pytest.raises(ReadError, match="more than the limit of 1000000"):
            read_member(zf, info, Limits(max_member_bytes=1_000_000))
        assert len(read_member(zf, info)) == 256 * 40_000


def _patch_sizes(data: bytes, declared: int) -> bytes:
    """Rewrite the (only) member's uncompressed size in both headers."""
    buf = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.infolist()[0]
        central = zf.start_dir
    struct.pack_into("<I", buf, info.header_offset + 22, declared)
    struct.pack_into("<I", buf, central + 24, declared)
    return bytes(buf)


def test_member_that_inflates_past_its_declared_size_is_refused() -> None:
    real = _zip({"liar.model": b"\0" * (20 * 1024**2)})
    data = _patch_sizes(real, 1000)  # claims 1000 bytes, inflates to 20 MiB
    with open_zip(Source.from_bytes("liar.3mf", data)) as zf:
        (info,) = safe_members(zf)
        assert info.file_size == 1000
        message = refused(lambda: read_member(zf, info), max_bytes=2 * 1024**2)
    assert "liar.model" in message


def test_member_shorter_than_declared_is_refused() -> None:
    data = _patch_sizes(_zip({"short.txt": b"abc" * 100}), 5000)
    with open_zip(Source.from_bytes("a.zip", data)) as zf:
        with pytest.raises(ReadError, match="short.txt"):
            read_member_named(zf, "short.txt")


def test_overlapping_members_are_refused() -> None:
    """Two central-directory entries sharing one local header (the overlapped zip-bomb trick)."""
    data = _zip({"a.model": b"<model/>" * 1000})
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        central = zf.start_dir
    eocd = data.rindex(b"PK\x05\x06")
    entry = bytearray(data[central:eocd])
    second = bytes(entry).replace(b"a.model", b"b.model")
    end = bytearray(data[eocd:])
    struct.pack_into("<HH", end, 8, 2, 2)  # entries on disk, total entries
    struct.pack_into("<I", end, 12, 2 * len(entry))  # central directory size
    forged = data[:eocd] + second + bytes(end)
    with open_zip(Source.from_bytes("bomb.zip", forged)) as zf:
        assert len(zf.infolist()) == 2
        with pytest.raises(ReadError, match="overlap"):
            safe_members(zf)


def test_encrypted_member_is_refused() -> None:
    buf = bytearray(_zip({"secret.txt": b"x" * 100}, method=zipfile.ZIP_STORED))
    with zipfile.ZipFile(io.BytesIO(bytes(buf))) as zf:
        info = zf.infolist()[0]
        central = zf.start_dir
    for offset in (info.header_offset + 6, central + 8):  # general purpose flag: bit 0 = encrypted
        struct.pack_into("<H", buf, offset, 1)
    with open_zip(Source.from_bytes("a.zip", bytes(buf))) as zf:
        with pytest.raises(ReadError, match="encrypted"):
            read_member_named(zf, "secret.txt")


def test_missing_member_and_folder() -> None:
    data = _zip({"dir/": b"", "dir/a.txt": b"1"})
    with open_zip(Source.from_bytes("a.zip", data)) as zf:
        with pytest.raises(ReadError, match="no member 'nope'"):
            read_member_named(zf, "nope")
        with pytest.raises(ReadError, match="is a folder"):
            read_member_named(zf, "dir/")


def test_corrupt_member_data_is_a_read_error() -> None:
    buf = bytearray(_zip({"a.txt": bytes((i * 7919) % 251 for i in range(20_000))}))
    buf[200:240] = b"\xff" * 40  # inside the deflate stream (local header is 37 bytes)
    with open_zip(Source.from_bytes("a.zip", bytes(buf))) as zf:
        with pytest.raises(ReadError, match="a.txt"):
            read_member_named(zf, "a.txt")
