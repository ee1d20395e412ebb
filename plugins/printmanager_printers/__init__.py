"""printmanager's built-in printers plugin: OctoPrint and Moonraker connections (docs/printing.md).

Printers are opt-in one by one: ``printmanager printer add NAME --kind ... --url ...``
asks for consent and records it; API keys live in the vault
(``printers.<NAME>.api_key``). Without a printer added, nothing here opens a
connection, and httpx is never imported.

Other kinds come from any plugin through the core hook
``register_printer_connections(register)``: ``register(kind, factory)`` with
``factory(url, api_key)`` returning a connection (:class:`.connection.PrinterConnection`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from printmanager_core.hookspecs import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    import click

    from printmanager_core.library import Library
    from printmanager_core.privacy.delete import DeleteReport
    from printmanager_core.privacy.export import Export


def _octoprint(url: str, api_key: str | None) -> Any:
    from .octoprint import octoprint_factory

    return octoprint_factory(url, api_key)


def _moonraker(url: str, api_key: str | None) -> Any:
    from .moonraker import moonraker_factory

    return moonraker_factory(url, api_key)


@hookimpl
def register_printer_connections(register: Callable[..., None]) -> None:
    """The built-in kinds: ``octoprint`` and ``moonraker``."""
    register("octoprint", _octoprint)
    register("moonraker", _moonraker)


@hookimpl
def register_commands(cli: "click.Group") -> None:
    """``printmanager printer ...``."""
    from .cli import printer

    cli.add_command(printer)


@hookimpl
def register_migrations(register: Callable[..., None]) -> None:
    """The ``printers`` table (migration set ``printers``)."""
    from .schema import migrations

    register(migrations)


@hookimpl
def export_user_data(library: "Library", export: "Export") -> None:
    """The printers added (kind, URL, when consented); never their API keys."""
    from .service import printers

    export.add_json("printers.json", [p.as_json() for p in printers(library)],
                    "Printers you added: kind, URL, when you consented and to what (API keys are not exported).")


@hookimpl(tryfirst=True)
def delete_user_data(library: "Library", report: "DeleteReport") -> None:
    """Forget every printer and take its API key out of the vault (``tryfirst``: while the vault is there).

    No printer is contacted.
    """
    from .service import printers, secret_name

    found = printers(library)
    if not found:
        return
    from printmanager_vault import VaultError, delete_secret

    for p in found:
        try:
            delete_secret(library, secret_name(p.name))
        except VaultError:  # a vault already destroyed holds no key
            pass
    report.removed("printers", len(found), "and their API keys in the vault")
