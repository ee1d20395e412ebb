"""3MF mesh blocks read in bulk: the fast path of the model parser.

A model part's ``<vertices>`` and ``<triangles>`` blocks are nearly all of it.
When a block is written the usual way (only ``<vertex x= y= z=/>`` resp.
``<triangle v1= v2= v3= .../>`` elements and whitespace) its numbers are read
here with numpy, and the block is replaced by a stand-in element that the
element parser (:mod:`.model`) takes back in document order. Every other block
is left for the element parser, so results are exactly those of a plain parse.
"""

from __future__ import annotations

import functools
import itertools
import re
from typing import Iterator

import attrs
import numpy as np

from ... import budget

__all__ = ["BLOCK_ATTR", "Blocks", "NotCut", "cut_mesh_blocks"]

#: attribute of the stand-in element left where a mesh block was cut out
BLOCK_ATTR = "printmanager-block"
_BLOCK_ATTR_BYTES = BLOCK_ATTR.encode()
_MESH_BLOCK = re.compile(rb"<(vertices|triangles)>")
_WS = rb"[ \t\r\n]"  # XML whitespace (not \f or \v, which XML forbids)
_NUMBER = rb'"[-+.0-9eE]++"'  # each value must then parse as exactly one number (checked by count)
_INDEX = rb'"[0-9]{1,18}+"'  # fits int64
#: a <vertices> body: only <vertex x= y= z=/> elements (attributes in one order) and whitespace
_VERTEX_BODY = rb"(?:%s*+<vertex%s++x=%s%s++y=%s%s++z=%s%s*+/>)*+%s*+" % (
    _WS, _WS, _NUMBER, _WS, _NUMBER, _WS, _NUMBER, _WS, _WS)
#: the other orders of the three attributes (every element of a block in the same order):
#: (pattern, column of x, y and z in document order)
_ORDERS = [order for order in itertools.permutations(b"xyz") if order != tuple(b"xyz")]
_VERTEX_BODIES_REORDERED = [
    (
        rb"(?:%s*+<vertex%s++%c=%s%s++%c=%s%s++%c=%s%s*+/>)*+%s*+"
        % (_WS, _WS, a, _NUMBER, _WS, b, _NUMBER, _WS, c, _NUMBER, _WS, _WS),
        [bytes((a, b, c)).index(axis) for axis in b"xyz"],
    )
    for a, b, c in _ORDERS
]
_PROPERTIES = (  # optional property attributes of a triangle, each at most once, in one of two usual orders
    rb"(?>%s++pid=%s(?:%s++p1=%s)?+(?:%s++p2=%s)?+(?:%s++p3=%s)?+" % ((_WS, _INDEX) * 4)
    + rb"|(?:%s++p1=%s)?+(?:%s++p2=%s)?+(?:%s++p3=%s)?+(?:%s++pid=%s)?+)" % ((_WS, _INDEX) * 4)
)
#: a <triangles> body: only <triangle v1= v2= v3= [properties]/> elements and whitespace
_TRIANGLE_BODY = rb"(?:%s*+<triangle%s++v1=%s%s++v2=%s%s++v3=%s%s%s*+/>)*+%s*+" % (
    _WS, _WS, _INDEX, _WS, _INDEX, _WS, _INDEX, _PROPERTIES, _WS, _WS)
#: the same without property attributes (quicker to check)
_PLAIN_TRIANGLE_BODY = rb"(?:%s*+<triangle%s++v1=%s%s++v2=%s%s++v3=%s%s*+/>)*+%s*+" % (
    _WS, _WS, _INDEX, _WS, _INDEX, _WS, _INDEX, _WS, _WS)
#: plain triangles with the corners in another order: (pattern, column of v1, v2 and v3)
_PLAIN_TRIANGLE_BODIES_REORDERED = [
    (
        rb"(?:%s*+<triangle%s++v%c=%s%s++v%c=%s%s++v%c=%s%s*+/>)*+%s*+"
        % (_WS, _WS, a, _INDEX, _WS, b, _INDEX, _WS, c, _INDEX, _WS, _WS),
        [bytes((a, b, c)).index(corner) for corner in b"123"],
    )
    for a, b, c in itertools.permutations(b"123")
    if (a, b, c) != tuple(b"123")
]


class _Bodies:
    """The body patterns above, compiled (on first use: compiling them is most of this
    module's import time, and most processes that import the readers read no 3MF)."""

    def __init__(self) -> None:
        self.vertex = re.compile(_VERTEX_BODY)
        self.vertex_reordered = [(re.compile(p), columns) for p, columns in _VERTEX_BODIES_REORDERED]
        self.triangle = re.compile(_TRIANGLE_BODY)
        self.plain_triangle = re.compile(_PLAIN_TRIANGLE_BODY)
        self.plain_triangle_reordered = [(re.compile(p), columns) for p, columns in _PLAIN_TRIANGLE_BODIES_REORDERED]


@functools.cache
def _bodies() -> _Bodies:
    return _Bodies()


_CORNER_INDEX = re.compile(rb'%sv[123]="([0-9]++)"' % _WS)
_VERTEX_TEXT = bytes.maketrans(b'<>/="xyz', b"        ")
_EMPTY_VERTICES = np.empty((0, 3), dtype=np.float64)  # stand-ins when mesh numbers are not read
_EMPTY_FACES = np.empty((0, 3), dtype=np.int64)
_EMPTY_VERTICES.flags.writeable = False
_EMPTY_FACES.flags.writeable = False


class NotCut(Exception):
    """The parser met the stand-ins out of order: parse the part element by element."""


@attrs.define
class Blocks:
    """Arrays of the mesh blocks cut out of a model part, taken back in document order."""

    arrays: list[np.ndarray] = attrs.field(factory=list)
    taken: int = 0

    def take(self, ref: str) -> np.ndarray:
        """The array of stand-in number ``ref``, which must be the next one."""
        if ref != str(self.taken) or self.taken >= len(self.arrays):
            raise NotCut(ref)
        self.taken += 1
        return self.arrays[self.taken - 1]

    def all_taken(self) -> bool:
        """Every block cut out was met by the parser as mesh content."""
        return self.taken == len(self.arrays)


def cut_mesh_blocks(data: bytes, geometry: bool = True) -> tuple[bytes, Blocks] | None:
    """``data`` with each plainly written ``<vertices>``/``<triangles>`` block replaced
    by an empty stand-in element, and the blocks' arrays; None when nothing was cut.

    A block is cut only when its body is nothing but ``<vertex x="" y="" z=""/>``
    (resp. ``<triangle v1="" v2="" v3="" .../>``) elements and XML whitespace, its
    numbers all convert, and the part has no document type declaration and no
    text that looks like a stand-in. Such a body is well-formed XML whatever
    surrounds it, so the part parses the same with the stand-ins; one that sits
    in a comment or CDATA section is not seen by the parser, which
    :func:`.model.parse_cut` notices (a stand-in not taken) and then parses the
    original. Other blocks stay in place for the element parser.
    """
    pieces: list[bytes] = []
    blocks = Blocks()
    pos = resume = 0
    while True:
        found = _MESH_BLOCK.search(data, resume)
        if found is None:
            break
        name = found.group(1)
        body_start = found.end()
        close = b"</" + name + b">"
        end = data.find(close, body_start)
        if end < 0:
            break
        if name == b"vertices":
            array = _vertex_body(data, body_start, end, geometry)
        else:
            array = _triangle_body(data, body_start, end, geometry)
        if array is None:
            resume = body_start  # left in place for the element parser
            continue
        pieces.append(data[pos : found.start()])
        pieces.append(b'<%s %s="%d"/>' % (name, _BLOCK_ATTR_BYTES, len(blocks.arrays)))
        blocks.arrays.append(array)
        pos = resume = end + len(close)
    if not blocks.arrays:
        return None
    pieces.append(data[pos:])
    text = b"".join(pieces)
    # checked on the rest (the blocks cut out hold neither): no DTD, and no stand-in
    # lookalike that the part itself wrote
    if b"<!DOCTYPE" in text or text.count(_BLOCK_ATTR_BYTES) != len(blocks.arrays):
        return None
    return text, blocks


def _vertex_body(data: bytes, start: int, end: int, geometry: bool) -> np.ndarray | None:
    """The (m, 3) coordinates of a plainly written <vertices> body ``data[start:end]``, else None."""
    columns = None
    bodies = _bodies()
    if bodies.vertex.fullmatch(data, start, end) is None:
        for body, columns in bodies.vertex_reordered:
            if body.fullmatch(data, start, end) is not None:
                break
        else:
            return None
    if not geometry:
        return _EMPTY_VERTICES
    count = data.count(b"<", start, end)
    values = np.empty(3 * count, dtype=np.float64)
    filled = 0
    try:  # after the check above only numbers and whitespace are left
        for a, b in _element_pieces(data, start, end):
            piece = _quoted_decimals(np.frombuffer(data, dtype=np.uint8, count=b - a, offset=a))
            if piece is None:  # exponents, long mantissas, ...: the C parser
                text = data[a:b].replace(b"vertex", b"").translate(_VERTEX_TEXT)
                piece = np.fromstring(text, dtype=np.float64, sep=" ")
            # a value reading as two numbers ("1-2") or none would change the count
            if filled + piece.size > values.size:
                return None
            values[filled : filled + piece.size] = piece
            filled += piece.size
            budget.check()
    except ValueError:
        return None
    if filled != values.size:
        return None
    rows = values.reshape(-1, 3)
    return rows if columns is None else np.ascontiguousarray(rows[:, columns])


def _triangle_body(data: bytes, start: int, end: int, geometry: bool) -> np.ndarray | None:
    """The (n, 3) vertex indices of a plainly written <triangles> body ``data[start:end]``, else None."""
    plain = data.find(b"p", start, end) < 0
    columns = None
    bodies = _bodies()
    if (bodies.plain_triangle if plain else bodies.triangle).fullmatch(data, start, end) is None:
        if not plain:
            return None
        for body, columns in bodies.plain_triangle_reordered:
            if body.fullmatch(data, start, end) is not None:
                break
        else:
            return None
    if not geometry:
        return _EMPTY_FACES
    count = data.count(b"<", start, end)
    values = np.empty(3 * count, dtype=np.int64)
    filled = 0
    for a, b in _element_pieces(data, start, end):
        if plain:
            piece = _quoted_integers(np.frombuffer(data, dtype=np.uint8, count=b - a, offset=a))
        else:  # property attributes too: pick the corner indices out
            found = _CORNER_INDEX.findall(data, a, b)
            piece = np.fromstring(b" ".join(found), dtype=np.int64, sep=" ")
        if filled + piece.size > values.size:
            return None
        values[filled : filled + piece.size] = piece
        filled += piece.size
        budget.check()
    if filled != values.size:
        return None
    rows = values.reshape(-1, 3)
    return rows if columns is None else np.ascontiguousarray(rows[:, columns])


#: mesh blocks are converted in pieces of about this many bytes (bounds the temporaries)
_PIECE_BYTES = 4 * 1024 * 1024


def _element_pieces(data: bytes, start: int, end: int) -> Iterator[tuple[int, int]]:
    """``(a, b)`` ranges covering ``data[start:end]``, each ending after an element's ``/>``
    (the block holds only empty elements and whitespace, so every piece holds whole ones)."""
    pos = start
    while pos < end:
        cut = data.find(b"/>", min(pos + _PIECE_BYTES, end), end)
        cut = end if cut < 0 else cut + 2
        yield pos, cut
        pos = cut


def _quoted_integers(raw: np.ndarray) -> np.ndarray:
    """Every quoted value in the bytes ``raw``, each 1 to 18 decimal digits (checked by the caller), as int64."""
    quotes = np.flatnonzero(raw == ord('"'))
    starts = quotes[0::2] + 1
    lengths = quotes[1::2] - starts
    values = np.zeros(len(starts), dtype=np.int64)
    for place in range(int(lengths.max()) if len(starts) else 0):
        more = lengths > place
        if more.all():
            values *= 10
            values += raw[starts + place]
            values -= ord("0")
        else:
            values[more] = values[more] * 10 + raw[starts[more] + place] - ord("0")
    return values


#: powers of ten that float64 holds exactly (10**0 .. 10**22)
_TENS = 10.0 ** np.arange(23)
_DIGIT_LIMIT = 15  # at most this many digits: the mantissa is an exact float64 integer


def _quoted_decimals(raw: np.ndarray) -> np.ndarray | None:
    """Every quoted value in ``raw`` as float64 when all are plain decimals (``-12.5``,
    ``.5``, ``3``: an optional ``-``, digits with at most one ``.``, at most 15 digits),
    else None.

    Exactly what ``strtod`` gives: the digits make an integer mantissa below 2**53 and
    dividing it by an exact power of ten is one correctly rounded operation.
    """
    quotes = np.flatnonzero(raw == ord('"'))
    if len(quotes) % 2:
        return None
    starts = quotes[0::2] + 1
    ends = quotes[1::2]
    if not len(starts):
        return np.empty(0)
    neg = raw[starts] == ord("-")
    first = starts + neg
    lengths = ends - first
    if lengths.min() < 1 or lengths.max() > _DIGIT_LIMIT + 1:
        return None
    mantissa = np.zeros(len(starts), dtype=np.int64)
    frac = np.zeros(len(starts), dtype=np.int64)
    dots = np.zeros(len(starts), dtype=np.int64)
    digits = np.zeros(len(starts), dtype=np.int64)
    for place in range(int(lengths.max())):
        more = lengths > place
        ch = raw[np.where(more, first + place, 0)].astype(np.int64)
        is_digit = more & (ch >= ord("0")) & (ch <= ord("9"))
        is_dot = more & (ch == ord("."))
        if not (is_digit | is_dot | ~more).all():
            return None  # a sign in the middle, an exponent, ...
        frac += is_digit & (dots > 0)
        dots += is_dot
        digits += is_digit
        mantissa = np.where(is_digit, mantissa * 10 + (ch - ord("0")), mantissa)
    if dots.max() > 1 or digits.min() < 1 or digits.max() > _DIGIT_LIMIT:
        return None
    values = mantissa.astype(np.float64) / _TENS[frac]
    np.negative(values, out=values, where=neg)
    return values
