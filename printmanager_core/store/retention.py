"""The deletes behind the retention rules (:mod:`printmanager_core.privacy.retention`).

Each rule is a list of ``(table, where)`` pairs run in order; ``?`` in
``where`` is the rule's cutoff (an ISO timestamp, or a ``YYYY-MM-DD`` day for
analytics). The checks are indexed ``EXISTS`` queries; the deletes run inside
:func:`~.erase.secure_delete`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping


from .erase import secure_delete

if TYPE_CHECKING:  # pragma: no cover
    from sqlite_utils import Database

_ENDED = "(revoked_at < ? or expires_at < ?)"
_UNUSED_LIST = (
    "id not in (select list_id from share_links where list_id is not null) "
    "and coalesce(last_used_at, created_at) < ?"
)
_UNUSED_RECIPIENT = (
    "id not in (select recipient_id from share_links where recipient_id is not null) "
    "and id not in (select recipient_id from share_list_members) "
    "and coalesce(last_used_at, created_at) < ?"
)

#: rule name → the deletes it runs, in order
DELETES: dict[str, tuple[tuple[str, str], ...]] = {
    "access_log": (("share_access_log", "at < ?"),),
    "ended_shares": (
        ("share_access_log", f"link_id in (select id from share_links where {_ENDED})"),
        ("share_links", _ENDED),
    ),
    "crash_reports": (("crash_reports", "created_at < ?"),),
    "analytics": (("analytics_aggregates", "day < ?"),),
    "print_log": (("prints", "printed_at < ?"),),
    "unused_recipients": (
        ("share_list_members", f"list_id in (select id from share_lists where {_UNUSED_LIST})"),
        ("share_lists", _UNUSED_LIST),
        ("share_recipients", _UNUSED_RECIPIENT),
    ),
}


class RetentionGateway:
    """Finds and deletes expired records, rule by rule."""

    def __init__(self, db: Database):
        self.db = db

    def due(self, cutoffs: Mapping[str, str]) -> bool:
        """Whether any rule (``name → cutoff``) has something to delete (read-only)."""
        for rule, cutoff in cutoffs.items():
            for table, where in DELETES[rule]:
                params = [cutoff] * where.count("?")
                if self.db.execute(f"select exists(select 1 from {table} where {where})", params).fetchone()[0]:
                    return True
        return False

    def delete(self, cutoffs: Mapping[str, str]) -> dict[str, int]:
        """Run every rule's deletes in one transaction, leaving nothing behind; rows removed per table."""
        removed: dict[str, int] = {}
        with secure_delete(self.db):
            for rule, cutoff in cutoffs.items():
                for table, where in DELETES[rule]:
                    params = [cutoff] * where.count("?")
                    n = self.db.execute(f"delete from {table} where {where}", params).rowcount
                    removed[table] = removed.get(table, 0) + max(n, 0)
        return removed
