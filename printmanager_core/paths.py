"""Where a library lives: ``--library DIR`` > ``$PRINTMANAGER_LIBRARY`` > the user data dir."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

ENV_LIBRARY = "PRINTMANAGER_LIBRARY"


def resolve_library_dir(directory: str | os.PathLike[str] | None = None) -> Path:
    """The library directory to use.

    :param directory: an explicit choice (``--library``); wins when given.
    :returns: an absolute path (not created here).
    """
    if directory:
        return Path(directory).expanduser().resolve()
    env = os.environ.get(ENV_LIBRARY)
    if env:
        return Path(env).expanduser().resolve()
    return Path(platformdirs.user_data_dir("printmanager", appauthor=False)).resolve()
