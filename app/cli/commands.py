"""The `steward` command: serve, validate, plan, apply, import-compose, db upgrade,
build-demo-image, secret."""
from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from app.cli.remote import ask
from app.cli.secret import secret
from app.config import desired_state_dir, load_config

LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: The exit status of a `steward serve` that lost the leader's lease.
DEPOSED = 3


@click.group()
def main() -> None:
    """Steward keeps Docker services the way desired_state/ says."""


@main.command()
@click.option("--host", default=None, help="Address to bind (default STEWARD_HOST, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default STEWARD_PORT, 8000).")
def serve(host: str | None, port: int | None) -> None:
    """Migrate the database, start reconciling and serve the API (waitress)."""
    from app import MAX_BODY_BYTES, create_app
    from app.http.serving import serve as serve_app
    from app.leadership.serve_locks import AlreadyServing, lock_database, one_migrator
    from app.store.db import StoreUnavailable

    try:
        app = create_app()
        steward = app.extensions["steward"]
        # Held until the process ends: on SQLite, one `steward serve` per database.
        lock = lock_database(steward.store.url)
        steward.leadership.exclusive = lock is not None
        with one_migrator(steward.store):
            steward.store.upgrade()
    except (StoreUnavailable, AlreadyServing) as err:  # one line with the cause and the fix
        raise click.ClickException(str(err)) from None
    # A deposed leader exits (status 3) for its supervisor to start it again as a follower.
    steward.after_deposed = lambda: os.kill(os.getpid(), signal.SIGTERM)
    steward.start_background()
    host = host or app.config["HOST"]
    port = port or app.config["PORT"]
    if not app.extensions["steward_tokens"].enabled:
        if host not in LOOPBACK:
            click.echo(f"No API tokens are configured, so Steward will not listen on {host}: "
                       "set STEWARD_API_TOKENS or STEWARD_TOKENS_FILE to serve other hosts.",
                       err=True)
            host = "127.0.0.1"
        click.echo("No API tokens configured: anyone who can reach 127.0.0.1 can act; "
                   "listening on 127.0.0.1 only.")
    app.config["HOST"] = host  # the Host check also allows the address bound

    def stop(*_: Any) -> None:
        steward.end_streams()  # first, so waitress's threads are free when it stops
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"Steward serving on http://{host}:{port} (status page at /, API docs at "
               "/api/docs)")
    try:
        serve_app(app, host=host, port=port, threads=app.config["THREADS"],
                  max_body=MAX_BODY_BYTES)
    except OSError as err:
        raise click.ClickException(f"cannot listen on {host}:{port}: {err.strerror or err}; "
                                   "choose another with --port or STEWARD_PORT") from None
    finally:
        steward.shutdown()
    if steward.leadership.deposed:
        sys.exit(DEPOSED)


@main.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
def validate(path: Path | None) -> None:
    """Check desired-state files without touching the store or Docker (exit 1 on errors)."""
    from app.desired_state import DesiredStateError, LoadSettings, load_directory

    config = load_config()
    root = path or desired_state_dir(config)
    try:
        desired = load_directory(root, LoadSettings.from_config(config))
    except DesiredStateError as err:
        for error in err.errors:
            click.echo(str(error), err=True)
        click.echo(f"{len(err.errors)} error(s); nothing was changed", err=True)
        sys.exit(1)
    click.echo(f"{root}: {len(desired.services)} service(s) valid")


@main.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan(path: Path | None, as_json: bool) -> None:
    """Show what a pass would change, and why, with diffs; change nothing.

    Exit status: 0 nothing would change, 2 something would, 1 error (invalid files, Docker
    unreachable), so it can gate a CI pipeline.
    """
    from app.desired_state import DesiredStateError
    from app.errors import EngineUnavailable
    from app.operations.plan_preview import check_plan

    config = load_config()
    root = path or desired_state_dir(config)
    try:
        the_report = check_plan(root, config)
    except DesiredStateError as err:
        _fail([str(e) for e in err.errors], as_json)
    except EngineUnavailable as err:
        _fail([str(err)], as_json)
    click.echo(json.dumps(the_report.as_dict(), default=str, indent=2) if as_json
               else the_report.render())
    sys.exit(2 if the_report.changes else 0)


def _fail(errors: list[str], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"errors": errors}, indent=2))
    else:
        for error in errors:
            click.echo(error, err=True)
    sys.exit(1)


@main.command()
@click.option("--service", help="Only this service (and what depends on it).")
@click.option("--wait", is_flag=True, help="Wait until what changed is healthy.")
@click.option("--timeout", type=click.FloatRange(1, 600), default=120.0, show_default=True,
              help="Seconds to wait (for a running pass, then for health).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--url", help="A running Steward to apply through (default: STEWARD_URL, or "
                            "http://STEWARD_HOST:STEWARD_PORT if one answers there).")
def apply(service: str | None, wait: bool, timeout: float, as_json: bool,
          url: str | None) -> None:
    """Run one pass now and print a recap; exit 1 if anything failed.

    When a Steward server is running, the apply goes through it (one reconciler changes
    containers; an operator token goes in STEWARD_TOKEN); otherwise it runs here, with the
    same planner and executor.
    """
    request = {"wait": wait, "timeout": timeout, **({"service": service} if service else {})}
    answer = ask(url, "POST", "/api/system/apply", request, timeout=timeout * 2 + 30)
    if answer is not None and not answer.ok:
        raise click.ClickException(answer.detail())
    body = answer.body if answer is not None else _apply_local(request)
    click.echo(json.dumps(body, indent=2) if as_json else body["recap"])
    sys.exit(0 if body["result"] in ("ok", "changed") else 1)


def _apply_local(request: dict) -> dict:
    from app import create_app
    from app.errors import Busy, ServiceNotFound
    from app.operations.apply import await_health, run_apply

    app = create_app()
    steward = app.extensions["steward"]
    steward.store.upgrade()
    try:
        outcome = run_apply(steward, service=request.get("service"),
                            timeout=request["timeout"], actor="cli")
        if request["wait"]:
            steward.start_background()  # health checks, events and passes while it waits
            outcome = await_health(steward, outcome, request["timeout"])
    except (ServiceNotFound, Busy) as err:
        raise click.ClickException(str(err)) from None
    finally:
        steward.shutdown()
    return {**outcome.as_dict(), "recap": outcome.render()}


@main.command()
@click.argument("service")
@click.option("--url", help="A running Steward to ask (default as for apply).")
def rollback(service: str, url: str | None) -> None:
    """Go back to SERVICE's spec before its last successful rollout, until the desired
    state changes; the way back is a gated rollout like any other."""
    _service_action(service, "rollback", url)


@main.command()
@click.argument("service")
@click.option("--url", help="A running Steward to ask (default as for apply).")
def update(service: str, url: str | None) -> None:
    """Roll out the newer image digest the last check found for SERVICE."""
    _service_action(service, "update", url)


@main.command("check-images")
@click.option("--url", help="A running Steward to ask (default as for apply).")
def check_images(url: str | None) -> None:
    """Ask each running service's registry whether its image tag moved on (no pull)."""
    answer = ask(url, "POST", "/api/system/images/check", timeout=120)
    if answer is not None:
        if not answer.ok:
            raise click.ClickException(answer.detail())
        checks = answer.body.get("images", [])
    else:
        from app import create_app

        steward = create_app().extensions["steward"]
        steward.store.upgrade()
        try:
            checks = [c.as_dict() for c in steward.check_images()]
        finally:
            steward.shutdown()
    for found in checks:
        state = found["error"] or (f"update available: {found['update_available']}"
                                   if found["update_available"] else "up to date")
        click.echo(f"{found['service']}: {found['image']}: {state}")


@main.command("retry-rollout")
@click.argument("service")
@click.option("--url", help="A running Steward to ask (default as for apply).")
def retry_rollout(service: str, url: str | None) -> None:
    """Roll out SERVICE's desired spec again after its rollout failed (Steward never
    retries a failed spec on its own)."""
    _service_action(service, "rollout-retry", url)


def _service_action(service: str, action: str, url: str | None) -> None:
    """Ask the running Steward (as `apply` does), or record the action and run a pass here."""
    path = {"rollout-retry": "rollout/retry"}.get(action, action)
    answer = ask(url, "POST", f"/api/system/services/{service}/{path}")
    if answer is not None:
        if not answer.ok:
            raise click.ClickException(answer.detail())
        click.echo(answer.body["message"])
        return
    _service_action_here(service, action)


def _service_action_here(service: str, action: str) -> None:
    from app import create_app
    from app.domain.clock import utcnow
    from app.errors import AppError, detail_for
    from app.operations import service_actions

    app = create_app()
    steward = app.extensions["steward"]
    steward.store.upgrade()
    try:
        click.echo(service_actions.perform(steward.store, action, service, utcnow(), actor="cli"))
        steward.reconciler.run_pass([service])
    except AppError as err:
        raise click.ClickException(detail_for(err)) from None
    finally:
        steward.shutdown()


@main.command("import-compose")
@click.argument("compose_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write (default: ./<compose project>.steward.yaml, for review "
                   "before it goes into the desired-state directory).")
@click.option("--category", type=click.Choice(["infrastructure", "ai", "monitoring"]),
              help="Category for every service (default: guessed from the image).")
def import_compose_command(compose_file: Path, output: Path | None,
                           category: str | None) -> None:
    """Write desired-state YAML for the services of a docker-compose file."""
    from app.desired_state import DesiredStateError, LoadSettings, load_directory
    from app.desired_state.compose import ComposeError, import_compose
    from app.desired_state.interpolate import variables_for

    target = output or Path(f"{compose_file.resolve().parent.name or 'compose'}.steward.yaml")
    if target.exists():
        raise click.ClickException(f"{target} exists; choose another with --output")
    try:
        imported = import_compose(compose_file, category, target.resolve().parent)
    except ComposeError as err:
        raise click.ClickException(str(err)) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(imported.to_yaml(compose_file.name))
    click.echo(f"wrote {len(imported.services)} service(s) to {target}")
    for note in imported.file_notes:
        click.echo(f"  {note}")
    for name, notes in imported.notes.items():
        for note in notes:
            click.echo(f"  {name}: {note}")
    # The file on its own must validate, with its paths as seen from a directory of its own
    # and the variables Steward would have there (its environment over the .env beside it).
    variables, _ = variables_for(target.resolve().parent)
    config = load_config()
    settings = LoadSettings.from_config(config)  # and the operator's host-access policy
    with tempfile.TemporaryDirectory() as directory:
        alone = Path(directory).resolve() / (target.resolve().parent.name or "desired_state")
        alone.mkdir()  # named like the target's directory, which errors name
        again = import_compose(compose_file, category, alone)
        (alone / target.name).write_text(again.to_yaml(compose_file.name))
        try:
            load_directory(alone, settings, environ=variables)
        except DesiredStateError as err:
            click.echo("it does not validate yet:", err=True)
            for error in err.errors:
                click.echo(f"  {error}", err=True)
            sys.exit(1)
    click.echo(f"review it, then move it into {desired_state_dir(config)}/")


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
    import docker

    from app.engine.images import build_busybox_image

    image_id = build_busybox_image(docker.from_env(), tag, labels={"io.steward.demo": "1"})
    click.echo(f"built {tag} ({image_id[:19]})")


main.add_command(secret)
