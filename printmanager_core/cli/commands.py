"""The core's commands, added to the CLI as a plugin of ``register_commands``.

Each command (or group) is defined at module level in its own module of this
package; this plugin only adds them, in the order ``--help`` does not care about
(click lists commands sorted).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..hookspecs import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    import click


def core_commands() -> list[click.Command]:
    """Every command of the core: imported here, so a library that never runs the CLI never loads them."""
    from . import (analytics_cmd, collection, duplicates, ls, model_set, models, note, plugins_cmd, privacy_cmd,
                   problems_cmd, roots_cmd, scan, settings_cmd, show, tag, tags)
    from . import open_cmd, print_cmd, slice_cmd
    from . import organise_cmd
    from . import sidecar_cmd

    return [
        scan.scan, roots_cmd.roots, ls.ls, models.models, duplicates.duplicates, show.show, problems_cmd.problems,
        tag.tag, tag.untag, tags.tags, note.note, model_set.model_set, collection.collection,
        plugins_cmd.plugins, settings_cmd.settings, analytics_cmd.analytics, privacy_cmd.privacy,
        print_cmd.print_group, open_cmd.open_cmd, slice_cmd.slice_cmd,
        organise_cmd.organise,
        sidecar_cmd.sidecar,
    ]  # fmt: skip


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add the core's commands."""
    for command in core_commands():
        cli.add_command(command)
