"""Schema migrations. Released migrations are never edited; add a new one."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("printmanager")


@migrations()
def m001_catalogue(db: Database) -> None:
    """Roots, models, files, tags, collections, and full-text search."""
    db.table("roots").create(
        {"id": int, "path": str, "added_at": str},
        pk="id",
        not_null={"path", "added_at"},
    )
    db.table("roots").create_index(["path"], unique=True)

    db.table("models").create(
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
    db.table("models").create_index(["path"], unique=True)

    db.table("files").create(
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
    db.table("files").create_index(["path"], unique=True)
    db.table("files").create_index(["hash"])
    db.table("files").create_index(["model_id"])
    db.table("files").create_index(["format"])
    db.table("files").create_index(["triangles"])
    db.table("files").create_index(["size_bytes"])

    db.table("tags").create({"id": int, "name": str}, pk="id", not_null={"name"})
    db.table("tags").create_index(["name"], unique=True)
    db.table("file_tags").create(
        {"file_id": int, "tag_id": int},
        pk=("file_id", "tag_id"),
        foreign_keys=[("file_id", "files", "id"), ("tag_id", "tags", "id")],
    )
    db.table("file_tags").create_index(["tag_id"])
    db.table("model_tags").create(
        {"model_id": int, "tag_id": int},
        pk=("model_id", "tag_id"),
        foreign_keys=[("model_id", "models", "id"), ("tag_id", "tags", "id")],
    )
    db.table("model_tags").create_index(["tag_id"])

    db.table("collections").create(
        {"id": int, "name": str, "description": str, "created_at": str},
        pk="id",
        not_null={"name"},
    )
    db.table("collections").create_index(["name"], unique=True)
    db.table("collection_models").create(
        {"collection_id": int, "model_id": int},
        pk=("collection_id", "model_id"),
        foreign_keys=[("collection_id", "collections", "id"), ("model_id", "models", "id")],
    )

    db.table("files").enable_fts(["name", "path", "tags", "notes"], create_triggers=True, tokenize="unicode61")
    db.table("models").enable_fts(
        ["name", "path", "tags", "notes", "creator"], create_triggers=True, tokenize="unicode61"
    )


@migrations()
def m002_settings(db: Database) -> None:
    """Per-library settings and the append-only consent ledger."""
    db.table("settings").create({"key": str, "value": str, "updated_at": str}, pk="key")
    db.table("consent_ledger").create(
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


@migrations()
def m004_privacy(db: Database) -> None:
    """Analytics aggregates, crash reports and share records (see docs/privacy.md)."""
    # Analytics: counts per registered feature per day, nothing else. The CHECKs
    # keep free text, paths and numbers out; the triggers make "off" collect
    # nothing and drop what was not yet sent, however the switch is flipped.
    db.execute(
        "CREATE TABLE analytics_aggregates ("
        " feature TEXT NOT NULL CHECK (length(feature) BETWEEN 1 AND 41 AND feature GLOB '[a-z]*'"
        "  AND feature NOT GLOB '*[^a-z0-9_.]*'),"
        " day TEXT NOT NULL CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]'),"
        " count INTEGER NOT NULL DEFAULT 0 CHECK (count >= 0),"
        " sent INTEGER NOT NULL DEFAULT 0 CHECK (sent >= 0 AND sent <= count),"
        " PRIMARY KEY (feature, day))"
    )
    db.table("analytics_aggregates").create_index(["day"])
    off = "(SELECT value FROM settings WHERE key = 'privacy.analytics') = 'false'"
    db.execute(
        f"CREATE TRIGGER analytics_off_no_insert BEFORE INSERT ON analytics_aggregates WHEN {off} "
        "BEGIN SELECT RAISE(IGNORE); END"
    )
    db.execute(
        "CREATE TRIGGER analytics_off_no_count BEFORE UPDATE OF count ON analytics_aggregates "
        f"WHEN NEW.count > OLD.count AND {off} BEGIN SELECT RAISE(IGNORE); END"
    )
    for event in ("INSERT", "UPDATE"):
        db.execute(
            f"CREATE TRIGGER analytics_off_purge_{event.lower()} AFTER {event} ON settings "
            "WHEN NEW.key = 'privacy.analytics' AND NEW.value = 'false' BEGIN "
            "DELETE FROM analytics_aggregates WHERE sent = 0; "
            "UPDATE analytics_aggregates SET count = sent WHERE count > sent; END"
        )

    db.table("crash_reports").create(
        {
            "id": int,
            "created_at": str,
            "context": str,  # "cli" | "api"
            "app_version": str,
            "python_version": str,
            "os": str,
            "exception_type": str,
            "report": str,  # JSON, scrubbed
            "sent_at": str,
        },
        pk="id",
        not_null={"created_at", "report"},
    )
    db.table("crash_reports").create_index(["created_at"])

    db.table("share_recipients").create(
        {"id": int, "address": str, "name": str, "created_at": str, "last_used_at": str},
        pk="id",
        not_null={"address", "created_at"},
    )
    db.table("share_recipients").create_index(["address"], unique=True)
    db.table("share_lists").create(
        {"id": int, "name": str, "created_at": str, "last_used_at": str},
        pk="id",
        not_null={"name", "created_at"},
    )
    db.table("share_lists").create_index(["name"], unique=True)
    db.table("share_list_members").create(
        {"list_id": int, "recipient_id": int},
        pk=("list_id", "recipient_id"),
        foreign_keys=[("list_id", "share_lists", "id"), ("recipient_id", "share_recipients", "id")],
    )
    db.table("share_list_members").create_index(["recipient_id"])
    db.table("share_links").create(
        {
            "id": int,
            "token": str,
            "target_kind": str,  # "file" | "model" | "collection"
            "target_id": int,
            "recipient_id": int,
            "list_id": int,
            "created_at": str,
            "expires_at": str,
            "revoked_at": str,
        },
        pk="id",
        foreign_keys=[("recipient_id", "share_recipients", "id"), ("list_id", "share_lists", "id")],
        not_null={"token", "target_kind", "target_id", "created_at"},
    )
    db.table("share_links").create_index(["token"], unique=True)
    db.table("share_links").create_index(["expires_at"])
    db.table("share_links").create_index(["revoked_at"])
    db.table("share_links").create_index(["recipient_id"])
    db.table("share_links").create_index(["list_id"])
    db.table("share_access_log").create(
        {"id": int, "link_id": int, "at": str, "action": str, "allowed": int, "client": str},
        pk="id",
        foreign_keys=[("link_id", "share_links", "id")],
        not_null={"link_id", "at", "action"},
    )
    db.table("share_access_log").create_index(["at"])
    db.table("share_access_log").create_index(["link_id"])


@migrations()
def m005_sync(db: Database) -> None:
    """Sync plugin state: settings, local file ids, known remote blobs, upload journal."""
    db.table("sync_state").create({"key": str, "value": str}, pk="key")
    db.table("sync_files").create({"path": str, "size": int, "mtime_ns": int, "blob": str}, pk="path")
    db.table("sync_blobs").create({"id": str, "size": int}, pk="id")
    db.table("sync_uploads").create(
        {"name": str, "upload_id": str, "salt": str, "source": str, "size": int, "mtime_ns": int,
         "part_size": int, "object_size": int, "created_at": str},
        pk="name",
    )  # fmt: skip
    db.table("sync_upload_parts").create(
        {"name": str, "number": int, "etag": str, "size": int},
        pk=("name", "number"),
        foreign_keys=[("name", "sync_uploads", "name")],
    )


@migrations()
def m006_search_indexes(db: Database) -> None:
    """A path-ordered index holding the columns queries filter on (docs/query.md).

    ``files(query, limit=N)`` walks it in path order and tests every filter inside
    the index, reading the wide ``files`` row only for the files it returns.
    """
    db.table("files").create_index(
        ["path", "missing", "format", "triangles", "size_bytes", "volume_mm3", "area_mm2", "watertight",
         "print_time_s", "layer_height_mm", "filament_g", "thumbnails", "model_id", "printer_model",
         "slicer", "error"],
        index_name="files_search",
    )  # fmt: skip


@migrations()
def m007_exact_paths(db: Database) -> None:
    """File names are bytes: an exact ``path_bytes`` BLOB beside each path.

    ``path`` stays the display text (valid UTF-8, undecodable bytes written
    ``\\xNN``); ``path_bytes`` holds the exact bytes only when the name is not
    valid UTF-8 (see printmanager_core.paths). Uniqueness moves from the display
    text to the exact value ``coalesce(path_bytes, path)``: a BLOB never equals a
    TEXT, and each name has one form, so two names are one row only when their
    bytes are the same.
    """
    for table in ("roots", "models", "files"):
        db.execute(f"alter table {table} add column path_bytes blob")
        db.execute(f"drop index idx_{table}_path")
        db.execute(f"create unique index {table}_exact_path on {table} (coalesce(path_bytes, path))")
    # display-text lookups: files use the path-first files_search index (m006)
    db.execute("create index idx_roots_path on roots (path)")
    db.execute("create index idx_models_path on models (path)")


@migrations()
def m015_hashed_share_tokens(db: Database) -> None:
    """Share tokens are kept only as their SHA-256: ``share_links.token`` becomes ``token_hash``.

    Tokens recorded before are hashed in place (their links keep working: a
    token is looked up by its hash), with ``secure_delete`` on so the
    plaintext is overwritten in the database file.
    """
    from .shares import token_hash

    before = db.execute("pragma secure_delete").fetchone()[0]
    db.execute("pragma secure_delete = on")
    db.execute("drop index idx_share_links_token")
    db.execute("alter table share_links rename column token to token_hash")
    for link_id, token in db.execute("select id, token_hash from share_links").fetchall():
        db.execute("update share_links set token_hash = ? where id = ?", [token_hash(token), link_id])
    db.execute("create unique index idx_share_links_token_hash on share_links (token_hash)")
    db.execute(f"pragma secure_delete = {int(before)}")


@migrations()
def m016_retention_auto(db: Database) -> None:
    """The setting ``retention.on_open`` becomes ``retention.auto``: opening a library deletes nothing.

    Retention now runs after CLI commands and on request (docs/privacy.md,
    "Retention"); a stored choice carries over to the new key.
    """
    db.execute(
        "insert or replace into settings (key, value, updated_at) "
        "select 'retention.auto', value, updated_at from settings where key = 'retention.on_open'"
    )
    db.execute("delete from settings where key = 'retention.on_open'")


#: the tables m005 made for the sync plugin, children first
_SYNC_TABLES = ("sync_upload_parts", "sync_uploads", "sync_files", "sync_blobs", "sync_state")


@migrations()
def m017_sync_tables_to_plugin(db: Database) -> None:
    """The sync plugin owns its tables now (its migration set ``sync``): drop them here when empty.

    A library that holds sync state keeps every ``sync_*`` table as it is (the
    plugin's set adopts them); one that holds none loses the empty tables, which
    the plugin's set makes again where the plugin is installed.
    """
    present = [t for t in _SYNC_TABLES if t in db.table_names()]
    if any(db.execute(f"select exists(select 1 from {t})").fetchone()[0] for t in present):
        return
    for table in present:
        db.execute(f"drop table {table}")


@migrations()
def m018_sort_indexes(db: Database) -> None:
    """Indexes for the orders a gallery pages through (``Library.files_page``): name,
    date modified and print time. Size and triangles have theirs since m001; each
    index also holds the row id, the tie-break, so a page is read off the index.
    """
    for column in ("name", "mtime_ns", "print_time_s", "added_at"):
        db.table("files").create_index([column], index_name=f"files_by_{column}")


# -- organise on disk: the journal of moves (docs/organise.md, "Organise on disk") ------


@migrations()
def m022_organise_journal(db: Database) -> None:
    """The organise journal: one row per batch (a run of ``printmanager organise``, or its
    undo) and one per step of it, written before anything on disk moves.

    A step is a ``file`` (one file or archive moved: copied, synced, verified, then its
    source removed — or renamed on one filesystem), a ``dir`` (an empty folder of a
    model made at the destination), a ``case`` (a folder or file renamed through a
    temporary name: a case-only rename) or a ``model`` (the model's row takes its new
    place; emptied source folders are removed). ``state`` walks ``planned`` →
    ``copied`` → ``placed`` (the catalogue's rows updated in that same transaction) →
    ``done``; ``skipped`` is a step an undo settled by rolling it back.
    """
    db.table("organise_batches").create(
        {
            "id": int,
            "kind": str,  # "organise" | "undo"
            "undoes": int,  # the batch an undo batch reverses
            "query": str,
            "root_id": int,  # the root the batch moves into (an undo: the original's)
            "status": str,  # "running" | "done" | "undone"
            "created_at": str,
            "finished_at": str,
            "error": str,  # the last error that stopped it, one line
        },
        pk="id",
        not_null={"kind", "status", "created_at"},
        defaults={"query": "", "status": "running"},
    )
    db.table("organise_steps").create(
        {
            "id": int,
            "batch_id": int,
            "seq": int,
            "kind": str,  # "file" | "dir" | "case" | "model"
            "model_id": int,
            "src": str,  # display text
            "src_bytes": bytes,  # exact bytes when the name is not valid UTF-8
            "dst": str,
            "dst_bytes": bytes,
            "dst_root_id": int,  # the root the destination lies in
            "method": str,  # "rename" | "copy" (chosen when the step runs)
            "state": str,
            "size": int,
            "mtime_ns": int,
            "inode": int,  # of the source, to recognise a rename after a crash
            "hash": str,  # "sha256:<hex>" of what was copied
            "created_dirs": str,  # JSON list of folders the step made
            "detail": str,  # JSON: a model step's old and new place, folders to prune or make
            "error": str,
        },
        pk="id",
        foreign_keys=[("batch_id", "organise_batches", "id")],
        not_null={"batch_id", "seq", "kind", "src", "dst", "state"},
        defaults={"state": "planned", "created_dirs": "[]", "detail": "{}"},
    )
    db.table("organise_steps").create_index(["batch_id", "seq"], index_name="organise_steps_by_batch", unique=True)


@migrations()
def m025_mesh_checks(db: Database) -> None:
    """What the mesh readers measure for problems: zero-area triangles, inside-out
    meshes, and the encoding-independent geometry fingerprint (indexed: duplicates
    are found by it)."""
    files = db.table("files")
    files.add_column("degenerate_triangles", int)
    files.add_column("inverted", int)
    files.add_column("geometry_hash", str)
    files.create_index(["geometry_hash"], index_name="files_by_geometry_hash")
    # meshes catalogued before are read again by the next scan, which measures them
    db.execute("update files set mtime_ns = -1 where missing = 0 and coalesce(triangles, 0) > 0")


@migrations()
def m026_problems(db: Database) -> None:
    """Problems as records (docs/problems.md): one row per problem of a file, a model
    or a folder, and on each file the kinds it has (``files.problem_kinds``, space
    separated, for ``has:problem`` and ``problem:KIND``)."""
    db.table("problems").create(
        {
            "id": int,
            "kind": str,
            "file_id": int,  # the file it is about, or NULL
            "model_id": int,  # the model it is about (a file's model too), or NULL
            "root_id": int,
            "path": str,  # the file, model folder or empty folder, display text
            "detail": str,  # one line for people
            "other_id": int,  # the file it duplicates, for duplicate kinds
            "found_at": str,
        },
        pk="id",
        not_null={"kind", "path", "found_at"},
        defaults={"detail": ""},
    )
    db.table("problems").create_index(["file_id"], index_name="problems_by_file")
    db.table("problems").create_index(["model_id"], index_name="problems_by_model")
    db.table("problems").create_index(["kind", "path"], index_name="problems_by_kind")
    db.table("files").add_column("problem_kinds", str)


@migrations()
def m027_model_title_sidecar(db: Database) -> None:
    """A model's title, caption and description (filled at scan from 3MF metadata and
    ``datapackage.json`` sidecars, or set by the user), and the hash of the sidecar
    whose values were last taken in (docs/organise.md, "Sidecars")."""
    models = db.table("models")
    for column in ("title", "caption", "description", "sidecar_hash"):
        models.add_column(column, str)


# -- the print log and sliced ↔ source links (docs/printing.md) ---------------------


@migrations()
def m028_print_log(db: Database) -> None:
    """The print log: one row per print of a model (and of the file printed, when known).

    ``source`` says where an entry came from: ``manual`` (``printmanager print
    log``) or ``<kind>:<printer>`` for a job pulled from a printer's history,
    whose ``external_id`` (the printer's job id) keeps a job from being logged twice.
    """
    db.table("prints").create(
        {
            "id": int,
            "model_id": int,
            "file_id": int,
            "printed_at": str,  # UTC, ISO 8601 (clock.now_iso)
            "printer": str,
            "result": str,  # "ok" | "failed" | "cancelled"
            "note": str,
            "duration_s": float,
            "source": str,
            "external_id": str,
            "job_name": str,  # the file name the printer knew the job by
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("model_id", "models", "id"), ("file_id", "files", "id")],
        not_null={"model_id", "printed_at", "result", "source", "created_at"},
        defaults={"note": "", "source": "manual"},
    )
    db.table("prints").create_index(["model_id", "printed_at"], index_name="prints_by_model")
    db.table("prints").create_index(["file_id"], index_name="prints_by_file")
    db.table("prints").create_index(["printed_at"], index_name="prints_by_date")
    db.execute(
        "create unique index prints_external on prints (source, external_id) where external_id is not null"
    )


@migrations()
def m029_slice_links(db: Database) -> None:
    """Sliced ↔ source links: which mesh (and its model) a G-code file was sliced from.

    ``how`` says what linked them: ``object`` (an object name the slicer wrote),
    ``source`` (a source file name in the G-code or 3MF metadata), ``name`` (the
    file names match, same folder), ``slice`` (``printmanager slice`` made it).
    """
    db.table("slice_links").create(
        {
            "gcode_id": int,
            "source_id": int,
            "how": str,
            "created_at": str,
        },
        pk=("gcode_id", "source_id"),
        foreign_keys=[("gcode_id", "files", "id"), ("source_id", "files", "id")],
        not_null={"how", "created_at"},
    )
    db.table("slice_links").create_index(["source_id"], index_name="slice_links_by_source")


def _fts_update_trigger(db: Database, table: str, columns: tuple[str, ...]) -> None:
    cols = ", ".join(f'"{c}"' for c in columns)
    old = ", ".join(f'old."{c}"' for c in columns)
    new = ", ".join(f'new."{c}"' for c in columns)
    changed = " or ".join(f'old."{c}" is not new."{c}"' for c in columns)
    db.execute(f'drop trigger if exists "{table}_au"')
    db.execute(
        f'create trigger "{table}_au" after update on "{table}" when {changed} begin\n'
        f'  insert into "{table}_fts" ("{table}_fts", rowid, {cols}) values (\'delete\', old.rowid, {old});\n'
        f'  insert into "{table}_fts" (rowid, {cols}) values (new.rowid, {new});\n'
        "end"
    )


@migrations()
def m030_fts_update_when_text_changes(db: Database) -> None:
    """The full-text indexes are rewritten on an update only when an indexed column changes.

    The triggers of m001 deleted and re-inserted a row's terms on every update, so a
    scan marking files missing, setting ``problem_kinds`` or refreshing which models
    are missing rewrote the full-text index of every row it touched (and FTS5 flushes
    its pending terms once a statement).
    """
    _fts_update_trigger(db, "files", ("name", "path", "tags", "notes"))
    _fts_update_trigger(db, "models", ("name", "path", "tags", "notes", "creator"))


#: the files columns problems, 3MF metadata and sidecars are worked out from (m031)
_CATALOGUE_FILE_COLUMNS = (
    "root_id", "model_id", "path", "path_bytes", "archive_path", "name", "format", "size_bytes", "hash", "triangles",
    "bbox_x", "bbox_y", "bbox_z", "volume_mm3", "area_mm2", "watertight", "thumbnails", "problems", "meta", "error",
    "missing", "degenerate_triangles", "inverted", "geometry_hash",
)
_CATALOGUE_MODEL_COLUMNS = (
    "root_id", "path", "path_bytes", "name", "kind", "missing", "licence", "creator", "title", "description",
    "sidecar_hash",
)


@migrations()
def m031_catalogue_changes(db: Database) -> None:
    """Counts of the changes to what problems are worked out from (``catalogue_changes``).

    Triggers add one to ``catalogue`` for every file or model inserted or deleted, and
    for every update that changes one of the columns problems, 3MF metadata and sidecars
    are worked out from; and one to ``problems`` for every problem row written. The last
    complete problems refresh notes both (``refreshed_*``); a scan that finds them where
    the refresh left them skips the refresh (nothing it reads changed, whoever wrote: a
    scan, organise, a root removed, a sidecar, another program).
    """
    db.execute("create table catalogue_changes (id integer primary key check (id = 1), "
               "catalogue integer not null default 0, problems integer not null default 0, "
               "refreshed_catalogue integer, refreshed_problems integer)")
    db.execute("insert into catalogue_changes (id) values (1)")
    for table, columns, count in (("files", _CATALOGUE_FILE_COLUMNS, "catalogue"),
                                  ("models", _CATALOGUE_MODEL_COLUMNS, "catalogue"),
                                  ("problems", None, "problems")):
        bump = f"update catalogue_changes set {count} = {count} + 1 where id = 1;"
        when = "" if columns is None else " when " + " or ".join(f'old."{c}" is not new."{c}"' for c in columns)
        db.execute(f'create trigger "{table}_changes_ai" after insert on "{table}" begin {bump} end')
        db.execute(f'create trigger "{table}_changes_ad" after delete on "{table}" begin {bump} end')
        db.execute(f'create trigger "{table}_changes_au" after update on "{table}"{when} begin {bump} end')


@migrations()
def m033_tag_lists(db: Database) -> None:
    """The files and models of a tag read off an index alone (issue 11, "speed").

    ``tag:`` lists a tag's files and models; the tag_id indexes of m001 held only
    the row id, so each entry cost a table read. These hold the file or model id
    too, and replace them (they began with the same column).
    """
    db.execute("create index file_tags_by_tag on file_tags (tag_id, file_id)")
    db.execute("create index model_tags_by_tag on model_tags (tag_id, model_id)")
    db.execute("drop index if exists idx_file_tags_tag_id")
    db.execute("drop index if exists idx_model_tags_tag_id")


@migrations()
def m034_model_name_trigrams(db: Database) -> None:
    """Model names indexed by their trigrams: ``model:TEXT`` (a substring) finds its models
    without reading every model (issue 11, "speed").

    An external-content FTS5 table over ``models.name`` (trigram tokenizer), kept
    by triggers on ``models``; a query asks it for the names holding the text's
    trigrams in a row (a phrase), then checks each one's name with LIKE as before.
    """
    db.execute(
        "create virtual table models_name_trigrams using fts5(name, content='models', content_rowid='id', "
        "tokenize='trigram')"
    )
    db.execute("insert into models_name_trigrams(models_name_trigrams) values ('rebuild')")
    db.execute(
        "create trigger models_name_trigrams_ai after insert on models begin "
        "insert into models_name_trigrams(rowid, name) values (new.id, new.name); end"
    )
    db.execute(
        "create trigger models_name_trigrams_ad after delete on models begin "
        "insert into models_name_trigrams(models_name_trigrams, rowid, name) values ('delete', old.id, old.name); end"
    )
    db.execute(
        "create trigger models_name_trigrams_au after update of name on models begin "
        "insert into models_name_trigrams(models_name_trigrams, rowid, name) values ('delete', old.id, old.name); "
        "insert into models_name_trigrams(rowid, name) values (new.id, new.name); end"
    )


@migrations()
def m035_count_indexes(db: Database) -> None:
    """Indexes a count of every match reads instead of the files (issue 11, "speed").

    A count touches every match; read through the wide path index (m006) or the rows,
    a broad filter cost a read of every file. These narrow indexes hold what the common
    filters compare, and ``missing``, so a count seeks to its range and reads the index
    alone: a format with its triangles and size (replacing the format index of m001,
    which began with the same column), a print time with its printer, a volume with
    watertightness; and two short partial indexes, the files absent (a count of the
    present ones is everything less these) and the files with an error.
    """
    db.execute("create index files_by_format on files (format, triangles, size_bytes, missing)")
    db.execute("drop index if exists idx_files_format")
    db.execute("create index files_by_print_time_printer on files (print_time_s, missing, printer_model)")
    db.execute("create index files_by_volume on files (volume_mm3, watertight, missing)")
    db.execute("create index files_absent on files (id) where missing is not 0")
    db.execute("create index files_with_error on files (missing) where coalesce(error, '') != ''")


@migrations()
def m038_problem_log(db: Database) -> None:
    """The files and models changed since the last problems refresh, with each file as it
    was (``problem_log``), so that a rescan works out again only the problems those
    changes can alter (issue 11, "rescan after touching 1%").

    Triggers on ``files`` write one row per insert (``inserted`` = 1, nothing kept), per
    delete and per update of a column of m031's list (the file as it was, in the columns
    of ``store.problems.PROBLEM_LOG_FILE_COLUMNS``, of ``meta`` only the encoding);
    triggers on ``models`` one row per model inserted, deleted or changed (``model_id`` only). A refresh reads the rows up to the last
    one it saw and deletes them when it is done. ``catalogue_changes.log_trusted``
    says whether the problems stored plus the log describe the catalogue (set by a
    complete refresh; here only when the problems were current as the log began).
    """
    from .problems import PROBLEM_LOG_FILE_COLUMNS  # the log's own columns (a later change needs a migration)

    cols = ", ".join(f'"{c}"' for c in PROBLEM_LOG_FILE_COLUMNS)
    db.execute(
        "create table problem_log (seq integer primary key, file_id integer, "
        f"inserted integer not null default 0, {cols})"
    )
    db.execute("create index problem_log_by_file on problem_log (file_id, seq)")
    # a duplicate group's first file (by path, then id) read off an index
    db.execute("create index files_by_hash_first on files (hash, path, id)")
    db.execute("create index files_by_geometry_first on files (geometry_hash, path, id)")
    db.execute("drop index if exists idx_files_hash")
    db.execute("drop index if exists files_by_geometry_hash")
    # the few files never checked, without reading every file (the missing ones: m035)
    db.execute("create index files_unchecked on files (id) where problem_kinds is null")
    # of ``meta`` only what a duplicate's detail names (the encoding), not a 3MF's whole metadata
    kept = {"meta": "case when json_valid(old.meta) and json_type(old.meta) = 'object' "
                    "then json_object('encoding', json_extract(old.meta, '$.encoding')) end"}
    old = ", ".join(kept.get(c, f'old."{c}"') for c in PROBLEM_LOG_FILE_COLUMNS)
    when = " or ".join(f'old."{c}" is not new."{c}"' for c in _CATALOGUE_FILE_COLUMNS)
    db.execute("create trigger files_problem_log_ai after insert on files begin "
               "insert into problem_log (file_id, inserted) values (new.id, 1); end")
    for event, extra in (("ad", "delete on files"), ("au", f"update on files when {when}")):
        db.execute(f"create trigger files_problem_log_{event} after {extra} begin "
                   f"insert into problem_log (file_id, {cols}) values (old.id, {old}); end")
    model_when = " or ".join(f'old."{c}" is not new."{c}"' for c in _CATALOGUE_MODEL_COLUMNS)
    for event, extra, row in (("ai", "insert on models", "new"), ("ad", "delete on models", "old"),
                              ("au", f"update on models when {model_when}", "new")):
        db.execute(f"create trigger models_problem_log_{event} after {extra} begin "
                   f"insert into problem_log (model_id) values ({row}.id); end")
    db.execute("alter table catalogue_changes add column log_trusted integer not null default 0")
    db.execute("update catalogue_changes set log_trusted = coalesce(catalogue = refreshed_catalogue "
               "and problems = refreshed_problems, 0)")


@migrations()
def m043_schema_stamp(db: Database) -> None:
    """The schema stamp (issue 11, "CLI start-up"): one row naming the migration code (the
    core's and the plugins') for which nothing is pending, written after a library opens
    migrated. A command that only reads checks it with one select (store/stamp.py) instead
    of importing sqlite-utils and every migration set; a stale or missing stamp opens the
    library as before (migrating), which writes it again.
    """
    db.execute("create table schema_stamp (id integer primary key check (id = 1), key text not null)")


#: the tables m047 counts the changes of (``store.catalogue_copy.CATALOGUE_TABLES`` as it was then)
_ROW_CHANGES_TABLES = ("roots", "models", "files", "tags", "file_tags", "model_tags", "collections", "collection_models")


@migrations()
def m047_catalogue_row_changes(db: Database) -> None:
    """A count of every change to the catalogue tables a copy carries
    (``catalogue_changes.row_changes``; issue 11, "No-change sync of a 100,000-file library").

    Triggers add one for every row inserted into, deleted from or updated in ``roots``,
    ``models``, ``files``, ``tags``, ``file_tags``, ``model_tags``, ``collections`` and
    ``collection_models``, whatever the column (also one added by a later migration) and
    whoever writes (this program, another process, ``sqlite3``). The sync plugin keeps the
    catalogue's fingerprint under the count it was worked out at and reads every row again
    only when the count moved. Unlike m031's count it has no ``when`` clause: a column it
    left out could not make a fingerprint stale.
    """
    db.execute("alter table catalogue_changes add column row_changes integer not null default 0")
    bump = "update catalogue_changes set row_changes = row_changes + 1 where id = 1;"
    for table in _ROW_CHANGES_TABLES:
        for event, name in (("insert", "ai"), ("delete", "ad"), ("update", "au")):
            db.execute(f'create trigger "{table}_row_changes_{name}" after {event} on "{table}" begin {bump} end')
