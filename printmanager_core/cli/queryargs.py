"""Commands that take a query: a word starting with ``-`` is query text unless it is an option.

The query language negates a term with ``-`` (``-format:gcode``), which click
would otherwise read as an unknown option. On a :class:`QueryCommand` a word is
an option only when it is exactly one of the command's own options
(``--json``, ``-h``, ``--name=value``); every other word starting with a single
``-`` is query text. A word starting with ``--`` that is no option of the
command stays an error ("No such option"), since no query term starts that way.
``--`` still ends the options: everything after it is query text.
"""

from __future__ import annotations

from typing import Any, Callable

import click


class QueryCommand(click.Command):
    """A command whose last argument is a query that may hold ``-term`` words."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, self._query_words_last(ctx, args))

    def _query_words_last(self, ctx: click.Context, args: list[str]) -> list[str]:
        """``args`` with the options first and every other word after ``--``, in order."""
        takes_values: dict[str, int] = {}
        for param in self.get_params(ctx):
            if isinstance(param, click.Option):
                values = 0 if (param.is_flag or param.count) else max(param.nargs, 1)
                for name in (*param.opts, *param.secondary_opts):
                    takes_values[name] = values
        options: list[str] = []
        words: list[str] = []
        i = 0
        while i < len(args):
            arg = args[i]
            if arg == "--":
                words.extend(args[i + 1 :])
                break
            name = arg.split("=", 1)[0] if arg.startswith("--") else arg
            if name in takes_values:
                values = 0 if "=" in arg and arg.startswith("--") else takes_values[name]
                options.extend(args[i : i + 1 + values])
                i += 1 + values
                continue
            if arg.startswith("--") and len(arg) > 2:
                options.append(arg)  # not a query term: click says "No such option"
            else:
                words.append(arg)
            i += 1
        return [*options, "--", *words] if words else options


def query_argument(name: str = "query") -> Callable[[Any], Any]:
    """The ``QUERY...`` argument of a :class:`QueryCommand` (see docs/query.md)."""
    return click.argument(name, nargs=-1)
