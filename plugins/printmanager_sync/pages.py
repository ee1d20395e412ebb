"""Incremental snapshots (format version 2): a snapshot's long lists as content-addressed pages.

A version-1 snapshot is one object holding every file, thumbnail and user edit,
and it names the pushing device's database backup as one blob: a one-file change
uploaded both whole again. Version 2 splits them:

* the lists that grow with the library (``files``, ``thumbnails``, ``meta.files``,
  ``meta.models`` and each database backup's chunk list) are cut into **pages**:
  sorted items, a page ending after an item whose keyed hash of its key is 0
  modulo the page's average length (content-defined boundaries, as in restic's
  chunker or a prolly tree, over items instead of bytes). A change touches the
  pages of the items it changes; an inserted or removed item moves no boundary of
  any other page. A page's plaintext is ``zlib(canonical JSON list)``, stored as an
  ordinary encrypted blob (``data/``, named by the HMAC of its plaintext), so
  pages unchanged since the last snapshot are already in the container and are
  not uploaded again;
* a **database backup** is cut into fixed chunks of :data:`DB_CHUNK` bytes (SQLite
  changes pages in place, so an edit changes the chunks of the pages it wrote),
  each an ordinary blob; the reference keeps the HMAC of the whole file, which a
  reader checks after putting the chunks together;
* the **manifest** (the snapshot object) keeps the rest and a reference
  ``{"blob", "size", "count"}`` per page.

Nothing here changes what the server can read: pages and chunks are encrypted like
every blob, and the boundaries come from a key it does not have
(:meth:`~printmanager_sync.crypto.RepositoryKeys.boundary`). It learns how many
objects a sync writes and their sizes, as before.
"""

from __future__ import annotations

import os
import zlib
from typing import Any, Callable, Iterable

from .errors import IntegrityError
from .format import canonical_json

#: average items per page, by list
AVERAGE = {"files": 512, "thumbnails": 512, "meta.files": 512, "meta.models": 512, "chunks": 128}
#: a page ends after at most this many averages of items whatever the hashes say
MAX_FACTOR = 4
#: bytes per database-backup chunk (a multiple of every SQLite page size up to 32 KiB)
DB_CHUNK = 16 * 1024
#: database backups smaller than this stay one blob
DB_CHUNKED_FROM = 4 * DB_CHUNK


def split(items: list[Any], keys: Iterable[str], boundary: Callable[[str], int], average: int) -> list[list[Any]]:
    """Cut ``items`` (sorted by ``keys``) into pages: a page ends after an item whose
    ``boundary(key)`` is 0 modulo ``average``, or at ``average * MAX_FACTOR`` items."""
    pages: list[list[Any]] = []
    page: list[Any] = []
    limit = max(1, average * MAX_FACTOR)
    for item, key in zip(items, keys):
        page.append(item)
        if boundary(key) % average == 0 or len(page) >= limit:
            pages.append(page)
            page = []
    if page:
        pages.append(page)
    return pages


def encode_page(items: list[Any]) -> bytes:
    """A page's plaintext: zlib-compressed canonical JSON of its items."""
    return zlib.compress(canonical_json(items), 6)


def decode_page(plaintext: bytes, count: int) -> list[Any]:
    """A page's items; :class:`IntegrityError` if it is not a page of ``count`` items."""
    import json

    try:
        items = json.loads(zlib.decompress(plaintext).decode("utf-8"))
    except (zlib.error, UnicodeDecodeError, ValueError):
        raise IntegrityError("snapshot page is damaged (not zlib JSON)") from None
    if not isinstance(items, list) or len(items) != count:
        raise IntegrityError("snapshot page is damaged (not the list its snapshot names)")
    return items


def page_refs(data: Any, what: str) -> list[tuple[str, int, int]]:
    """``[(blob, size, count)]`` of a manifest's ``{"pages": [...]}``; :class:`IntegrityError` if damaged."""
    from .format import is_object_id

    try:
        refs = [(str(r["blob"]), int(r["size"]), int(r["count"])) for r in data["pages"]]
    except (KeyError, TypeError, ValueError):
        raise IntegrityError(f"snapshot is damaged ({what} is not a page list)") from None
    if not all(is_object_id(b) and n >= 0 and c >= 0 for b, n, c in refs):
        raise IntegrityError(f"snapshot is damaged ({what} names an invalid page)")
    return refs


def chunk_sizes(size: int, chunk: int, count: int) -> list[int]:
    """Plaintext sizes of the ``count`` chunks of a ``size``-byte file cut every ``chunk`` bytes;
    :class:`IntegrityError` unless ``count`` is how many it takes."""
    if chunk <= 0 or size <= 0 or count != -(-size // chunk):
        raise IntegrityError("snapshot is damaged (a database backup's chunks do not add up to its size)")
    return [min(chunk, size - i * chunk) for i in range(count)]


def zero_free_pages(path: str | os.PathLike[str]) -> int:
    """Overwrite with zeros what the free pages of the SQLite database file at ``path`` (closed)
    still hold; return how many pages were zeroed.

    SQLite leaves a freed page's old bytes in place, and a backup copies them: the bookkeeping
    tables a backup empties, and whatever the library freed since, would make chunks differ from
    one backup to the next with nothing of the catalogue changed. Free pages are never read by
    SQLite; the freelist's own trunk pages keep their list (file format: sqlite.org/fileformat2.html,
    "The Freelist"): a trunk page is the next trunk's number, a count, then that many leaf page
    numbers; the header gives the page size (offset 16) and the first trunk (offset 32)."""
    with open(path, "r+b") as f:
        header = f.read(100)
        if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
            raise ValueError(f"{path} is not an SQLite database")
        size = int.from_bytes(header[16:18], "big")
        page_size = 65536 if size == 1 else size
        pages = os.fstat(f.fileno()).st_size // page_size
        trunk = int.from_bytes(header[32:36], "big")
        zeroed = 0
        seen: set[int] = set()
        while trunk and trunk not in seen and trunk <= pages:
            seen.add(trunk)
            f.seek((trunk - 1) * page_size)
            data = f.read(page_size)
            following = int.from_bytes(data[0:4], "big")
            count = int.from_bytes(data[4:8], "big")
            if count > (page_size - 8) // 4:
                raise ValueError(f"{path}: damaged freelist")
            used = 8 + 4 * count
            f.seek((trunk - 1) * page_size + used)
            f.write(bytes(page_size - used))
            for i in range(count):
                leaf = int.from_bytes(data[8 + 4 * i : 12 + 4 * i], "big")
                if 1 < leaf <= pages:
                    f.seek((leaf - 1) * page_size)
                    f.write(bytes(page_size))
                    zeroed += 1
            trunk = following
        f.flush()
        os.fsync(f.fileno())
    return zeroed
