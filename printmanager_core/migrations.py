"""Schema migrations. Released migrations are never edited; add a new one."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("printmanager")


@migrations()
def m001_catalogue(db: Database) -> None:
    """Roots, models, files, tags, collections, and full-text search."""
    db["roots"].create(
        {"id": int, "path": str, "added_at": str},
        pk="id",
        not_null={"path", "added_at"},
    )
    db["roots"].create_index(["path"], unique=True)

    db["models"].create(
        {
            "id": int,
            "root_id": int,
            "path": str,  # folder or archive path, absolute
            "name": str,
            "kind": str,  # "folder" | "archive" | "file"
            "creator": str,
            "source_url": str,
            "licence": str,
            "notes": str,
            "tags": str,  # denormalised, space separated, for FTS
            "missing": int,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        foreign_keys=[("root_id", "roots", "id")],
        not_null={"path", "name", "kind"},
        defaults={"missing": 0, "tags": "", "notes": ""},
    )
    db["models"].create_index(["path"], unique=True)

    db["files"].create(
        {
            "id": int,
            "root_id": int,
            "model_id": int,
            "path": str,  # absolute; archive members as "<archive>!/<member>"
            "archive_path": str,  # the archive on disk for members, else null
            "archive_size": int,  # the archive's size, for members (incremental scan)
            "name": str,
            "format": str,
            "size_bytes": int,
            "mtime_ns": int,
            "hash": str,  # "sha256:<hex>"
            "triangles": int,
            "bbox_x": float,
            "bbox_y": float,
            "bbox_z": float,
            "volume_mm3": float,
            "area_mm2": float,
            "watertight": int,
            "thumbnails": int,
            "printer_model": str,
            "layer_height_mm": float,
            "print_time_s": float,
            "filament_g": float,
            "filament_mm": float,
            "slicer": str,
            "problems": str,  # JSON list
            "meta": str,  # JSON object
            "error": str,
            "missing": int,
            "tags": str,  # denormalised, space separated, for FTS
            "notes": str,
            "thumbnail_path": str,
            "added_at": str,
            "scanned_at": str,
        },
        pk="id",
        foreign_keys=[("root_id", "roots", "id"), ("model_id", "models", "id")],
        not_null={"path", "name"},
        defaults={"missing": 0, "thumbnails": 0, "tags": "", "notes": ""},
    )
    db["files"].create_index(["path"], unique=True)
    db["files"].create_index(["hash"])
    db["files"].create_index(["model_id"])
    db["files"].create_index(["format"])
    db["files"].create_index(["triangles"])
    db["files"].create_index(["size_bytes"])

    db["tags"].create({"id": int, "name": str}, pk="id", not_null={"name"})
    db["tags"].create_index(["name"], unique=True)
    db["file_tags"].create(
        {"file_id": int, "tag_id": int},
        pk=("file_id", "tag_id"),
        foreign_keys=[("file_id", "files", "id"), ("tag_id", "tags", "id")],
    )
    db["file_tags"].create_index(["tag_id"])
    db["model_tags"].create(
        {"model_id": int, "tag_id": int},
        pk=("model_id", "tag_id"),
        foreign_keys=[("model_id", "models", "id"), ("tag_id", "tags", "id")],
    )
    db["model_tags"].create_index(["tag_id"])

    db["collections"].create(
        {"id": int, "name": str, "description": str, "created_at": str},
        pk="id",
        not_null={"name"},
    )
    db["collections"].create_index(["name"], unique=True)
    db["collection_models"].create(
        {"collection_id": int, "model_id": int},
        pk=("collection_id", "model_id"),
        foreign_keys=[("collection_id", "collections", "id"), ("model_id", "models", "id")],
    )

    db["files"].enable_fts(["name", "path", "tags", "notes"], create_triggers=True, tokenize="unicode61")
    db["models"].enable_fts(
        ["name", "path", "tags", "notes", "creator"], create_triggers=True, tokenize="unicode61"
    )


@migrations()
def m002_settings(db: Database) -> None:
    """Per-library settings and the append-only consent ledger."""
    db["settings"].create({"key": str, "value": str, "updated_at": str}, pk="key")
    db["consent_ledger"].create(
        {
            "id": int,
            "at": str,
            "switch": str,
            "value": str,  # JSON
            "policy_version": str,
            "detail": str,  # JSON
            "source": str,
        },
        pk="id",
        not_null={"at", "switch", "value", "policy_version"},
    )
    # Append-only: the ledger can grow, never change.
    db.execute(
        "CREATE TRIGGER consent_ledger_no_update BEFORE UPDATE ON consent_ledger "
        "BEGIN SELECT RAISE(ABORT, 'the consent ledger is append-only'); END"
    )
    db.execute(
        "CREATE TRIGGER consent_ledger_no_delete BEFORE DELETE ON consent_ledger "
        "BEGIN SELECT RAISE(ABORT, 'the consent ledger is append-only'); END"
    )
