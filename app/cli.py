"""The `steward` command: serve, validate, apply, db upgrade, build-demo-image."""
from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import click
import docker

from app.config import load_config


@click.group()
def main() -> None:
    """Steward keeps Docker services the way desired_state/ says."""


@main.command()
@click.option("--host", default=None, help="Address to bind (default STEWARD_HOST, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default STEWARD_PORT, 8000).")
def serve(host: str | None, port: int | None) -> None:
    """Migrate the database, start reconciling and serve the API (waitress)."""
    from waitress import serve as waitress_serve

    from app import create_app

    app = create_app()
    steward = app.extensions["steward"]
    steward.store.upgrade()
    steward.start_background()
    host = host or app.config["HOST"]
    port = port or app.config["PORT"]

    def stop(*_: Any) -> None:
        steward.end_streams()  # first, so waitress's threads are free when it stops
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"Steward serving on http://{host}:{port} (status page at /, API docs at "
               "/api/docs)")
    try:
        waitress_serve(app, host=host, port=port, threads=app.config["THREADS"],
                       ident="steward")
    except OSError as err:
        raise click.ClickException(f"cannot listen on {host}:{port}: {err.strerror or err}; "
                                   "choose another with --port or STEWARD_PORT") from None
    finally:
        steward.shutdown()


@main.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
def validate(path: Path | None) -> None:
    """Check desired-state files without touching the store or Docker (exit 1 on errors)."""
    from app.desired_state import DesiredStateError, load_directory

    root = path or Path(load_config()["DESIRED_STATE_DIR"])
    try:
        desired = load_directory(root)
    except DesiredStateError as err:
        for error in err.errors:
            click.echo(str(error), err=True)
        click.echo(f"{len(err.errors)} error(s); nothing was changed", err=True)
        sys.exit(1)
    click.echo(f"{root}: {len(desired.services)} service(s) valid")


@main.command()
def apply() -> None:
    """Run one reconcile pass now and print what it did."""
    from app import create_app

    app = create_app()
    steward = app.extensions["steward"]
    steward.store.upgrade()
    result = steward.reconciler.run_pass()
    steward.shutdown()
    if result is None:
        click.echo("another pass is running", err=True)
        sys.exit(1)
    _print_result(result)


def _print_result(result: Any) -> None:
    if result.load_error:
        click.echo(f"desired state rejected (last good state kept):\n{result.load_error}",
                   err=True)
    if result.engine_error:
        click.echo(f"{result.engine_error}", err=True)
        sys.exit(1)
    click.echo(result.plan.render())
    for action, error in result.report.failed:
        click.echo(f"FAILED {action.render()}: {error}", err=True)
    if result.report.failed or result.load_error:
        sys.exit(1)


@main.group()
def db() -> None:
    """Database commands."""


@db.command()
def upgrade() -> None:
    """Apply all migrations (idempotent)."""
    from app.store.db import Store

    Store(load_config()["DATABASE_URL"]).upgrade()
    click.echo("database is up to date")


@main.command("build-demo-image")
@click.option("--tag", default="steward-demo:latest", show_default=True)
def build_demo_image(tag: str) -> None:
    """Build the busybox image the shipped demo stack runs (no registry needed)."""
    from app.engine.images import build_busybox_image

    image_id = build_busybox_image(docker.from_env(), tag, labels={"io.steward.demo": "1"})
    click.echo(f"built {tag} ({image_id[:19]})")
