"""``printmanager secrets``: set, get, rm, ls and rotate the vault's secrets."""

from __future__ import annotations

import functools
import sys
import warnings
from typing import Any, Callable, TypeVar

import click

from printmanager_core.cli import LibraryContext, echo_json, json_option, pass_library

from . import store as _store
from .errors import VaultError
from .vault import PlaintextVaultWarning, Vault, configured_backend

F = TypeVar("F", bound=Callable[..., Any])


def _one_line_errors(func: F) -> F:
    """Turn a VaultError into click's one-line ``Error: ...`` (exit status 1), and show
    a plaintext-vault warning once, in red, on stderr."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", PlaintextVaultWarning)
            try:
                return func(*args, **kwargs)
            except VaultError as exc:
                raise click.ClickException(str(exc)) from None
            finally:
                plaintext = [w for w in caught if issubclass(w.category, PlaintextVaultWarning)]
                if plaintext:
                    click.secho(str(plaintext[0].message), err=True, fg="red", bold=True)
                for other in caught:
                    if not issubclass(other.category, PlaintextVaultWarning):
                        warnings.showwarning(other.message, other.category, other.filename, other.lineno)

    return wrapper  # type: ignore[return-value]


def _open(ctx: click.Context, state: LibraryContext) -> Vault:
    library = state.library
    backend = ctx.find_root().meta.get("printmanager_vault.backend") or configured_backend(library)
    return Vault(library.directory, backend=backend, prompt=_store.ask_on_terminal)


@click.group("secrets")
@click.option(
    "--backend",
    metavar="NAME",
    envvar=_store.ENV_BACKEND,
    help="Store for the vault key: dpapi, keyring or passphrase (default: the vault.backend setting, "
    "else chosen for this OS). 'plaintext' stores secrets UNENCRYPTED and is used only when named.",
)
@click.pass_context
def secrets(ctx: click.Context, backend: str | None) -> None:
    """Keep tokens and keys in the library's encrypted vault."""
    ctx.find_root().meta["printmanager_vault.backend"] = backend or None


@secrets.command("set")
@click.argument("name")
@pass_library
@click.pass_context
@_one_line_errors
def set_command(ctx: click.Context, state: LibraryContext, name: str) -> None:
    """Store the value read from stdin (or asked for, hidden, on a terminal) as NAME."""
    stdin = sys.stdin
    if stdin.isatty():
        value = click.prompt(f"Value of {name}", hide_input=True, err=True)
    else:
        value = stdin.read()
        if value.endswith("\r\n"):
            value = value[:-2]
        elif value.endswith("\n"):
            value = value[:-1]
    if not value:
        raise VaultError("no value given on stdin; nothing stored")
    vault = _open(ctx, state)
    vault.set(name, value)
    click.echo(f"Stored {name!r} ({vault.info().backend}).", err=True)


@secrets.command("get")
@click.argument("name")
@pass_library
@click.pass_context
@_one_line_errors
def get_command(ctx: click.Context, state: LibraryContext, name: str) -> None:
    """Print the secret NAME."""
    click.echo(_open(ctx, state).get(name))


@secrets.command("rm")
@click.argument("name")
@pass_library
@click.pass_context
@_one_line_errors
def rm_command(ctx: click.Context, state: LibraryContext, name: str) -> None:
    """Remove the secret NAME."""
    _open(ctx, state).delete(name)
    click.echo(f"Removed {name!r}.", err=True)


@secrets.command("ls")
@json_option("Print names and backend as JSON.")
@pass_library
@click.pass_context
@_one_line_errors
def ls_command(ctx: click.Context, state: LibraryContext, as_json: bool) -> None:
    """List the names of the stored secrets (never the values)."""
    vault = _open(ctx, state)
    names = vault.names()
    if as_json:
        info = vault.info()
        echo_json({"backend": info.backend, "kdf": info.kdf, "path": str(info.path), "names": names})
    else:
        for name in names:
            click.echo(name)


@secrets.command("rotate")
@click.option("--to", "target", metavar="NAME", help="Move the vault to another store (dpapi, keyring, passphrase).")
@pass_library
@click.pass_context
@_one_line_errors
def rotate_command(ctx: click.Context, state: LibraryContext, target: str | None) -> None:
    """Re-encrypt every secret under a new key (a new passphrase: PRINTMANAGER_VAULT_NEW_PASSPHRASE or a prompt)."""
    vault = _open(ctx, state)
    count = vault.rotate(backend=target)
    click.echo(
        f"Re-encrypted {count} secret{'s' if count != 1 else ''} under a new {vault.info().backend} key.", err=True
    )

