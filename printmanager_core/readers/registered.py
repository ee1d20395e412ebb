"""The readers the plugins registered, and the reader table built from them.

The one module under ``readers/`` that asks the plugin manager (through
:func:`..registry.collect`). Code that is given a :class:`~.table.ReaderTable`
does not need it; :func:`reader_for` and :func:`read_source` are thin functions
over :func:`default_table` for callers that are not given one.
"""

from __future__ import annotations

from ..registry import Registry, collect
from .base import Reader, ReadResult, Source
from .table import ReaderTable

__all__ = ["default_table", "get_readers", "read_source", "reader_for", "reader_for_source"]


def get_readers() -> Registry[Reader]:
    """Every registered reader, by name."""
    return collect("register_readers", lambda reader: reader.name)


def default_table() -> ReaderTable:
    """The table of every registered reader (built once per plugin set)."""
    registry = get_readers()
    table: ReaderTable | None = registry.derived.get("table")
    if table is None:
        table = ReaderTable.from_readers(entry.value for entry in registry)
        registry.derived["table"] = table
    return table


def reader_for(name: str) -> Reader | None:
    """The reader for a file name (longest matching extension wins), or None.

    Until the whole table is built, a process whose only reader plugins are the
    built-in modules imports just the module the name needs (see :func:`_builtin_reader_for`).
    """
    registry = _cached_readers()
    if registry is None or "table" not in registry.derived:
        found = _builtin_reader_for(name)
        if found is not _UNSETTLED:
            return found  # type: ignore[return-value]
    return default_table().for_name(name)


#: what :func:`_builtin_reader_for` returns when only the full table can say
_UNSETTLED = object()


def _cached_readers() -> Registry[Reader] | None:
    from ..registry import cached

    return cached("register_readers")


def _builtin_reader_for(name: str) -> object:
    """The reader :func:`default_table` would choose for ``name``, found by importing only the
    built-in reader module whose readers take its ending (``plugins.READER_EXTENSIONS``).

    Settled only when every ``register_readers`` implementation is a built-in
    :class:`~printmanager_core.plugins.LazyReaderPlugin` (a third-party reader plugin may
    take any ending); then the modules are tried in the registry's order, as the table
    does. Anything else (or a module that fails) is left to the full table: :data:`_UNSETTLED`.
    """
    from .. import plugins
    from ..plugins import READER_EXTENSIONS, LazyReaderPlugin, get_plugin_manager

    caller = getattr(get_plugin_manager().hook, "register_readers", None)
    if caller is None or plugins._tracer() is not None:  # (tracing: every hook call is written out)
        return _UNSETTLED
    by_ext: dict[str, LazyReaderPlugin] = {}
    for impl in reversed(caller.get_hookimpls()):  # pluggy's call order: the registry's, so the table's
        plugin = impl.plugin
        if type(plugin) is not LazyReaderPlugin or plugin.__name__ not in READER_EXTENSIONS:
            return _UNSETTLED
        for ext in READER_EXTENSIONS[plugin.__name__]:
            by_ext.setdefault(ext, plugin)
    lower = name.lower()
    pos = lower.find(".")
    while pos != -1:  # as ReaderTable.for_name: the longest ending first
        ext = lower[pos:]
        plugin = by_ext.get(ext)
        if plugin is not None:
            try:
                calls = plugin.registered()
            except Exception:  # noqa: BLE001 - the full table records the failing plugin and steps around it
                return _UNSETTLED
            for args, kwargs in calls:
                reader = args[-1] if args else next(iter(kwargs.values()))
                if ext in (e.lower() for e in reader.extensions):
                    return reader
            return _UNSETTLED  # the module's readers do not take what READER_EXTENSIONS says
        pos = lower.find(".", pos + 1)
    return None


def reader_for_source(source: Source) -> Reader | None:
    """The reader for a source: by its name, then by its first bytes (see :mod:`.table`)."""
    return default_table().for_source(source)


def read_source(source: Source) -> ReadResult:
    """Read ``source`` with the reader its name and content select; ReadError if none fits."""
    return default_table().read(source)
