"""printmanager plugin: the OFF (Object File Format) mesh reader."""

from __future__ import annotations

import numpy as np

from printmanager_core import hookimpl
from printmanager_core.readers import ReadError, ReadResult, Source
from printmanager_core.readers.mesh import metrics_from_indexed

__version__ = "0.1.0"


class OffReader:
    """Reads ASCII OFF files: ``OFF``, counts line, vertices, then polygon faces."""

    name = "off"
    extensions = (".off",)

    def read(self, source: Source) -> ReadResult:
        """Mesh figures of an OFF file."""
        vertices, faces = self._parse(source)
        return ReadResult(format="off", **metrics_from_indexed(vertices, faces, limits=source.limits))

    def triangles(self, source: Source) -> np.ndarray:
        """The triangles, ``(n, 3, 3)``: lets the thumbnails plugin render OFF files."""
        vertices, faces = self._parse(source)
        return vertices[faces]

    def _parse(self, source: Source) -> tuple[np.ndarray, np.ndarray]:
        text = source.read_bytes().decode("ascii", errors="replace")
        lines = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
        lines = [ln for ln in lines if ln]
        if not lines or not lines[0].startswith("OFF"):
            raise ReadError("not an OFF file: it does not start with 'OFF'")
        head, body = lines[0][3:].split(), lines[1:]
        if not head and body:
            head, body = body[0].split(), body[1:]
        try:
            n_vertices, n_faces = int(head[0]), int(head[1])
            vertices = np.array([body[i].split()[:3] for i in range(n_vertices)], dtype=np.float64)
            triangles: list[tuple[int, int, int]] = []
            for line in body[n_vertices : n_vertices + n_faces]:
                parts = [int(p) for p in line.split()]
                count, idx = parts[0], parts[1 : 1 + parts[0]]
                if count < 3 or len(idx) != count:
                    raise ReadError(f"bad face line {line!r}")
                triangles.extend((idx[0], idx[k], idx[k + 1]) for k in range(1, count - 1))
        except (IndexError, ValueError) as exc:
            raise ReadError(f"malformed OFF file: {exc}") from None
        faces = np.array(triangles, dtype=np.int64).reshape(-1, 3)
        if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
            raise ReadError("a face refers to a vertex that does not exist")
        return vertices, faces


@hookimpl
def register_readers(register):  # type: ignore[no-untyped-def]
    register(OffReader())
