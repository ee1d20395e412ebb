"""Thumbnails of a library's files and models: made through the hook, cached on disk.

    from printmanager_core import Library
    from printmanager_thumbnails import thumbnail, model_thumbnail

    with Library("~/prints-library") as lib:
        t = thumbnail(lib, 42)              # a file by id or path
        print(t.path, t.source)             # cached PNG; "embedded" or "rendered"
        m = model_thumbnail(lib, 7)         # the best file's thumbnail, or None
"""

from __future__ import annotations

from typing import Callable  # noqa: F401 (annotations)

import hashlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import attrs

from printmanager_core import budget
from printmanager_core.errors import NotFound
from printmanager_core.readers.base import Source
from printmanager_core.records import FileRecord

from . import sizes
from .cache import Entry, ThumbnailCache
from .geometry import can_draw, is_toolpath, load_triangles
from .images import IMAGE_EXTENSIONS
from .render import RenderError, Style, render_triangles
from .picture import Thumbnail, ThumbnailError

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library

log = logging.getLogger(__name__)

#: the size made during a scan and recorded as the file's ``thumbnail``, unless the
#: library's setting ``thumbnails.size`` says otherwise
DEFAULT_SIZE = sizes.DEFAULT_SIZE
MIN_SIZE = sizes.MIN_SIZE
MAX_SIZE = sizes.MAX_SIZE
#: formats whose embedded picture is a slicer's preview of the print
SLICED_FORMATS = ("gcode", "bgcode", "gcode.3mf")
#: how meshes are drawn
MESH_STYLE = Style()
#: how G-code toolpaths are drawn (filament orange, like a slicer's preview)
TOOLPATH_STYLE = Style(color=(232, 118, 28))
#: below this many files a scan makes thumbnails in-process
PARALLEL_MIN_FILES = 8


@attrs.frozen
class CachedThumbnail:
    """A thumbnail in the cache, as the API and ``printmanager thumbnail`` report it.

    :ivar path: the PNG file.
    :ivar source: ``"embedded"`` or ``"rendered"``.
    :ivar width: PNG width in pixels.
    :ivar height: PNG height in pixels.
    :ivar seconds: how long this call took (cache hit or not).
    :ivar cached: True when the PNG was already in the cache.
    :ivar file_id: the file pictured (0 for a file outside the library).
    :ivar detail: where the picture came from.
    :ivar problems: what went wrong on the way (e.g. a refused embedded picture).
    """

    path: Path
    source: str
    width: int
    height: int
    seconds: float
    cached: bool
    file_id: int = 0
    detail: str = ""
    problems: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The documented JSON shape (``printmanager thumbnail --json``)."""
        return {
            "path": str(self.path),
            "source": self.source,
            "width": self.width,
            "height": self.height,
            "seconds": round(self.seconds, 4),
        }


def default_size(library: "Library") -> int:
    """The library's thumbnail size: setting ``thumbnails.size`` (default 256)."""
    try:
        value = library.settings.get("thumbnails.size")
    except Exception:  # noqa: BLE001 - an old or damaged settings table: the default
        return DEFAULT_SIZE
    if isinstance(value, int) and not isinstance(value, bool) and MIN_SIZE <= value <= MAX_SIZE:
        return value
    log.warning("setting thumbnails.size=%r is not %d..%d; using %d", value, MIN_SIZE, MAX_SIZE, DEFAULT_SIZE)
    return DEFAULT_SIZE


def on_scan(library: "Library") -> bool:
    """Whether scans make thumbnails: setting ``thumbnails.on_scan`` (default true)."""
    try:
        return library.settings.get("thumbnails.on_scan") is not False
    except Exception:  # noqa: BLE001
        return True


def check_size(size: int) -> int:
    """Refuse a thumbnail size outside ``MIN_SIZE .. MAX_SIZE``."""
    if not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ThumbnailError(f"thumbnail size must be {MIN_SIZE}..{MAX_SIZE} pixels, not {size}")
    return size


def file_source(library: "Library", file: FileRecord) -> Source:
    """A readers' :class:`Source` over a catalogued file (archive members too)."""
    if file.archive_path:
        try:
            with library.open_file(file) as fh:
                data = fh.read()
        except OSError as exc:
            raise ThumbnailError(f"cannot open {file.path}: {exc.strerror or exc}") from None
        return Source.from_bytes(file.name, data, limits=library.limits)
    try:
        return Source.from_path(file.path, limits=library.limits)
    except OSError as exc:
        raise ThumbnailError(f"cannot open {file.path}: {exc.strerror or exc}") from None


def render_source(source: Source, size: int) -> Thumbnail:
    """Draw a mesh (or a G-code toolpath) as a ``size``×``size`` thumbnail.

    :raises ThumbnailError: nothing to draw, or the file cannot be read.
    """
    tris = load_triangles(source)
    toolpath = is_toolpath(source.name)
    try:
        image = render_triangles(tris, size, style=TOOLPATH_STYLE if toolpath else MESH_STYLE)
    except RenderError as exc:
        raise ThumbnailError(str(exc)) from None
    what = "toolpath" if toolpath else "mesh"
    return Thumbnail.from_image(image, "rendered", detail=f"{what}, {len(tris)} triangles")


def make_thumbnail(library: "Library", file: FileRecord, size: int | None = None) -> Thumbnail:
    """Ask the ``make_thumbnail`` hook for a thumbnail of ``file`` (nothing is cached).

    :param size: edge in pixels; default the library's ``thumbnails.size``.
    :raises ThumbnailError: no plugin could picture the file.
    """
    size = check_size(default_size(library) if size is None else size)
    limits = library.limits
    try:
        # the same per-file budget as reading: no one picture can hold a scan past it
        with budget.limit(limits.max_seconds_per_file, limits.max_memory_bytes):
            result = library.hook.make_thumbnail(library=library, file=file, size=size)
    except budget.OverBudget as exc:
        raise ThumbnailError(f"{file.name}: {exc.message('draw')}") from None
    except MemoryError:
        raise ThumbnailError(f"{file.name}: drawing it needs more memory than the per-file bound") from None
    except ThumbnailError as exc:
        text = str(exc)
        if text.startswith(f"{file.name}:"):
            raise
        raise ThumbnailError(f"{file.name}: {text}") from None
    if result is None:
        raise ThumbnailError(f"{file.name}: no embedded picture and nothing to draw")
    if not isinstance(result, Thumbnail):
        raise ThumbnailError(f"a make_thumbnail plugin returned {type(result).__name__}, not a Thumbnail")
    try:
        result.image = result.to_image()
    except Exception as exc:  # noqa: BLE001 - a plugin's bytes are input like any other
        raise ThumbnailError(f"{file.name}: a make_thumbnail plugin returned an unreadable image: {exc}") from None
    return result


def _hash_of(library: "Library", file: FileRecord) -> str:
    if file.hash:
        return file.hash
    h = hashlib.sha256()
    opener = (lambda: library.open_file(file)) if file.id else (lambda: open(file.path, "rb"))
    try:
        with opener() as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError as exc:
        raise ThumbnailError(f"cannot open {file.path}: {exc.strerror or exc}") from None
    return "sha256:" + h.hexdigest()


def resolve_file(library: "Library", file: FileRecord | int | str | os.PathLike[str]) -> FileRecord:
    """A file record for a file of the library (by record, id or path), or for a file
    on disk that is not catalogued (id 0; its thumbnail is cached but not recorded)."""
    if isinstance(file, FileRecord):
        return file
    try:
        return library.file(file)
    except NotFound:
        path = Path(str(file)).expanduser()
        if isinstance(file, int) or not path.is_file():
            raise
        path = path.resolve()
        return FileRecord(id=0, path=str(path), name=path.name, size_bytes=path.stat().st_size)


def thumbnail(
    library: "Library",
    file: FileRecord | int | str | os.PathLike[str],
    size: int | None = None,
    *,
    refresh: bool = False,
) -> CachedThumbnail:
    """The cached thumbnail of a file, made (and cached) if needed.

    :param file: a file record, id, or path (a path outside the library works too).
    :param size: edge of the square PNG in pixels; default the library's
        ``thumbnails.size`` — the size recorded as the file's ``thumbnail``.
    :param refresh: make it again even if cached.
    :raises ThumbnailError: the file cannot be pictured (the message says why).
    :raises NotFound: no such file.
    """
    start = time.perf_counter()
    recorded_size = default_size(library)
    size = check_size(recorded_size if size is None else size)
    rec = resolve_file(library, file)
    content_hash = _hash_of(library, rec)
    cache = ThumbnailCache(library.directory)
    entry = None if refresh else cache.get(content_hash, size)
    cached = entry is not None
    if entry is None:
        try:
            thumb = make_thumbnail(library, rec, size)
        except ThumbnailError as exc:
            if rec.id:
                cache.put_failure(content_hash, size, str(exc))
            raise
        entry = cache.put(content_hash, size, thumb)
    if rec.id and size == recorded_size and rec.thumbnail != str(entry.path):
        _record(library, {rec.id: str(entry.path)})
    return _result(entry, time.perf_counter() - start, cached, rec.id)


def _result(entry: Entry, seconds: float, cached: bool, file_id: int) -> CachedThumbnail:
    return CachedThumbnail(entry.path, entry.source, entry.width, entry.height, seconds, cached, file_id,
                           entry.detail, entry.problems)


def _record(library: "Library", paths: dict[int, str | None]) -> None:
    from . import schema  # the database side (sqlite-utils): not needed to draw a thumbnail

    schema.slot(library.store.db).set(paths)


def _rank(file: FileRecord) -> tuple[int, float]:
    """Lower is better: sliced files' pictures, then packaged pictures, photos, then the
    largest mesh, then toolpaths."""
    fmt = (file.format or "").lower()
    ext = os.path.splitext(file.name.lower())[1]
    bbox = file.bbox_mm or (0.0, 0.0, 0.0)
    largeness = float(file.volume_mm3 or (bbox[0] * bbox[1] * bbox[2]) or file.triangles or file.size_bytes or 0)
    if fmt in SLICED_FORMATS and file.thumbnails:
        return (0, -largeness)
    if file.thumbnails:
        return (1, -largeness)
    if ext in IMAGE_EXTENSIONS:
        return (2, -float(file.size_bytes or 0))
    if fmt in SLICED_FORMATS:
        return (4, -largeness)
    return (3, -largeness)


def model_thumbnail(library: "Library", model_id: int | str, size: int | None = None) -> CachedThumbnail | None:
    """A model's thumbnail: its best file's.

    A sliced file's embedded picture beats a picture packaged in a 3MF, which
    beats a photo in the model's folder, which beats a render of the largest
    part (by volume, else bounding box, triangles, size).

    :returns: None when no file of the model can be pictured.
    """
    model = library.model(model_id)
    files = [f for f in library.model_files(model.id) if not f.missing]
    candidates = sorted(files, key=_rank)
    for f in candidates:
        if _rank(f)[0] >= 3 and not can_draw(f.name):
            continue
        try:
            return thumbnail(library, f, size)
        except ThumbnailError as exc:
            log.info("no thumbnail for %s: %s", f.path, exc)
    return None


# --------------------------------------------------------------------------
# making thumbnails for many files (after a scan)
# --------------------------------------------------------------------------


def wants_thumbnail(file: FileRecord) -> bool:
    """Whether a scan should try to picture this file (it has a reader or is a picture)."""
    if file.missing or file.error:
        return False
    from printmanager_core.readers import reader_for

    ext = os.path.splitext(file.name.lower())[1]
    reader = reader_for(file.name)
    return ext in IMAGE_EXTENSIONS or can_draw(file.name) or callable(getattr(reader, "embedded_images", None))


_worker_library: Any = None


def _worker_init(directory: str, limits: Any = None) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # one BLAS thread per worker process (the workers already fill the cores)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    global _worker_library
    from printmanager_core.library import Library

    _worker_library = Library(directory) if limits is None else Library(directory, limits=limits)


def _make_one(library: "Library", rec: FileRecord, size: int) -> tuple[int, str | None, str | None]:
    """Make and cache one file's thumbnail: (file id, PNG path or None, error or None)."""
    cache = ThumbnailCache(library.directory)
    try:
        content_hash = _hash_of(library, rec)
        entry = cache.get(content_hash, size)
        if entry is None:
            if cache.failure(content_hash, size) is not None:
                return rec.id, None, cache.failure(content_hash, size)
            try:
                entry = cache.put(content_hash, size, make_thumbnail(library, rec, size))
            except ThumbnailError as exc:
                cache.put_failure(content_hash, size, str(exc))
                raise
        return rec.id, str(entry.path), None
    except (ThumbnailError, NotFound) as exc:
        return rec.id, None, str(exc)
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
        log.warning("thumbnail of %s failed: %s: %s", rec.path, type(exc).__name__, exc)
        return rec.id, None, f"{type(exc).__name__}: {exc}"


def _make_batch(recs: list[FileRecord], size: int) -> list[tuple[int, str | None, str | None]]:
    return [_make_one(_worker_library, rec, size) for rec in recs]


def make_thumbnails(
    library: "Library",
    files: Iterable[FileRecord | int],
    size: int | None = None,
    *,
    workers: int | None = None,
    progress: "Callable[[int, int], None] | None" = None,
) -> dict[int, str | None]:
    """Make (or find cached) thumbnails for many files and record them on the files.

    Runs in worker processes when there are enough files. A file that cannot be
    pictured gets no thumbnail (``thumbnail`` stays null) and is not retried until
    its content changes.

    :param size: edge in pixels; default the library's ``thumbnails.size`` (only
        thumbnails of that size are recorded on the files).
    :param progress: called as ``progress(done, total)`` as thumbnails are made.
    :returns: file id → PNG path (None where no thumbnail could be made).
    """
    recorded_size = default_size(library)
    size = check_size(recorded_size if size is None else size)
    recs = [f if isinstance(f, FileRecord) else library.file(f) for f in files]
    recs = [r for r in recs if wants_thumbnail(r)]
    workers = workers if workers is not None else (os.cpu_count() or 1)
    results: list[tuple[int, str | None, str | None]] = []
    tell = progress or (lambda done, total: None)
    tell(0, len(recs))
    if workers <= 1 or len(recs) < PARALLEL_MIN_FILES:
        for r in recs:
            results.append(_make_one(library, r, size))
            tell(len(results), len(recs))
    else:
        import concurrent.futures as cf  # only for a parallel batch: not on the one-thumbnail path
        import multiprocessing

        ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        batch = max(1, min(16, len(recs) // (workers * 4) or 1))
        chunks = [recs[i : i + batch] for i in range(0, len(recs), batch)]
        with cf.ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_worker_init,
            initargs=(str(library.directory), library.limits),
        ) as pool:
            for part in pool.map(_make_batch, chunks, [size] * len(chunks)):
                results.extend(part)
                tell(len(results), len(recs))
    paths = {file_id: path for file_id, path, _ in results}
    if size == recorded_size and paths:
        _record(library, paths)
    return paths


def forget_stale(library: "Library", file_ids: Iterable[int]) -> int:
    """Clear the recorded thumbnail of files whose content no longer matches it
    (so ``ls`` never shows the picture of an old version); returns how many."""
    cache = ThumbnailCache(library.directory)
    size = default_size(library)
    stale: dict[int, str | None] = {}
    # one query per few hundred files, and only those with a thumbnail come back (a scan of
    # 100,000 new files, which have none, used to look each one up)
    for rec in library.store.files.with_thumbnail(list(file_ids)):
        try:
            current = str(cache.path_for(rec.hash, size)) if rec.hash else None
        except ThumbnailError:
            current = None
        if rec.thumbnail != current:
            stale[rec.id] = None
    if stale:
        _record(library, stale)
    return len(stale)


def files_needing_thumbnails(library: "Library", changed_ids: Iterable[int]) -> list[FileRecord]:
    """Files changed by a scan, and files that have no thumbnail yet."""
    ids = set(changed_ids)
    from . import schema

    ids.update(schema.slot(library.store.db).empty_ids())
    out = []
    for file_id in sorted(ids):
        try:
            out.append(library.file(file_id))
        except NotFound:
            continue
    return out


def prune_cache(library: "Library") -> int:
    """Delete cached thumbnails of content no catalogued file has any more (the catalogue
    is asked only about the content the cache holds: nothing, when it holds nothing)."""
    cache = ThumbnailCache(library.directory)
    held = cache.digests()
    if not held:
        return 0
    return cache.prune(library.store.files.hashes_in_use(among=["sha256:" + d for d in sorted(held)]))

