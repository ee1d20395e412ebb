"""``printmanager serve``: the web gallery and JSON API, on loopback unless asked otherwise."""

from __future__ import annotations

import click

from printmanager_core.cli import LibraryContext, pass_library

DEFAULT_PORT = 8765


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback needs the access token.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port).")
@click.option("--read-only", is_flag=True, help="Refuse every change (tags, notes, scans).")
@click.option("--new-token", is_flag=True, help="Make a new access token (the old one stops working).")
@pass_library
def serve(state: LibraryContext, host: str, port: int, read_only: bool, new_token: bool) -> None:
    """Serve the library's gallery, model pages and JSON API (see docs/web.md)."""
    import uvicorn

    from .app import create_app
    from .security import access_token, is_loopback

    lib = state.library
    if port == 0:  # any free port, named in the line below
        import socket

        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
    token = None
    shown = f"http://{host}:{port}/"
    if not is_loopback(host):
        token, created = access_token(lib, renew=new_token)
        click.echo(f"{host} is not loopback: every request needs the access token.", err=True)
        if created:
            click.echo(f"Access token (shown once; kept in the vault as 'web.token'): {token}", err=True)
            shown += f"?token={token}"
        else:
            click.echo("The token is in the vault: `printmanager secrets get web.token` "
                       "(or --new-token for a new one).", err=True)
    app = create_app(lib, read_only=read_only, token=token, host=host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            server_header=False, date_header=False)
    server = uvicorn.Server(config)
    click.echo(f"Serving {lib.directory} on {shown}{' (read-only)' if read_only else ''}; Ctrl-C stops.",
               err=True)
    server.run()
