"""Small helpers the tests share."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import textwrap
import uuid
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import docker
import psycopg
import pytest
from docker.models.containers import Container
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.engine import make_url

from app.desired_state.spec import CATEGORY_RESTART_DEFAULTS, DesiredState, ServiceSpec
from app.domain.actions import Plan
from app.domain.views import RuntimeView
from app.engine.observed import ObservedContainer, ObservedNetwork
from app.reconcile.fleet import judge
from app.reconcile.plan import plan
from app.reconcile.report import PlanReport, report
from app.store.db import Store


def write_state(directory: Path, text: str, name: str = "services.yaml") -> Path:
    """Write one desired-state file (dedented) and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def kill_main_process(container: Container) -> None:
    """SIGKILL a running container's main process from the host, as the OOM killer would.

    Refuses a container that is not running: its recorded PID is 0, and signalling 0
    would kill the caller's own process group.
    """
    container.reload()
    pid = container.attrs["State"]["Pid"]
    if container.status != "running" or pid <= 0:
        raise RuntimeError(f"{container.name} is {container.status} (pid {pid}); not killing")
    os.kill(pid, signal.SIGKILL)


def page_csrf(client: FlaskClient, path: str = "/login") -> str:
    """The CSRF token a page of Steward's carries in its forms."""
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client: FlaskClient, token: str) -> str:
    """Sign the page in with `token`; return the session's CSRF token."""
    answer = client.post("/login", data={"csrf_token": page_csrf(client), "token": token,
                                         "next": "/"})
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return page_csrf(client, "/")


def make_read_only(store: Store) -> Callable[[], None]:
    """Make the store's SQLite database refuse writes, as a read-only file does (the tests
    run as root, for whom file modes change nothing); return the undo."""
    def query_only(connection: object, record: object) -> None:
        connection.execute("PRAGMA query_only=ON")

    event.listen(store.engine, "connect", query_only)
    store.engine.dispose()

    def undo() -> None:
        event.remove(store.engine, "connect", query_only)
        store.engine.dispose()
    return undo


# -- plan builders: specs, containers and rendered plans without Docker ---------------------

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


def spec(name: str = "web", category: str = "ai", **changes: object) -> ServiceSpec:
    base = ServiceSpec(name=name, display_name=name, category=category, image="img:1",
                       restart=CATEGORY_RESTART_DEFAULTS[category])
    return replace(base, **changes)


def container(of: ServiceSpec, state: str = "running", **changes: object) -> ObservedContainer:
    base = ObservedContainer(id=f"{of.name}-c1", name=f"steward-{of.name}", service=of.name,
                             spec_hash=of.spec_hash, field_hashes=of.field_hashes(),
                             state=state, image=of.image)
    return replace(base, **changes)


def render(services: list[ServiceSpec], observed: list[ObservedContainer],
           runtime: dict[str, RuntimeView] | None = None, *, prune: bool = False,
           now: datetime = NOW) -> str:
    desired = DesiredState(services={s.name: s for s in services}, prune=prune)
    return planned(desired, observed, runtime, now, stable_period=60).render()


def planned(desired: DesiredState, observed: Sequence[ObservedContainer],
            runtime: Mapping[str, RuntimeView] | None = None, now: datetime = NOW, *,
            networks: Sequence[ObservedNetwork] | None = None, **options: Any) -> Plan:
    """The planner on `observed`, judged first as a pass does (`fleet.judge`)."""
    return plan(desired, judge(desired, observed, runtime, networks), now, **options)


def reported(the_plan: Plan, desired: DesiredState, observed: Sequence[ObservedContainer],
             runtime: Mapping[str, RuntimeView] | None = None) -> PlanReport:
    """The plan report on `observed`, judged as the pass that made the plan did."""
    return report(the_plan, desired, judge(desired, observed, runtime))


def containers_of(client: docker.DockerClient, instance: str) -> dict[str, Container]:
    """The containers of a Steward instance, by service name."""
    found = client.containers.list(all=True, filters={"label": f"io.steward.instance={instance}"})
    return {c.labels["io.steward.service"]: c for c in found}


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database (Debian's server, started by
    scripts/ensure-postgres.sh) for one test; its URL, and the database dropped after."""
    script = subprocess.run([str(Path(__file__).resolve().parents[1] / "scripts" /
                                 "ensure-postgres.sh")], capture_output=True, text=True)
    if script.returncode != 0:
        pytest.fail(f"PostgreSQL is not available: {script.stderr.strip()}", pytrace=False)
    admin = make_url(script.stdout.strip())
    name = f"steward_test_{uuid.uuid4().hex[:8]}"
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def remove_instance(client: docker.DockerClient, instance: str) -> None:
    """Remove every container, network and built image of a Steward instance (teardown)."""
    owned = {"label": f"io.steward.instance={instance}"}
    for container in client.containers.list(all=True, filters=owned):
        container.remove(force=True)
    for network in client.networks.list(filters=owned):
        network.remove()
    for image in client.images.list(filters=owned):
        client.images.remove(image.id, force=True)


#: A reconcile interval long enough that only events and wake-ups explain what happens.
SLOW_INTERVAL = "60"


def service(name: str, image: str, command: str, category: str = "ai", **extra: str) -> str:
    """One service's YAML for tests: busybox, quick to stop, and quick to roll out (a
    changed spec is live after half a second of health instead of a category's default)."""
    extra.setdefault("update", "{monitor: 0.5s}")
    lines = [f"  {name}:", f"    category: {category}", f"    image: {image}",
             "    init: true", f"    command: {command}",
             f"    stop_grace_period: {extra.pop('stop_grace_period', '1s')}"]
    return "\n".join(lines + [f"    {key}: {value}" for key, value in extra.items()]) + "\n"


def sleeper(image: str, name: str, category: str = "ai", **extra: str) -> str:
    """A service that just sleeps: the smallest thing Steward can keep running."""
    return service(name, image, '["sleep", "3600"]', category, **extra)


def git(cwd: Path, *args: str) -> str:
    """git as a test author, on branch main by default; its output, stripped."""
    return subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=test@example.com",
                           "-c", "init.defaultBranch=main", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


def remote_and_clone(tmp_path: Path) -> tuple[Path, Path]:
    """A bare repository (what Steward follows) and a clone of it to push from."""
    remote, work = tmp_path / "remote.git", tmp_path / "work"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(tmp_path, "clone", "-q", str(remote), str(work))
    return remote, work


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on (just now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
