"""The ASGI app of ``printmanager serve``: pages, the JSON API, static files and plugins' routes.

    from printmanager_core import Library
    from printmanager_web import create_app

    app = create_app(Library("~/prints-library"), read_only=True)   # any ASGI server runs it
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator

import attrs
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from printmanager_core.paths import display_path

from . import units
from .api import api_routes
from .pages import page_routes
from .scans import Scans
from .security import LOOPBACK_HOSTS, Guard, is_loopback

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent


@attrs.define
class WebState:
    """What every request of one app shares (``request.app.state.web``).

    :ivar library: the library served.
    :ivar read_only: every write is refused.
    :ivar csrf_token: what writes carry in ``X-CSRF-Token``.
    :ivar token: the access token, or None on loopback.
    :ivar route_clashes: plugin routes left out because their path was taken.
    """

    library: "Library"
    read_only: bool
    csrf_token: str
    templates: Jinja2Templates
    scans: Scans
    token: str | None = None
    route_clashes: list[str] = attrs.field(factory=list)

    @staticmethod
    def nonce() -> str:
        """A fresh nonce for a page's inline import map."""
        return secrets.token_urlsafe(16)


def _templates() -> Jinja2Templates:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
    env.filters.update(units.FILTERS)
    env.filters["display"] = display_path
    return Jinja2Templates(env=env)


def plugin_routes(taken: set[str]) -> tuple[list[BaseRoute], list[str]]:
    """Routes plugins add through ``register_routes``; those whose path is taken are left out."""
    from printmanager_core.registry import collect

    registry = collect("register_routes", lambda route: str(getattr(route, "path")))
    routes, clashes = [], [f"{entry.name} (from {entry.plugin})" for entry in registry.clashes]
    for entry in registry:
        if entry.name in taken or any(entry.name.startswith(p) for p in ("/static", "/api/openapi")):
            clashes.append(f"{entry.name} (from {entry.plugin})")
            log.warning("register_routes: %s from %s ignored; a built-in route has that path", entry.name, entry.plugin)
            continue
        routes.append(entry.value)
    return routes, clashes


#: how often a running server applies the retention rules (the CLI does after each command)
RETENTION_EVERY_S = 24 * 3600


async def _retention_schedule(library: "Library", every_s: float) -> None:
    """Apply retention now and every ``every_s`` while ``retention.auto`` is on (failures: a warning)."""
    while True:
        if library.settings.get("retention.auto"):
            try:
                await asyncio.to_thread(library.apply_retention)
            except Exception as exc:  # the server goes on; the user is told what to run
                log.warning("retention was not applied (%s); run: printmanager privacy retention apply", exc)
        await asyncio.sleep(every_s)


def _lifespan(library: "Library", every_s: float) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        task = asyncio.create_task(_retention_schedule(library, every_s))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return lifespan


def create_app(
    library: "Library",
    *,
    read_only: bool = False,
    token: str | None = None,
    host: str = "127.0.0.1",
    retention_every_s: float = RETENTION_EVERY_S,
) -> Any:
    """The web app over ``library``, guarded (see :mod:`printmanager_web.security`).

    While it runs it applies the retention rules at start and every
    ``retention_every_s`` seconds (while ``retention.auto`` is on), as the CLI does
    after each command.

    :param read_only: refuse every write (403).
    :param token: the access token every request must carry; None only on loopback.
    :param host: the address it will be served on: a loopback server answers only
        to loopback ``Host`` names (no DNS rebinding).
    """
    from .security import check_bind

    check_bind(host, token)
    builtin = [*page_routes(), *api_routes()]
    taken = {getattr(r, "path", "") for r in builtin}
    extra, clashes = plugin_routes(taken)
    routes: list[BaseRoute] = [*builtin, *extra, Mount("/static", StaticFiles(directory=HERE / "static"), name="static")]
    app = Starlette(routes=routes, lifespan=_lifespan(library, retention_every_s))
    app.state.web = WebState(
        library=library,
        read_only=read_only,
        csrf_token=secrets.token_urlsafe(32),
        templates=_templates(),
        scans=Scans(library),
        token=token,
        route_clashes=clashes,
    )
    allowed = None
    if token is None and is_loopback(host):
        allowed = tuple(dict.fromkeys([*LOOPBACK_HOSTS, host.lower()]))
    return Guard(app, token=token, csrf_token=app.state.web.csrf_token, read_only=read_only, allowed_hosts=allowed)
