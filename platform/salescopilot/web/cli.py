"""`salescopilot serve` and `salescopilot settings`."""

from __future__ import annotations

import json

import click

from salescopilot.settings import get_settings


@click.command()
@click.option("--host", default=None, help="Interface to listen on (default: settings.host).")
@click.option("--port", type=int, default=None, help="Port (default: settings.port).")
@click.option("--workers", type=int, default=1, show_default=True, help="Web processes.")
@click.option("--reload", is_flag=True, help="Restart on code changes (development).")
def serve(host: str | None, port: int | None, workers: int, reload: bool) -> None:
    """Run the web app (uvicorn). With the in-memory task broker, tasks run in this process."""
    import uvicorn

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    click.echo(f"Sales Copilot on http://{host}:{port}/ (tenants at http://<slug>.{settings.base_domain}:{port}/)")
    if settings.base_domain == "localhost":
        click.echo(f"demo tenant: http://demo.localhost:{port}/")
    uvicorn.run(
        "salescopilot.web.asgi:app",
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        proxy_headers=False,  # forwarded headers are honoured only from settings.trusted_proxies
        access_log=False,
        log_config=None,
    )


@click.command(name="settings")
def show_settings() -> None:
    """Print the effective settings as JSON, secrets masked."""
    click.echo(json.dumps(get_settings().masked(), indent=2, default=str))
