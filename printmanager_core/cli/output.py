"""How commands print JSON: one option and one writer for every ``--json``.

``--json`` prints JSON to standard output and nothing else; :func:`echo_json` is
the only place that writes it, so every command's JSON looks the same (indented,
non-JSON values such as paths and dates as their text).
"""

from __future__ import annotations

import json
import sys
from typing import Any, Callable, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def json_option(help: str = "Print JSON.") -> Callable[[F], F]:
    """The ``--json`` flag, passed to the command as ``as_json``.

    :param help: what the JSON holds, for ``--help``.
    """
    return click.option("--json", "as_json", is_flag=True, help=help)


def echo_json(value: Any) -> None:
    """Print ``value`` as indented JSON on standard output."""
    click.echo(json.dumps(value, indent=2, default=str))


def echo_json_line(value: Any) -> None:
    """Print ``value`` as compact JSON on one line of standard output, flushed (a stream of JSON lines)."""
    click.echo(json.dumps(value, default=str))
    sys.stdout.flush()


def json_text(value: Any) -> str:
    """``value`` as compact one-line JSON, for a line meant for people (``key = value``)."""
    return json.dumps(value, default=str)
