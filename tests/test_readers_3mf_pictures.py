"""The 3MF reader's pictures without parsing the model: the same list as with the parse.

``embedded_images`` settles from the package alone (relationships, part names, the first
bytes of the other parts) or by searching the model parts' text whether object
``thumbnail`` attributes can add a picture; only when it cannot does it parse them. Each
case here is checked against the parse forced (``object_thumbnails_known`` answering
False), and for the quick cases that no parse happened at all.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from printmanager_core.readers import reader_for
from printmanager_core.readers.base import Source
from printmanager_core.readers.threemf import model as model_module
from printmanager_core.readers.threemf import reader as reader_module

CORE = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"
PROD = "http://schemas.microsoft.com/3dmanufacturing/production/2015/06"
REL_THUMB = "http://schemas.openxmlformats.org/package/2006/relationships/metadata/thumbnail"
REL_MODEL = "http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"
MESH = ('<mesh><vertices><vertex x="0" y="0" z="0"/><vertex x="1" y="0" z="0"/><vertex x="0" y="1" z="0"/>'
        '<vertex x="0" y="0" z="1"/></vertices><triangles><triangle v1="0" v2="1" v3="2"/>'
        '<triangle v1="0" v2="1" v3="3"/><triangle v1="1" v2="2" v3="3"/><triangle v1="0" v2="2" v3="3"/>'
        "</triangles></mesh>")


def _png(width: int, height: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(buf, "PNG")
    return buf.getvalue()


def _rels(*targets: tuple[str, str]) -> bytes:
    body = "".join(f'<Relationship Target="{t}" Id="r{i}" Type="{typ}"/>' for i, (typ, t) in enumerate(targets))
    return (f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            f'package/2006/relationships">{body}</Relationships>').encode()


def _model(objects: str, extra_ns: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><model unit="millimeter" xmlns="{CORE}"{extra_ns}>'
            f'<resources>{objects}</resources><build><item objectid="1"/></build></model>').encode()


def _package(members: dict[str, bytes], *, package_thumbnail: bool = True) -> bytes:
    rels = [(REL_MODEL, "/3D/3dmodel.model")]
    if package_thumbnail:
        rels.append((REL_THUMB, "/Metadata/thumbnail.png"))
        members = {"Metadata/thumbnail.png": _png(40, 30), **members}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("_rels/.rels", _rels(*rels))
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _images(data: bytes) -> list[tuple[str | None, int | None, int | None, bytes]]:
    reader = reader_for("x.3mf")
    assert reader is not None
    return [(i.name, i.width, i.height, i.data) for i in reader.embedded_images(Source.from_bytes("x.3mf", data))]


def _parsed(data: bytes, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str | None, int | None, int | None, bytes]]:
    """The pictures with the model parts parsed (the quick answers turned off)."""
    with monkeypatch.context() as m:
        m.setattr(reader_module, "object_thumbnails_known", lambda pkg, root: False)
        return _images(data)


def _no_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model part was parsed")

    monkeypatch.setattr(model_module, "parse_elements", refuse)


def _names(images: list[tuple[str | None, int | None, int | None, bytes]]) -> list[str | None]:
    return [name for name, *_ in images]


def test_object_thumbnails_named_by_relationships_need_no_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    members = {
        "3D/3dmodel.model": _model(f'<object id="1" type="model" thumbnail="/Thumbnails/a.png">{MESH}</object>'),
        "3D/_rels/3dmodel.model.rels": _rels((REL_THUMB, "/Thumbnails/a.png")),
        "Thumbnails/a.png": _png(80, 60),
    }
    data = _package(members)
    expected = _parsed(data, monkeypatch)
    assert _names(expected) == ["thumbnail.png", "a.png"]
    _no_parse(monkeypatch)
    assert _images(data) == expected


def test_an_unnamed_picture_part_is_searched_for_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    # a picture part nothing lists: the model is searched (no attribute names it), not parsed
    members = {
        "3D/3dmodel.model": _model(f'<object id="1" type="model">{MESH}</object>'),
        "Thumbnails/stray.png": _png(90, 90),
    }
    data = _package(members)
    expected = _parsed(data, monkeypatch)
    assert _names(expected) == ["thumbnail.png"]
    _no_parse(monkeypatch)
    assert _images(data) == expected


@pytest.mark.parametrize(
    "attribute",
    [
        'thumbnail="/Thumbnails/only.png"',  # named by the attribute alone (no relationship)
        "thumbnail = '/Thumbnails/only.png'",  # other quotes, spaces around "="
        'thumbnail="/Thumbnails/%6Fnly.png"',  # %-escaped: the part name is unescaped
        'thumbnail="/Thumbnails/&#111;nly.png"',  # a character reference: only a parse reads it
        'thumbnail="/THUMBNAILS/ONLY.PNG"',  # part names do not depend on case
    ],
)
def test_a_picture_named_only_by_an_object_attribute_is_found(attribute: str, monkeypatch: pytest.MonkeyPatch) -> None:
    members = {
        "3D/3dmodel.model": _model(f'<object id="1" type="model" {attribute}>{MESH}</object>'),
        "Thumbnails/only.png": _png(200, 100),
    }
    data = _package(members)
    images = _images(data)
    assert _names(images) == ["thumbnail.png", "only.png"]
    assert images == _parsed(data, monkeypatch)


def test_a_picture_named_in_another_model_part_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    part = (f'<?xml version="1.0" encoding="UTF-8"?><model unit="millimeter" xmlns="{CORE}"><resources>'
            f'<object id="7" type="model" thumbnail="/Thumbnails/deep.png">{MESH}</object></resources>'
            f"<build/></model>").encode()
    root = _model('<object id="1" type="model"><components><component p:path="/3D/Objects/part.model" '
                  'objectid="7"/></components></object>', f' xmlns:p="{PROD}"')
    members = {"3D/3dmodel.model": root, "3D/Objects/part.model": part, "Thumbnails/deep.png": _png(64, 64)}
    data = _package(members, package_thumbnail=False)
    images = _images(data)
    assert _names(images) == ["deep.png"]
    assert images == _parsed(data, monkeypatch)


def test_a_word_that_is_not_a_plain_attribute_means_a_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    # "thumbnail" in text (not an attribute): the search cannot settle it, the parse does
    members = {
        "3D/3dmodel.model": _model(f'<object id="1" type="model" name="thumbnail">{MESH}</object>'),
        "Thumbnails/stray.png": _png(10, 10),
    }
    data = _package(members)
    calls: list[str] = []
    original = model_module.parse_elements

    def counting(*args: object, **kwargs: object) -> object:
        calls.append("parse")
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(model_module, "parse_elements", counting)
    assert _names(_images(data)) == ["thumbnail.png"]
    assert calls


def test_a_model_part_not_in_utf8_is_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _model(f'<object id="1" type="model" thumbnail="/Thumbnails/only.png">{MESH}</object>').decode()
    root = text.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    data = _package({"3D/3dmodel.model": root, "Thumbnails/only.png": _png(20, 20)})
    assert _images(data) == _parsed(data, monkeypatch)


def test_corpus_packages_give_the_same_pictures(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = sorted(p for p in corpus.rglob("*.3mf") if p.stat().st_size < 4_000_000)
    assert files
    for path in files:
        data = path.read_bytes()
        try:
            quick = _images(data)
        except Exception as exc:  # noqa: BLE001 - compared with the parse's error below
            quick = repr(exc)  # type: ignore[assignment]
        try:
            parsed = _parsed(data, monkeypatch)
        except Exception as exc:  # noqa: BLE001
            parsed = repr(exc)  # type: ignore[assignment]
        assert quick == parsed, path.name


def test_a_package_of_many_parts_is_searched_not_peeked_through(monkeypatch: pytest.MonkeyPatch) -> None:
    from printmanager_core.readers.threemf import pictures as pictures_module

    members = {
        "3D/3dmodel.model": _model(f'<object id="1" type="model" thumbnail="/Thumbnails/a.png">{MESH}</object>'),
        "3D/_rels/3dmodel.model.rels": _rels((REL_THUMB, "/Thumbnails/a.png")),
        "Thumbnails/a.png": _png(80, 60),
        "Metadata/notes.txt": b"not a picture",
    }
    data = _package(members)
    expected = _parsed(data, monkeypatch)
    monkeypatch.setattr(pictures_module, "MAX_PEEKED_PARTS", 1)
    peeked: list[str] = []
    monkeypatch.setattr(pictures_module.ziputil, "peek_member", lambda zf, info, *a: peeked.append(info.filename))
    _no_parse(monkeypatch)
    assert _images(data) == expected
    assert peeked == []
